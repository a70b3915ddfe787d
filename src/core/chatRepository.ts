/** What the session controller needs from chat storage; ChatStore (files under a directory) implements it. */
import type { Chat, ChatMessage, ChatSummary, MessagePatch } from './chat';
import type { ErrorInfo } from './errors';

export interface StoreProblem {
  /** The file that could not be read (moved aside to the quarantine folder) or written. */
  file: string;
  error: ErrorInfo;
  /** Where the unreadable file was moved, when it was quarantined. */
  quarantinedTo?: string;
}

export interface ChatRepository {
  /** Reads the chat list (bodies load lazily). Problems found while opening are returned, never thrown. */
  open(): Promise<StoreProblem[]>;
  /** Newest first. In memory after open(). */
  listChats(): ChatSummary[];
  /** Loads (once) and returns the chat with its messages; undefined for an unknown id. */
  getChat(chatId: string): Promise<Chat | undefined>;
  createChat(init?: { title?: string; messages?: ChatMessage[] }): Promise<Chat>;
  renameChat(chatId: string, title: string): Promise<void>;
  deleteChat(chatId: string): Promise<void>;
  addMessage(chatId: string, message: ChatMessage): Promise<void>;
  /**
   * Appends streamed text to a message. Synchronous and cheap: buffered in memory and persisted at least every
   * second with an append whose cost does not grow with the chat's length.
   */
  appendToMessage(chatId: string, messageId: string, delta: { content?: string; reasoning?: string }): void;
  /** Changes fields of a message; a final status flushes and compacts the chat's file. */
  updateMessage(chatId: string, messageId: string, patch: MessagePatch): Promise<void>;
  /** Removes messages from index `fromIndex` on (edit-and-resend, regenerate). */
  truncateMessages(chatId: string, fromIndex: number): Promise<void>;
  /** Persists everything buffered now. */
  flush(): Promise<void>;
  /** Write failures after open() (disk full, permissions): streaming goes on in memory. */
  onProblem(listener: (problem: StoreProblem) => void): { dispose(): void };
  dispose(): Promise<void>;
}
