/** The `llamaChat.*` commands. Palette, menus and the webview all land here; arguments are checked, never trusted. */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { exportFileName, exportMarkdown } from '../core/chats/chatOps';
import type { ChatRepository } from '../core/chats/chatRepository';
import type { ConnectionMonitor } from '../core/server/connection';
import { errorText } from '../core/base/errors';
import { isValidId } from '../core/base/ids';
import { formatInt } from '../core/base/format';
import type { Attachment } from '../core/chats/chat';
import type { ChatSessionApi, DeletedMessages } from '../core/session/sessionApi';
import { activeLeafId } from '../core/chats/chatTree';
import { LIMITS } from '../protocol';
import type { ChatViewProvider } from './chatViewProvider';
import type { ChannelLogger } from './log';
import type { Notifier } from './notifications';
import type { ApiKeyStore } from './secrets';
import type { ServerClientHolder } from './serverClient';
import type { ServerRegistry } from './serverRegistry';
import { ServerCommands } from './serverCommands';

export interface CommandDeps {
  session: ChatSessionApi;
  repository: ChatRepository;
  view: ChatViewProvider;
  connection: ConnectionMonitor;
  clients: ServerClientHolder;
  apiKeys: ApiKeyStore;
  notifier: Notifier;
  logger: ChannelLogger;
  channel: vscode.LogOutputChannel;
  servers: ServerRegistry;
  /** The model each chat uses (router mode: the chat's choice, sent as `model`). */
  chatModels: { get(chatId: string): string | undefined; set(chatId: string, model: string): Promise<void> };
}

/** Largest file `addFileToChat` puts into the message box. */
const MAX_FILE_CHARS = 512 * 1024;

function idArg(value: unknown): string | undefined {
  return typeof value === 'string' && isValidId(value) ? value : undefined;
}

/** The file name to show for a document: relative to its workspace folder when it has one. */
function displayName(uri: vscode.Uri): string {
  if (uri.scheme === 'untitled') return uri.path;
  return vscode.workspace.asRelativePath(uri, false);
}

/** A fence language for a file that is not open: its extension, which most highlighters understand. */
function languageOf(uri: vscode.Uri): string {
  return path.extname(uri.path).slice(1).toLowerCase();
}

/** The Undo button of a message delete (its English label; shown translated), and how long it undoes. */
export const UNDO = 'Undo';
export const UNDO_MS = 10_000;

export class ChatCommands {
  private readonly server: ServerCommands;

  constructor(private readonly d: CommandDeps) {
    this.server = new ServerCommands(d);
  }

  /** Set API Key (the test API passes the value). */
  setApiKey(value?: string): Promise<boolean> {
    return this.server.setApiKey(value);
  }

  clearApiKey(): Promise<boolean> {
    return this.server.clearApiKey();
  }

  register(): vscode.Disposable[] {
    const reg = (id: string, fn: (...args: unknown[]) => Promise<unknown>): vscode.Disposable =>
      vscode.commands.registerCommand(id, async (...args: unknown[]) => {
        try {
          return await fn(...args);
        } catch (err) {
          this.d.logger.error(`Command ${id} failed: ${errorText(err)}`);
          const message = vscode.l10n.t('Llama Chat: {0}', errorText(err));
          void this.d.notifier.error(message, vscode.l10n.t('Show Logs')).then((c) => {
            if (c) this.d.channel.show(true);
          });
          return undefined;
        }
      });
    return [
      reg('llamaChat.newChat', () => this.newChat()),
      reg('llamaChat.focus', () => this.d.view.reveal(true)),
      reg('llamaChat.stop', (chatId) => this.stop(idArg(chatId))),
      reg('llamaChat.retry', (chatId, messageId) => this.retry(idArg(chatId), idArg(messageId))),
      reg('llamaChat.deleteMessage', (chatId, messageId, scope) =>
        this.deleteMessage(idArg(chatId), idArg(messageId), scope === 'branch' ? 'branch' : 'message'),
      ),
      reg('llamaChat.discardStale', (chatId) => this.discardStale(idArg(chatId))),
      reg('llamaChat.askAboutSelection', () => this.askAboutSelection()),
      reg('llamaChat.addFileToChat', (uri) => (uri === 'pick' ? this.pickFileToAttach() : this.addFileToChat(uri instanceof vscode.Uri ? uri : undefined))),
      reg('llamaChat.compactChat', (chatId) => this.compactChat(idArg(chatId))),
      reg('llamaChat.renameChat', (chatId) => this.renameChat(idArg(chatId))),
      reg('llamaChat.deleteChat', (chatId) => this.deleteChat(idArg(chatId))),
      reg('llamaChat.forkChat', (chatId, messageId) => this.forkChat(idArg(chatId), idArg(messageId))),
      reg('llamaChat.exportChat', (chatId, target) => this.exportChat(idArg(chatId), target instanceof vscode.Uri ? target : undefined)),
      reg('llamaChat.selectModel', (chatId) => this.server.selectModel(idArg(chatId))),
      reg('llamaChat.selectServer', (id) => this.server.selectServer(typeof id === 'string' ? id : undefined)),
      reg('llamaChat.setApiKey', () => this.server.setApiKey()),
      reg('llamaChat.clearApiKey', () => this.server.clearApiKey()),
      reg('llamaChat.checkConnection', () => this.server.checkConnection()),
      reg('llamaChat.showLogs', () => Promise.resolve(this.d.channel.show(true))),
    ];
  }

