/** The chat session controller's public face, as the VS Code adapters use it (implemented by ChatSession). */
import type { Chat } from './chat';
import type { IDisposable } from './disposable';
import type { LiveStats, SessionEvent } from './sessionEvents';

/** Read at every send, so changed settings apply without a reload. */
export interface SessionSettings {
  model?: string;
  systemPrompt?: string;
  temperature?: number;
  /** <= 0 or undefined: no limit. */
  maxTokens?: number;
  staleSeconds: number;
}

export interface ActiveStream {
  chatId: string;
  messageId: string;
  stale: boolean;
  stats: LiveStats;
}

/** Result of a user action that can race with the stream ending on its own. */
export type ActionOutcome =
  | { ok: true; chatId: string; messageId?: string }
  | { ok: false; reason: 'not-streaming' | 'already-finished' | 'unknown-chat' | 'nothing-to-retry' | 'busy'; detail: string };

export interface ChatSessionApi extends IDisposable {
  readonly onEvent: (listener: (e: SessionEvent) => void) => IDisposable;
  activeStreams(): ActiveStream[];
  isStreaming(chatId: string): boolean;

  /** Adds the user message and streams an answer. Rejects with 'busy' while that chat already streams. */
  send(chatId: string, text: string): Promise<ActionOutcome>;
  /** Aborts the HTTP request (the server frees the slot) and keeps the partial answer as `stopped`. */
  stop(chatId: string): Promise<ActionOutcome>;
  /** Aborts a stuck stream if any (marking it `failed`), then resends the last user message as a new answer. */
  retry(chatId: string): Promise<ActionOutcome>;
  /** Aborts the stream, marks the message `failed`, keeps its partial text. */
  discard(chatId: string): Promise<ActionOutcome>;
  /** Replaces the last assistant answer with a new one. */
  regenerate(chatId: string): Promise<ActionOutcome>;
  /** Replaces a user message's text, drops everything after it, and streams a new answer. */
  editAndResend(chatId: string, messageId: string, text: string): Promise<ActionOutcome>;

  newChat(): Promise<Chat>;
  /** Stops the chat's stream first. */
  deleteChat(chatId: string): Promise<void>;
  renameChat(chatId: string, title: string): Promise<void>;
  /** A new chat with the messages up to and including messageId. */
  forkChat(chatId: string, messageId: string): Promise<Chat>;
  /** Stops every stream and flushes storage. */
  shutdown(): Promise<void>;
}
