/** Reads the `llamaChat.*` settings into plain values; read again on every change, never cached. */
import * as vscode from 'vscode';
import type { SessionSettings } from '../core/session/sessionApi';

export const SECTION = 'llamaChat';
export const DEFAULT_SERVER_URL = 'http://127.0.0.1:8080';

export interface ExtensionSettings {
  serverUrl: string;
  /** `llamaChat.servers` as written (the registry validates the entries). */
  servers: readonly unknown[];
  requestTimeoutMs: number;
  session: SessionSettings;
}

function finiteOr(value: unknown, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}

export function readSettings(): ExtensionSettings {
  const c = vscode.workspace.getConfiguration(SECTION);
  const url = c.get<string>('serverUrl', DEFAULT_SERVER_URL).trim();
  const temperature = c.get<number | null>('temperature', null);
  const session: SessionSettings = {
    staleSeconds: Math.max(1, finiteOr(c.get('staleSeconds'), 60)),
  };
  const model = c.get<string>('model', '').trim();
  if (model) session.model = model;
  const systemPrompt = c.get<string>('systemPrompt', '');
  if (systemPrompt.trim()) session.systemPrompt = systemPrompt;
  if (typeof temperature === 'number' && Number.isFinite(temperature)) session.temperature = temperature;
  const maxTokens = Math.floor(finiteOr(c.get('maxTokens'), 0));
  if (maxTokens > 0) session.maxTokens = maxTokens;
  if (c.get<boolean>('sendReasoning', false) === true) session.sendReasoning = true;
  const overflow = c.get<string>('contextOverflow', 'trimOldest');
  session.contextOverflow = overflow === 'summarize' || overflow === 'fail' ? overflow : 'trimOldest';
  const servers = c.get<unknown>('servers', []);
  return {
    serverUrl: url || DEFAULT_SERVER_URL,
    servers: Array.isArray(servers) ? servers : [],
    requestTimeoutMs: Math.max(1, finiteOr(c.get('requestTimeoutSeconds'), 30)) * 1000,
    session,
  };
}

/** Writes `llamaChat.model` where it is set now (workspace or user), else in the user settings. */
export async function writeModelSetting(model: string): Promise<void> {
  const c = vscode.workspace.getConfiguration(SECTION);
  const inspect = c.inspect<string>('model');
  const target =
    inspect?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : inspect?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  await c.update('model', model, target);
}
