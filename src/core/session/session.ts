/**
 * The chat session controller: turns user actions into streamed answers. One stream per chat (chats stream
 * concurrently), every frame feeds the meter, the stale watchdog and the repository, and every stream ends with
 * exactly one final status. User actions that race with the stream's own ending are settled by whichever comes
 * first; the loser changes nothing and says why.
 *
 * The parts: sessionCore (shared state and helpers), sessionStream (one stream to its final status),
 * streamLiveness (busy, queued, stale), sessionAnswer (fitting and starting an answer), sessionContextActions
 * (draft size, continue, compact), sessionResume (picking up streams after a reload). This class wires them.
 */
import type { Attachment, Chat } from '../chats/chat';
import { deriveTitle } from '../chats/chat';
import { forkMessages } from '../chats/chatOps';
import { activeLeafId, activePath, indexTree, leafForVersion, pathTo } from '../chats/chatTree';
import { isRetryable, lastAnswer, planDelete, planEdit, planNewAnswer, planRestore, planSelectVersion } from '../chats/treeActions';
import { DETACH } from '../server/client';
import { Disposable, toDisposable } from '../base/disposable';
import type { IDisposable } from '../base/disposable';
import { newId } from '../base/ids';
import { AnswerStarter, refuseTooLarge } from './sessionAnswer';
import type { ActionOutcome, ActiveStream, ChatSessionApi, DeletedMessages, DeleteOutcome, DraftMeasure } from './sessionApi';
import { DEFAULT_TITLE, errorText, newQuestion, SessionCore } from './sessionCore';
import type { ChatSessionOptions, StreamState } from './sessionCore';
import * as contextActions from './sessionContextActions';
import type { SessionEvent } from './sessionEvents';
import { resumeDropped } from './sessionResume';
import { StreamRunner } from './sessionStream';
import { t } from '../base/l10n';

export type { ChatSessionOptions } from './sessionCore';
export { BUSY_AFTER_MS, STATS_INTERVAL_MS } from './sessionStream';
export { pingSeconds } from './sessionAnswer';

export class ChatSession extends Disposable implements ChatSessionApi {
  private readonly core: SessionCore;
  private readonly runner: StreamRunner;
  private readonly starter: AnswerStarter;

  readonly onEvent: (listener: (e: SessionEvent) => void) => IDisposable;

  constructor(options: ChatSessionOptions) {
    super();
    const core = (this.core = this._register(new SessionCore(options)));
    this.runner = new StreamRunner(core);
    this.starter = new AnswerStarter(core, this.runner);
    this.onEvent = core.onEvent;
    const sub = core.repository.onProblem((p) => {
      core.logger.warn(`Storage problem with ${p.file}: ${p.error.message}`);
      core.fire({ type: 'storageError', error: p.error });
    });
    // Another window changed chats on disk: the store reloaded them; the views need the new state.
    const external = core.repository.onDidChangeExternally((chatIds) => {
      for (const chatId of chatIds) core.fire({ type: 'chatChanged', chatId });
      core.fire({ type: 'chatsChanged' });
    });
    this._register(
      toDisposable(() => {
        sub.dispose();
        external.dispose();
      }),
    );
  }

  // ------------------------------------------------------------------------------------------------------------
  // Queries

  activeStreams(): ActiveStream[] {
    return this.runner.activeStreams();
  }

  isStreaming(chatId: string): boolean {
    return this.core.streams.has(chatId);
  }

  async retryTarget(chatId: string): Promise<string | undefined> {
    const live = this.core.streams.get(chatId);
    if (live) return live.stale ? live.message.id : undefined;
    const chat = this.core.hasChat(chatId) ? await this.core.loadChat(chatId) : undefined;
    const last = chat ? lastAnswer(chat) : undefined;
    return last && isRetryable(last) ? last.id : undefined;
  }

  // ------------------------------------------------------------------------------------------------------------
  // Streaming actions

