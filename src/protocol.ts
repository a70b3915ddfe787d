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
import * as v from 'valibot';

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
  | { type: 'focusInput' };

// ---------------------------------------------------------------------------------------------------------------
// Webview -> host
//
// Each message is defined once, in `fromWebviewSchemas` below, as valibot schemas; its TypeScript type is derived
// from them, so a field cannot be added to the type without a validator. The schemas are built on first use (the
// host's first parse): the webview imports only the types and LIMITS from here, and its bundle has no valibot.
// Fields a message does not define are dropped, never passed on (the host reads only defined fields, so nothing
// it understands is lost). A missing or mistyped field rejects the whole message.

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

/** Missing keys are reported by their object. Issue messages complete "<type>.<field> …" in the logged reason. */
const OBJECT_MESSAGE = (issue: v.ObjectIssue): string => (issue.expected === 'Object' ? 'is not an object' : 'is missing');

/** A string of at most `max` characters. */
function str(max: number) {
  return v.pipe(
    v.string((issue) => `must be a string, got ${issue.input === null ? 'null' : typeof issue.input}`),
    v.maxLength(max, (issue) => `is too long (${issue.input.length} > ${max})`),
  );
}

/** A message's fields (besides `type`). */
function fields<const E extends v.ObjectEntries>(entries: E) {
  return v.object(entries, OBJECT_MESSAGE);
}

/** Every message the webview may send, its fields and how each is checked. Called once, by the host. */
function fromWebviewSchemas() {
  const id = v.pipe(str(LIMITS.maxId), v.check(isValidId, 'is not a valid id'));
  const text = str(LIMITS.maxText);
  const name = v.pipe(str(LIMITS.maxTitle), v.nonEmpty('is empty'));
  const count = v.pipe(v.number('must be a number'), v.integer('must be a whole number'), v.minValue(0, 'must not be negative'));

  const attachment = v.pipe(
    v.variant(
      'kind',
      [
        fields({
          kind: v.picklist(['file', 'selection', 'paste']),
          name,
          text,
          language: v.optional(str(LIMITS.maxTitle)),
          /** 1-based, inclusive, for a selection. */
          startLine: v.optional(count),
          endLine: v.optional(count),
          tokens: v.optional(count),
        }),
        fields({
          kind: v.literal('image'),
          name,
          mime: v.pipe(str(LIMITS.maxTitle), v.regex(/^image\/[a-z0-9.+-]+$/, 'is not an image type')),
          dataUri: str(LIMITS.maxImage),
        }),
      ],
      (issue) => (issue.expected === 'Object' ? 'is not an object' : 'is not a file, selection, paste or image'),
    ),
    v.check((a) => a.kind !== 'image' || a.dataUri.startsWith(`data:${a.mime};base64,`), 'is not a base64 data URI of its image type'),
  );
  // The count is checked before any item is.
  const attachments = v.pipe(
    v.array(v.unknown(), 'must be an array'),
    v.maxLength(LIMITS.maxAttachments, (issue) => `has too many items (${issue.input.length} > ${LIMITS.maxAttachments})`),
    v.array(attachment),
  );

  const messages = {
    ready: fields({}),
    /** Requests (`requestId`) are answered by a `result` with the same id. */
    send: fields({ requestId: id, chatId: v.optional(id), text, attachments: v.optional(attachments) }),
    /** The composer changed: count the request it would send (debounced and cancelled by the host). */
    draft: fields({ draftId: id, chatId: v.optional(id), text, attachments: v.optional(attachments) }),
    /** `@` in the composer: pick a workspace file to attach. */
    pickFile: fields({ chatId: v.optional(id) }),
    /** Continue an answer cut by llamaChat.maxTokens (the server continues the same message). */
    continueAnswer: fields({ requestId: v.optional(id), chatId: id, messageId: id }),
    /** A new chat with the cut answer's question and text, continued there. */
    continueInNewChat: fields({ chatId: id, messageId: id }),
    /** Summarize the earlier messages of the active path into a summary sent in their place. */
    compactChat: fields({ chatId: id }),
    editSummary: fields({ chatId: id, messageId: id, text }),
    /** Thinking on or off for this chat (templates with enable_thinking). */
    setThinking: fields({ chatId: id, enabled: v.boolean('must be true or false') }),
    /** End the reasoning of a running answer on the server (reasoning_control). */
    skipThinking: fields({ chatId: id, messageId: id }),
    stop: fields({ chatId: id, messageId: v.optional(id) }),
    /** A new version of `messageId` (any failed, stopped or interrupted answer; a live one is aborted first). */
    retry: fields({ requestId: v.optional(id), chatId: id, messageId: v.optional(id) }),
    discardStale: fields({ chatId: id, messageId: v.optional(id) }),
    /** A new version of the answer `messageId` (default: the last answer on the active path). */
    regenerate: fields({ requestId: v.optional(id), chatId: id, messageId: v.optional(id) }),
    /** A new version of the question `messageId` with `text`, answered anew. */
    editResend: fields({ requestId: id, chatId: id, messageId: id, text, attachments: v.optional(attachments) }),
    /** Show `messageId` among its versions (the active path then runs through it). */
    selectVersion: fields({ chatId: id, messageId: id }),
    /** Delete one message (its replies move up to its parent) or the whole branch under it; undoable. */
    deleteMessage: fields({ chatId: id, messageId: id, scope: v.picklist(['message', 'branch'], 'must be "message" or "branch"') }),
    newChat: fields({}),
    switchChat: fields({ chatId: id }),
    renameChat: fields({ chatId: id, title: v.optional(str(LIMITS.maxTitle)) }),
    deleteChat: fields({ chatId: id }),
    forkChat: fields({ chatId: id, messageId: id }),
    exportChat: fields({ chatId: id }),
    copy: fields({ text }),
    insert: fields({ text, language: v.optional(str(LIMITS.maxTitle)) }),
    openLink: fields({ href: str(LIMITS.maxHref) }),
    retryConnection: fields({}),
    openSettings: fields({}),
    selectModel: fields({}),
    selectServer: fields({}),
  };
  return { id, attachment, messages };
}

