/**
 * On-disk format of the chat store: one append-only JSON-lines log per chat and a versioned index.
 *
 * A chat log is a header line followed by records. Replaying the records over the header gives the chat; the store
 * mutates its in-memory chats through the same `applyRecord`, so memory and disk cannot drift apart.
 */
import type { Chat, ChatMessage, ChatSummary, MessagePatch } from '../chats/chat';
import { t } from '../base/l10n';

/**
 * Highest format version this build reads and the version it writes.
 * v1: a linear list of messages (regenerate and edit truncated it). v2: a message tree (`parentId` on messages,
 * `leaf` and `remove` records); a v1 log is read as the linear tree it describes and rewritten as v2 on its next save.
 */
export const STORE_VERSION = 2;
export const INDEX_VERSION = 1;

export interface HeaderRecord {
  t: 'header';
  v: number;
  id: string;
  title: string;
  /** True once the title was set by a rename or derived from the first user message. */
  titled: boolean;
  createdAt: number;
  updatedAt: number;
  /** Messages in the log at the time the header was written (lets the index be rebuilt from headers alone). */
  messageCount: number;
  /**
   * Bytes after the header line when it was written. If the file is still header line + this, nothing was appended
   * since and the header describes the chat exactly; otherwise the log must be replayed.
   */
  bodyBytes?: number;
}

/** `at` (when present) becomes the chat's updatedAt on replay. */
export type BodyRecord =
  | { t: 'message'; at?: number; m: ChatMessage }
  | { t: 'append'; id: string; c?: string; r?: string }
  /** Null values in `p` delete the field (JSON cannot carry undefined). */
  | { t: 'patch'; at?: number; id: string; p: Record<string, unknown> }
  /** v1 only (regenerate and edit used to cut the list); never written by v2. */
  | { t: 'truncate'; at?: number; from: number }
  | { t: 'title'; at?: number; title: string; titled: boolean }
  /** v2: the active path now ends at `id` (a `message` record moves it to the new message by itself). */
  | { t: 'leaf'; at?: number; id: string }
  /** v2: messages deleted by the user (children re-linked by `patch` records written before it). */
  | { t: 'remove'; at?: number; ids: string[] };

export type StoreRecord = HeaderRecord | BodyRecord;

/** A chat together with the metadata that lives next to it in the header. */
export interface ChatState {
  chat: Chat;
  titled: boolean;
}

export function encodeRecord(record: StoreRecord): string {
  return `${JSON.stringify(record)}\n`;
}

/** A patch whose undefined values survive JSON (as null). */
export function encodePatch(patch: MessagePatch): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(patch)) out[k] = v === undefined ? null : v;
  return out;
}

export function headerOf(state: ChatState): HeaderRecord {
  const { chat } = state;
  return {
    t: 'header',
    v: STORE_VERSION,
    id: chat.id,
    title: chat.title,
    titled: state.titled,
    createdAt: chat.createdAt,
    updatedAt: chat.updatedAt,
    messageCount: chat.messages.length,
  };
}

/** The compacted form of a chat: header plus one record per message (and the leaf, when it is not the last). */
export function encodeSnapshot(state: ChatState): string {
  const { messages, leafId } = state.chat;
  let body = messages.map((m) => encodeRecord({ t: 'message', m })).join('');
  if (leafId !== undefined && leafId !== messages[messages.length - 1]?.id) body += encodeRecord({ t: 'leaf', id: leafId });
  return encodeRecord({ ...headerOf(state), bodyBytes: Buffer.byteLength(body) }) + body;
}

function findMessage(chat: Chat, id: string): ChatMessage | undefined {
  // Records almost always touch the newest message: search from the end.
  for (let i = chat.messages.length - 1; i >= 0; i--) {
    const m = chat.messages[i];
    if (m?.id === id) return m;
  }
  return undefined;
}

/** The fields a `patch` record may set: anything else in a stored patch is ignored, never copied onto a message. */
const PATCHABLE: ReadonlySet<string> = new Set<keyof ChatMessage>([
  'parentId',
  'content',
  'reasoning',
  'status',
  'model',
  'finishedAt',
  'finishReason',
  'promptTokens',
  'completionTokens',
  'cachedTokens',
  'ctxUsed',
  'ctxMax',
  'timings',
  'error',
  'context',
  'summary',
  'limit',
]);

