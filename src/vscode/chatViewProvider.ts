/**
 * The chat webview: locked-down HTML, the ready handshake, and the bridge from session events to protocol messages.
 * The webview says `ready` and gets a full snapshot; after that it gets tagged deltas (batched per frame by the
 * PostCoalescer) and lifecycle messages. While it is hidden or gone nothing is posted: the next snapshot carries it.
 */
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { ChatRepository } from '../core/chats/chatRepository';
import type { Clock } from '../core/base/clock';
import { systemClock } from '../core/base/clock';
import type { ConnectionMonitor } from '../core/server/connection';
import { Disposable, Emitter, toDisposable } from '../core/base/disposable';
import type { IDisposable } from '../core/base/disposable';
import type { Logger } from '../core/base/logger';
import { PostCoalescer, doneWithoutText } from '../view/postCoalescer';
import type { ActionOutcome, ChatSessionApi } from '../core/session/sessionApi';
import type { SessionEvent } from '../core/session/sessionEvents';
import { parseFromWebview } from '../protocol';
import type { FromWebviewMessage, PromptSize, StreamingInfo, ToWebviewMessage, UsagePayload, ViewState } from '../protocol';
import type { Attachment } from '../core/chats/chat';
import { DraftCounter } from '../core/session/draftCounter';
import type { Notifier } from './notifications';
import { renderHtml, safeExternalUrl } from './webviewHtml';

export const CHAT_VIEW_ID = 'llamaChat.chatView';

type DraftRequest = Extract<FromWebviewMessage, { type: 'draft' }>;
const ACTIVE_CHAT_KEY = 'llamaChat.activeChatId';

export interface ChatViewProviderOptions {
  extensionUri: vscode.Uri;
  session: ChatSessionApi;
  repository: ChatRepository;
  connection: ConnectionMonitor;
  notifier: Notifier;
  logger: Logger;
  /** Remembers the open chat per workspace. */
  memento: vscode.Memento;
  /** The model requests use: the setting, else the server's. */
  currentModel: () => string | undefined;
  /** The active server, for the header. */
  server?: () => { name: string; url: string };
  /** The per-chat thinking switch (kept per workspace). */
  thinking?: { get(chatId: string): boolean | undefined; set(chatId: string, enabled: boolean): Promise<void> };
  clock?: Clock;
}

