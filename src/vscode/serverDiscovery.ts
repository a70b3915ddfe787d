/**
 * Finding the server when the user has not set one: llama.cpp's newer builds default to port 9931 instead of
 * 8080. When `llamaChat.serverUrl` is not set by the user and nothing answers on 8080, try 9931 once and say which
 * one was found. Never changes the user's settings; a set serverUrl is never second-guessed.
 */
import * as vscode from 'vscode';
import type { ConnectionMonitor } from '../core/server/connection';
import { Disposable } from '../core/base/disposable';
import type { Logger } from '../core/base/logger';
import type { Notifier } from './notifications';
import type { ServerClientConfig, ServerClientHolder } from './serverClient';
import { DEFAULT_SERVER_URL, SECTION } from './settings';

export const NEW_DEFAULT_URL = 'http://127.0.0.1:9931';

export interface ServerDiscoveryOptions {
  clients: ServerClientHolder;
  connection: ConnectionMonitor;
  logger: Logger;
  notifier: Notifier;
  /** Answers when a server at `baseUrl` is up (rejects otherwise). */
  probe: (baseUrl: string) => Promise<unknown>;
  config: () => ServerClientConfig;
  /** Whether the user set llamaChat.serverUrl (default: read from the settings). */
  isUserSet?: () => boolean;
  /** Switches to the found server (default: the client alone). */
  use?: (url: string) => void;
}

/** True when the user (or a workspace) set llamaChat.serverUrl, or listed servers. */
export function serverUrlIsSet(): boolean {
  const c = vscode.workspace.getConfiguration(SECTION);
  const i = c.inspect<string>('serverUrl');
  const servers = c.get<unknown[]>('servers', []);
  return (Array.isArray(servers) && servers.length > 0) || i?.globalValue !== undefined || i?.workspaceValue !== undefined || i?.workspaceFolderValue !== undefined;
}

export class ServerDiscovery extends Disposable {
  private tried = false;

  constructor(private readonly o: ServerDiscoveryOptions) {
    super();
    this._register(o.connection.onDidChange((state) => void this.onState(state.state)));
  }

  /** The settings changed: a set URL is used as is; an unset one may be discovered again. */
  reset(): void {
    this.tried = false;
  }

  private async onState(state: string): Promise<void> {
    if (state !== 'error' || this.tried || (this.o.isUserSet ?? serverUrlIsSet)()) return;
    if (this.o.clients.config.baseUrl !== DEFAULT_SERVER_URL) return;
    this.tried = true;
    try {
      await this.o.probe(NEW_DEFAULT_URL);
    } catch {
      this.o.logger.info(`Nothing answers on ${DEFAULT_SERVER_URL} or ${NEW_DEFAULT_URL}`);
      return;
    }
    this.o.logger.info(`No llama-server on ${DEFAULT_SERVER_URL}; found one on ${NEW_DEFAULT_URL} (llama.cpp's newer default port)`);
    if (this.o.use) this.o.use(NEW_DEFAULT_URL);
    else this.o.clients.update({ ...this.o.config(), baseUrl: NEW_DEFAULT_URL });
    await this.o.connection.recheck();
    void this.o.notifier.info(
      vscode.l10n.t('Llama Chat: nothing answers on port 8080; using the llama-server found on port 9931 ({0}).', NEW_DEFAULT_URL),
    );
  }
}