  async newChat(): Promise<string> {
    const chat = await this.d.session.newChat();
    await this.d.view.showChat(chat.id);
    await this.d.view.reveal(true);
    return chat.id;
  }

  /** The chat a command acts on: the argument, else the open chat. */
  private target(chatId: string | undefined): string | undefined {
    const id = chatId ?? this.d.view.activeChatId;
    if (id === undefined) void this.d.notifier.info(vscode.l10n.t('Llama Chat: no chat is open.'));
    return id;
  }

  private streamingChat(chatId: string | undefined, stale = false): string | undefined {
    if (chatId !== undefined) return chatId;
    const streams = this.d.session.activeStreams().filter((s) => !stale || s.stale);
    const active = this.d.view.activeChatId;
    return (streams.find((s) => s.chatId === active) ?? streams.at(-1))?.chatId ?? active;
  }

  async stop(chatId: string | undefined): Promise<void> {
    const id = this.streamingChat(chatId);
    if (id === undefined) return;
    const outcome = await this.d.session.stop(id);
    if (!outcome.ok) void this.d.notifier.info(outcome.reason === 'already-finished' ? vscode.l10n.t('The answer already finished; nothing to stop.') : outcome.detail);
  }

  /** A new version of the answer that failed, stopped, was interrupted or stalled (default: the open chat's last). */
  async retry(chatId: string | undefined, messageId: string | undefined): Promise<void> {
    const id = this.streamingChat(chatId, true);
    if (id === undefined) return;
    const target = messageId ?? (await this.d.session.retryTarget(id));
    if (target === undefined) {
      void this.d.notifier.info(vscode.l10n.t('Llama Chat: the last answer did not fail; nothing to retry (Regenerate makes another version).'));
      return;
    }
    const outcome = await this.d.session.retry(id, target);
    if (!outcome.ok) void this.d.notifier.info(outcome.reason === 'already-finished' ? vscode.l10n.t('The answer already finished; nothing to retry.') : outcome.detail);
  }

  /** Deletes a message or its branch, then offers Undo for UNDO_MS. */
  async deleteMessage(chatId: string | undefined, messageId: string | undefined, scope: 'message' | 'branch'): Promise<DeletedMessages | undefined> {
    if (chatId === undefined || messageId === undefined) return undefined;
    const outcome = await this.d.session.deleteMessages(chatId, messageId, scope);
    if (!outcome.ok) {
      void this.d.notifier.info(vscode.l10n.t('Llama Chat: {0}', outcome.detail));
      return undefined;
    }
    const { deleted } = outcome;
    const n = deleted.messages.length;
    const offeredAt = Date.now();
    const undo = vscode.l10n.t('Undo');
    const text = n === 1 ? vscode.l10n.t('Llama Chat: deleted 1 message.') : vscode.l10n.t('Llama Chat: deleted {0} messages.', n);
    void this.d.notifier.info(text, undo).then(async (choice) => {
      if (choice !== undo) return;
      if (Date.now() - offeredAt > UNDO_MS) {
        void this.d.notifier.info(vscode.l10n.t('Llama Chat: too late to undo that delete.'));
        return;
      }
      const undone = await this.d.session.undoDelete(deleted);
      if (!undone.ok) void this.d.notifier.info(vscode.l10n.t('Llama Chat: could not undo: {0}', undone.detail));
    });
    return deleted;
  }

