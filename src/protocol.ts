/**
 * The one host <-> webview protocol. Shared by both sides: no vscode, no DOM, no node imports.
 * Streamed payloads carry an increasing `seq` per message; a webview that was hidden or reloaded asks with
 * `ready` and gets a full `snapshot`, never a replay of deltas.
 */
import type { Attachment, Chat, ChatMessage, ChatSummary, MessageStatus } from './core/chats/chat';
import type { ErrorInfo } from './core/base/errors';
import { isValidId } from './core/base/ids';
import type { DraftMeasure, RefusalReason } from './core/session/sessionApi';
import type { ConnectionState } from './core/server/connection';

export type { RefusalReason };
export type { ConnectionState };

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
  /** Alive but nothing new for this long: shown as "Server busy · 45 s". */
  busyMs?: number;
  /** Every slot was busy when the request was sent: "Waiting for a free slot (4 of 4 busy)". */
  queued?: { busy: number; total: number };
  /** What /health and /slots said about a stale stream. */
  diagnosis?: string;
  /** The connection dropped and the client is resuming the stream. */
  reconnecting?: boolean;
}

export interface ViewState {
  chats: ChatSummary[];
  activeChatId: string | undefined;
  /** The active chat with its messages (other chats load when switched to). */
  activeChat: Chat | undefined;
  streaming: StreamingInfo[];
  connection: ConnectionState;
  model: string | undefined;
  /** What the server's chat template can do with reasoning (absent: nothing). */
  reasoning?: { canToggle: boolean; canSkip: boolean };
  /** The active server (Select Server), shown in the header. */
  server?: { name: string; url: string };
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

/** What the next request would be, counted by the server before sending (answer to `draft`). */
export interface PromptSize extends DraftMeasure {
  chatId: string | undefined;
  /** Echoes the draft's `draftId`, so an answer to an older draft is ignored. */
  draftId: string;
}

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
      /** Present (possibly null: no longer busy) when the busy time changed. */
      busyMs?: number | null;
      queued?: { busy: number; total: number } | null;
      diagnosis?: string;
      reconnecting?: boolean;
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
  /** The size of the request the draft would send now (answer to `draft`). */
  | ({ type: 'promptSize' } & PromptSize)
  /** Add a chip to the composer (Ask About Selection, Add File to Chat, the `@` picker, a long paste). */
  | { type: 'attach'; attachment: Attachment }
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
  | { type: 'send'; requestId: string; chatId?: string; text: string; attachments?: Attachment[] }
  /** The composer changed: count the request it would send (debounced and cancelled by the host). */
  | { type: 'draft'; draftId: string; chatId?: string; text: string; attachments?: Attachment[] }
  /** `@` in the composer: pick a workspace file to attach. */
  | { type: 'pickFile'; chatId?: string }
  /** Continue an answer cut by llamaChat.maxTokens (the server continues the same message). */
  | { type: 'continueAnswer'; requestId?: string; chatId: string; messageId: string }
  /** A new chat with the cut answer's question and text, continued there. */
  | { type: 'continueInNewChat'; chatId: string; messageId: string }
  /** Summarize the earlier messages of the active path into a summary sent in their place. */
  | { type: 'compactChat'; chatId: string }
  | { type: 'editSummary'; chatId: string; messageId: string; text: string }
  /** Thinking on or off for this chat (templates with enable_thinking). */
  | { type: 'setThinking'; chatId: string; enabled: boolean }
  /** End the reasoning of a running answer on the server (reasoning_control). */
  | { type: 'skipThinking'; chatId: string; messageId: string }
  | { type: 'stop'; chatId: string; messageId?: string }
  /** A new version of `messageId` (any failed, stopped or interrupted answer; a live one is aborted first). */
  | { type: 'retry'; requestId?: string; chatId: string; messageId?: string }
  | { type: 'discardStale'; chatId: string; messageId?: string }
  /** A new version of the answer `messageId` (default: the last answer on the active path). */
  | { type: 'regenerate'; requestId?: string; chatId: string; messageId?: string }
  /** A new version of the question `messageId` with `text`, answered anew. */
  | { type: 'editResend'; requestId: string; chatId: string; messageId: string; text: string; attachments?: Attachment[] }
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
  | { type: 'selectModel' }
  | { type: 'selectServer' };

export type FromWebviewType = FromWebviewMessage['type'];

/** Upper bounds for anything a webview may send: a message above them is rejected. */
export const LIMITS = {
  /** Characters of user text in one message (about 4 MB of UTF-16). */
  maxText: 2_000_000,
  maxId: 200,
  maxHref: 8_192,
  maxTitle: 500,
  /** Attachments on one message. */
  maxAttachments: 32,
  /** Characters of one image's data: URI (about 15 MB of image). */
  maxImage: 20_000_000,
} as const;

const ATTACHMENT_KINDS = new Set(['file', 'selection', 'paste', 'image']);

/** An attachment from the webview, rebuilt from known fields only; a string saying what is wrong otherwise. */
function checkAttachment(x: unknown): Attachment | string {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return 'is not an object';
  const a = x as Record<string, unknown>;
  if (typeof a.kind !== 'string' || !ATTACHMENT_KINDS.has(a.kind)) return 'has an unknown kind';
  if (typeof a.name !== 'string' || a.name.length === 0 || a.name.length > LIMITS.maxTitle) return 'needs a name';
  if (a.kind === 'image') {
    if (typeof a.mime !== 'string' || !/^image\/[a-z0-9.+-]+$/.test(a.mime)) return 'has no image type';
    if (typeof a.dataUri !== 'string' || a.dataUri.length > LIMITS.maxImage || !a.dataUri.startsWith(`data:${a.mime};base64,`)) {
      return 'is not an image data URI of that type (or is too large)';
    }
    return { kind: 'image', name: a.name, mime: a.mime, dataUri: a.dataUri };
  }
  if (typeof a.text !== 'string' || a.text.length > LIMITS.maxText) return 'has no text or too much';
  const out: Attachment = { kind: a.kind as 'file' | 'selection' | 'paste', name: a.name, text: a.text };
  if (a.language !== undefined) {
    if (typeof a.language !== 'string' || a.language.length > LIMITS.maxTitle) return 'has a bad language';
    out.language = a.language;
  }
  for (const k of ['startLine', 'endLine', 'tokens'] as const) {
    const v = a[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) return `has a bad ${k}`;
    out[k] = v;
  }
  return out;
}

type FieldSpec = 'id' | 'id?' | 'text' | 'text?' | 'title?' | 'href' | 'lang?' | 'scope' | 'attachments?' | 'bool';

const SCHEMAS: { [K in FromWebviewType]: Record<string, FieldSpec> } = {
  ready: {},
  send: { requestId: 'id', chatId: 'id?', text: 'text', attachments: 'attachments?' },
  draft: { draftId: 'id', chatId: 'id?', text: 'text', attachments: 'attachments?' },
  pickFile: { chatId: 'id?' },
  continueAnswer: { requestId: 'id?', chatId: 'id', messageId: 'id' },
  continueInNewChat: { chatId: 'id', messageId: 'id' },
  compactChat: { chatId: 'id' },
  editSummary: { chatId: 'id', messageId: 'id', text: 'text' },
  setThinking: { chatId: 'id', enabled: 'bool' },
  skipThinking: { chatId: 'id', messageId: 'id' },
  stop: { chatId: 'id', messageId: 'id?' },
  retry: { requestId: 'id?', chatId: 'id', messageId: 'id?' },
  discardStale: { chatId: 'id', messageId: 'id?' },
  regenerate: { requestId: 'id?', chatId: 'id', messageId: 'id?' },
  editResend: { requestId: 'id', chatId: 'id', messageId: 'id', text: 'text', attachments: 'attachments?' },
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
  selectServer: {},
};

/** A refused parse keeps the request id when it had a valid one, so the host can still answer the request. */
export type ParseResult = { ok: true; message: FromWebviewMessage } | { ok: false; reason: string; requestId?: string };

function checkField(value: unknown, spec: FieldSpec): string | undefined {
  const optional = spec.endsWith('?');
  if (value === undefined) return optional ? undefined : 'is missing';
  if (spec === 'bool') return typeof value === 'boolean' ? undefined : 'must be true or false';
  if (spec === 'attachments?') {
    if (!Array.isArray(value)) return 'must be an array';
    if (value.length > LIMITS.maxAttachments) return `has too many items (${value.length} > ${LIMITS.maxAttachments})`;
    for (const [i, item] of value.entries()) {
      const a = checkAttachment(item);
      if (typeof a === 'string') return `[${i}] ${a}`;
    }
    return undefined;
  }
  if (typeof value !== 'string') return `must be a string, got ${value === null ? 'null' : typeof value}`;
  if (spec === 'scope') return value === 'message' || value === 'branch' ? undefined : 'must be "message" or "branch"';
  const base = optional ? spec.slice(0, -1) : spec;
  const max =
    base === 'id' ? LIMITS.maxId : base === 'href' ? LIMITS.maxHref : base === 'title' || base === 'lang' ? LIMITS.maxTitle : LIMITS.maxText;
  if (value.length > max) return `is too long (${value.length} > ${max})`;
  if (base === 'id' && !isValidId(value)) return 'is not a valid id';
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
    if (value !== undefined) out[field] = spec === 'attachments?' ? (value as unknown[]).map((a) => checkAttachment(a) as Attachment) : value;
  }
  return { ok: true, message: out as FromWebviewMessage };
}