function assertNever(value: never): never {
  throw new Error(`Unhandled message ${JSON.stringify(value)}`);
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** A parse refusal in words a user can act on. */
function refusalText(reason: string): string {
  const long = /\.text is too long \((\d+) > (\d+)\)/.exec(reason);
  if (long) {
    const [, got, max] = long;
    return `The message is too long to send (${Number(got).toLocaleString('en-US')} characters; the limit is ${Number(max).toLocaleString('en-US')}). Attach the text as a file or shorten it.`;
  }
  return `The chat view sent a request the extension cannot read (${reason}).`;
}

export class ChatViewProvider extends Disposable implements vscode.WebviewViewProvider {
  private readonly o: ChatViewProviderOptions;
  private readonly clock: Clock;
  private readonly coalescer: PostCoalescer;
  private readonly activeChanged = this._register(new Emitter<string | undefined>());
  private view: vscode.WebviewView | undefined;
  private viewDisposables: IDisposable[] = [];
  /** A snapshot was posted to the current webview and it is visible: stream to it. */
  private live = false;
  private activeId: string | undefined;
  private snapshotGeneration = 0;
  private readonly lastPhase = new Map<string, StreamingInfo['phase']>();
  private readonly lastProgressPct = new Map<string, number>();
  /** When each stale stream went silent, for the banner's "no tokens for N s". */
  private readonly silentSince = new Map<string, number>();
  /** What the server said about each stale stream. */
  private readonly diagnoses = new Map<string, string>();
  /** The busy / queued state last posted per streaming message. */
  private readonly lastLiveness = new Map<string, string>();
  /** Waiting for the webview: chips and focus requests are delivered after the next snapshot. */
  private pendingAttachments: Attachment[] = [];
  /** Counts the composer's draft against the context (debounced, cancelled when stale, cached). */
  private readonly drafts: DraftCounter<DraftRequest, PromptSize>;
  private lastDraft: DraftRequest | undefined;
  private lastReasoning: string | undefined;
  private pendingFocus = false;
  private posted = 0;

  readonly onDidChangeActiveChat = this.activeChanged.event;

  constructor(options: ChatViewProviderOptions) {
    super();
    this.o = options;
    this.clock = options.clock ?? systemClock;
    this.coalescer = this._register(new PostCoalescer({ clock: this.clock, post: (m) => this.rawPost(m) }));
    this.drafts = new DraftCounter<DraftRequest, PromptSize>({
      clock: this.clock,
      key: (d) => `${d.chatId ?? ''}\u0000${d.text}\u0000${JSON.stringify(d.attachments ?? [])}`,
      measure: async (d, signal) => {
        const m = await options.session.measureDraft(d.chatId, d.text, d.attachments, signal);
        return { chatId: d.chatId, draftId: d.draftId, ...m };
      },
      onResult: (d, size) => this.post({ type: 'promptSize', ...size, chatId: d.chatId, draftId: d.draftId }),
      onError: (err) => this.o.logger.debug(`Could not count the draft: ${errorText(err)}`),
    });
    this._register(toDisposable(() => this.drafts.dispose()));
    this.activeId = options.memento.get<string>(ACTIVE_CHAT_KEY);
    if (this.activeId !== undefined && !options.repository.listChats().some((c) => c.id === this.activeId)) this.activeId = undefined;
    this.activeId ??= options.repository.listChats()[0]?.id;
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
    this._register(toDisposable(() => this.dropView()));
  }

  get activeChatId(): string | undefined {
    return this.activeId;
  }

  /** True while a webview is resolved, visible and has its snapshot. */
  get isLive(): boolean {
    return this.live;
  }

  /** Messages posted to webviews so far (tests use it to see that a hidden view gets nothing). */
  get postCount(): number {
    return this.posted;
  }

  resolveWebviewView(view: vscode.WebviewView): void {
    this.dropView();
    this.view = view;
    const dist = vscode.Uri.joinPath(this.o.extensionUri, 'dist');
    const media = vscode.Uri.joinPath(this.o.extensionUri, 'media');
    view.webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [dist, media] };
    const nonce = randomBytes(18).toString('base64');
    const uri = (base: vscode.Uri, file: string): string => view.webview.asWebviewUri(vscode.Uri.joinPath(base, file)).toString();
    view.webview.html = renderHtml({
      cspSource: view.webview.cspSource,
      nonce,
      scriptUri: uri(dist, 'webview.js'),
      styleUri: uri(dist, 'webview.css'),
      codiconUri: uri(dist, 'codicon.css'),
    });
    this.viewDisposables = [
      view.webview.onDidReceiveMessage((raw: unknown) => this.onRawMessage(raw)),
      view.onDidChangeVisibility(() => {
        if (!view.visible) {
          this.goDark();
        } else if (!this.live) {
          // A retained webview does not say `ready` again; one that was torn down will, and gets a second one.
          void this.postSnapshot();
        }
      }),
      view.onDidDispose(() => {
        if (this.view === view) this.dropView();
      }),
    ];
  }

  /** Shows the view (and, with `focusInput`, puts the cursor in the message box). */
  async reveal(focusInput = false): Promise<void> {
    if (focusInput) this.pendingFocus = true;
    if (this.view) this.view.show(false);
    else await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
    if (focusInput && this.live) {
      this.pendingFocus = false;
      this.post({ type: 'focusInput' });
    }
  }

  /** The active server changed: the header and the model shown follow. */
  refreshServer(): void {
    void this.postSnapshot();
  }

  /** Settings changed: the model shown in the view may have changed with them. */
  refreshModel(): void {
    this.post({ type: 'connection', connection: this.o.connection.state, model: this.o.currentModel() });
  }

  /** Makes a chat the open one and sends the webview a fresh snapshot. */
  async showChat(chatId: string | undefined): Promise<void> {
    this.setActive(chatId);
    await this.postSnapshot();
  }

  /** Adds a chip to the composer (never touching the draft text), revealing the view. */
  async attach(attachment: Attachment): Promise<void> {
    this.pendingAttachments.push(attachment);
    this.pendingFocus = true;
    await this.reveal();
    if (this.live) this.flushPending();
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

  // -------------------------------------------------------------------------------------------------------------
  // Webview -> host

  private onRawMessage(raw: unknown): void {
    const parsed = parseFromWebview(raw);
    if (!parsed.ok) {
      this.o.logger.warn(`Ignored an invalid message from the chat view: ${parsed.reason}`);
      // A refused request is still answered, so the view keeps the draft and says why.
      if (parsed.requestId !== undefined) {
        this.post({ type: 'result', requestId: parsed.requestId, ok: false, reason: 'invalid', detail: refusalText(parsed.reason) });
      }
      return;
    }
    this.handle(parsed.message).catch((err: unknown) => {
      this.o.logger.error(`Handling "${parsed.message.type}" from the chat view failed: ${errorText(err)}`);
      this.post({ type: 'error', error: { kind: 'unknown', message: errorText(err) } });
    });
  }

  private async handle(msg: FromWebviewMessage): Promise<void> {
    const { session } = this.o;
    switch (msg.type) {
      case 'ready':
        this.live = false;
        await this.postSnapshot();
        return;
      case 'send':
        this.answer(msg.requestId, await this.send(msg.text, msg.chatId, msg.requestId, msg.attachments), 'send');
        return;
      case 'draft':
        this.lastDraft = msg;
        this.drafts.update(msg);
        return;
      case 'pickFile':
        await vscode.commands.executeCommand('llamaChat.addFileToChat', 'pick');
        return;
      case 'continueAnswer':
        this.answer(msg.requestId, await session.continueAnswer(msg.chatId, msg.messageId), 'continue');
        return;
      case 'continueInNewChat': {
        const outcome = await session.continueInNewChat(msg.chatId, msg.messageId);
        if (outcome.ok) await this.showChat(outcome.chatId);
        this.report(outcome, 'continue in a new chat');
        return;
      }
      case 'compactChat':
        await vscode.commands.executeCommand('llamaChat.compactChat', msg.chatId);
        return;
      case 'setThinking':
        await this.o.thinking?.set(msg.chatId, msg.enabled);
        this.o.logger.info(`Thinking ${msg.enabled ? 'on' : 'off'} for chat ${msg.chatId}`);
        if (msg.chatId === this.activeId) void this.postSnapshot();
        return;
      case 'skipThinking':
        this.report(await session.skipThinking(msg.chatId, msg.messageId), 'skip the thinking');
        return;
      case 'editSummary':
        this.report(await session.editSummary(msg.chatId, msg.messageId, msg.text), 'edit the summary');
        return;
      case 'stop': {
        const outcome = await session.stop(msg.chatId, msg.messageId);
        // Stopping an answer that just finished is no news: the `done` is already on its way.
        if (!outcome.ok) this.o.logger.debug(`Stop: ${outcome.detail}`);
        return;
      }
      case 'retry':
        this.answer(msg.requestId, await session.retry(msg.chatId, msg.messageId), 'retry');
        return;
      case 'discardStale':
        this.report(await session.discard(msg.chatId, msg.messageId), 'discard');
        return;
      case 'regenerate':
        this.answer(msg.requestId, await session.regenerate(msg.chatId, msg.messageId), 'regenerate');
        return;
      case 'editResend':
        this.answer(msg.requestId, await session.editAndResend(msg.chatId, msg.messageId, msg.text, msg.attachments), 'resend');
        return;
      case 'selectVersion': {
        const outcome = await session.selectVersion(msg.chatId, msg.messageId);
        if (!outcome.ok) {
          // The view switched already: put it back in step with the host.
          if (msg.chatId === this.activeId) void this.postSnapshot();
          this.report(outcome, 'switch versions');
        }
        return;
      }
      case 'deleteMessage':
        await vscode.commands.executeCommand('llamaChat.deleteMessage', msg.chatId, msg.messageId, msg.scope);
        return;
      case 'newChat':
        await vscode.commands.executeCommand('llamaChat.newChat');
        return;
      case 'switchChat':
        await this.showChat(msg.chatId);
        return;
      case 'renameChat':
        if (msg.title !== undefined) await session.renameChat(msg.chatId, msg.title);
        else await vscode.commands.executeCommand('llamaChat.renameChat', msg.chatId);
        return;
      case 'deleteChat':
        await vscode.commands.executeCommand('llamaChat.deleteChat', msg.chatId);
        return;
      case 'forkChat':
        await vscode.commands.executeCommand('llamaChat.forkChat', msg.chatId, msg.messageId);
        return;
      case 'exportChat':
        await vscode.commands.executeCommand('llamaChat.exportChat', msg.chatId);
        return;
      case 'copy':
        await vscode.env.clipboard.writeText(msg.text);
        return;
      case 'insert':
        await this.insertIntoEditor(msg.text, msg.language);
        return;
      case 'openLink': {
        const url = safeExternalUrl(msg.href);
        if (url === undefined) {
          this.o.logger.warn(`Refused to open a non-web link from the chat view: ${msg.href.slice(0, 200)}`);
          return;
        }
        await vscode.env.openExternal(vscode.Uri.parse(url, true));
        return;
      }
      case 'retryConnection':
        await this.o.connection.recheck();
        return;
      case 'openSettings':
        await vscode.commands.executeCommand('workbench.action.openSettings', 'llamaChat');
        return;
      case 'selectModel':
        await vscode.commands.executeCommand('llamaChat.selectModel', this.activeId);
        return;
      case 'selectServer':
        await vscode.commands.executeCommand('llamaChat.selectServer');
        return;
      default:
        assertNever(msg);
    }
  }

  /** Answers a request from the view; an action without a request id is reported as before. */
  private answer(requestId: string | undefined, outcome: ActionOutcome, action: string): void {
    if (requestId === undefined) {
      this.report(outcome, action);
      return;
    }
    if (!outcome.ok) this.o.logger.info(`Could not ${action}: ${outcome.detail}`);
    this.post(
      outcome.ok
        ? { type: 'result', requestId, ok: true, chatId: outcome.chatId, ...(outcome.messageId !== undefined ? { messageId: outcome.messageId } : {}) }
        : { type: 'result', requestId, ok: false, reason: outcome.reason, detail: outcome.detail },
    );
  }

  /** A refused action (it raced with the stream's end, or the chat is busy) is said, not hidden. */
  private report(outcome: ActionOutcome, action: string): void {
    if (outcome.ok) return;
    this.o.logger.info(`Could not ${action}: ${outcome.detail}`);
    void this.o.notifier.info(outcome.detail);
  }

  private async insertIntoEditor(text: string, language: string | undefined): Promise<void> {
    const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
    if (!editor) {
      const doc = await vscode.workspace.openTextDocument({ content: text, ...(language ? { language } : {}) });
      await vscode.window.showTextDocument(doc);
      return;
    }
    const ok = await editor.edit((b) => b.replace(editor.selection, text));
    if (!ok) void this.o.notifier.warn('Llama Chat: the editor did not accept the insertion (is it read-only?).');
  }

  // -------------------------------------------------------------------------------------------------------------
  // Host -> webview

  private onSessionEvent(e: SessionEvent): void {
    // The history under the draft changed: its size is counted again (the cache no longer holds).
    if (e.type === 'streamEnded' || e.type === 'chatChanged' || e.type === 'leafChanged' || (e.type === 'messageAdded' && e.message.role === 'user')) {
      this.drafts.invalidate();
      if (this.lastDraft && this.lastDraft.chatId === e.chatId) this.drafts.update(this.lastDraft);
    }
    switch (e.type) {
      case 'chatsChanged':
        this.onChatsChanged();
        return;
      case 'messageAdded':
        if (e.message.role === 'assistant' && e.message.status === 'streaming') this.lastPhase.set(e.message.id, 'waiting');
        if (e.chatId !== this.activeId) return;
        this.post({ type: 'messageAdded', chatId: e.chatId, message: e.message });
        return;
      case 'chatChanged':
        if (e.chatId === this.activeId) void this.postSnapshot();
        return;
      case 'leafChanged':
        if (e.chatId === this.activeId) this.post({ type: 'leaf', chatId: e.chatId, leafId: e.leafId });
        return;
      case 'messageUpdated':
        if (e.patch.content !== undefined) {
          // An edited question or a rewritten answer: the webview cannot patch text, it gets a snapshot.
          if (e.chatId === this.activeId) void this.postSnapshot();
          return;
        }
        if (e.patch.status === 'streaming' && this.silentSince.delete(e.messageId)) {
          this.post({ type: 'status', chatId: e.chatId, messageId: e.messageId, status: 'streaming', stale: false, phase: this.lastPhase.get(e.messageId) ?? 'generating' });
        }
        return;
      case 'delta':
        if (this.live && e.chatId === this.activeId) this.coalescer.delta(e.chatId, e.messageId, e.content, e.reasoning);
        return;
      case 'progress': {
        const { total, processed } = e.progress;
        if (total <= 0) return;
        const progress = Math.min(1, processed / total);
        const pct = Math.floor(progress * 100);
        if (this.lastProgressPct.get(e.messageId) === pct) return;
        this.lastProgressPct.set(e.messageId, pct);
        this.lastPhase.set(e.messageId, 'prompt');
        this.post({ type: 'status', chatId: e.chatId, messageId: e.messageId, status: 'streaming', phase: 'prompt', promptProgress: progress });
        return;
      }
      case 'stats': {
        const { stats } = e;
        // Busy and queued change rarely: the view gets them when they start and end, and counts the seconds itself.
        const liveness = `${stats.busyMs !== undefined ? 'busy' : ''}|${stats.queued ? `${stats.queued.busy}/${stats.queued.total}` : ''}|${stats.reconnecting ? 'r' : ''}`;
        if (liveness !== (this.lastLiveness.get(e.messageId) ?? '||')) {
          this.lastLiveness.set(e.messageId, liveness);
          this.post({
            type: 'status',
            chatId: e.chatId,
            messageId: e.messageId,
            status: 'streaming',
            busyMs: stats.busyMs ?? null,
            queued: stats.queued ?? null,
            reconnecting: stats.reconnecting === true,
          });
        }
        if (stats.phase !== 'done' && stats.phase !== this.lastPhase.get(e.messageId)) {
          this.lastPhase.set(e.messageId, stats.phase);
          const status: ToWebviewMessage = { type: 'status', chatId: e.chatId, messageId: e.messageId, status: 'streaming', phase: stats.phase };
          if (stats.promptProgress !== undefined) status.promptProgress = stats.promptProgress;
          this.post(status);
        }
        if (!this.live || e.chatId !== this.activeId) return;
        const usage: UsagePayload = { chatId: e.chatId, messageId: e.messageId, completionTokens: stats.completionTokens };
        if (stats.ctxUsed !== undefined) usage.ctxUsed = stats.ctxUsed;
        if (stats.ctxMax !== undefined) usage.ctxMax = stats.ctxMax;
        if (stats.tps !== undefined) usage.tps = stats.tps;
        if (stats.promptTokens !== undefined) usage.promptTokens = stats.promptTokens;
        if (stats.ttftMs !== undefined) usage.ttftMs = stats.ttftMs;
        this.coalescer.usage(usage);
        return;
      }
      case 'stale': {
        this.silentSince.set(e.messageId, this.clock.now() - e.silentMs);
        const status: ToWebviewMessage = { type: 'status', chatId: e.chatId, messageId: e.messageId, status: 'streaming', stale: true, silentMs: e.silentMs };
        if (e.diagnosis) {
          this.diagnoses.set(e.messageId, e.diagnosis);
          status.diagnosis = e.diagnosis;
        }
        this.post(status);
        return;
      }
      case 'streamEnded':
        this.silentSince.delete(e.messageId);
        this.diagnoses.delete(e.messageId);
        this.lastLiveness.delete(e.messageId);
        this.lastPhase.delete(e.messageId);
        this.lastProgressPct.delete(e.messageId);
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
    void this.o.memento.update(ACTIVE_CHAT_KEY, chatId);
    this.activeChanged.fire(chatId);
  }

  /** Builds and posts the full state. Only the newest of overlapping calls posts. */
  private async postSnapshot(): Promise<void> {
    if (!this.view) return;
    const generation = ++this.snapshotGeneration;
    const { repository, session } = this.o;
    let activeChat = this.activeId !== undefined ? await repository.getChat(this.activeId) : undefined;
    if (generation !== this.snapshotGeneration || !this.view) return;
    if (!this.view.visible) {
      this.goDark();
      return;
    }
    if (activeChat === undefined && this.activeId !== undefined) this.setActive(undefined);
    // From here on synchronous: the text in `activeChat` and each stream's seq describe the same instant.
    activeChat = activeChat ? structuredClone(activeChat) : undefined;
    const now = this.clock.now();
    const streaming: StreamingInfo[] = session.activeStreams().map((s) => {
      const phase = s.stats.phase === 'done' ? 'generating' : s.stats.phase;
      const info: StreamingInfo = { chatId: s.chatId, messageId: s.messageId, seq: this.coalescer.snapshotSeq(s.messageId), stale: s.stale, phase };
      const since = this.silentSince.get(s.messageId);
      if (s.stale && since !== undefined) info.silentMs = Math.max(0, now - since);
      if (s.stats.promptProgress !== undefined) info.promptProgress = s.stats.promptProgress;
      if (s.stats.busyMs !== undefined) info.busyMs = s.stats.busyMs;
      if (s.stats.queued) info.queued = s.stats.queued;
      if (s.stats.reconnecting) info.reconnecting = true;
      const diagnosis = this.diagnoses.get(s.messageId);
      if (s.stale && diagnosis) info.diagnosis = diagnosis;
      return info;
    });
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
      const thinking = this.o.thinking?.get(activeChat.id);
      if (thinking !== undefined) activeChat.thinking = thinking;
    }
    this.live = true;
    this.rawPost({ type: 'snapshot', state });
    this.flushPending();
  }

  private flushPending(): void {
    for (const attachment of this.pendingAttachments.splice(0)) this.post({ type: 'attach', attachment });
    if (this.pendingFocus) {
      this.pendingFocus = false;
      this.post({ type: 'focusInput' });
    }
  }

  /** Posts unless the webview is hidden or has not had its snapshot; streamed text goes through the coalescer. */
  private post(message: ToWebviewMessage): void {
    if (!this.live) return;
    this.coalescer.post(message);
  }

  private rawPost(message: ToWebviewMessage): void {
    const view = this.view;
    if (!view) return;
    this.posted++;
    view.webview.postMessage(message).then(
      (delivered) => {
        if (!delivered) this.o.logger.debug(`The chat view did not take a ${message.type} message`);
      },
      (err: unknown) => this.o.logger.debug(`Posting ${message.type} to the chat view failed: ${errorText(err)}`),
    );
  }

  /** Hidden: stop streaming to it; the next snapshot catches it up. */
  private goDark(): void {
    this.live = false;
    this.coalescer.dropPending();
  }

  private dropView(): void {
    this.goDark();
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [];
    this.view = undefined;
  }
}
