/**
 * The chat session controller: turns user actions into streamed answers. One stream per chat (chats stream
 * concurrently), every frame feeds the meter, the stale watchdog and the repository, and every stream ends with
 * exactly one final status. User actions that race with the stream's own ending are settled by whichever comes
 * first; the loser changes nothing and says why.
 */
import type { Attachment, Chat, ChatMessage, ContextSummary, MessagePatch, MessageStatus } from '../chats/chat';
import { deriveTitle } from '../chats/chat';
import type { ChatRepository } from '../chats/chatRepository';
import { forkMessages } from '../chats/chatOps';
import { activeLeafId, activePath, indexTree, leafForVersion, pathTo } from '../chats/chatTree';
import type { ChatRequest, ChatStreamer, ServerProps } from '../server/client';
import type { Clock } from '../base/clock';
import { systemClock } from '../base/clock';
import { Disposable, Emitter, toDisposable } from '../base/disposable';
import type { IDisposable } from '../base/disposable';
import type { ErrorInfo } from '../base/errors';
import type { StreamEvent } from '../base/events';
import { newId } from '../base/ids';
import type { Logger } from '../base/logger';
import { nullLogger } from '../base/logger';
import { ThroughputMeter } from './meter';
import type { ActionOutcome, ActiveStream, ChatSessionApi, DeletedMessages, DeleteOutcome, DraftMeasure, SessionSettings } from './sessionApi';
import type { LiveStats, SessionEvent } from './sessionEvents';
import { isRetryable, lastAnswer, planDelete, planEdit, planNewAnswer, planRestore, planSelectVersion } from '../chats/treeActions';
import { StaleWatchdog } from './watchdog';
import { DETACH } from '../server/client';
import type { FitResult } from './contextBudget';
import { ContextFitter } from './sessionContext';
import { modelNameOf } from '../server/connection';
import { displayModelName, reasoningCaps } from '../base/format';

export interface ChatSessionOptions {
  streamer: ChatStreamer;
  repository: ChatRepository;
  /** Per-chat choices kept outside the chat file (the thinking switch). */
  chatOptions?: (chatId: string) => { thinking?: boolean; model?: string };
  clock?: Clock;
  logger?: Logger;
  settings: () => SessionSettings;
}

/** At most one `stats` event per stream per this much clock time (plus one on every phase change and at the end). */
export const STATS_INTERVAL_MS = 250;

/** No token, reasoning or prompt progress for this long on a live stream: the server is busy (not stale). */
export const BUSY_AFTER_MS = 5_000;

/** How long the stale diagnosis may take before it is given up. */
const PROBE_TIMEOUT_MS = 2_000;
/** The free-slot check runs before the request is sent, so it gets much less. */
const SLOT_CHECK_MS = 300;

/**
 * A question that cannot fit even alone is refused before it is sent, but only on the server's exact count: an
 * estimate (a server that cannot count) may be wrong, so then the server has the last word.
 */
function refuseTooLarge(fit: FitResult): boolean {
  return fit.tooLarge !== undefined && fit.exact;
}

/** The ping interval asked of llama-server: about a quarter of the stale limit, at least 1 s. */
export function pingSeconds(staleSeconds: number): number {
  return Math.max(1, Math.round(staleSeconds / 4));
}

const DEFAULT_TITLE = 'New chat';

/** How a stream ends when a user action (not the server) ends it. */
type EndCause =
  | { kind: 'natural' }
  | { kind: 'stop' }
  | { kind: 'retry'; silentMs: number; stale: boolean }
  | { kind: 'discard' }
  | { kind: 'shutdown' };

interface StreamState {
  chatId: string;
  /** Our own copy of the answer (never shared with the repository). */
  message: ChatMessage;
  controller: AbortController;
  meter: ThroughputMeter;
  watchdog: StaleWatchdog;
  stale: boolean;
  /** A `done` or `error` frame arrived: the stream is ending on its own. */
  terminal: boolean;
  finishReason: string | undefined;
  error: ErrorInfo | undefined;
  lastStatsAt: number;
  lastPhase: string;
  storageFailed: boolean;
  /** Set by the first finaliser: the stream's single ending. */
  finalizing: Promise<void> | undefined;
  /** Settles when the final status is saved and announced, however the stream ended. */
  ended: { promise: Promise<void>; resolve: () => void };
  /** Tokens the message had before this stream (a continued answer). */
  baseTokens: number;
  /** Fires when frames arrive but no progress does (the server is busy). */
  progressWatch: StaleWatchdog;
  /** Since when no progress has come, while busy. */
  busySince: number | undefined;
  /** Every slot was busy when the request was sent (until the first progress). */
  queued: { busy: number; total: number } | undefined;
  /** The server's completion id (`chatcmpl-…`), for the control endpoint. */
  completionId: string | undefined;
  /** The client is resuming a dropped connection. */
  reconnecting: boolean;
  /** A replayed stream (after a reload) repeats text the message has: this much is skipped first. */
  skip: { content: number; reasoning: number };
}

interface StartOptions {
  /** The fit computed already (send and edit check it before saving the question). */
  fit?: FitResult;
  /** Continue this answer (the last message of the history) instead of adding a new one. */
  continueOf?: ChatMessage;
}