  send(chatId: string, text: string, attachments?: Attachment[]): Promise<ActionOutcome> {
    const { core } = this;
    return core.withIdleChat(chatId, async (chat) => {
      const path = activePath(chat);
      const user = newQuestion(core.clock, text, path[path.length - 1]?.id, attachments);
      // A question that cannot fit even alone is refused before anything is saved or sent: the draft stays.
      const fit = await core.context.fit([...path, user], { model: core.chatOptions(chatId).model });
      if (refuseTooLarge(fit)) return { ok: false, reason: 'too-large', detail: fit.tooLarge! };
      const firstUserMessage = !chat.messages.some((m) => m.role === 'user');
      const gone = await core.addOrBail(chatId, user);
      if (gone) return gone;
      core.fire({ type: 'messageAdded', chatId, message: { ...user } });
      if (firstUserMessage && (!chat.title || chat.title === DEFAULT_TITLE)) {
        await core.persist(() => core.repository.renameChat(chatId, deriveTitle(text)));
      }
      core.fire({ type: 'chatsChanged' });
      return await this.starter.start(chatId, [...path, user], { fit });
    });
  }

  stop(chatId: string, messageId?: string): Promise<ActionOutcome> {
    return this.runner.endByUser(chatId, messageId, { kind: 'stop' });
  }

  discard(chatId: string, messageId?: string): Promise<ActionOutcome> {
    return this.runner.endByUser(chatId, messageId, { kind: 'discard' });
  }

  async retry(chatId: string, messageId?: string): Promise<ActionOutcome> {
    const state = this.core.streams.get(chatId);
    if (state && (messageId === undefined || messageId === state.message.id)) {
      if (state.finalizing || state.terminal) {
        // It ended on its own meanwhile: wait for its final status, then retry it like any finished answer.
        await state.ended.promise;
        return this.regenerateAnswer(chatId, state.message.id, 'retry');
      }
      return this.retryLive(chatId, state);
    }
    if (state) {
      return { ok: false, reason: 'busy', detail: t('Another answer is being generated in this chat; stop it first.') };
    }
    return this.regenerateAnswer(chatId, messageId, 'retry');
  }

  regenerate(chatId: string, messageId?: string): Promise<ActionOutcome> {
    return this.regenerateAnswer(chatId, messageId, 'regenerate');
  }

  editAndResend(chatId: string, messageId: string, text: string, attachments?: Attachment[]): Promise<ActionOutcome> {
    const { core } = this;
    return core.withIdleChat(chatId, async (chat) => {
      const plan = planEdit(chat, messageId);
      if (!plan.ok) return plan;
      const user = newQuestion(core.clock, text, plan.target.parentId, attachments ?? plan.target.attachments);
      const fit = await core.context.fit([...plan.history, user], { model: core.chatOptions(chatId).model });
      if (refuseTooLarge(fit)) return { ok: false, reason: 'too-large', detail: fit.tooLarge! };
      const gone = await core.addOrBail(chatId, user);
      if (gone) return gone;
      core.fire({ type: 'messageAdded', chatId, message: { ...user } });
      core.fire({ type: 'chatsChanged' });
      return await this.starter.start(chatId, [...plan.history, user], { fit });
    });
  }

  /** Ends the reasoning of a running answer on the server (reasoning_control), so it starts answering. */
  async skipThinking(chatId: string, messageId: string): Promise<ActionOutcome> {
    const { streamer, logger } = this.core;
    const state = this.core.streams.get(chatId);
    if (!state || state.message.id !== messageId) return { ok: false, reason: 'target-changed', detail: t('That answer is no longer being generated.') };
    if (state.message.content) return { ok: false, reason: 'already-finished', detail: t('The answer has stopped thinking already.') };
    if (!streamer.controlReasoning || state.completionId === undefined) {
      return { ok: false, reason: 'invalid', detail: t('This server cannot end thinking early.') };
    }
    try {
      await streamer.controlReasoning(state.completionId, 'reasoning_end');
    } catch (err) {
      return { ok: false, reason: 'invalid', detail: t('The server did not end the thinking: {0}', errorText(err)) };
    }
    logger.info(`Asked the server to end the thinking of answer ${messageId}`);
    return { ok: true, chatId, messageId };
  }

  /** After a window reload: picks up answers llama-server still streams (see sessionResume). */
  resumeDropped(maxAgeMs = 60 * 60_000): Promise<number> {
    return resumeDropped(this.core, this.runner, maxAgeMs);
  }

