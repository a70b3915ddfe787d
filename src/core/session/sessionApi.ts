/** The chat session controller's public face, as the VS Code adapters use it (implemented by ChatSession). */
import type { Attachment, Chat, ChatMessage } from '../chats/chat';
import type { IDisposable } from '../base/disposable';
import type { LiveStats, SessionEvent } from './sessionEvents';

/** Read at every send, so changed settings apply without a reload. */
export interface SessionSettings {
  model?: string;
  systemPrompt?: string;
  temperature?: number;
  /** <= 0 or undefined: no limit. */
  maxTokens?: number;
  staleSeconds: number;
  /** The active server's name, recorded on each answer. */
  serverName?: string;
  /**
   * Resend earlier answers' reasoning (only where the template preserves it: chat_template_caps
   * supports_preserve_reasoning); off by default.
   */
  sendReasoning?: boolean;
  /** What to do when the history does not fit the context (default trimOldest). */
  contextOverflow?: 'trimOldest' | 'summarize' | 'fail';
}

export interface ActiveStream {
  chatId: string;
  messageId: string;
  stale: boolean;
  stats: LiveStats;
  /** Once the stall was announced (the `stale` event): how long no frame has come, now. */
  silentMs?: number;
  /** What /health and /slots said about the stall, when they said something. */
  diagnosis?: string;
}

/** Why the session refused an action (shown to the user with the outcome's `detail`). */
export type RefusalReason =
  | 'not-streaming'
  | 'already-finished'
  | 'unknown-chat'
  | 'unknown-message'
  | 'target-changed'
  | 'nothing-to-retry'
  | 'busy'
  | 'read-only'
  | 'too-large'
  | 'invalid';

/** Result of a user action: done (with the message it made or acted on), or refused with a reason. */
export type ActionOutcome = { ok: true; chatId: string; messageId?: string } | { ok: false; reason: RefusalReason; detail: string };

/** What a delete removed, enough to put it back exactly. */
export interface DeletedMessages {
  chatId: string;
  /** Removed messages, parents first. */
  messages: ChatMessage[];
  /** Replies that moved up to the deleted message's parent, with the parent they had. */
  relinked: { id: string; parentId: string | undefined }[];
  /** The leaf before the delete. */
  leafId: string | undefined;
}

export interface ChatSessionApi extends IDisposable {
  readonly onEvent: (listener: (e: SessionEvent) => void) => IDisposable;
  activeStreams(): ActiveStream[];
  isStreaming(chatId: string): boolean;
  /** The answer Retry would act on in this chat (a stalled stream, else a failed, stopped or interrupted last answer). */
  retryTarget(chatId: string): Promise<string | undefined>;

  /**
   * Adds the question (with its attachments) at the end of the active path and streams an answer, fitted to the
   * context by llamaChat.contextOverflow. Refused ('busy') while the chat streams, ('too-large') before anything is
   * saved when the question cannot fit even alone.
   */
  send(chatId: string, text: string, attachments?: Attachment[]): Promise<ActionOutcome>;
  /** Aborts the HTTP request (the server frees the slot) and keeps the partial answer as `stopped`. */
  stop(chatId: string, messageId?: string): Promise<ActionOutcome>;
  /**
   * A new version of the answer `messageId` (default: the chat's stalled stream, else its last answer): a live one
   * is aborted first (marked `failed`); a finished one must have failed, stopped or been interrupted.
   */
  retry(chatId: string, messageId?: string): Promise<ActionOutcome>;
  /** Aborts the stream, marks the message `failed`, keeps its partial text. */
  discard(chatId: string, messageId?: string): Promise<ActionOutcome>;
  /** A new version of the answer `messageId` (default: the last answer on the active path), made active. */
  regenerate(chatId: string, messageId?: string): Promise<ActionOutcome>;
  /** A new version of the question `messageId` with `text`, answered anew; the old version stays. */
  editAndResend(chatId: string, messageId: string, text: string, attachments?: Attachment[]): Promise<ActionOutcome>;
  /** The size of the request a draft would send now (for the composer's meter). */
  measureDraft(chatId: string | undefined, text: string, attachments?: Attachment[], signal?: AbortSignal): Promise<DraftMeasure>;
  /** Ends the thinking of a running answer on the server (templates with reasoning). */
  skipThinking(chatId: string, messageId: string): Promise<ActionOutcome>;
  /** Continues an answer cut by llamaChat.maxTokens (or stopped): the server appends to the same message. */
  continueAnswer(chatId: string, messageId: string): Promise<ActionOutcome>;
  /** A new chat with the answer's question and text so far, continued there. */
  continueInNewChat(chatId: string, messageId: string): Promise<ActionOutcome>;
  /** Summarizes the active path before its last question into a summary sent in place of those messages. */
  compactChat(chatId: string): Promise<ActionOutcome>;
  editSummary(chatId: string, messageId: string, text: string): Promise<ActionOutcome>;
  /** Shows `messageId` among its versions: the active path then runs through it to the newest end of its branch. */
  selectVersion(chatId: string, messageId: string): Promise<ActionOutcome>;
  /** Deletes one message (its replies move up) or its whole branch; the result can be undone. */
  deleteMessages(chatId: string, messageId: string, scope: 'message' | 'branch'): Promise<DeleteOutcome>;
  /** Puts deleted messages back exactly as they were. */
  undoDelete(deleted: DeletedMessages): Promise<ActionOutcome>;
  /** Brings back a deleted chat (Undo): its title, every message and version, the same active path; a new id. */
  restoreChat(chat: Chat): Promise<ActionOutcome>;

  newChat(): Promise<Chat>;
  /** Waits for an action under way in the chat, stops its stream, then deletes it. */
  deleteChat(chatId: string): Promise<ActionOutcome>;
  renameChat(chatId: string, title: string): Promise<void>;
  /** A new chat with the active path up to and including messageId. */
  forkChat(chatId: string, messageId: string): Promise<Chat>;
  /** Stops every stream and flushes storage. */
  shutdown(): Promise<void>;
}

/** What a draft would send: the prompt size and how it fits. */
export interface DraftMeasure {
  tokens: number;
  /** False when the server could not count (shown with ≈). */
  exact: boolean;
  nCtx?: number;
  /** Tokens kept free for the answer. */
  reserve: number;
  /** The request fits with room for the answer (after leaving out what the overflow policy leaves out). */
  fits: boolean;
  /** Earlier messages the policy would leave out (trimOldest) or summarize (summarize). */
  omitted: number;
  /** Why it cannot be sent, with the numbers, when even the question alone does not fit. */
  tooLarge?: string;
  /** Tokens of each attachment of the draft, in order (undefined where it cannot be counted). */
  attachmentTokens: (number | undefined)[];
}

export type DeleteOutcome = { ok: true; deleted: DeletedMessages } | { ok: false; reason: RefusalReason; detail: string };
