/**
 * The one host <-> webview protocol. Shared by both sides: no vscode, no DOM, no node imports.
 * Streamed payloads carry an increasing `seq` per message; a webview that was hidden or reloaded asks with
 * `ready` and gets a full `snapshot`, never a replay of deltas.
 */
import type { Chat, ChatMessage, ChatSummary, MessageStatus } from './core/chat';
import type { ErrorInfo } from './core/errors';
import type { RefusalReason } from './core/sessionApi';

export type { RefusalReason };

export type ConnectionState =
  | { state: 'unknown' }
  | { state: 'checking'; url: string }
  | { state: 'connected'; url: string; model?: string; nCtx?: number; build?: string }
  | { state: 'error'; url: string; error: ErrorInfo };

export interface StreamingInfo {
  chatId: string;
  messageId: string;
  /** The seq of the last delta already included in the snapshot's message text. */
  seq: number;
  stale: boolean;
  /** How long the stream has been silent, ms, when stale (shown as "No tokens for 60 s"). */
  silentMs?: number;
  phase: 'waiting' | 'prompt' | 'generating';
  promptProgress?: number;
}

export interface ViewState {
  chats: ChatSummary[];
  activeChatId: string | undefined;
  /** The active chat with its messages (other chats load when switched to). */
  activeChat: Chat | undefined;
  streaming: StreamingInfo[];
  connection: ConnectionState;
  model: string | undefined;
}

export interface UsagePayload {
  chatId: string;
  messageId: string;
  completionTokens: number;
  ctxUsed?: number;
  ctxMax?: number;
  tps?: number;
  promptTokens?: number;
  ttftMs?: number;
}

/** The figures of a usage post without its addressing. */
export type UsageFigures = Omit<UsagePayload, 'chatId' | 'messageId'>;

/** The host's answer to a request (send, edit and resend, retry, regenerate): the view never guesses. */
export type RequestResult =
  | { requestId: string; ok: true; chatId: string; messageId?: string }
  | { requestId: string; ok: false; reason: RefusalReason; detail: string };

// ---------------------------------------------------------------------------------------------------------------
// Host -> webview

export type ToWebviewMessage =
  | { type: 'snapshot'; state: ViewState }
  | { type: 'chats'; chats: ChatSummary[]; activeChatId: string | undefined }
  | { type: 'chat'; chat: Chat | undefined }
  | { type: 'messageAdded'; chatId: string; message: ChatMessage }
  | {
      type: 'delta';
      chatId: string;
      messageId: string;
      seq: number;
      text: string;
      reasoning?: string;
      /** Usage figures that were due with this frame ride along instead of a separate `usage` post. */
      usage?: UsageFigures;
    }
  | ({ type: 'usage' } & UsagePayload)
  | {
      type: 'status';
      chatId: string;
      messageId: string;
      status: MessageStatus;
      phase?: StreamingInfo['phase'];
      promptProgress?: number;
      stale?: boolean;
      silentMs?: number;
    }
  | {
      type: 'done';
      chatId: string;
      messageId: string;
      message: ChatMessage;
      /**
       * Set when `message` comes without its text (content '', no reasoning) because the deltas already carried
       * it: the webview keeps its own text, and if its lengths differ it asks for a snapshot (posts `ready`).
       */
      textLengths?: { content: number; reasoning: number };
    }
  | { type: 'error'; chatId?: string; messageId?: string; error: ErrorInfo }
  | ({ type: 'result' } & RequestResult)
  /** The chat's active path now ends at `leafId` (a version was chosen). */
  | { type: 'leaf'; chatId: string; leafId: string }
  | { type: 'connection'; connection: ConnectionState; model?: string }
  | { type: 'prefill'; text: string }
  | { type: 'focusInput' };

// ---------------------------------------------------------------------------------------------------------------
// Webview -> host