  /** Aborts a live answer and asks again under the same question: the aborted one stays as an earlier version. */
  private async retryLive(chatId: string, state: StreamState): Promise<ActionOutcome> {
    const { core } = this;
    // Hold the chat from the moment the old stream ends until the new one is registered.
    const release = core.reserve(chatId);
    try {
      const silentMs = state.watchdog.silentMs();
      state.controller.abort();
      await this.runner.finalize(state, { kind: 'retry', silentMs, stale: state.stale });
      const chat = await core.loadChat(chatId);
      if (!chat) return core.unknownChat(chatId);
      // The stored chat with our final copy of the answer (the store may not have it if writes failed).
      const messages = [...chat.messages];
      const i = messages.findIndex((m) => m.id === state.message.id);
      if (i < 0) messages.push(state.message);
      else messages[i] = state.message;
      const plan = planNewAnswer({ messages, leafId: chat.leafId }, state.message.id, 'retry');
      if (!plan.ok) return plan;
      return await this.starter.start(chatId, plan.history);
    } finally {
      release();
    }
  }

  private regenerateAnswer(chatId: string, messageId: string | undefined, mode: 'retry' | 'regenerate'): Promise<ActionOutcome> {
    return this.core.withIdleChat(chatId, async (chat) => {
      const plan = planNewAnswer(chat, messageId, mode);
      if (!plan.ok) return plan;
      return await this.starter.start(chatId, plan.history);
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Tree actions

  selectVersion(chatId: string, messageId: string): Promise<ActionOutcome> {
    const { core } = this;
    return core.withIdleChat(chatId, async (chat) => {
      const index = indexTree(chat.messages);
      const leafId = leafForVersion(index, messageId);
      if (leafId === undefined) return { ok: false, reason: 'unknown-message', detail: t('That version is no longer in this chat.') };
      const edit = planSelectVersion(chat, index, leafId);
      if (edit?.leafId !== undefined) {
        if (!(await core.persisted(() => core.repository.editTree(chatId, edit)))) return core.unsaved();
      }
      core.fire({ type: 'leafChanged', chatId, leafId });
      return { ok: true, chatId, messageId: leafId };
    });
  }

  async deleteMessages(chatId: string, messageId: string, scope: 'message' | 'branch'): Promise<DeleteOutcome> {
    const { core } = this;
    let deleted: DeletedMessages | undefined;
    const outcome = await core.withIdleChat(chatId, async (chat) => {
      const plan = planDelete(chat, messageId, scope);
      if (!plan.ok) return plan;
      if (!(await core.persisted(() => core.repository.editTree(chatId, plan.edit)))) return core.unsaved();
      deleted = { chatId, messages: plan.removed, relinked: plan.relinked, leafId: plan.previousLeaf };
      core.logger.info(`Deleted ${plan.removed.length} message(s) from chat ${chatId} (${scope})`);
      core.fire({ type: 'chatChanged', chatId });
      core.fire({ type: 'chatsChanged' });
      return { ok: true, chatId };
    });
    if (!outcome.ok) return outcome;
    return { ok: true, deleted: deleted! };
  }

  undoDelete(deleted: DeletedMessages): Promise<ActionOutcome> {
    const { core } = this;
    const { chatId } = deleted;
    return core.withIdleChat(chatId, async (chat) => {
      const plan = planRestore(chat, deleted.messages, deleted.relinked, deleted.leafId ?? activeLeafId(chat));
      if (!plan.ok) return plan;
      if (!(await core.persisted(() => core.repository.editTree(chatId, plan.edit)))) return core.unsaved();
      core.fire({ type: 'chatChanged', chatId });
      core.fire({ type: 'chatsChanged' });
      return { ok: true, chatId };
    });
  }

  // ------------------------------------------------------------------------------------------------------------
  // Context: counting, continuing and summarizing (sessionContextActions)

  measureDraft(chatId: string | undefined, text: string, attachments: Attachment[] = [], signal?: AbortSignal): Promise<DraftMeasure> {
    return contextActions.measureDraft(this.core, chatId, text, attachments, signal);
  }

  continueAnswer(chatId: string, messageId: string): Promise<ActionOutcome> {
    return contextActions.continueAnswer(this.core, this.starter, chatId, messageId);
  }

  continueInNewChat(chatId: string, messageId: string): Promise<ActionOutcome> {
    return contextActions.continueInNewChat(this.core, this.starter, chatId, messageId);
  }

  compactChat(chatId: string): Promise<ActionOutcome> {
    return contextActions.compactChat(this.core, this.starter, chatId);
  }

  editSummary(chatId: string, messageId: string, text: string): Promise<ActionOutcome> {
    return contextActions.editSummary(this.core, chatId, messageId, text);
  }

  // ------------------------------------------------------------------------------------------------------------
  // Chat management

  async newChat(): Promise<Chat> {
    const chat = await this.core.repository.createChat();
    this.core.fire({ type: 'chatsChanged' });
    return chat;
  }

  async deleteChat(chatId: string): Promise<ActionOutcome> {
    const { core } = this;
    // An action under way (a send awaiting its first write) would otherwise start a ghost stream for a deleted chat.
    for (let r = core.reserved.get(chatId); r; r = core.reserved.get(chatId)) await r;
    const summary = core.repository.listChats().find((c) => c.id === chatId);
    if (summary?.readOnly) return { ok: false, reason: 'read-only', detail: summary.readOnly };
    const state = core.streams.get(chatId);
    if (state) {
      state.controller.abort();
      await this.runner.finalize(state, { kind: 'stop' });
    }
    try {
      await core.repository.deleteChat(chatId);
    } catch (err) {
      core.storageError(err);
      return core.unsaved();
    }
    core.lastEnded.delete(chatId);
    core.fire({ type: 'chatsChanged' });
    return { ok: true, chatId };
  }

  async restoreChat(chat: Chat): Promise<ActionOutcome> {
    const { core } = this;
    // An answer that was streaming when the chat was deleted was stopped by the delete; its copy may still say so.
    const messages = chat.messages.map((m) => (m.status === 'streaming' ? { ...m, status: 'interrupted' as const } : m));
    try {
      const restored = await core.repository.createChat({ title: chat.title, messages });
      if (chat.leafId !== undefined && chat.leafId !== restored.leafId && messages.some((m) => m.id === chat.leafId)) {
        await core.repository.editTree(restored.id, { leafId: chat.leafId });
      }
      core.fire({ type: 'chatsChanged' });
      return { ok: true, chatId: restored.id };
    } catch (err) {
      core.storageError(err);
      return core.unsaved();
    }
  }

  async renameChat(chatId: string, title: string): Promise<void> {
    const t = title.replace(/\s+/g, ' ').trim();
    await this.core.repository.renameChat(chatId, t || DEFAULT_TITLE);
    this.core.fire({ type: 'chatsChanged' });
  }

  async forkChat(chatId: string, messageId: string): Promise<Chat> {
    const { core } = this;
    const chat = await core.repository.getChat(chatId);
    if (!chat) throw new Error(t('Unknown chat {0}', chatId));
    const index = indexTree(chat.messages);
    const path = pathTo(index, messageId);
    if (path.length === 0) throw new Error(t('Message {0} is not in chat {1}', messageId, chatId));
    // A streaming answer is forked with the text it has so far.
    const live = core.streams.get(chatId);
    const source = live ? path.map((m) => (m.id === live.message.id ? { ...m, content: live.message.content, reasoning: live.message.reasoning } : m)) : path;
    const messages = forkMessages(source, () => newId(core.clock.now()));
    const forked = await core.repository.createChat({ title: `${chat.title} (fork)`, messages });
    core.fire({ type: 'chatsChanged' });
    return forked;
  }

  async shutdown(): Promise<void> {
    const { core } = this;
    core.closed = true;
    const ending = [...core.streams.values()].map((s) => {
      // Detach, not Stop: the server keeps the stream, so the next window can pick it up.
      s.controller.abort(DETACH);
      return this.runner.finalize(s, { kind: 'shutdown' });
    });
    await Promise.all(ending);
    await core.persist(() => core.repository.flush());
  }

  override dispose(): void {
    this.core.closed = true;
    for (const s of [...this.core.streams.values()]) {
      s.controller.abort();
      void this.runner.finalize(s, { kind: 'shutdown' });
    }
    super.dispose();
  }
}
