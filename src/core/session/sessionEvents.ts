/** What the session controller reports to its adapters (webview bridge, status bar, notifications). */
import type { ChatMessage, MessagePatch } from '../chats/chat';
import type { ErrorInfo } from '../base/errors';
import type { PromptProgress } from '../base/events';

/** Live figures for one streaming message, from the ThroughputMeter. */
export interface LiveStats {
  phase: 'waiting' | 'prompt' | 'generating' | 'done';
  /** Generation tok/s; undefined until it can be measured. */
  tps?: number;
  completionTokens: number;
  promptTokens?: number;
  cachedTokens?: number;
  /** prompt + completion tokens. */
  ctxUsed?: number;
  /** n_ctx from /props. */
  ctxMax?: number;
  ttftMs?: number;
  promptPerSecond?: number;
  /** 0..1 during prompt processing. */
  promptProgress?: number;
  model?: string;
  /** The connection lives but no token or progress has come for this long: the server is busy. */
  busyMs?: number;
  /** Every slot was busy when the request was sent: it waits in the server's queue. */
  queued?: { busy: number; total: number };
  /** The connection dropped and the client is resuming the stream. */
  reconnecting?: boolean;
}

export type SessionEvent =
  | { type: 'chatsChanged' }
  /** The chat's tree changed in a way deltas cannot say (delete, undo, a reload from another window). */
  | { type: 'chatChanged'; chatId: string }
  /** The active path of the chat now ends at `leafId`. */
  | { type: 'leafChanged'; chatId: string; leafId: string }
  | { type: 'messageAdded'; chatId: string; message: ChatMessage }
  | { type: 'messageUpdated'; chatId: string; messageId: string; patch: MessagePatch }
  | { type: 'delta'; chatId: string; messageId: string; content?: string; reasoning?: string }
  | { type: 'progress'; chatId: string; messageId: string; progress: PromptProgress }
  | { type: 'stats'; chatId: string; messageId: string; stats: LiveStats }
  /** No frame of any kind for staleSeconds; `diagnosis` says what /health and /slots found. */
  | { type: 'stale'; chatId: string; messageId: string; silentMs: number; diagnosis?: string }
  | { type: 'streamEnded'; chatId: string; messageId: string; message: ChatMessage; error?: ErrorInfo }
  | { type: 'storageError'; error: ErrorInfo };