function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class ChatSession extends Disposable implements ChatSessionApi {
  private readonly streamer: ChatStreamer;
  private readonly repository: ChatRepository;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly settings: () => SessionSettings;
  private readonly context: ContextFitter;
  private readonly chatOptions: (chatId: string) => { thinking?: boolean; model?: string };
  private readonly emitter = this._register(new Emitter<SessionEvent>());
  private readonly streams = new Map<string, StreamState>();
  /**
   * Chats with an action under way that will start a stream (closes the gap before it is in `streams`); the
   * promise settles when the action is done, so a delete can wait for it.
   */
  private readonly reserved = new Map<string, Promise<void>>();
  /** How each chat's last stream ended, to tell 'already-finished' from 'not-streaming'. */
  private readonly lastEnded = new Map<string, MessageStatus>();
  private lastProps: ServerProps | undefined;
  private closed = false;

  readonly onEvent: (listener: (e: SessionEvent) => void) => IDisposable = this.emitter.event;

  constructor(options: ChatSessionOptions) {
    super();
    this.streamer = options.streamer;
    this.repository = options.repository;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? nullLogger;
    this.settings = options.settings;
    this.chatOptions = options.chatOptions ?? (() => ({}));
    this.context = new ContextFitter(this.streamer, this.settings, this.logger, this.clock);
    const sub = this.repository.onProblem((p) => {
      this.logger.warn(`Storage problem with ${p.file}: ${p.error.message}`);
      this.fire({ type: 'storageError', error: p.error });
    });
    // Another window changed chats on disk: the store reloaded them; the views need the new state.
    const external = this.repository.onDidChangeExternally((chatIds) => {
      for (const chatId of chatIds) this.fire({ type: 'chatChanged', chatId });
      this.fire({ type: 'chatsChanged' });
    });
    this._register(toDisposable(() => {
      sub.dispose();
      external.dispose();
    }));
  }

  // ------------------------------------------------------------------------------------------------------------
  // Queries

  activeStreams(): ActiveStream[] {
    const now = this.clock.now();
    return [...this.streams.values()].map((s) => ({
      chatId: s.chatId,
      messageId: s.message.id,
      stale: s.stale,
      stats: this.statsOf(s, now),
    }));
  }

  isStreaming(chatId: string): boolean {
    return this.streams.has(chatId);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Streaming actions

  async retryTarget(chatId: string): Promise<string | undefined> {
    const live = this.streams.get(chatId);
    if (live) return live.stale ? live.message.id : undefined;
    const chat = this.repository.listChats().some((c) => c.id === chatId) ? await this.loadChat(chatId) : undefined;
    const last = chat ? lastAnswer(chat) : undefined;
    return last && isRetryable(last) ? last.id : undefined;
  }

  send(chatId: string, text: string, attachments?: Attachment[]): Promise<ActionOutcome> {
    return this.withIdleChat(chatId, async (chat) => {
      const path = activePath(chat);
      const user = this.newQuestion(text, path[path.length - 1]?.id, attachments);
      // A question that cannot fit even alone is refused before anything is saved or sent: the draft stays.
      const fit = await this.context.fit([...path, user], { model: this.chatOptions(chatId).model });
      if (refuseTooLarge(fit)) return { ok: false, reason: 'too-large', detail: fit.tooLarge! };
      const firstUserMessage = !chat.messages.some((m) => m.role === 'user');
      const gone = await this.addOrBail(chatId, user);
      if (gone) return gone;
      this.fire({ type: 'messageAdded', chatId, message: { ...user } });
      if (firstUserMessage && (!chat.title || chat.title === DEFAULT_TITLE)) {
        await this.persist(() => this.repository.renameChat(chatId, deriveTitle(text)));
      }
      this.fire({ type: 'chatsChanged' });
      return await this.startAnswer(chatId, [...path, user], { fit });
    });
  }

  stop(chatId: string, messageId?: string): Promise<ActionOutcome> {
    return this.endByUser(chatId, messageId, { kind: 'stop' });
  }

  discard(chatId: string, messageId?: string): Promise<ActionOutcome> {
    return this.endByUser(chatId, messageId, { kind: 'discard' });
  }

  async retry(chatId: string, messageId?: string): Promise<ActionOutcome> {
    const state = this.streams.get(chatId);
    if (state && (messageId === undefined || messageId === state.message.id)) {
      if (state.finalizing || state.terminal) {
        // It ended on its own meanwhile: wait for its final status, then retry it like any finished answer.
        await state.ended.promise;
        return this.regenerateAnswer(chatId, state.message.id, 'retry');
      }
      return this.retryLive(chatId, state);
    }
    if (state) {
      return { ok: false, reason: 'busy', detail: 'Another answer is being generated in this chat; stop it first.' };
    }
    return this.regenerateAnswer(chatId, messageId, 'retry');
  }

  regenerate(chatId: string, messageId?: string): Promise<ActionOutcome> {
    return this.regenerateAnswer(chatId, messageId, 'regenerate');
  }

  editAndResend(chatId: string, messageId: string, text: string, attachments?: Attachment[]): Promise<ActionOutcome> {
    return this.withIdleChat(chatId, async (chat) => {
      const plan = planEdit(chat, messageId);
      if (!plan.ok) return plan;
      const user = this.newQuestion(text, plan.target.parentId, attachments ?? plan.target.attachments);
      const fit = await this.context.fit([...plan.history, user], { model: this.chatOptions(chatId).model });
      if (refuseTooLarge(fit)) return { ok: false, reason: 'too-large', detail: fit.tooLarge! };
      const gone = await this.addOrBail(chatId, user);
      if (gone) return gone;
      this.fire({ type: 'messageAdded', chatId, message: { ...user } });
      this.fire({ type: 'chatsChanged' });
      return await this.startAnswer(chatId, [...plan.history, user], { fit });
    });
  }

  selectVersion(chatId: string, messageId: string): Promise<ActionOutcome> {
    return this.withIdleChat(chatId, async (chat) => {
      const index = indexTree(chat.messages);
      const leafId = leafForVersion(index, messageId);
      if (leafId === undefined) return { ok: false, reason: 'unknown-message', detail: 'That version is no longer in this chat.' };
      const edit = planSelectVersion(chat, index, leafId);
      if (edit?.leafId !== undefined) {
        if (!(await this.persisted(() => this.repository.editTree(chatId, edit)))) return this.unsaved();
      }
      this.fire({ type: 'leafChanged', chatId, leafId });
      return { ok: true, chatId, messageId: leafId };
    });
  }

  async deleteMessages(chatId: string, messageId: string, scope: 'message' | 'branch'): Promise<DeleteOutcome> {
    let deleted: DeletedMessages | undefined;
    const outcome = await this.withIdleChat(chatId, async (chat) => {
      const plan = planDelete(chat, messageId, scope);
      if (!plan.ok) return plan;
      if (!(await this.persisted(() => this.repository.editTree(chatId, plan.edit)))) return this.unsaved();
      deleted = { chatId, messages: plan.removed, relinked: plan.relinked, leafId: plan.previousLeaf };
      this.logger.info(`Deleted ${plan.removed.length} message(s) from chat ${chatId} (${scope})`);
      this.fire({ type: 'chatChanged', chatId });
      this.fire({ type: 'chatsChanged' });
      return { ok: true, chatId };
    });
    if (!outcome.ok) return outcome;
    return { ok: true, deleted: deleted! };
  }

  undoDelete(deleted: DeletedMessages): Promise<ActionOutcome> {
    const { chatId } = deleted;
    return this.withIdleChat(chatId, async (chat) => {
      const plan = planRestore(chat, deleted.messages, deleted.relinked, deleted.leafId ?? activeLeafId(chat));
      if (!plan.ok) return plan;
      if (!(await this.persisted(() => this.repository.editTree(chatId, plan.edit)))) return this.unsaved();
      this.fire({ type: 'chatChanged', chatId });
      this.fire({ type: 'chatsChanged' });
      return { ok: true, chatId };
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Chat management

  async newChat(): Promise<Chat> {
    const chat = await this.repository.createChat();
    this.fire({ type: 'chatsChanged' });
    return chat;
  }

  async deleteChat(chatId: string): Promise<ActionOutcome> {
    // An action under way (a send awaiting its first write) would otherwise start a ghost stream for a deleted chat.
    for (let r = this.reserved.get(chatId); r; r = this.reserved.get(chatId)) await r;
    const summary = this.repository.listChats().find((c) => c.id === chatId);
    if (summary?.readOnly) return { ok: false, reason: 'read-only', detail: summary.readOnly };
    const state = this.streams.get(chatId);
    if (state) {
      state.controller.abort();
      await this.finalize(state, { kind: 'stop' });
    }
    try {
      await this.repository.deleteChat(chatId);
    } catch (err) {
      this.storageError(err);
      return this.unsaved();
    }
    this.lastEnded.delete(chatId);
    this.fire({ type: 'chatsChanged' });
    return { ok: true, chatId };
  }

  async renameChat(chatId: string, title: string): Promise<void> {
    const t = title.replace(/\s+/g, ' ').trim();
    await this.repository.renameChat(chatId, t || DEFAULT_TITLE);
    this.fire({ type: 'chatsChanged' });
  }

  async forkChat(chatId: string, messageId: string): Promise<Chat> {
    const chat = await this.repository.getChat(chatId);
    if (!chat) throw new Error(`Unknown chat ${chatId}`);
    const index = indexTree(chat.messages);
    const path = pathTo(index, messageId);
    if (path.length === 0) throw new Error(`Message ${messageId} is not in chat ${chatId}`);
    // A streaming answer is forked with the text it has so far.
    const live = this.streams.get(chatId);
    const source = live ? path.map((m) => (m.id === live.message.id ? { ...m, content: live.message.content, reasoning: live.message.reasoning } : m)) : path;
    const messages = forkMessages(source, () => newId(this.clock.now()));
    const forked = await this.repository.createChat({ title: `${chat.title} (fork)`, messages });
    this.fire({ type: 'chatsChanged' });
    return forked;
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    const ending = [...this.streams.values()].map((s) => {
      // Detach, not Stop: the server keeps the stream, so the next window can pick it up.
      s.controller.abort(DETACH);
      return this.finalize(s, { kind: 'shutdown' });
    });
    await Promise.all(ending);
    await this.persist(() => this.repository.flush());
  }

  override dispose(): void {
    this.closed = true;
    for (const s of [...this.streams.values()]) {
      s.controller.abort();
      void this.finalize(s, { kind: 'shutdown' });
    }
    super.dispose();
  }

  /** Aborts a live answer and asks again under the same question: the aborted one stays as an earlier version. */
  private async retryLive(chatId: string, state: StreamState): Promise<ActionOutcome> {
    // Hold the chat from the moment the old stream ends until the new one is registered.
    const release = this.reserve(chatId);
    try {
      const silentMs = state.watchdog.silentMs();
      state.controller.abort();
      await this.finalize(state, { kind: 'retry', silentMs, stale: state.stale });
      const chat = await this.loadChat(chatId);
      if (!chat) return this.unknownChat(chatId);
      const plan = planNewAnswer(this.withLocal(chat, state.message), state.message.id, 'retry');
      if (!plan.ok) return plan;
      return await this.startAnswer(chatId, plan.history);
    } finally {
      release();
    }
  }

  private regenerateAnswer(chatId: string, messageId: string | undefined, mode: 'retry' | 'regenerate'): Promise<ActionOutcome> {
    return this.withIdleChat(chatId, async (chat) => {
      const plan = planNewAnswer(chat, messageId, mode);
      if (!plan.ok) return plan;
      return await this.startAnswer(chatId, plan.history);
    });
  }

  private newQuestion(text: string, parentId: string | undefined, attachments?: readonly Attachment[]): ChatMessage {
    const now = this.clock.now();
    const user: ChatMessage = { id: newId(now), role: 'user', content: text, status: 'complete', createdAt: now };
    if (parentId !== undefined) user.parentId = parentId;
    if (attachments && attachments.length > 0) user.attachments = structuredClone([...attachments]);
    return user;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Context: counting, continuing and summarizing

  /** The size of the request a draft would send now, fitted as a send would fit it (no summary is made). */
  async measureDraft(chatId: string | undefined, text: string, attachments: Attachment[] = [], signal?: AbortSignal): Promise<DraftMeasure> {
    const chat = chatId !== undefined && this.repository.listChats().some((c) => c.id === chatId) ? await this.loadChat(chatId) : undefined;
    const path = chat ? activePath(chat) : [];
    const user = this.newQuestion(text, path[path.length - 1]?.id, attachments);
    const [fit, attachmentTokens] = await Promise.all([
      this.context.fit([...path, user], { signal, model: chatId !== undefined ? this.chatOptions(chatId).model : undefined }),
      this.context.attachmentTokens(attachments, signal),
    ]);
    const out: DraftMeasure = {
      tokens: fit.tokens,
      exact: fit.exact,
      reserve: fit.reserve,
      fits: fit.fits || (fit.toSummarize !== undefined && !fit.tooLarge),
      omitted: fit.omitted + (fit.toSummarize?.length ?? 0),
      attachmentTokens,
    };
    if (fit.nCtx !== undefined) out.nCtx = fit.nCtx;
    if (fit.tooLarge) out.tooLarge = fit.tooLarge;
    return out;
  }

  /** Ends the reasoning of a running answer on the server (reasoning_control), so it starts answering. */
  async skipThinking(chatId: string, messageId: string): Promise<ActionOutcome> {
    const state = this.streams.get(chatId);
    if (!state || state.message.id !== messageId) return { ok: false, reason: 'target-changed', detail: 'That answer is no longer being generated.' };
    if (state.message.content) return { ok: false, reason: 'already-finished', detail: 'The answer has stopped thinking already.' };
    if (!this.streamer.controlReasoning || state.completionId === undefined) {
      return { ok: false, reason: 'invalid', detail: 'This server cannot end thinking early.' };
    }
    try {
      await this.streamer.controlReasoning(state.completionId, 'reasoning_end');
    } catch (err) {
      return { ok: false, reason: 'invalid', detail: `The server did not end the thinking: ${errorText(err)}` };
    }
    this.logger.info(`Asked the server to end the thinking of answer ${messageId}`);
    return { ok: true, chatId, messageId };
  }

  continueAnswer(chatId: string, messageId: string): Promise<ActionOutcome> {
    return this.withIdleChat(chatId, async (chat) => {
      const index = indexTree(chat.messages);
      const target = index.byId.get(messageId);
      if (!target) return { ok: false, reason: 'unknown-message', detail: 'That answer is no longer in this chat.' };
      if (target.role !== 'assistant' || !target.content) return { ok: false, reason: 'invalid', detail: 'Only an answer with text can be continued.' };
      return await this.startAnswer(chatId, pathTo(index, messageId), { continueOf: target });
    });
  }

  async continueInNewChat(chatId: string, messageId: string): Promise<ActionOutcome> {
    const chat = await this.loadChat(chatId);
    if (!chat) return this.unknownChat(chatId);
    const path = pathTo(indexTree(chat.messages), messageId);
    const answer = path[path.length - 1];
    if (!answer || answer.role !== 'assistant') return { ok: false, reason: 'unknown-message', detail: 'That answer is no longer in this chat.' };
    let from = path.length - 1;
    while (from > 0 && path[from].role !== 'user') from--;
    const live = this.streams.get(chatId);
    const source = path.slice(from).map((m) => (live && m.id === live.message.id ? { ...m, content: live.message.content } : m));
    const messages = forkMessages(source, () => newId(this.clock.now()));
    const fresh = await this.repository.createChat({ title: `${chat.title} (continued)`, messages });
    this.fire({ type: 'chatsChanged' });
    const outcome = await this.continueAnswer(fresh.id, messages[messages.length - 1].id);
    return outcome.ok ? outcome : { ok: true, chatId: fresh.id };
  }

  /** Summarizes the active path before its last question into a summary sent in place of those messages. */
  compactChat(chatId: string): Promise<ActionOutcome> {
    return this.withIdleChat(chatId, async (chat) => {
      const path = activePath(chat);
      let last = path.length - 1;
      while (last > 0 && path[last].role !== 'user') last--;
      const covered = path.slice(0, last).filter((m) => m.role !== 'system');
      if (last <= 0 || covered.length < 2) {
        return { ok: false, reason: 'invalid', detail: 'There are not enough earlier messages to summarize (the last question and its answer stay as they are).' };
      }
      try {
        await this.storeSummary(chatId, path[last], covered);
      } catch (err) {
        return { ok: false, reason: 'invalid', detail: `The server could not summarize the chat: ${errorText(err)}` };
      }
      return { ok: true, chatId, messageId: path[last].id };
    });
  }

  editSummary(chatId: string, messageId: string, text: string): Promise<ActionOutcome> {
    return this.withIdleChat(chatId, async (chat) => {
      const m = chat.messages.find((x) => x.id === messageId);
      if (!m?.summary) return { ok: false, reason: 'unknown-message', detail: 'That summary is no longer in this chat.' };
      const summary: ContextSummary = { ...m.summary, text: text.trim() || m.summary.text };
      if (!(await this.persisted(() => this.repository.updateMessage(chatId, messageId, { summary })))) return this.unsaved();
      this.fire({ type: 'chatChanged', chatId });
      return { ok: true, chatId, messageId };
    });
  }

  /** Asks the server for a summary of `covered` and stores it on `host` (the first message after them). */
  private async storeSummary(chatId: string, host: ChatMessage, covered: readonly ChatMessage[]): Promise<ContextSummary> {
    const text = await this.context.summarize(covered);
    const summary: ContextSummary = { text, covers: covered.map((m) => m.id), createdAt: this.clock.now() };
    if (!(await this.persisted(() => this.repository.updateMessage(chatId, host.id, { summary })))) throw new Error('the summary could not be saved');
    host.summary = summary;
    this.logger.info(`Summarized ${covered.length} earlier messages of chat ${chatId} (${text.length} characters)`);
    this.fire({ type: 'chatChanged', chatId });
    return summary;
  }

  /** summarize policy: make the summary the fit asked for, then fit again (trimming if it still does not fit). */
  private async summarizeAndFit(chatId: string, history: ChatMessage[], fit: FitResult, continueFinal: boolean): Promise<FitResult> {
    const ids = new Set(fit.toSummarize);
    const covered = history.filter((m) => ids.has(m.id));
    const host = history.find((m, i) => i > 0 && !ids.has(m.id) && history.slice(0, i).some((x) => ids.has(x.id)));
    if (covered.length === 0 || !host) return this.context.fit(history, { continueFinal, policy: 'trimOldest' });
    try {
      await this.storeSummary(chatId, host, covered);
    } catch (err) {
      this.logger.warn(`Could not summarize the earlier messages (${errorText(err)}); leaving the oldest out instead`);
      return this.context.fit(history, { continueFinal, policy: 'trimOldest' });
    }
    const again = await this.context.fit(history, { continueFinal });
    return again.fits ? again : this.context.fit(history, { continueFinal, policy: 'trimOldest' });
  }

  // ------------------------------------------------------------------------------------------------------------
  // The stream

  /**
   * Adds the assistant placeholder as the child of the last message of `history` (the active path up to the
   * question) and starts streaming it in the background.
   */
  private async startAnswer(chatId: string, history: ChatMessage[], options: StartOptions = {}): Promise<ActionOutcome> {
    if (!this.repository.listChats().some((c) => c.id === chatId)) return this.unknownChat(chatId);
    const settings = this.settings();
    const chatModel = this.chatOptions(chatId).model;
    const named = chatModel || settings.model || (this.lastProps ? modelNameOf(this.lastProps) : undefined);
    const model = named ? displayModelName(named) : undefined;
    const continueOf = options.continueOf;
    const continueFinal = continueOf !== undefined;
    let fit = options.fit ?? (await this.context.fit(history, { continueFinal, model: this.chatOptions(chatId).model }));
    if (refuseTooLarge(fit)) return { ok: false, reason: 'too-large', detail: fit.tooLarge! };
    if (fit.toSummarize && fit.toSummarize.length > 0) fit = await this.summarizeAndFit(chatId, history, fit, continueFinal);
    const request = this.context.baseRequest(history, continueFinal);
    request.messages = fit.messages;
    // The chat's own model (router mode) wins over the setting.
    if (chatModel) request.model = chatModel;
    const now = this.clock.now();
    let message: ChatMessage;
    if (continueOf) {
      // The server continues the same message: its text so far stays, new text is appended to it.
      message = structuredClone(continueOf);
      message.status = 'streaming';
      for (const k of ['finishReason', 'limit', 'error', 'finishedAt'] as const) delete message[k];
      const patch: MessagePatch = { status: 'streaming', finishReason: undefined, limit: undefined, error: undefined, finishedAt: undefined };
      if (!(await this.persisted(() => this.repository.updateMessage(chatId, message.id, patch)))) return this.unknownChat(chatId);
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
      await this.persist(() => this.repository.updateMessage(chatId, message.id, { context: message.context }));
    } else {
      // A chat that went away meanwhile gets no stream: it would hold a server slot and end in a storage error.
      const gone = await this.addOrBail(chatId, message);
      if (gone) return gone;
    }
    const state = this.newStream(chatId, message, now, model, continueOf?.completionTokens ?? 0);
    // A continued answer is already in the view: it gets a fresh snapshot with the message streaming again.
    if (continueOf) this.fire({ type: 'chatChanged', chatId });
    else this.fire({ type: 'messageAdded', chatId, message: { ...message } });
    this.fetchProps(state, settings);
    // llama-server writes `:` frames this often while it has nothing else to send: a busy server is not silent.
    const extra: Record<string, unknown> = { ...request.extra, sse_ping_interval: pingSeconds(settings.staleSeconds) };
    const props = this.context.props ?? this.lastProps;
    const caps = props ? reasoningCaps(props.chatTemplate) : undefined;
    const thinking = this.chatOptions(chatId).thinking;
    if (caps?.canToggle && thinking !== undefined) extra.chat_template_kwargs = { enable_thinking: thinking };
    // Lets Skip thinking end the reasoning of this request on the server.
    if (caps?.canSkip) extra.reasoning_control = true;
    request.extra = extra;
    // llama-server keeps the stream under this id: a dropped connection resumes, a reloaded window picks it up.
    request.conversationId = message.id;
    await this.checkSlots(state);
    this.logger.info(`Streaming answer ${message.id} in chat ${chatId} (${request.messages.length} messages)`);
    void this.run(state, this.batches(request, state.controller.signal));
    return { ok: true, chatId, messageId: message.id };
  }

  /** Registers a stream for `message` (its own copy) with its meter and watchdogs armed. */
  private newStream(chatId: string, message: ChatMessage, now: number, model: string | undefined, baseTokens: number): StreamState {
    const settings = this.settings();
    const meter = new ThroughputMeter(this.clock, { startedAt: now, ctxMax: this.lastProps?.nCtx, model });
    const state: StreamState = {
      chatId,
      message,
      controller: new AbortController(),
      meter,
      watchdog: new StaleWatchdog(this.clock, (silentMs) => this.onStale(state, silentMs)),
      stale: false,
      terminal: false,
      finishReason: undefined,
      error: undefined,
      lastStatsAt: Number.NEGATIVE_INFINITY,
      lastPhase: 'waiting',
      storageFailed: false,
      finalizing: undefined,
      ended: deferred(),
      baseTokens,
      progressWatch: new StaleWatchdog(this.clock, (silentMs) => this.onBusy(state, silentMs)),
      busySince: undefined,
      queued: undefined,
      completionId: undefined,
      reconnecting: false,
      skip: { content: 0, reasoning: 0 },
    };
    this.streams.set(chatId, state);
    state.watchdog.arm(settings.staleSeconds * 1000);
    state.progressWatch.arm(BUSY_AFTER_MS);
    return state;
  }

  /**
   * After a window reload: answers the last window left streaming (now `interrupted`) that the server still holds
   * are picked up again instead of staying cut. Looks at chats changed in the last `maxAgeMs`.
   */
  async resumeDropped(maxAgeMs = 60 * 60_000): Promise<number> {
    const streamer = this.streamer;
    if (!streamer.lookupStreams || !streamer.resumeStream) return 0;
    const now = this.clock.now();
    const candidates: { chatId: string; message: ChatMessage }[] = [];
    for (const summary of this.repository.listChats()) {
      if (now - summary.updatedAt > maxAgeMs) break; // newest first
      if (summary.readOnly) continue;
      const chat = await this.loadChat(summary.id);
      for (const m of chat?.messages ?? []) {
        if (m.role === 'assistant' && m.status === 'interrupted' && now - m.createdAt <= maxAgeMs) candidates.push({ chatId: summary.id, message: m });
      }
    }
    if (candidates.length === 0) return 0;
    const held = await this.probe((signal) => streamer.lookupStreams?.(candidates.map((c) => c.message.id), signal));
    let resumed = 0;
    for (const { id } of held ?? []) {
      const c = candidates.find((x) => x.message.id === id);
      if (!c || this.checkBusy(c.chatId)) continue;
      const release = this.reserve(c.chatId);
      try {
        if (await this.resumeAnswer(c.chatId, c.message, (id, signal) => streamer.resumeStream!(id, signal))) resumed++;
      } finally {
        release();
      }
    }
    return resumed;
  }

  private async resumeAnswer(chatId: string, stored: ChatMessage, resume: NonNullable<ChatStreamer['resumeStream']>): Promise<boolean> {
    const message = structuredClone(stored);
    message.status = 'streaming';
    for (const k of ['finishReason', 'limit', 'error', 'finishedAt'] as const) delete message[k];
    const patch: MessagePatch = { status: 'streaming', finishReason: undefined, limit: undefined, error: undefined, finishedAt: undefined };
    if (!(await this.persisted(() => this.repository.updateMessage(chatId, message.id, patch)))) return false;
    const state = this.newStream(chatId, message, this.clock.now(), message.model, 0);
    // The replay starts at the first byte: the text the message kept is skipped, the rest appended.
    state.skip = { content: message.content.length, reasoning: message.reasoning?.length ?? 0 };
    this.logger.info(`Resuming answer ${message.id} in chat ${chatId}: llama-server still has its stream`);
    this.fire({ type: 'chatChanged', chatId });
    this.fetchProps(state, this.settings());
    void this.run(state, resume(message.id, state.controller.signal));
    return true;
  }

  /** n_ctx (and the model name) for the meter; a failure here never blocks the stream. */
  private fetchProps(state: StreamState, settings: SessionSettings): void {
    let p: Promise<ServerProps>;
    try {
      p = this.streamer.getProps(state.controller.signal, this.chatOptions(state.chatId).model);
    } catch (err) {
      this.logger.warn(`Could not read server props: ${errorText(err)}`);
      return;
    }
    p.then(
      (props) => {
        this.lastProps = props;
        if (state.finalizing) return;
        state.meter.setCtxMax(props.nCtx);
        const patch: MessagePatch = {};
        // The alias cached from an earlier answer may name a model the server has since swapped.
        const name = modelNameOf(props);
        if (!settings.model && !this.chatOptions(state.chatId).model && name && name !== state.message.model) {
          state.message.model = name;
          state.meter.setModel(name);
          patch.model = name;
          void this.persist(() => this.repository.updateMessage(state.chatId, state.message.id, patch));
          this.fire({ type: 'messageUpdated', chatId: state.chatId, messageId: state.message.id, patch });
        }
        this.emitStats(state, this.clock.now());
      },
      (err: unknown) => this.logger.warn(`Could not read server props: ${errorText(err)}`),
    );
  }

  private async run(state: StreamState, source: AsyncIterable<StreamEvent[]>): Promise<void> {
    try {
      for await (const batch of source) {
        this.onStreamBatch(state, batch);
        if (state.finalizing || state.terminal) break;
      }
    } catch (err) {
      // The contract says streamers never throw; if one does, the answer still gets a final status.
      state.error = { kind: 'unknown', message: `The stream failed: ${errorText(err)}` };
    }
    await this.finalize(state, { kind: 'natural' });
  }

  /** The streamer's batches; one that streams single events is read as batches of one (one code path here). */
  private async *batches(request: ChatRequest, signal: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    if (this.streamer.streamChatBatches) {
      yield* this.streamer.streamChatBatches(request, signal);
      return;
    }
    for await (const event of this.streamer.streamChat(request, signal)) yield [event];
  }

  /**
   * One network chunk's events (often hundreds of tokens at speed): one clock read, and each run of text of one
   * kind goes to the repository and the listeners as one delta instead of one per token.
   */
  private onStreamBatch(state: StreamState, batch: StreamEvent[]): void {
    // A user action may have ended the stream while this batch was in flight: nothing more is applied.
    if (state.finalizing) return;
    const now = this.clock.now();
    let kind: 'content' | 'reasoning' | undefined;
    let text = '';
    for (let i = 0; i < batch.length; i++) {
      const event = batch[i];
      if (event.type === 'content' || event.type === 'reasoning') {
        if (kind !== event.type && kind !== undefined) {
          this.onText(state, kind, text, now);
          if (state.finalizing) return;
          text = '';
        }
        kind = event.type;
        text += event.text;
        state.watchdog.touch(now);
        state.meter.onEvent(event, now);
        continue;
      }
      if (kind !== undefined) {
        this.onText(state, kind, text, now);
        kind = undefined;
        text = '';
      }
      if (state.finalizing) return;
      this.onStreamEvent(state, event, now);
      if (state.terminal) return;
    }
    if (kind !== undefined) this.onText(state, kind, text, now);
  }

  /** Tokens, reasoning or prompt progress: the stream is moving (not busy, not waiting for a slot). */
  private onProgress(state: StreamState, now: number): void {
    state.progressWatch.touch(now);
    if (state.busySince === undefined && state.queued === undefined && !state.reconnecting) return;
    state.busySince = undefined;
    state.queued = undefined;
    state.reconnecting = false;
    if (!state.progressWatch.armed) state.progressWatch.rearm();
    this.emitStats(state, now);
  }

  /** Streamed text (one token or a run of them) that the meter has already counted. */
  private onText(state: StreamState, kind: 'content' | 'reasoning', text: string, now: number): void {
    if (state.stale) this.clearStale(state);
    this.onProgress(state, now);
    const skip = state.skip[kind];
    if (skip > 0) {
      // A replay from the first byte: what the message already holds is not appended twice.
      const n = Math.min(skip, text.length);
      state.skip[kind] -= n;
      text = text.slice(n);
      if (!text) return;
    }
    const delta = kind === 'content' ? { content: text } : { reasoning: text };
    if (kind === 'content') state.message.content += text;
    else state.message.reasoning = (state.message.reasoning ?? '') + text;
    this.append(state, delta);
    this.fire({ type: 'delta', chatId: state.chatId, messageId: state.message.id, ...delta });
    this.maybeStats(state, now);
  }

  private onStreamEvent(state: StreamState, event: StreamEvent, now: number): void {
    state.watchdog.touch(now);
    state.meter.onEvent(event, now);
    const { chatId } = state;
    const messageId = state.message.id;
    switch (event.type) {
      case 'content':
      case 'reasoning':
        this.onText(state, event.type, event.text, now);
        return;
      case 'progress':
        if (state.stale) this.clearStale(state);
        this.onProgress(state, now);
        this.fire({ type: 'progress', chatId, messageId, progress: event.progress });
        this.maybeStats(state, now);
        return;
      case 'reconnecting':
        // The connection dropped; the client resumes the stream where the last complete event ended.
        state.reconnecting = true;
        this.logger.info(`Connection dropped on answer ${messageId}; resuming (attempt ${event.attempt})`);
        this.emitStats(state, now);
        return;
      case 'role':
        if (event.id !== undefined) state.completionId = event.id;
        if (state.stale) this.clearStale(state);
        return;
      case 'timings':
      case 'alive':
        // Any frame, a ping included, proves the stream lives.
        if (state.stale) this.clearStale(state);
        if (event.type === 'timings') this.maybeStats(state, now);
        return;
      case 'finish':
        state.finishReason = event.reason;
        return;
      case 'usage':
        return;
      case 'done':
        state.terminal = true;
        return;
      case 'error':
        state.terminal = true;
        state.error = event.error;
        return;
    }
  }

  private append(state: StreamState, delta: { content?: string; reasoning?: string }): void {
    if (state.storageFailed) return;
    try {
      this.repository.appendToMessage(state.chatId, state.message.id, delta);
    } catch (err) {
      // Keep streaming in memory; the final updateMessage tries to save the whole text again.
      state.storageFailed = true;
      this.storageError(err);
    }
  }

  private maybeStats(state: StreamState, now: number): void {
    const phase = state.meter.currentPhase;
    if (phase !== state.lastPhase || now - state.lastStatsAt >= STATS_INTERVAL_MS) this.emitStats(state, now);
  }

  private emitStats(state: StreamState, now: number): void {
    state.lastStatsAt = now;
    const stats = this.statsOf(state, now);
    state.lastPhase = stats.phase;
    this.fire({ type: 'stats', chatId: state.chatId, messageId: state.message.id, stats });
  }

  /** The meter's figures plus what only the session knows: busy, waiting for a slot. */
  private statsOf(state: StreamState, now: number): LiveStats {
    const stats = state.meter.stats(now);
    if (!state.stale && state.busySince !== undefined) stats.busyMs = Math.max(0, now - state.busySince);
    if (state.queued) stats.queued = state.queued;
    if (state.reconnecting) stats.reconnecting = true;
    return stats;
  }

  private onBusy(state: StreamState, silentMs: number): void {
    if (state.finalizing || state.terminal) return;
    state.busySince = this.clock.now() - silentMs;
    this.logger.info(`No progress for ${Math.round(silentMs / 1000)} s on answer ${state.message.id}; the connection is alive`);
    this.emitStats(state, this.clock.now());
  }

  /** Before sending: every slot busy means the request will wait in the server's queue; say so. */
  private async checkSlots(state: StreamState): Promise<void> {
    if (!this.streamer.getSlots) return;
    const slots = await this.probe((signal) => this.streamer.getSlots?.(signal), SLOT_CHECK_MS);
    if (!slots || slots.length === 0) return;
    const busy = slots.filter((s) => s.isProcessing).length;
    if (busy >= slots.length) {
      state.queued = { busy, total: slots.length };
      this.emitStats(state, this.clock.now());
    }
  }

  /** A short, bounded question to the server that never throws (undefined when it fails or times out). */
  private async probe<T>(ask: (signal: AbortSignal) => Promise<T> | undefined, timeoutMs = PROBE_TIMEOUT_MS): Promise<T | undefined> {
    const controller = new AbortController();
    const timer = this.clock.setTimeout(() => controller.abort(), timeoutMs);
    try {
      const p = ask(controller.signal);
      if (!p) return undefined;
      return await Promise.race([p, new Promise<undefined>((resolve) => controller.signal.addEventListener('abort', () => resolve(undefined), { once: true }))]);
    } catch {
      return undefined;
    } finally {
      this.clock.clearTimeout(timer);
    }
  }

  /** What /health and /slots say about a silent stream, in words for the notification and the banner. */
  private async diagnose(): Promise<string | undefined> {
    if (!this.streamer.health && !this.streamer.getSlots) return undefined;
    const [health, slots] = await Promise.all([
      this.probe(async (signal) => {
        if (!this.streamer.health) return 'unknown';
        await this.streamer.health(signal);
        return 'ok';
      }),
      this.probe((signal) => this.streamer.getSlots?.(signal)),
    ]);
    if (health === undefined && slots === undefined) return 'llama-server is not responding';
    if (!slots) return undefined;
    const processing = slots.filter((s) => s.isProcessing).map((s) => s.id);
    if (processing.length === 0) return 'llama-server has no request running: the answer was dropped';
    const which = processing.length === 1 ? `slot ${processing[0]}` : `slots ${processing.join(', ')}`;
    return `llama-server is still processing this request (${which})`;
  }

  private onStale(state: StreamState, silentMs: number): void {
    if (state.finalizing || state.stale) return;
    state.stale = true;
    state.busySince = undefined;
    this.logger.warn(`No activity for ${Math.round(silentMs / 1000)} s on answer ${state.message.id}`);
    const announce = (diagnosis: string | undefined): void => {
      if (state.finalizing || !state.stale) return;
      if (diagnosis) this.logger.info(`Stalled answer ${state.message.id}: ${diagnosis}`);
      const e: SessionEvent = { type: 'stale', chatId: state.chatId, messageId: state.message.id, silentMs: state.watchdog.silentMs() };
      if (diagnosis) e.diagnosis = diagnosis;
      this.fire(e);
    };
    // Ask the server what became of it before telling the user, so a dead, a busy and a dropped stream read apart.
    if (this.streamer.health || this.streamer.getSlots) void this.diagnose().then(announce);
    else announce(undefined);
  }

  /** Activity after a stale warning: drop the warning and watch again. */
  private clearStale(state: StreamState): void {
    state.stale = false;
    state.watchdog.rearm();
    this.fire({ type: 'messageUpdated', chatId: state.chatId, messageId: state.message.id, patch: { status: 'streaming' } });
    this.emitStats(state, this.clock.now());
  }

  /** The stream's single ending; later callers get the same promise. */
  private finalize(state: StreamState, cause: EndCause): Promise<void> {
    state.finalizing ??= this.doFinalize(state, cause).finally(() => state.ended.resolve());
    return state.finalizing;
  }

  private async doFinalize(state: StreamState, cause: EndCause): Promise<void> {
    // Synchronous part first: from here on the chat is free and nothing else touches this stream.
    state.watchdog.cancel();
    state.progressWatch.cancel();
    state.meter.end();
    if (this.streams.get(state.chatId) === state) this.streams.delete(state.chatId);

    const { status, error } = this.outcome(state, cause);
    const summary = state.meter.summary();
    const patch: MessagePatch = {
      status,
      finishedAt: this.clock.now(),
      completionTokens: summary.completionTokens + state.baseTokens,
      timings: summary.timings,
    };
    if (state.finishReason !== undefined) patch.finishReason = state.finishReason;
    if (state.finishReason === 'length') {
      const max = this.settings().maxTokens;
      patch.limit = max !== undefined && max > 0 && summary.completionTokens >= max ? 'maxTokens' : 'context';
    }
    if (summary.promptTokens !== undefined) patch.promptTokens = summary.promptTokens;
    if (summary.cachedTokens !== undefined) patch.cachedTokens = summary.cachedTokens;
    if (summary.ctxUsed !== undefined) patch.ctxUsed = summary.ctxUsed;
    if (summary.ctxMax !== undefined) patch.ctxMax = summary.ctxMax;
    if (state.message.model) patch.model = state.message.model;
    if (error) patch.error = error;
    // If appends failed, the final patch carries the whole text so the store can still save it.
    if (state.storageFailed) {
      patch.content = state.message.content;
      if (state.message.reasoning !== undefined) patch.reasoning = state.message.reasoning;
    }
    Object.assign(state.message, patch);
    this.lastEnded.set(state.chatId, status);

    this.emitStats(state, this.clock.now());
    this.logger.info(`Answer ${state.message.id} ended: ${status}${error ? ` (${error.kind}: ${error.message})` : ''}`);
    await this.persist(() => this.repository.updateMessage(state.chatId, state.message.id, patch));
    const { chatId } = state;
    const messageId = state.message.id;
    this.fire({ type: 'messageUpdated', chatId, messageId, patch });
    const ended: SessionEvent = { type: 'streamEnded', chatId, messageId, message: structuredClone(state.message) };
    if (error) ended.error = error;
    this.fire(ended);
    this.fire({ type: 'chatsChanged' });
  }

  private outcome(state: StreamState, cause: EndCause): { status: MessageStatus; error?: ErrorInfo } {
    switch (cause.kind) {
      case 'stop':
        return { status: 'stopped' };
      case 'shutdown':
        return { status: 'interrupted' };
      case 'discard':
        return { status: 'failed', error: { kind: 'aborted', message: 'Discarded by the user; the answer is incomplete.' } };
      case 'retry': {
        const s = Math.round(cause.silentMs / 1000);
        const message = cause.stale ? `Retried after no activity for ${s} s.` : 'Retried by the user.';
        return { status: 'failed', error: { kind: 'aborted', message, hint: 'A new answer was requested.' } };
      }
      case 'natural':
        if (state.error) {
          // A connection that drops after the finish frame still delivered the whole answer.
          if (state.finishReason !== undefined && state.error.kind === 'truncated') return { status: 'complete' };
          return { status: 'failed', error: state.error };
        }
        if (state.terminal || state.finishReason !== undefined) return { status: 'complete' };
        return { status: 'failed', error: { kind: 'truncated', message: 'The stream ended before the answer was finished.' } };
    }
  }

  // ------------------------------------------------------------------------------------------------------------
  // Helpers

  private async endByUser(chatId: string, messageId: string | undefined, cause: EndCause): Promise<ActionOutcome> {
    const state = this.streams.get(chatId);
    const refused = this.refuseEnd(chatId, state);
    if (refused || !state) return refused ?? this.notStreaming(chatId);
    if (messageId !== undefined && messageId !== state.message.id) {
      return { ok: false, reason: 'target-changed', detail: 'That answer is no longer being generated; another one is.' };
    }
    state.controller.abort();
    await this.finalize(state, cause);
    return { ok: true, chatId, messageId: state.message.id };
  }

  /** Why a stop/retry/discard cannot act on this chat's stream, if it cannot. */
  private refuseEnd(chatId: string, state: StreamState | undefined): ActionOutcome | undefined {
    if (!state) return this.notStreaming(chatId);
    if (state.terminal || state.finalizing) {
      return { ok: false, reason: 'already-finished', detail: 'The answer already finished on its own.' };
    }
    return undefined;
  }

  private notStreaming(chatId: string): ActionOutcome {
    const last = this.lastEnded.get(chatId);
    if (last) return { ok: false, reason: 'already-finished', detail: `The answer already ended (${last}).` };
    return { ok: false, reason: 'not-streaming', detail: 'No answer is being generated in this chat.' };
  }

  /** Runs `fn` with the chat loaded while holding it against a second action; refuses a busy or unknown chat. */
  private async withIdleChat(chatId: string, fn: (chat: Chat) => Promise<ActionOutcome>): Promise<ActionOutcome> {
    const busy = this.checkBusy(chatId);
    if (busy) return busy;
    const release = this.reserve(chatId);
    try {
      const chat = await this.loadChat(chatId);
      if (!chat) return this.unknownChat(chatId);
      if (chat.readOnly) return { ok: false, reason: 'read-only', detail: chat.readOnly };
      return await fn(chat);
    } finally {
      release();
    }
  }

  private reserve(chatId: string): () => void {
    let done!: () => void;
    const p = new Promise<void>((resolve) => (done = resolve));
    this.reserved.set(chatId, p);
    return () => {
      if (this.reserved.get(chatId) === p) this.reserved.delete(chatId);
      done();
    };
  }



  private checkBusy(chatId: string): ActionOutcome | undefined {
    if (this.closed) return { ok: false, reason: 'busy', detail: 'The session is shutting down.' };
    if (this.streams.has(chatId) || this.reserved.has(chatId)) {
      return { ok: false, reason: 'busy', detail: 'This chat is still answering; stop it or wait for it to finish.' };
    }
    return undefined;
  }

  private unknownChat(chatId: string): ActionOutcome {
    return { ok: false, reason: 'unknown-chat', detail: `There is no chat ${chatId}.` };
  }

  private async loadChat(chatId: string): Promise<Chat | undefined> {
    try {
      return await this.repository.getChat(chatId);
    } catch (err) {
      this.storageError(err);
      return undefined;
    }
  }

  /** The stored chat with our final copy of `message` (the store may not have it if writes failed). */
  private withLocal(chat: Chat, message: ChatMessage): Pick<Chat, 'messages' | 'leafId'> {
    const i = chat.messages.findIndex((m) => m.id === message.id);
    const messages = [...chat.messages];
    if (i < 0) messages.push(message);
    else messages[i] = message;
    return { messages, leafId: chat.leafId };
  }

  /**
   * Adds a message; a failed write is reported and the action goes on in memory (the store keeps retrying),
   * unless the chat itself is gone: then the action is refused.
   */
  private async addOrBail(chatId: string, message: ChatMessage): Promise<ActionOutcome | undefined> {
    if (await this.persisted(() => this.repository.addMessage(chatId, { ...message }))) return undefined;
    return this.repository.listChats().some((c) => c.id === chatId) ? undefined : this.unknownChat(chatId);
  }

  /** Like persist(), and says whether the write was taken. */
  private async persisted(write: () => Promise<void>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      this.storageError(err);
      return false;
    }
  }

  private unsaved(): ActionOutcome {
    return { ok: false, reason: 'invalid', detail: 'The chat could not be saved, so nothing was sent. See the log for the storage error.' };
  }

  /** Runs a repository write; a failure is logged and reported, never thrown into a stream. */
  private async persist(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      this.storageError(err);
    }
  }

  private storageError(err: unknown): void {
    const message = errorText(err);
    this.logger.error(`Could not save the chat: ${message}`);
    this.fire({ type: 'storageError', error: { kind: 'storage', message: `Could not save the chat: ${message}` } });
  }

  private fire(e: SessionEvent): void {
    if (this.isDisposed) return;
    try {
      this.emitter.fire(e);
    } catch (err) {
      // A faulty listener must not break the stream loop.
      this.logger.error(`Session event listener failed on ${e.type}: ${errorText(err)}`);
    }
  }
}