export type FromWebviewMessage =
  | { type: 'ready' }
  /** Requests (`requestId`) are answered by a `result` with the same id. */
  | { type: 'send'; requestId: string; chatId?: string; text: string }
  | { type: 'stop'; chatId: string; messageId?: string }
  /** A new version of `messageId` (any failed, stopped or interrupted answer; a live one is aborted first). */
  | { type: 'retry'; requestId?: string; chatId: string; messageId?: string }
  | { type: 'discardStale'; chatId: string; messageId?: string }
  /** A new version of the answer `messageId` (default: the last answer on the active path). */
  | { type: 'regenerate'; requestId?: string; chatId: string; messageId?: string }
  /** A new version of the question `messageId` with `text`, answered anew. */
  | { type: 'editResend'; requestId: string; chatId: string; messageId: string; text: string }
  /** Show `messageId` among its versions (the active path then runs through it). */
  | { type: 'selectVersion'; chatId: string; messageId: string }
  /** Delete one message (its replies move up to its parent) or the whole branch under it; undoable. */
  | { type: 'deleteMessage'; chatId: string; messageId: string; scope: 'message' | 'branch' }
  | { type: 'newChat' }
  | { type: 'switchChat'; chatId: string }
  | { type: 'renameChat'; chatId: string; title?: string }
  | { type: 'deleteChat'; chatId: string }
  | { type: 'forkChat'; chatId: string; messageId: string }
  | { type: 'exportChat'; chatId: string }
  | { type: 'copy'; text: string }
  | { type: 'insert'; text: string; language?: string }
  | { type: 'openLink'; href: string }
  | { type: 'retryConnection' }
  | { type: 'openSettings' }
  | { type: 'selectModel' };

export type FromWebviewType = FromWebviewMessage['type'];

/** Upper bounds for anything a webview may send: a message above them is rejected. */
export const LIMITS = {
  /** Characters of user text in one message (about 4 MB of UTF-16). */
  maxText: 2_000_000,
  maxId: 200,
  maxHref: 8_192,
  maxTitle: 500,
} as const;

type FieldSpec = 'id' | 'id?' | 'text' | 'text?' | 'title?' | 'href' | 'lang?' | 'scope';

const SCHEMAS: { [K in FromWebviewType]: Record<string, FieldSpec> } = {
  ready: {},
  send: { requestId: 'id', chatId: 'id?', text: 'text' },
  stop: { chatId: 'id', messageId: 'id?' },
  retry: { requestId: 'id?', chatId: 'id', messageId: 'id?' },
  discardStale: { chatId: 'id', messageId: 'id?' },
  regenerate: { requestId: 'id?', chatId: 'id', messageId: 'id?' },
  editResend: { requestId: 'id', chatId: 'id', messageId: 'id', text: 'text' },
  selectVersion: { chatId: 'id', messageId: 'id' },
  deleteMessage: { chatId: 'id', messageId: 'id', scope: 'scope' },
  newChat: {},
  switchChat: { chatId: 'id' },
  renameChat: { chatId: 'id', title: 'title?' },
  deleteChat: { chatId: 'id' },
  forkChat: { chatId: 'id', messageId: 'id' },
  exportChat: { chatId: 'id' },
  copy: { text: 'text' },
  insert: { text: 'text', language: 'lang?' },
  openLink: { href: 'href' },
  retryConnection: {},
  openSettings: {},
  selectModel: {},
};

/** A refused parse keeps the request id when it had a valid one, so the host can still answer the request. */
export type ParseResult = { ok: true; message: FromWebviewMessage } | { ok: false; reason: string; requestId?: string };

function checkField(value: unknown, spec: FieldSpec): string | undefined {
  const optional = spec.endsWith('?');
  if (value === undefined) return optional ? undefined : 'is missing';
  if (typeof value !== 'string') return `must be a string, got ${value === null ? 'null' : typeof value}`;
  if (spec === 'scope') return value === 'message' || value === 'branch' ? undefined : 'must be "message" or "branch"';
  const base = optional ? spec.slice(0, -1) : spec;
  const max =
    base === 'id' ? LIMITS.maxId : base === 'href' ? LIMITS.maxHref : base === 'title' || base === 'lang' ? LIMITS.maxTitle : LIMITS.maxText;
  if (value.length > max) return `is too long (${value.length} > ${max})`;
  if (base === 'id' && !/^[A-Za-z0-9_-]+$/.test(value)) return 'is not a valid id';
  return undefined;
}

/** Validates an untrusted message from the webview. Unknown fields are dropped, never passed on. */
export function parseFromWebview(raw: unknown): ParseResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'not an object' };
  const type = (raw as { type?: unknown }).type;
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(SCHEMAS, type)) {
    return { ok: false, reason: `unknown message type ${JSON.stringify(String(type)).slice(0, 80)}` };
  }
  const schema = SCHEMAS[type as FromWebviewType];
  const out: Record<string, unknown> = { type };
  for (const [field, spec] of Object.entries(schema)) {
    const value = (raw as Record<string, unknown>)[field];
    const problem = checkField(value, spec);
    if (problem) {
      const refused: ParseResult = { ok: false, reason: `${type}.${field} ${problem}` };
      const requestId = (raw as Record<string, unknown>).requestId;
      if (typeof requestId === 'string' && checkField(requestId, 'id') === undefined) refused.requestId = requestId;
      return refused;
    }
    if (value !== undefined) out[field] = value;
  }
  return { ok: true, message: out as FromWebviewMessage };
}
