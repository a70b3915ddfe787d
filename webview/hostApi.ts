/**
 * The only door to the host. Components get it from context, so tests pass a fake that records posts.
 */
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { Attachment } from '../src/core/chats/chat';
import type { FromWebviewMessage } from '../src/protocol';

/** View-only state kept by VS Code across webview reloads. The host owns chats, not this. */
export interface PersistedViewState {
  /** Unsent composer text per chat id ('' for "no chat yet"). */
  drafts: Record<string, string>;
  /** The unsent draft's chips per chat id (same keys as `drafts`); absent in states saved before chips. */
  attachments?: Record<string, Attachment[]>;
  /** scrollTop of the message list per chat id. */
  scroll: Record<string, number>;
}

export interface HostApi {
  post(message: FromWebviewMessage): void;
  getState(): PersistedViewState | undefined;
  setState(state: PersistedViewState): void;
}

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

function isPersisted(value: unknown): value is PersistedViewState {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<PersistedViewState>;
  return typeof v.drafts === 'object' && v.drafts !== null && typeof v.scroll === 'object' && v.scroll !== null;
}

/** Wraps `acquireVsCodeApi()`, which may be called only once per webview. */
export function createVsCodeHostApi(): HostApi {
  const api = acquireVsCodeApi();
  return {
    post: (message) => api.postMessage(message),
    getState: () => {
      const state = api.getState();
      return isPersisted(state) ? state : undefined;
    },
    setState: (state) => api.setState(state),
  };
}

export const HostContext = createContext<HostApi | undefined>(undefined);

export function useHost(): HostApi {
  const host = useContext(HostContext);
  if (!host) throw new Error('HostContext is missing');
  return host;
}

/** Read-modify-write of the persisted view state. */
export function updatePersisted(host: HostApi, fn: (state: PersistedViewState) => void): void {
  const prev = host.getState();
  const next: PersistedViewState = { drafts: { ...prev?.drafts }, attachments: { ...prev?.attachments }, scroll: { ...prev?.scroll } };
  fn(next);
  host.setState(next);
}
