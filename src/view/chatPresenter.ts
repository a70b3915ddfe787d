/**
 * What the chat view shows, as protocol messages: a full snapshot when the webview is ready (or comes back), then
 * the session's events turned into tagged deltas (batched per frame by the PostCoalescer), status changes and
 * lifecycle messages. Nothing is posted while the view is hidden or has not had its snapshot: the next snapshot
 * carries it. No vscode here: the provider gives it a surface to post to and routes the webview's requests.
 */
import { errorText } from '../core/base/errors';
import type { Attachment } from '../core/chats/chat';
import type { ChatRepository } from '../core/chats/chatRepository';
import type { Clock } from '../core/base/clock';
import { systemClock } from '../core/base/clock';
import { Disposable, Emitter, toDisposable } from '../core/base/disposable';
import { t } from '../core/base/l10n';
import type { Logger } from '../core/base/logger';
import type { ConnectionMonitor } from '../core/server/connection';
import { DraftCounter } from '../core/session/draftCounter';
import type { ActionOutcome, ActiveStream, ChatSessionApi } from '../core/session/sessionApi';
import type { SessionEvent } from '../core/session/sessionEvents';
import type { FromWebviewMessage, PromptSize, StreamingInfo, ToWebviewMessage, ViewState } from '../protocol';
import { PostCoalescer, doneWithoutText } from './postCoalescer';
import { StreamStatusTracker } from './streamStatus';

export type DraftRequest = Extract<FromWebviewMessage, { type: 'draft' }>;

/** Where the presenter's messages go: the webview, while there is one. */
export interface ViewSurface {
  /** A webview is resolved (it may be hidden). */
  attached(): boolean;
  visible(): boolean;
  post(message: ToWebviewMessage): void;
}

export interface ChatPresenterOptions {
  session: ChatSessionApi;
  repository: ChatRepository;
  connection: Pick<ConnectionMonitor, 'state' | 'onDidChange'>;
  logger: Logger;
  surface: ViewSurface;
  /** Says a refused action to the user (a notification). */
  notify: (text: string) => void;
  /** The model requests use: the setting, else the server's. */
  currentModel: () => string | undefined;
  /** The active server, for the header. */
  server?: () => { name: string; url: string };
  /** The per-chat thinking switch. */
  thinking?: (chatId: string) => boolean | undefined;
  /** The chat that was open last time; ignored when it no longer exists. */
  initialChatId?: string;
  clock?: Clock;
}

/** A parse refusal in words a user can act on. */
export function refusalText(reason: string): string {
  const long = /\.text is too long \((\d+) > (\d+)\)/.exec(reason);
  if (long) {
    const [, got, max] = long;
    return t(
      'The message is too long to send ({0} characters; the limit is {1}). Attach the text as a file or shorten it.',
      Number(got).toLocaleString('en-US'),
      Number(max).toLocaleString('en-US'),
    );
  }
  return t('The chat view sent a request the extension cannot read ({0}).', reason);
}

/** The answer to a request of the view. */
export function resultMessage(requestId: string, outcome: ActionOutcome): ToWebviewMessage {
  return outcome.ok
    ? { type: 'result', requestId, ok: true, chatId: outcome.chatId, ...(outcome.messageId !== undefined ? { messageId: outcome.messageId } : {}) }
    : { type: 'result', requestId, ok: false, reason: outcome.reason, detail: outcome.detail };
}

/** A live stream as the snapshot describes it (`seq`: the text the snapshot already holds). */
export function streamingInfo(s: ActiveStream, seq: number): StreamingInfo {
  const phase = s.stats.phase === 'done' ? 'generating' : s.stats.phase;
  const info: StreamingInfo = { chatId: s.chatId, messageId: s.messageId, seq, stale: s.stale, phase };
  if (s.stale && s.silentMs !== undefined) info.silentMs = Math.max(0, s.silentMs);
  if (s.stats.promptProgress !== undefined) info.promptProgress = s.stats.promptProgress;
  if (s.stats.busyMs !== undefined) info.busyMs = s.stats.busyMs;
  if (s.stats.queued) info.queued = s.stats.queued;
  if (s.stats.reconnecting) info.reconnecting = true;
  if (s.stale && s.diagnosis) info.diagnosis = s.diagnosis;
  return info;
}

export class ChatPresenter extends Disposable {
  private readonly o: ChatPresenterOptions;
  private readonly coalescer: PostCoalescer;
  private readonly status = new StreamStatusTracker();
  private readonly activeChanged = this._register(new Emitter<string | undefined>());
  /** A snapshot was posted to the current webview and it is visible: stream to it. */
  private live = false;
  private activeId: string | undefined;
  private snapshotGeneration = 0;
  /** Waiting for the webview: chips and focus requests are delivered after the next snapshot. */
  private pendingAttachments: Attachment[] = [];
  private pendingFocus = false;
  /** Counts the composer's draft against the context (debounced, cancelled when stale, cached). */
  private readonly drafts: DraftCounter<DraftRequest, PromptSize>;
  private lastDraft: DraftRequest | undefined;
  private lastReasoning: string | undefined;

