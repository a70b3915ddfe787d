/**
 * The chat webview: locked-down HTML, the ready handshake, and the bridge between the webview and the host. What
 * the view shows (snapshots, deltas, status) comes from the ChatPresenter (src/view, vscode-free); this class owns
 * the webview's lifecycle and routes its requests to the session and to VS Code commands.
 */
import { errorText } from '../core/base/errors';
import { randomBytes } from 'node:crypto';
import * as vscode from 'vscode';
import type { ChatRepository } from '../core/chats/chatRepository';
import type { Clock } from '../core/base/clock';
import type { ConnectionMonitor } from '../core/server/connection';
import { Disposable, toDisposable } from '../core/base/disposable';
import type { IDisposable } from '../core/base/disposable';
import type { Logger } from '../core/base/logger';
import type { ActionOutcome, ChatSessionApi } from '../core/session/sessionApi';
import { parseFromWebview } from '../protocol';
import type { FromWebviewMessage, ToWebviewMessage } from '../protocol';
import type { Attachment } from '../core/chats/chat';
import { ChatPresenter, refusalText } from '../view/chatPresenter';
import type { Notifier } from './notifications';
import { renderHtml, safeExternalUrl } from './webviewHtml';

export const CHAT_VIEW_ID = 'llamaChat.chatView';

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
  throw new Error(vscode.l10n.t('Unhandled message {0}', JSON.stringify(value)));
}

export class ChatViewProvider extends Disposable implements vscode.WebviewViewProvider {
  private readonly o: ChatViewProviderOptions;
  private readonly presenter: ChatPresenter;
  private view: vscode.WebviewView | undefined;
  private viewDisposables: IDisposable[] = [];
  private posted = 0;

  readonly onDidChangeActiveChat: ChatPresenter['onDidChangeActiveChat'];

  constructor(options: ChatViewProviderOptions) {
    super();
    this.o = options;
    this.presenter = this._register(
      new ChatPresenter({
        session: options.session,
        repository: options.repository,
        connection: options.connection,
        logger: options.logger,
        surface: {
          attached: () => this.view !== undefined,
          visible: () => this.view?.visible === true,
          post: (m) => this.rawPost(m),
        },
        notify: (text) => void options.notifier.info(text),
        currentModel: options.currentModel,
        ...(options.server ? { server: options.server } : {}),
        ...(options.thinking ? { thinking: (chatId: string) => options.thinking?.get(chatId) } : {}),
        initialChatId: options.memento.get<string>(ACTIVE_CHAT_KEY),
        ...(options.clock ? { clock: options.clock } : {}),
      }),
    );
    this.onDidChangeActiveChat = this.presenter.onDidChangeActiveChat;
    this._register(this.presenter.onDidChangeActiveChat((chatId) => void options.memento.update(ACTIVE_CHAT_KEY, chatId)));
    this._register(toDisposable(() => this.dropView()));
  }

  get activeChatId(): string | undefined {
    return this.presenter.activeChatId;
  }