type Schemas = ReturnType<typeof fromWebviewSchemas>;
type MessageSchemas = Schemas['messages'];
export type FromWebviewType = keyof MessageSchemas;
/** One message type's fields as its schema outputs them. */
type FieldsOf<K extends FromWebviewType> = v.InferOutput<MessageSchemas[K]>;
export type FromWebviewMessage = { [K in FromWebviewType]: { type: K } & { [F in keyof FieldsOf<K>]: FieldsOf<K>[F] } }[FromWebviewType];

/**
 * True when `A` and `B` are assignable both ways and their members have the same keys (optional ones included):
 * a field added to one and not the other makes it false.
 */
export type SameShape<A, B> = [A] extends [B] ? ([B] extends [A] ? ([KeysOf<A>] extends [KeysOf<B>] ? ([KeysOf<B>] extends [KeysOf<A>] ? true : false) : false) : false) : false;
/** "kind.key" of every member of a union (keyof a union has only the keys all members share). */
type KeysOf<T> = T extends unknown ? `${T extends { kind: infer K extends string } ? K : ''}.${Exclude<keyof T, symbol>}` : never;
/** Compiles only when `T` is `true`. */
export type Assert<T extends true> = T;
/** Attachments are a core type: the schema must check every field it has, and no other. */
export type AttachmentSchemaMatches = Assert<SameShape<v.InferOutput<Schemas['attachment']>, Attachment>>;

/** A refused parse keeps the request id when it had a valid one, so the host can still answer the request. */
export type ParseResult = { ok: true; message: FromWebviewMessage } | { ok: false; reason: string; requestId?: string };

let schemas: Schemas | undefined;

/** "send.attachments[0].name is empty": the message type, where, and what is wrong. */
function reasonOf(type: string, issue: v.BaseIssue<unknown>): string {
  const where = (issue.path ?? []).map((p) => (typeof p.key === 'number' ? `[${p.key}]` : `.${String(p.key)}`)).join('');
  return `${type}${where} ${issue.message}`;
}

/** Validates an untrusted message from the webview against its schema. Fields it does not define are dropped. */
export function parseFromWebview(raw: unknown): ParseResult {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return { ok: false, reason: 'not an object' };
  const type = (raw as { type?: unknown }).type;
  schemas ??= fromWebviewSchemas();
  if (typeof type !== 'string' || !Object.prototype.hasOwnProperty.call(schemas.messages, type)) {
    return { ok: false, reason: `unknown message type ${JSON.stringify(String(type)).slice(0, 80)}` };
  }
  const parsed = v.safeParse(schemas.messages[type as FromWebviewType], raw, { abortEarly: true });
  if (!parsed.success) {
    const refused: ParseResult = { ok: false, reason: reasonOf(type, parsed.issues[0]) };
    const requestId = v.safeParse(schemas.id, (raw as { requestId?: unknown }).requestId);
    if (requestId.success) refused.requestId = requestId.output;
    return refused;
  }
  return { ok: true, message: { type, ...parsed.output } as FromWebviewMessage };
}