  /** The open chat changed (the provider remembers it per workspace). */
  readonly onDidChangeActiveChat = this.activeChanged.event;

  constructor(options: ChatPresenterOptions) {
    super();
    this.o = options;
    const clock = options.clock ?? systemClock;
    this.coalescer = this._register(new PostCoalescer({ clock, post: (m) => options.surface.post(m) }));
    this.drafts = new DraftCounter<DraftRequest, PromptSize>({
      clock,
      key: (d) => `${d.chatId ?? ''}\u0000${d.text}\u0000${JSON.stringify(d.attachments ?? [])}`,
      measure: async (d, signal) => {
        const m = await options.session.measureDraft(d.chatId, d.text, d.attachments, signal);
        return { chatId: d.chatId, draftId: d.draftId, ...m };
      },
      onResult: (d, size) => this.post({ type: 'promptSize', ...size, chatId: d.chatId, draftId: d.draftId }),
      onError: (err) => this.o.logger.debug(`Could not count the draft: ${errorText(err)}`),
    });
    this._register(toDisposable(() => this.drafts.dispose()));
    const chats = options.repository.listChats();
    this.activeId = options.initialChatId !== undefined && chats.some((c) => c.id === options.initialChatId) ? options.initialChatId : undefined;
    this.activeId ??= chats[0]?.id;
    this._register(options.session.onEvent((e) => this.onSessionEvent(e)));
    this._register(
      options.connection.onDidChange((connection) => {
        this.post({ type: 'connection', connection, model: this.o.currentModel() });
        // The template's reasoning abilities ride in the snapshot: a new server or model gets a fresh one.
        const reasoning = JSON.stringify(connection.state === 'connected' ? connection.reasoning : undefined);
        if (reasoning !== this.lastReasoning) {
          this.lastReasoning = reasoning;
          void this.postSnapshot();
        }
      }),
    );
  }

  get activeChatId(): string | undefined {
    return this.activeId;
  }

  /** True while the webview is visible and has its snapshot. */
  get isLive(): boolean {
    return this.live;
  }

  /** The webview said `ready` (a new or reloaded page): it gets a full snapshot. */
  ready(): Promise<void> {
    this.live = false;
    return this.postSnapshot();
  }

  /** Makes a chat the open one and sends the webview a fresh snapshot. */
  async showChat(chatId: string | undefined): Promise<void> {
    this.setActive(chatId);
    await this.postSnapshot();
  }

  /** The model shown may have changed (settings). */
  refreshModel(): void {
    this.post({ type: 'connection', connection: this.o.connection.state, model: this.o.currentModel() });
  }

  /** Chips and focus wait for the next snapshot unless the view is live now. */
  queueAttachment(attachment: Attachment): void {
    this.pendingAttachments.push(attachment);
  }

  queueFocus(): void {
    this.pendingFocus = true;
  }

  /** Delivers what was queued, when the view is live. */
  deliverPending(): void {
    if (this.live) this.flushPending();
  }

  /** The composer's draft changed: its size is counted (debounced). */
  draft(msg: DraftRequest): void {
    this.lastDraft = msg;
    this.drafts.update(msg);
  }

  /**
   * Sends a user message to the open chat, creating a chat when there is none or the open one is busy. A refusal
   * is returned (the view keeps the draft and shows why); without a request to answer, it is shown as a notice.
   */
  async send(text: string, chatId?: string, requestId?: string, attachments?: Attachment[]): Promise<ActionOutcome> {
    let id = chatId ?? this.activeId;
    if (id === undefined || (chatId === undefined && this.o.session.isStreaming(id))) {
      id = (await this.o.session.newChat()).id;
    }
    if (id !== this.activeId) await this.showChat(id);
    const outcome = await this.o.session.send(id, text, attachments);
    if (!outcome.ok && requestId === undefined) this.post({ type: 'error', chatId: id, error: { kind: 'unknown', message: outcome.detail } });
    return outcome;
  }

  /** Answers a request from the view; an action without a request id is reported as a notice. */
  answer(requestId: string | undefined, outcome: ActionOutcome, action: string): void {
    if (requestId === undefined) {
      this.report(outcome, action);
      return;
    }
    if (!outcome.ok) this.o.logger.info(`Could not ${action}: ${outcome.detail}`);
    this.post(resultMessage(requestId, outcome));
  }

  /** A refused action (it raced with the stream's end, or the chat is busy) is said, not hidden. */
  report(outcome: ActionOutcome, action: string): void {
    if (outcome.ok) return;
    this.o.logger.info(`Could not ${action}: ${outcome.detail}`);
    this.o.notify(outcome.detail);
  }

  /** Posts unless the webview is hidden or has not had its snapshot; streamed text goes through the coalescer. */
  post(message: ToWebviewMessage): void {
    if (!this.live) return;
    this.coalescer.post(message);
  }

  /** Hidden or gone: stop streaming to it; the next snapshot catches it up. */
  goDark(): void {
    this.live = false;
    this.coalescer.dropPending();
  }

