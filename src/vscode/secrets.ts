/**
 * API keys live only in VS Code's SecretStorage: never in settings, chat files, logs or the webview. One key per
 * server (by its URL); the key saved before servers had their own is the default server's.
 */
import type * as vscode from 'vscode';
import type { IDisposable } from '../core/base/disposable';

const KEY = 'llamaChat.apiKey';

export class ApiKeyStore {
  /**
   * @param server the active server's URL, read at every call; undefined: the one (legacy) key.
   * @param isDefault whether a URL is the default server (it falls back to the legacy key).
   */
  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly server: () => string | undefined = () => undefined,
    private readonly isDefault: (url: string) => boolean = () => true,
  ) {}

  private keyFor(url: string | undefined): string {
    return url === undefined ? KEY : `${KEY}:${url}`;
  }

  /** The key for `url` (default: the active server's). */
  async get(url: string | undefined = this.server()): Promise<string | undefined> {
    const own = (await this.secrets.get(this.keyFor(url)))?.trim();
    if (own) return own;
    if (url !== undefined && !this.isDefault(url)) return undefined;
    const legacy = (await this.secrets.get(KEY))?.trim();
    return legacy ? legacy : undefined;
  }

  async has(url?: string): Promise<boolean> {
    return (await this.get(url)) !== undefined;
  }

  async set(key: string, url: string | undefined = this.server()): Promise<void> {
    const k = key.trim();
    if (!k) return this.clear(url);
    await this.secrets.store(this.keyFor(url), k);
  }

  async clear(url: string | undefined = this.server()): Promise<void> {
    await this.secrets.delete(this.keyFor(url));
    if (url === undefined || this.isDefault(url)) await this.secrets.delete(KEY);
  }

  /** Every key there is, for masking in the log. */
  async all(urls: readonly string[]): Promise<string[]> {
    const keys = await Promise.all([undefined, ...urls].map((u) => this.secrets.get(this.keyFor(u))));
    return keys.map((k) => k?.trim()).filter((k): k is string => !!k);
  }

  /** Fires when a key changes, also from another window. */
  onDidChange(listener: () => void): IDisposable {
    return this.secrets.onDidChange((e) => {
      if (e.key === KEY || e.key.startsWith(`${KEY}:`)) listener();
    });
  }
}
