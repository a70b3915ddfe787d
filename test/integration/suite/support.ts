/** Shared by the extension-host tests: the activated extension's API and small waiting helpers. */
import * as vscode from 'vscode';
import type { LlamaChatApi } from '../../../src/extension';
import type { SessionEvent } from '../../../src/core/session/sessionEvents';

export const EXTENSION_ID = 'llama-server-chat.llama-server-chat';

export async function activateExtension(): Promise<{ api: LlamaChatApi; extension: vscode.Extension<LlamaChatApi | undefined> }> {
  const extension = vscode.extensions.getExtension<LlamaChatApi | undefined>(EXTENSION_ID);
  if (!extension) throw new Error(`extension ${EXTENSION_ID} is not installed`);
  const api = await extension.activate();
  if (!api) throw new Error('the extension returned no test API: is this run in ExtensionMode.Test?');
  return { api, extension };
}

/** Polls `probe` until it returns something other than undefined/false; fails with `what` after timeoutMs. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
      last = value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Resolves with the first session event that matches. */
export function nextEvent<E extends SessionEvent>(api: LlamaChatApi, match: (e: SessionEvent) => e is E, timeoutMs = 30_000): Promise<E> {
  return new Promise<E>((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error('timed out waiting for a session event'));
    }, timeoutMs);
    const sub = api.session.onEvent((e) => {
      if (match(e)) {
        clearTimeout(timer);
        sub.dispose();
        resolve(e);
      }
    });
  });
}

export type StreamEnded = Extract<SessionEvent, { type: 'streamEnded' }>;

export function streamEndedIn(chatId: string): (e: SessionEvent) => e is StreamEnded {
  return (e): e is StreamEnded => e.type === 'streamEnded' && e.chatId === chatId;
}

export function env(name: string): string | undefined {
  const v = process.env[name];
  return v && v.trim() ? v.trim() : undefined;
}

export async function setSetting(key: string, value: unknown): Promise<void> {
  await vscode.workspace.getConfiguration('llamaChat').update(key, value, vscode.ConfigurationTarget.Global);
}

export function getSetting<T>(key: string): T | undefined {
  return vscode.workspace.getConfiguration('llamaChat').get<T>(key);
}

/** Points the extension at `url` and waits until it reports connected there. */
export async function useServer(api: LlamaChatApi, url: string): Promise<void> {
  if (getSetting<string>('serverUrl') !== url) await setSetting('serverUrl', url);
  await waitFor(`the client to use ${url}`, () => api.serverUrl() === url.replace(/\/+$/, ''));
  const state = await api.checkConnection();
  if (state.state !== 'connected') throw new Error(`cannot connect to ${url}: ${JSON.stringify(state)}`);
}
