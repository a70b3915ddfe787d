/**
 * Starting an answer: the request fitted to the context (a summary made first where the policy asks for one), the
 * model and template switches chosen, the placeholder (or the continued answer) saved, then the stream started.
 */
import type { ChatMessage, ContextSummary, MessagePatch } from '../chats/chat';
import { displayModelName, reasoningCaps } from '../base/format';
import { newId } from '../base/ids';
import { modelNameOf } from '../server/connection';
import type { FitResult } from './contextBudget';
import type { ActionOutcome } from './sessionApi';
import { errorText } from './sessionCore';
import type { SessionCore } from './sessionCore';
import type { StreamRunner } from './sessionStream';
import { t } from '../base/l10n';

/** The ping interval asked of llama-server: about a quarter of the stale limit, at least 1 s. */
export function pingSeconds(staleSeconds: number): number {
  return Math.max(1, Math.round(staleSeconds / 4));
}

/**
 * A question that cannot fit even alone is refused before it is sent, but only on the server's exact count: an
 * estimate (a server that cannot count) may be wrong, so then the server has the last word.
 */
export function refuseTooLarge(fit: FitResult): boolean {
  return fit.tooLarge !== undefined && fit.exact;
}

export interface StartOptions {
  /** The fit computed already (send and edit check it before saving the question). */
  fit?: FitResult;
  /** Continue this answer (the last message of the history) instead of adding a new one. */
  continueOf?: ChatMessage;
}

export class AnswerStarter {
  constructor(
    private readonly core: SessionCore,
    private readonly runner: StreamRunner,
  ) {}

  /**
   * Adds the assistant placeholder as the child of the last message of `history` (the active path up to the
   * question) and starts streaming it in the background.
   */
  async start(chatId: string, history: ChatMessage[], options: StartOptions = {}): Promise<ActionOutcome> {
    const { core, runner } = this;
    const { repository, context } = core;
    if (!core.hasChat(chatId)) return core.unknownChat(chatId);
    const settings = core.settings();
    const chatModel = core.chatOptions(chatId).model;
    const named = chatModel || settings.model || (core.lastProps ? modelNameOf(core.lastProps) : undefined);
    const model = named ? displayModelName(named) : undefined;
    const continueOf = options.continueOf;
    const continueFinal = continueOf !== undefined;
    let fit = options.fit ?? (await context.fit(history, { continueFinal, model: core.chatOptions(chatId).model }));
    if (refuseTooLarge(fit)) return { ok: false, reason: 'too-large', detail: fit.tooLarge! };
    if (fit.toSummarize && fit.toSummarize.length > 0) fit = await this.summarizeAndFit(chatId, history, fit, continueFinal);
    const request = context.baseRequest(history, continueFinal);
    request.messages = fit.messages;
    // The chat's own model (router mode) wins over the setting.
    if (chatModel) request.model = chatModel;
    const now = core.clock.now();
    let message: ChatMessage;
    if (continueOf) {
      // The server continues the same message: its text so far stays, new text is appended to it.
      message = structuredClone(continueOf);
      message.status = 'streaming';
      for (const k of ['finishReason', 'limit', 'error', 'finishedAt'] as const) delete message[k];
      const patch: MessagePatch = { status: 'streaming', finishReason: undefined, limit: undefined, error: undefined, finishedAt: undefined };
      if (!(await core.persisted(() => repository.updateMessage(chatId, message.id, patch)))) return core.unknownChat(chatId);
    } else {
      message = { id: newId(now), role: 'assistant', content: '', status: 'streaming', createdAt: now };
      const parentId = history[history.length - 1]?.id;
      if (parentId !== undefined) message.parentId = parentId;
      if (model) message.model = model;
      if (settings.serverName) message.server = settings.serverName;
    }
    if (fit.nCtx !== undefined && (fit.omitted > 0 || fit.summarized > 0)) {
      message.context = { omitted: fit.omitted, nCtx: fit.nCtx };
      if (fit.summarized > 0) message.context.summarized = fit.summarized;
    } else {
      delete message.context;
    }
    if (continueOf) {
      await core.persist(() => repository.updateMessage(chatId, message.id, { context: message.context }));
    } else {
      // A chat that went away meanwhile gets no stream: it would hold a server slot and end in a storage error.
      const gone = await core.addOrBail(chatId, message);
      if (gone) return gone;
    }
    const state = runner.newStream(chatId, message, now, model, continueOf?.completionTokens ?? 0);
    // A continued answer is already in the view: it gets a fresh snapshot with the message streaming again.
    if (continueOf) core.fire({ type: 'chatChanged', chatId });
    else core.fire({ type: 'messageAdded', chatId, message: { ...message } });
    runner.fetchProps(state, settings);
    // llama-server writes `:` frames this often while it has nothing else to send: a busy server is not silent.
    const extra: Record<string, unknown> = { ...request.extra, sse_ping_interval: pingSeconds(settings.staleSeconds) };
    const props = context.props ?? core.lastProps;
    const caps = props ? reasoningCaps(props.chatTemplate) : undefined;
    const thinking = core.chatOptions(chatId).thinking;
    if (caps?.canToggle && thinking !== undefined) extra.chat_template_kwargs = { enable_thinking: thinking };
    // Lets Skip thinking end the reasoning of this request on the server.
    if (caps?.canSkip) extra.reasoning_control = true;
    request.extra = extra;
    // llama-server keeps the stream under this id: a dropped connection resumes, a reloaded window picks it up.
    request.conversationId = message.id;
    await runner.liveness.checkSlots(state);
    core.logger.info(`Streaming answer ${message.id} in chat ${chatId} (${request.messages.length} messages)`);
    void runner.run(state, runner.batches(request, state.controller.signal));
    return { ok: true, chatId, messageId: message.id };
  }

  /** Asks the server for a summary of `covered` and stores it on `host` (the first message after them). */
  async storeSummary(chatId: string, host: ChatMessage, covered: readonly ChatMessage[]): Promise<ContextSummary> {
    const { core } = this;
    const text = await core.context.summarize(covered);
    const summary: ContextSummary = { text, covers: covered.map((m) => m.id), createdAt: core.clock.now() };
    if (!(await core.persisted(() => core.repository.updateMessage(chatId, host.id, { summary })))) throw new Error(t('the summary could not be saved'));
    host.summary = summary;
    core.logger.info(`Summarized ${covered.length} earlier messages of chat ${chatId} (${text.length} characters)`);
    core.fire({ type: 'chatChanged', chatId });
    return summary;
  }

  /** summarize policy: make the summary the fit asked for, then fit again (trimming if it still does not fit). */
  private async summarizeAndFit(chatId: string, history: ChatMessage[], fit: FitResult, continueFinal: boolean): Promise<FitResult> {
    const { context } = this.core;
    const ids = new Set(fit.toSummarize);
    const covered = history.filter((m) => ids.has(m.id));
    const host = history.find((m, i) => i > 0 && !ids.has(m.id) && history.slice(0, i).some((x) => ids.has(x.id)));
    if (covered.length === 0 || !host) return context.fit(history, { continueFinal, policy: 'trimOldest' });
    try {
      await this.storeSummary(chatId, host, covered);
    } catch (err) {
      this.core.logger.warn(`Could not summarize the earlier messages (${errorText(err)}); leaving the oldest out instead`);
      return context.fit(history, { continueFinal, policy: 'trimOldest' });
    }
    const again = await context.fit(history, { continueFinal });
    return again.fits ? again : context.fit(history, { continueFinal, policy: 'trimOldest' });
  }
}