/** Applies one record to a chat. Returns why it does not fit (the log is then corrupt), or undefined. */
export function applyRecord(state: ChatState, rec: BodyRecord): string | undefined {
  const { chat } = state;
  switch (rec.t) {
    case 'message': {
      if (findMessage(chat, rec.m.id)) return `duplicate message id ${rec.m.id}`;
      chat.messages.push(rec.m);
      chat.leafId = rec.m.id;
      break;
    }
    case 'append': {
      const m = findMessage(chat, rec.id);
      if (!m) return `append to unknown message ${rec.id}`;
      if (rec.c) m.content += rec.c;
      if (rec.r) m.reasoning = (m.reasoning ?? '') + rec.r;
      break;
    }
    case 'patch': {
      const m = findMessage(chat, rec.id);
      if (!m) return `patch of unknown message ${rec.id}`;
      const target = m as unknown as Record<string, unknown>;
      for (const [k, v] of Object.entries(rec.p)) {
        if (!PATCHABLE.has(k)) continue;
        if (v === null || v === undefined) delete target[k];
        else target[k] = v;
      }
      break;
    }
    case 'truncate': {
      if (rec.from < 0 || rec.from > chat.messages.length) return `truncate at ${rec.from} of ${chat.messages.length}`;
      chat.messages.length = rec.from;
      chat.leafId = chat.messages[chat.messages.length - 1]?.id;
      break;
    }
    case 'leaf': {
      if (!findMessage(chat, rec.id)) return `leaf at unknown message ${rec.id}`;
      chat.leafId = rec.id;
      break;
    }
    case 'remove': {
      const gone = new Set(rec.ids);
      chat.messages = chat.messages.filter((m) => !gone.has(m.id));
      if (chat.leafId !== undefined && gone.has(chat.leafId)) chat.leafId = chat.messages[chat.messages.length - 1]?.id;
      break;
    }
    case 'title': {
      chat.title = rec.title;
      state.titled = rec.titled;
      break;
    }
  }
  chat.messageCount = chat.messages.length;
  if ('at' in rec && typeof rec.at === 'number') chat.updatedAt = rec.at;
  return undefined;
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
const isStr = (x: unknown): x is string => typeof x === 'string';
const optNum = (x: unknown): boolean => x === undefined || isNum(x);
const ROLES = new Set(['system', 'user', 'assistant']);
const STATUSES = new Set(['streaming', 'complete', 'stopped', 'failed', 'interrupted']);

export function isChatMessage(x: unknown): x is ChatMessage {
  return (
    isObj(x) &&
    isStr(x.id) &&
    isStr(x.role) &&
    ROLES.has(x.role) &&
    isStr(x.content) &&
    isStr(x.status) &&
    STATUSES.has(x.status) &&
    isNum(x.createdAt) &&
    (x.parentId === undefined || isStr(x.parentId)) &&
    (x.reasoning === undefined || isStr(x.reasoning)) &&
    optNum(x.finishedAt)
  );
}

function isBodyRecord(x: unknown): x is BodyRecord {
  if (!isObj(x) || !optNum(x.at)) return false;
  switch (x.t) {
    case 'message':
      return isChatMessage(x.m);
    case 'append':
      return isStr(x.id) && (x.c === undefined || isStr(x.c)) && (x.r === undefined || isStr(x.r));
    case 'patch':
      return isStr(x.id) && isObj(x.p);
    case 'truncate':
      return isNum(x.from) && Number.isInteger(x.from);
    case 'title':
      return isStr(x.title) && typeof x.titled === 'boolean';
    case 'leaf':
      return isStr(x.id);
    case 'remove':
      return Array.isArray(x.ids) && x.ids.every(isStr);
    default:
      return false;
  }
}

/** What a header from a newer version still tells (to list the chat read-only), where its fields look as they do today. */
export interface FuturePeek {
  version: number;
  title?: string;
  createdAt?: number;
  updatedAt?: number;
  messageCount?: number;
}

export type HeaderResult =
  | { ok: true; header: HeaderRecord }
  | { ok: false; reason: string; future?: FuturePeek };

export function parseHeader(line: string, expectedId: string): HeaderResult {
  let x: unknown;
  try {
    x = JSON.parse(line);
  } catch {
    return { ok: false, reason: t('the header line is not valid JSON') };
  }
  if (!isObj(x) || x.t !== 'header' || !isNum(x.v)) return { ok: false, reason: t('the first line is not a chat header') };
  if (x.v > STORE_VERSION) {
    const peek: FuturePeek = { version: x.v };
    if (isStr(x.title)) peek.title = x.title;
    if (isNum(x.createdAt)) peek.createdAt = x.createdAt;
    if (isNum(x.updatedAt)) peek.updatedAt = x.updatedAt;
    if (isNum(x.messageCount)) peek.messageCount = x.messageCount;
    return {
      ok: false,
      future: peek,
      reason: `it was made by a newer version of Llama Server Chat (format v${x.v}; this version reads up to v${STORE_VERSION})`,
    };
  }
  if (x.id !== expectedId) return { ok: false, reason: t('the header names chat {0}, not {1}', String(x.id), expectedId) };
  if (!isStr(x.title) || !isNum(x.createdAt) || !isNum(x.updatedAt) || !isNum(x.messageCount)) {
    return { ok: false, reason: t('the header is missing fields') };
  }
  const header: HeaderRecord = { ...(x as unknown as HeaderRecord), titled: x.titled === true };
  if (!isNum(x.bodyBytes)) delete header.bodyBytes;
  return { ok: true, header };
}

export type LogResult =
  | {
      ok: true;
      state: ChatState;
      /** The final line was incomplete (a crash mid-append) and was dropped: rewrite before appending again. */
      tornTail: boolean;
      /** The file is in an older format (read as this version's tree): rewrite it before appending. */
      migratedFrom?: number;
    }
  | { ok: false; reason: string; future?: FuturePeek };

/**
 * Replays a chat log. A torn or unparsable final line is dropped (a crash can only tear the last write); anything
 * wrong before it means the file is damaged.
 */
export function parseChatLog(text: string, expectedId: string): LogResult {
  const lines = text.split('\n');
  // Every record ends with '\n', so the element after the last '\n' is empty unless a write was torn.
  let tornTail = lines.pop() !== '';
  if (lines.length === 0) return { ok: false, reason: t('the file has no complete header line') };
  const head = parseHeader(lines[0], expectedId);
  if (!head.ok) return head;
  const h = head.header;
  const state: ChatState = {
    chat: { id: h.id, title: h.title, createdAt: h.createdAt, updatedAt: h.updatedAt, messageCount: 0, messages: [] },
    titled: h.titled,
  };
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    const last = i === lines.length - 1;
    let rec: unknown;
    let problem: string | undefined;
    try {
      rec = JSON.parse(line);
    } catch {
      problem = t('is not valid JSON');
    }
    if (!problem && !isBodyRecord(rec)) problem = t('is not a known record');
    if (!problem) {
      // applyRecord checks before it mutates, so a rejected final record leaves the chat as it was.
      const why = applyRecord(state, rec as BodyRecord);
      if (why) problem = why;
    }
    if (problem) {
      if (last && !tornTail) {
        tornTail = true;
        break;
      }
      return { ok: false, reason: t('line {0} {1}', i + 1, problem) };
    }
  }
  if (h.v < STORE_VERSION) {
    migrateV1(state.chat);
    return { ok: true, state, tornTail, migratedFrom: h.v };
  }
  return { ok: true, state, tornTail };
}

