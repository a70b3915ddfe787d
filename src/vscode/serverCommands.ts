/**
 * The server commands: Select Model, Select Server (with each server's live state), Set / Clear API Key and Check
 * Connection. Registered by ChatCommands with the rest; split out so each file reads as one concern.
 */
import * as vscode from 'vscode';
import type { ErrorInfo } from '../core/base/errors';
import { LlamaError, errorText } from '../core/base/errors';
import { displayModelName, formatInt } from '../core/base/format';
import { LlamaClient } from '../core/server/llamaClient';
import type { ServerEntry } from '../core/server/servers';
import type { ConnectionState } from '../protocol';
import type { CommandDeps } from './commands';
import { pickModel } from './modelPicker';
import { readSettings, writeModelSetting } from './settings';

function errorInfoOf(err: unknown): ErrorInfo {
  return LlamaError.is(err) ? err.toInfo() : { kind: 'unknown', message: errorText(err) };
}

/** Ends a message or hint with exactly one full stop. */
function sentence(text: string): string {
  return `${text.replace(/[.\s]+$/, '')}.`;
}

export function describeConnection(state: ConnectionState): string {
  switch (state.state) {
    case 'connected': {
      const parts = [
        state.model ? vscode.l10n.t('model {0}', state.model) : undefined,
        state.nCtx ? vscode.l10n.t('context {0} tokens', formatInt(state.nCtx)) : undefined,
        state.build ? vscode.l10n.t('build {0}', state.build) : undefined,
      ];
      return vscode.l10n.t('Llama Chat: connected to {0} ({1}).', state.url, parts.filter(Boolean).join(', '));
    }
    case 'error':
      return vscode.l10n.t(
        'Llama Chat: cannot use {0}: {1}{2}',
        state.url,
        sentence(state.error.message),
        state.error.hint ? ` ${sentence(state.error.hint)}` : '',
      );
    case 'checking':
      return vscode.l10n.t('Llama Chat: checking {0}…', state.url);
    case 'unknown':
      return vscode.l10n.t('Llama Chat: the connection has not been checked yet.');
  }
}

export class ServerCommands {
  constructor(private readonly d: CommandDeps) {}

  /**
   * Select Model. On a router-mode server: its models with their state (Load / Unload), and the choice is the
   * chat's model (sent as `model` for that chat only). On a plain server: `/v1/models`, and the choice is the
   * `llamaChat.model` setting.
   */
  async selectModel(chatId?: string): Promise<void> {
    const id = chatId ?? this.d.view.activeChatId;
    const router = await this.d.clients.listRouterModels().catch(() => undefined);
    const current = router && id !== undefined ? this.d.chatModels.get(id) : readSettings().session.model;
    const picked = await pickModel({ client: this.d.clients, current, logger: this.d.logger, notifier: this.d.notifier });
    if (picked === undefined) return;
    if (router && id !== undefined) {
      await this.d.chatModels.set(id, picked);
      this.d.logger.info(`Chat ${id} uses ${picked || 'the server default'}`);
      this.d.view.refreshModel();
      return;
    }
    await writeModelSetting(picked);
    this.d.logger.info(`Model set to ${picked || 'the server default'}`);
  }

  /**
   * Select Server: each server's live state (connected · model · n_ctx, or the error), checked in parallel with a
   * short timeout; the chosen one becomes the active server for new answers.
   */
  async selectServer(id?: string): Promise<ServerEntry | undefined> {
    const list = this.d.servers.list();
    if (id !== undefined) {
      const ok = await this.d.servers.select(id);
      return ok ? this.d.servers.active : undefined;
    }
    type Item = vscode.QuickPickItem & { entry: ServerEntry };
    const active = this.d.servers.active.id;
    const base = (e: ServerEntry): Item => ({
      label: e.name,
      description: e.id === active ? vscode.l10n.t('{0} (current)', e.url) : e.url,
      detail: vscode.l10n.t('checking…'),
      entry: e,
    });
    const pick = vscode.window.createQuickPick<Item>();
    pick.title = vscode.l10n.t('Select Server');
    pick.placeholder = vscode.l10n.t('Server for new answers');
    pick.items = list.map(base);
    pick.busy = true;
    let pending = list.length;
    for (const e of list) {
      void this.liveState(e).then((detail) => {
        pick.items = pick.items.map((it) => (it.entry.id === e.id ? { ...it, detail } : it));
        if (--pending === 0) pick.busy = false;
      });
    }
    const chosen = await new Promise<Item | undefined>((resolve) => {
      pick.onDidAccept(() => resolve(pick.selectedItems[0]));
      pick.onDidHide(() => resolve(undefined));
      pick.show();
    });
    pick.dispose();
    if (!chosen) return undefined;
    await this.d.servers.select(chosen.entry.id);
    return chosen.entry;
  }

  private async liveState(e: ServerEntry): Promise<string> {
    const probe = new LlamaClient({ baseUrl: e.url, requestTimeoutMs: 3_000, apiKey: () => this.d.apiKeys.get(e.url), logger: this.d.logger });
    try {
      const props = await probe.getProps(AbortSignal.timeout(4_000));
      const parts = [vscode.l10n.t('connected')];
      if (props.modelAlias || props.modelPath) parts.push(displayModelName(props.modelAlias || props.modelPath || ''));
      if (props.nCtx) parts.push(`n_ctx ${formatInt(props.nCtx)}`);
      return parts.join(' · ');
    } catch (err) {
      return `$(error) ${errorInfoOf(err).message}`;
    } finally {
      probe.dispose();
    }
  }

  async setApiKey(value?: string): Promise<boolean> {
    const key =
      value ??
      (await vscode.window.showInputBox({
        title: vscode.l10n.t('Set API Key'),
        prompt: vscode.l10n.t('API key for llama-server (sent as "Authorization: Bearer …"; stored in VS Code secret storage)'),
        password: true,
        ignoreFocusOut: true,
      }));
    if (key === undefined) return false;
    if (key.trim() === '') return this.clearApiKey();
    this.d.logger.setSecrets([key.trim()]);
    await this.d.apiKeys.set(key);
    this.d.logger.info('API key saved in secret storage.');
    void this.d.notifier.info(vscode.l10n.t('Llama Chat: API key saved in secret storage.'));
    void this.d.connection.recheck();
    return true;
  }

  async clearApiKey(): Promise<boolean> {
    await this.d.apiKeys.clear();
    this.d.logger.info('API key removed from secret storage.');
    void this.d.notifier.info(vscode.l10n.t('Llama Chat: API key removed.'));
    void this.d.connection.recheck();
    return true;
  }

  async checkConnection(): Promise<ConnectionState> {
    this.d.clients.invalidate();
    const state = await this.d.connection.recheck();
    const text = describeConnection(state);
    if (state.state === 'connected') {
      void this.d.notifier.info(text);
    } else if (state.state === 'error') {
      const setKey = vscode.l10n.t('Set API Key');
      const openSettings = vscode.l10n.t('Open Settings');
      const showLogs = vscode.l10n.t('Show Logs');
      const actions = state.error.kind === 'unauthorized' || state.error.kind === 'forbidden' ? [setKey, showLogs] : [openSettings, showLogs];
      void this.d.notifier.error(text, ...actions).then(async (choice) => {
        if (choice === setKey) await vscode.commands.executeCommand('llamaChat.setApiKey');
        else if (choice === openSettings) await vscode.commands.executeCommand('workbench.action.openSettings', 'llamaChat.serverUrl');
        else if (choice === showLogs) this.d.channel.show(true);
      });
    }
    return state;
  }
}
