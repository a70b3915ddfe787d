/** The chat model: plain data, persisted by the ChatStore and mirrored into the webview. */
import type { ErrorInfo } from '../base/errors';

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

/**
 * Context the user attached to a question: stored with the message as structured parts (never pasted into its
 * text) and sent as text parts formatted for the model (images as `image_url` parts).
 */
export type Attachment =
  | {
      kind: 'file' | 'selection' | 'paste';
      /** What the chip shows: a workspace-relative path, never a full local path. */
      name: string;
      text: string;
      language?: string;
      /** 1-based, inclusive, for a selection. */
      startLine?: number;
      endLine?: number;
      /** Exact tokens of the formatted part, when the server counted them. */
      tokens?: number;
    }
  | { kind: 'image'; name: string; mime: string; /** A data: URI. */ dataUri: string };

/** How the request that produced an answer fitted the context. */
export interface ContextUse {
  /** Messages of the path before the question that were left out to fit (oldest first). */
  omitted: number;
  /** Messages replaced by a summary. */
  summarized?: number;
  /** The context size the request was fitted to. */
  nCtx: number;
}

/** A summary that stands in, in requests, for the path messages before the message carrying it. */
export interface ContextSummary {
  text: string;
  /** Ids of the path messages it replaces (they stay in the chat). */
  covers: string[];
  createdAt: number;
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
  /** The server (its name) that produced an assistant message. */
  server?: string;
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
  /** User messages: the attached context. */
  attachments?: Attachment[];
  /** Assistant messages cut with finish `length`: by the full context, or by llamaChat.maxTokens. */
  limit?: 'context' | 'maxTokens';
  /** Assistant messages: how the request fitted the context (shown as a divider when messages were left out). */
  context?: ContextUse;
  /** A summary of the earlier path, sent in place of the messages it covers. */
  summary?: ContextSummary;
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
  /** Thinking for this chat's answers (templates with enable_thinking); undefined: the template's default. */
  thinking?: boolean;
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