  /** True while a webview is resolved, visible and has its snapshot. */
  get isLive(): boolean {
    return this.presenter.isLive;
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
          this.presenter.goDark();
        } else if (!this.presenter.isLive) {
          // A retained webview does not say `ready` again; one that was torn down will, and gets a second one.
          void this.presenter.postSnapshot();
        }
      }),
      view.onDidDispose(() => {
        if (this.view === view) this.dropView();
      }),
    ];
  }

  /** Shows the view (and, with `focusInput`, puts the cursor in the message box). */
  async reveal(focusInput = false): Promise<void> {
    if (focusInput) this.presenter.queueFocus();
    if (this.view) this.view.show(false);
    else await vscode.commands.executeCommand(`${CHAT_VIEW_ID}.focus`);
    if (focusInput) this.presenter.deliverPending();
  }

  /** The active server changed: the header and the model shown follow. */
  refreshServer(): void {
    void this.presenter.postSnapshot();
  }

  /** Settings changed: the model shown in the view may have changed with them. */
  refreshModel(): void {
    this.presenter.refreshModel();
  }

  /** Makes a chat the open one and sends the webview a fresh snapshot. */
  showChat(chatId: string | undefined): Promise<void> {
    return this.presenter.showChat(chatId);
  }

  /** Adds a chip to the composer (never touching the draft text), revealing the view. */
  async attach(attachment: Attachment): Promise<void> {
    this.presenter.queueAttachment(attachment);
    this.presenter.queueFocus();
    await this.reveal();
    this.presenter.deliverPending();
  }

  /**
   * Sends a user message to the open chat, creating a chat when there is none or the open one is busy. A refusal
   * is returned (the view keeps the draft and shows why); without a request to answer, it is shown as a notice.
   */
  send(text: string, chatId?: string, requestId?: string, attachments?: Attachment[]): Promise<ActionOutcome> {
    return this.presenter.send(text, chatId, requestId, attachments);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Webview -> host

  private onRawMessage(raw: unknown): void {
    const parsed = parseFromWebview(raw);
    if (!parsed.ok) {
      this.o.logger.warn(`Ignored an invalid message from the chat view: ${parsed.reason}`);
      // A refused request is still answered, so the view keeps the draft and says why.
      if (parsed.requestId !== undefined) {
        this.presenter.post({ type: 'result', requestId: parsed.requestId, ok: false, reason: 'invalid', detail: refusalText(parsed.reason) });
      }
      return;
    }
    this.handle(parsed.message).catch((err: unknown) => {
      this.o.logger.error(`Handling "${parsed.message.type}" from the chat view failed: ${errorText(err)}`);
      this.presenter.post({ type: 'error', error: { kind: 'unknown', message: errorText(err) } });
    });
  }

  private async handle(msg: FromWebviewMessage): Promise<void> {
    const { session } = this.o;
    const p = this.presenter;
    switch (msg.type) {
      case 'ready':
        await p.ready();
        return;
      case 'send':
        p.answer(msg.requestId, await this.send(msg.text, msg.chatId, msg.requestId, msg.attachments), 'send');
        return;
      case 'draft':
        p.draft(msg);
        return;
      case 'pickFile':
        await vscode.commands.executeCommand('llamaChat.addFileToChat', 'pick');
        return;
      case 'continueAnswer':
        p.answer(msg.requestId, await session.continueAnswer(msg.chatId, msg.messageId), 'continue');
        return;
      case 'continueInNewChat': {
        const outcome = await session.continueInNewChat(msg.chatId, msg.messageId);
        if (outcome.ok) await p.showChat(outcome.chatId);
        p.report(outcome, 'continue in a new chat');
        return;
      }
      case 'compactChat':
        await vscode.commands.executeCommand('llamaChat.compactChat', msg.chatId);
        return;
      case 'setThinking':
        await this.o.thinking?.set(msg.chatId, msg.enabled);
        this.o.logger.info(`Thinking ${msg.enabled ? 'on' : 'off'} for chat ${msg.chatId}`);
        if (msg.chatId === p.activeChatId) void p.postSnapshot();
        return;
      case 'skipThinking':
        p.report(await session.skipThinking(msg.chatId, msg.messageId), 'skip the thinking');
        return;
      case 'editSummary':
        p.report(await session.editSummary(msg.chatId, msg.messageId, msg.text), 'edit the summary');
        return;
      case 'stop': {
        const outcome = await session.stop(msg.chatId, msg.messageId);
        // Stopping an answer that just finished is no news: the `done` is already on its way.
        if (!outcome.ok) this.o.logger.debug(`Stop: ${outcome.detail}`);
        return;
      }
      case 'retry':
        p.answer(msg.requestId, await session.retry(msg.chatId, msg.messageId), 'retry');
        return;
      case 'discardStale':
        p.report(await session.discard(msg.chatId, msg.messageId), 'discard');
        return;
      case 'regenerate':
        p.answer(msg.requestId, await session.regenerate(msg.chatId, msg.messageId), 'regenerate');
        return;
      case 'editResend':
        p.answer(msg.requestId, await session.editAndResend(msg.chatId, msg.messageId, msg.text, msg.attachments), 'resend');
        return;
      case 'selectVersion': {
        const outcome = await session.selectVersion(msg.chatId, msg.messageId);
        if (!outcome.ok) {
          // The view switched already: put it back in step with the host.
          if (msg.chatId === p.activeChatId) void p.postSnapshot();
          p.report(outcome, 'switch versions');
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
        await p.showChat(msg.chatId);
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
        await vscode.commands.executeCommand('llamaChat.selectModel', p.activeChatId);
        return;
      case 'selectServer':
        await vscode.commands.executeCommand('llamaChat.selectServer');
        return;
      default:
        assertNever(msg);
    }
  }

  private async insertIntoEditor(text: string, language: string | undefined): Promise<void> {
    const editor = vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0];
    if (!editor) {
      const doc = await vscode.workspace.openTextDocument({ content: text, ...(language ? { language } : {}) });
      await vscode.window.showTextDocument(doc);
      return;
    }
    const ok = await editor.edit((b) => b.replace(editor.selection, text));
    if (!ok) void this.o.notifier.warn(vscode.l10n.t('Llama Chat: the editor did not accept the insertion (is it read-only?).'));
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

  private dropView(): void {
    this.presenter.goDark();
    for (const d of this.viewDisposables) d.dispose();
    this.viewDisposables = [];
    this.view = undefined;
  }
}
