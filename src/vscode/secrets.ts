/** The API key lives only in VS Code's SecretStorage: never in settings, chat files, logs or the webview. */
import type * as vscode from 'vscode';
import type { IDisposable } from '../core/disposable';

const KEY = 'llamaChat.apiKey';

export class ApiKeyStore {
  constructor(private readonly secrets: vscode.SecretStorage) {}

  async get(): Promise<string | undefined> {
    const key = (await this.secrets.get(KEY))?.trim();
    return key ? key : undefined;
  }

  async has(): Promise<boolean> {
    return (await this.get()) !== undefined;
  }

  async set(key: string): Promise<void> {
    const k = key.trim();
    if (!k) return this.clear();
    await this.secrets.store(KEY, k);
  }

  async clear(): Promise<void> {
    await this.secrets.delete(KEY);
  }

  /** Fires when the key changes, also from another window. */
  onDidChange(listener: () => void): IDisposable {
    return this.secrets.onDidChange((e) => {
      if (e.key === KEY) listener();
    });
  }
}