  /** Builds and posts the full state. Only the newest of overlapping calls posts. */
  async postSnapshot(): Promise<void> {
    const { surface, repository, session } = this.o;
    if (!surface.attached()) return;
    const generation = ++this.snapshotGeneration;
    let activeChat = this.activeId !== undefined ? await repository.getChat(this.activeId) : undefined;
    if (generation !== this.snapshotGeneration || !surface.attached()) return;
    if (!surface.visible()) {
      this.goDark();
      return;
    }
    if (activeChat === undefined && this.activeId !== undefined) this.setActive(undefined);
    // From here on synchronous: the text in `activeChat` and each stream's seq describe the same instant.
    activeChat = activeChat ? structuredClone(activeChat) : undefined;
    const streaming = session.activeStreams().map((s) => streamingInfo(s, this.coalescer.snapshotSeq(s.messageId)));
    const connection = this.o.connection.state;
    const state: ViewState = {
      chats: repository.listChats(),
      activeChatId: this.activeId,
      activeChat,
      streaming,
      connection,
      model: this.o.currentModel(),
    };
    if (connection.state === 'connected' && connection.reasoning) state.reasoning = connection.reasoning;
    const server = this.o.server?.();
    if (server) state.server = server;
    if (activeChat) {
      const thinking = this.o.thinking?.(activeChat.id);
      if (thinking !== undefined) activeChat.thinking = thinking;
    }
    this.live = true;
    surface.post({ type: 'snapshot', state });
    this.flushPending();
  }

  private onSessionEvent(e: SessionEvent): void {
    // The history under the draft changed: its size is counted again (the cache no longer holds).
    if (e.type === 'streamEnded' || e.type === 'chatChanged' || e.type === 'leafChanged' || (e.type === 'messageAdded' && e.message.role === 'user')) {
      this.drafts.invalidate();
      if (this.lastDraft && this.lastDraft.chatId === e.chatId) this.drafts.update(this.lastDraft);
    }
    const active = 'chatId' in e && e.chatId === this.activeId;
    switch (e.type) {
      case 'chatsChanged':
        this.onChatsChanged();
        return;
      case 'messageAdded':
        this.status.onMessageAdded(e.message);
        if (active) this.post({ type: 'messageAdded', chatId: e.chatId, message: e.message });
        return;
      case 'chatChanged':
        if (active) void this.postSnapshot();
        return;
      case 'leafChanged':
        if (active) this.post({ type: 'leaf', chatId: e.chatId, leafId: e.leafId });
        return;
      case 'messageUpdated': {
        if (e.patch.content !== undefined) {
          // An edited question or a rewritten answer: the webview cannot patch text, it gets a snapshot.
          if (active) void this.postSnapshot();
          return;
        }
        const status = this.status.onMessageUpdated(e.chatId, e.messageId, e.patch);
        if (status) this.post(status);
        return;
      }
      case 'delta':
        if (this.live && active) this.coalescer.delta(e.chatId, e.messageId, e.content, e.reasoning);
        return;
      case 'progress': {
        const status = this.status.onProgress(e.chatId, e.messageId, e.progress);
        if (status) this.post(status);
        return;
      }
      case 'stats':
        for (const status of this.status.onStats(e.chatId, e.messageId, e.stats)) this.post(status);
        if (this.live && active) this.coalescer.usage(this.status.usage(e.chatId, e.messageId, e.stats));
        return;
      case 'stale':
        this.post(this.status.onStale(e.chatId, e.messageId, e.silentMs, e.diagnosis));
        return;
      case 'streamEnded':
        this.status.onEnded(e.messageId);
        // The webview has the text from the deltas: `done` carries the final fields and only the text lengths.
        if (this.live) this.coalescer.post(doneWithoutText(e.chatId, e.messageId, e.message));
        else this.coalescer.forget(e.messageId);
        return;
      case 'storageError':
        this.post({ type: 'error', error: e.error });
        return;
      default:
        assertNever(e);
    }
  }

  private onChatsChanged(): void {
    const chats = this.o.repository.listChats();
    const active = this.activeId === undefined ? undefined : chats.find((c) => c.id === this.activeId);
    if (this.activeId === undefined || !active) {
      // The open chat was deleted (or there was none): open the newest.
      this.setActive(chats[0]?.id);
      void this.postSnapshot();
      return;
    }
    this.post({ type: 'chats', chats, activeChatId: this.activeId });
  }

  private setActive(chatId: string | undefined): void {
    if (chatId === this.activeId) return;
    this.activeId = chatId;
    this.activeChanged.fire(chatId);
  }

  private flushPending(): void {
    for (const attachment of this.pendingAttachments.splice(0)) this.post({ type: 'attach', attachment });
    if (this.pendingFocus) {
      this.pendingFocus = false;
      this.post({ type: 'focusInput' });
    }
  }
}

function assertNever(value: never): never {
  throw new Error(t('Unhandled session event {0}', JSON.stringify(value)));
}