/** A v1 chat is a list: as a tree it is one path, each message the child of the one before, the last one active. */
export function migrateV1(chat: Chat): void {
  let parent: string | undefined;
  for (const m of chat.messages) {
    if (parent === undefined) delete m.parentId;
    else m.parentId = parent;
    parent = m.id;
  }
  chat.leafId = parent;
  chat.messageCount = chat.messages.length;
}

export interface IndexRow extends ChatSummary {
  titled: boolean;
  /** Size and mtime of the chat file when this row was taken; a mismatch means the row may be stale. */
  size: number;
  mtimeMs: number;
}

export interface IndexFile {
  v: number;
  chats: IndexRow[];
}

export function encodeIndex(rows: IndexRow[]): string {
  const file: IndexFile = { v: INDEX_VERSION, chats: rows };
  return JSON.stringify(file);
}

/** The index rows, or undefined when the index is unreadable or from another version (then it is rebuilt). */
export function parseIndex(text: string): IndexRow[] | undefined {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isObj(x) || x.v !== INDEX_VERSION || !Array.isArray(x.chats)) return undefined;
  const rows: IndexRow[] = [];
  for (const r of x.chats as unknown[]) {
    if (
      !isObj(r) ||
      !isStr(r.id) ||
      !isStr(r.title) ||
      !isNum(r.createdAt) ||
      !isNum(r.updatedAt) ||
      !isNum(r.messageCount) ||
      !isNum(r.size) ||
      !isNum(r.mtimeMs)
    ) {
      return undefined;
    }
    rows.push({
      id: r.id,
      title: r.title,
      createdAt: r.createdAt,
      updatedAt: r.updatedAt,
      messageCount: r.messageCount,
      titled: r.titled === true,
      size: r.size,
      mtimeMs: r.mtimeMs,
    });
  }
  return rows;
}
