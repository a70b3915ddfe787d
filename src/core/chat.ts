/** The chat model: plain data, persisted by the ChatStore and mirrored into the webview. */
import type { ErrorInfo } from './errors';

export type Role = 'system' | 'user' | 'assistant';

export type MessageStatus = 'streaming' | 'complete' | 'stopped' | 'failed' | 'interrupted';

export interface MessageTimings {
  /** Time to first token (content or reasoning), ms, measured by the client. */
  ttftMs?: number;
  promptMs?: number;
  promptPerSecond?: number;
  predictedMs?: number;
  /** Generation tok/s: the server's own figure when it sends one. */
  predictedPerSecond?: number;
}

export interface ChatMessage {
  id: string;
  /**
   * The message this one answers or follows; undefined for a root. Messages form a tree: regenerate, retry and
   * edit add a sibling under the same parent instead of replacing anything.
   */
  parentId?: string;
  role: Role;
  content: string;
  /** Reasoning ("thinking") text, shown apart from the answer. */
  reasoning?: string;
  status: MessageStatus;
  /** Model that produced an assistant message. */
  model?: string;
  createdAt: number;
  finishedAt?: number;
  finishReason?: string;
  promptTokens?: number;
  completionTokens?: number;
  cachedTokens?: number;
  ctxUsed?: number;
  ctxMax?: number;
  timings?: MessageTimings;
  error?: ErrorInfo;
}

export interface ChatSummary {
  id: string;
  title: string;
  createdAt: number;
  updatedAt: number;
  /** Every message of the tree, all versions included. */
  messageCount: number;
  /** Set when this build cannot change the chat (e.g. its file was made by a newer version): why, for the user. */
  readOnly?: string;
}

export interface Chat extends ChatSummary {
  /** Every message of the tree in the order they were added (a parent always before its children). */
  messages: ChatMessage[];
  /** The last message of the active path (what is shown and sent); undefined: the last message added. */
  leafId?: string;
}

/** Fields of a message that may change after it was created (`parentId` only to re-link around a deleted message). */
export type MessagePatch = Partial<Omit<ChatMessage, 'id' | 'role' | 'createdAt'>>;

export const FINAL_STATUSES: ReadonlySet<MessageStatus> = new Set(['complete', 'stopped', 'failed', 'interrupted']);

export function isFinal(status: MessageStatus): boolean {
  return FINAL_STATUSES.has(status);
}

/** A title from the first user message: first line, trimmed to 60 characters. */
export function deriveTitle(text: string): string {
  const line = text.trim().split(/\r?\n/, 1)[0] ?? '';
  const t = line.replace(/\s+/g, ' ').trim();
  if (!t) return 'New chat';
  return t.length > 60 ? `${t.slice(0, 59)}…` : t;
}
