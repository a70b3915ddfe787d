/**
 * Which server the extension talks to: the list from the settings (and a started local server), the active one
 * remembered across windows (globalState), and switching the client to it. A changed list keeps the choice when
 * it is still there.
 */
import type * as vscode from 'vscode';
import type { ConnectionMonitor } from '../core/server/connection';
import { Disposable, Emitter } from '../core/base/disposable';
import type { Logger } from '../core/base/logger';
import { normalizeBaseUrl } from '../core/server/llamaClient';
import { pickActive, serverList } from '../core/server/servers';
import type { ServerEntry } from '../core/server/servers';
import type { ServerClientHolder } from './serverClient';

const ACTIVE_KEY = 'llamaChat.activeServer';

export interface ServerRegistryOptions {
  memento: vscode.Memento;
  clients: ServerClientHolder;
  connection: ConnectionMonitor;
  logger: Logger;
  /** `llamaChat.servers`, `llamaChat.serverUrl` and the request timeout, read fresh. */
  settings: () => { servers: readonly unknown[]; serverUrl: string; requestTimeoutMs: number };
}

export class ServerRegistry extends Disposable {
  private localUrl: string | undefined;
  /** A server found on llama.cpp's newer default port while serverUrl is unset (ServerDiscovery). */
  private discovered: string | undefined;
  private current: ServerEntry;
  private readonly changed = this._register(new Emitter<ServerEntry>());
  readonly onDidChange = this.changed.event;

  constructor(private readonly o: ServerRegistryOptions) {
    super();
    this.current = pickActive(this.list(), o.memento.get<string>(ACTIVE_KEY));
  }

  list(): ServerEntry[] {
    const s = this.o.settings();
    return serverList(s.servers, this.discovered ?? s.serverUrl, normalizeBaseUrl, this.localUrl);
  }

  get active(): ServerEntry {
    return this.current;
  }

  /** The client configuration for the active server. */
  config(): { baseUrl: string; requestTimeoutMs: number } {
    return { baseUrl: this.current.url, requestTimeoutMs: this.o.settings().requestTimeoutMs };
  }

  /** Makes `id` the active server (remembered), switches the client and checks the connection. */
  async select(id: string): Promise<boolean> {
    const entry = this.list().find((e) => e.id === id);
    if (!entry) return false;
    await this.o.memento.update(ACTIVE_KEY, entry.id);
    this.apply(entry);
    return true;
  }

  /** Settings changed: the list is read again; the active server stays when it is still listed. */
  refresh(): boolean {
    const next = pickActive(this.list(), this.current.id);
    const before = this.o.clients.config;
    this.current = next;
    const switched = this.o.clients.update(this.config());
    if (next.id !== before.baseUrl) this.changed.fire(next);
    return switched;
  }

  /** Nothing on the default port, a server on the newer one: it stands for the default server. */
  useDiscovered(url: string): void {
    this.discovered = normalizeBaseUrl(url);
    this.apply(pickActive(this.list(), this.discovered));
  }

  /** A local server came up: it joins the list and becomes the active server. */
  async useLocal(url: string): Promise<void> {
    this.localUrl = normalizeBaseUrl(url);
    await this.select(this.localUrl);
  }

  /** The local server stopped: it leaves the list; the active server goes back to the remembered one. */
  localStopped(): void {
    const wasActive = this.current.local === true;
    this.localUrl = undefined;
    if (wasActive) this.apply(this.list()[0]);
  }

  private apply(entry: ServerEntry): void {
    this.current = entry;
    this.o.logger.info(`Active server: ${entry.name} (${entry.url})`);
    if (this.o.clients.update(this.config())) void this.o.connection.recheck();
    this.changed.fire(entry);
  }
}