  async discardStale(chatId: string | undefined): Promise<void> {
    const id = this.streamingChat(chatId, true);
    if (id === undefined) return;
    const outcome = await this.d.session.discard(id);
    if (!outcome.ok) void this.d.notifier.info(outcome.reason === 'already-finished' ? vscode.l10n.t('The answer already finished; nothing to discard.') : outcome.detail);
  }

  /** Attaches the selection as a chip (file name and line range) and puts the cursor in the composer. */
  async askAboutSelection(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.selection.isEmpty) {
      void this.d.notifier.info(vscode.l10n.t('Llama Chat: select some code first.'));
      return;
    }
    const { document, selection } = editor;
    const text = document.getText(selection);
    if (text.length > LIMITS.maxText) {
      void this.d.notifier.warn(vscode.l10n.t('Llama Chat: the selection is too large to attach.'));
      return;
    }
    // A selection that ends at the start of a line does not include that line.
    const endLine = selection.end.character === 0 && selection.end.line > selection.start.line ? selection.end.line : selection.end.line + 1;
    await this.d.view.attach({
      kind: 'selection',
      name: displayName(document.uri),
      text,
      language: document.languageId,
      startLine: selection.start.line + 1,
      endLine,
    });
  }

  /** Attaches a file as a chip: the one given (Explorer, editor menu), else the active editor's. */
  async addFileToChat(uri: vscode.Uri | undefined): Promise<void> {
    const target = uri ?? vscode.window.activeTextEditor?.document.uri;
    if (!target) {
      void this.d.notifier.info(vscode.l10n.t('Llama Chat: open a file first (or use the Explorer context menu).'));
      return;
    }
    const attachment = await this.readAttachment(target);
    if (attachment) await this.d.view.attach(attachment);
  }

  /** `@` in the composer: a quick pick of the workspace's files; the chosen one becomes a chip. */
  async pickFileToAttach(): Promise<void> {
    const files = await vscode.window.withProgress({ location: vscode.ProgressLocation.Window, title: vscode.l10n.t('Llama Chat: listing files') }, () =>
      vscode.workspace.findFiles('**/*', '{**/node_modules/**,**/.git/**,**/out/**,**/dist/**}', 5_000),
    );
    if (files.length === 0) {
      void this.d.notifier.info(vscode.l10n.t('Llama Chat: no files in this workspace to attach.'));
      return;
    }
    type Item = vscode.QuickPickItem & { uri: vscode.Uri };
    const items: Item[] = files
      .map((uri) => ({ uri, label: path.basename(uri.path), description: displayName(uri) }))
      .sort((a, b) => (a.description ?? '').localeCompare(b.description ?? ''));
    const picked = await vscode.window.showQuickPick(items, {
      title: vscode.l10n.t('Attach File'),
      placeHolder: vscode.l10n.t('File to attach to the message'),
      matchOnDescription: true,
    });
    if (!picked) return;
    const attachment = await this.readAttachment(picked.uri);
    if (attachment) await this.d.view.attach(attachment);
  }

  private async readAttachment(target: vscode.Uri): Promise<Attachment | undefined> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === target.toString());
    let text: string;
    let language: string;
    if (open) {
      text = open.getText();
      language = open.languageId;
    } else {
      const bytes = await vscode.workspace.fs.readFile(target);
      if (bytes.includes(0)) {
        void this.d.notifier.info(vscode.l10n.t('Llama Chat: {0} looks like a binary file.', displayName(target)));
        return undefined;
      }
      text = new TextDecoder('utf-8').decode(bytes);
      language = languageOf(target);
    }
    if (text.length > MAX_FILE_CHARS) {
      void this.d.notifier.warn(
        vscode.l10n.t(
          'Llama Chat: {0} is too large to add ({1} characters; the limit is {2}).',
          displayName(target),
          formatInt(text.length),
          formatInt(MAX_FILE_CHARS),
        ),
      );
      return undefined;
    }
    return { kind: 'file', name: displayName(target), text, language };
  }

  /** Summarize Earlier Messages: the summary is sent in place of the older messages, which stay in the chat. */
  async compactChat(chatId: string | undefined): Promise<void> {
    const id = this.target(chatId);
    if (id === undefined) return;
    const outcome = await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Llama Chat: summarizing earlier messages…'), cancellable: false },
      () => this.d.session.compactChat(id),
    );
    if (!outcome.ok) void this.d.notifier.info(vscode.l10n.t('Llama Chat: {0}', outcome.detail));
  }

  private titleOf(chatId: string): string | undefined {
    return this.d.repository.listChats().find((c) => c.id === chatId)?.title;
  }

  async renameChat(chatId: string | undefined): Promise<void> {
    const id = this.target(chatId);
    if (id === undefined) return;
    const title = await vscode.window.showInputBox({
      title: vscode.l10n.t('Rename Chat'),
      value: this.titleOf(id) ?? '',
      prompt: vscode.l10n.t('New name for the chat'),
      validateInput: (v) => (v.length > LIMITS.maxTitle ? vscode.l10n.t('At most {0} characters', LIMITS.maxTitle) : undefined),
    });
    if (title === undefined) return;
    await this.d.session.renameChat(id, title);
  }

  /**
   * Deletes the chat at once and offers Undo for UNDO_MS (no modal in the way): Undo brings it back with every
   * message and version. The full chat is read first, so Undo needs nothing from the deleted file.
   */
  async deleteChat(chatId: string | undefined): Promise<string | undefined> {
    const id = this.target(chatId);
    if (id === undefined) return undefined;
    const summary = this.d.repository.listChats().find((c) => c.id === id);
    if (!summary) return undefined;
    // The live chat object: a stream the delete stops ends in it, so the copy holds the answer as it ended.
    const copy = await this.d.repository.getChat(id);
    const outcome = await this.d.session.deleteChat(id);
    if (!outcome.ok) {
      void this.d.notifier.info(vscode.l10n.t('Llama Chat: {0}', outcome.detail));
      return undefined;
    }
    if (!copy) return id;
    const offeredAt = Date.now();
    const undo = vscode.l10n.t('Undo');
    void this.d.notifier.info(vscode.l10n.t('Llama Chat: deleted the chat “{0}”.', summary.title), undo).then(async (choice) => {
      if (choice !== undo) return;
      if (Date.now() - offeredAt > UNDO_MS) {
        void this.d.notifier.info(vscode.l10n.t('Llama Chat: too late to undo that delete.'));
        return;
      }
      const restored = await this.d.session.restoreChat(copy);
      if (!restored.ok) void this.d.notifier.info(vscode.l10n.t('Llama Chat: could not undo: {0}', restored.detail));
      else await this.d.view.showChat(restored.chatId);
    });
    return id;
  }

  async forkChat(chatId: string | undefined, messageId: string | undefined): Promise<string | undefined> {
    const id = this.target(chatId);
    if (id === undefined) return undefined;
    const chat = await this.d.repository.getChat(id);
    const at = messageId ?? (chat ? activeLeafId(chat) : undefined);
    if (!chat || at === undefined) {
      void this.d.notifier.info(vscode.l10n.t('Llama Chat: the chat has no messages to fork.'));
      return undefined;
    }
    const forked = await this.d.session.forkChat(id, at);
    await this.d.view.showChat(forked.id);
    return forked.id;
  }

  /**
   * Export Chat: asks where to save the chat as Markdown (the chat's title in the first workspace folder by
   * default), writes it and opens the file. `target` (a Uri, from scripts and tests) skips the dialog.
   */
  async exportChat(chatId: string | undefined, target?: vscode.Uri): Promise<vscode.TextDocument | undefined> {
    const id = this.target(chatId);
    if (id === undefined) return undefined;
    const chat = await this.d.repository.getChat(id);
    if (!chat) return undefined;
    const markdown = exportMarkdown(chat);
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    const uri =
      target ??
      (await vscode.window.showSaveDialog({
        title: vscode.l10n.t('Export Chat'),
        saveLabel: vscode.l10n.t('Export'),
        filters: { [vscode.l10n.t('Markdown')]: ['md'] },
        ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, `${exportFileName(chat.title)}.md`) } : {}),
      }));
    if (!uri) return undefined;
    await vscode.workspace.fs.writeFile(uri, new TextEncoder().encode(markdown));
    this.d.logger.info(`Exported chat ${id} to ${uri.scheme === 'file' ? path.basename(uri.fsPath) : uri.toString()}`);
    const doc = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(doc, { preview: false });
    return doc;
  }
}
