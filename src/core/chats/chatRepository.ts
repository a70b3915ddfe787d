/** What the session controller needs from chat storage; ChatStore (files under a directory) implements it. */
import type { Chat, ChatMessage, ChatSummary, MessagePatch } from './chat';
import type { ErrorInfo } from '../base/errors';

export interface StoreProblem {
  /** The file that could not be read (moved aside to the quarantine folder) or written. */
  file: string;
  error: ErrorInfo;
  /** Where the unreadable file was moved, when it was quarantined. */
  quarantinedTo?: string;
}

/**
 * A change to a chat's message tree, applied in this order and saved as one write: add messages (parents first),
 * re-link messages to another parent, remove messages, then make `leafId` the end of the active path.
 */
export interface TreeEdit {
  add?: ChatMessage[];
  relink?: { id: string; parentId: string | undefined }[];
  remove?: string[];
  leafId?: string;
}

export interface ChatRepository {
  /** Reads the chat list (bodies load lazily). Problems found while opening are returned, never thrown. */
  open(): Promise<StoreProblem[]>;
  /** Newest first. In memory after open(). */
  listChats(): ChatSummary[];
  /**
   * Loads and returns the chat with its messages; undefined for an unknown id. A store may drop bodies of chats not
   * in use from memory (reloading them on the next call), so call it again rather than keeping the result.
   */
  getChat(chatId: string): Promise<Chat | undefined>;
  /** The chat shown to the user (undefined: none): its body stays in memory while it is. */
  setActiveChat?(chatId: string | undefined): void;
  /** `messages` must come parents first; the last one becomes the leaf. */
  createChat(init?: { title?: string; messages?: ChatMessage[] }): Promise<Chat>;
  renameChat(chatId: string, title: string): Promise<void>;
  deleteChat(chatId: string): Promise<void>;
  /** Adds a message (its `parentId` says where in the tree) and makes it the end of the active path. */
  addMessage(chatId: string, message: ChatMessage): Promise<void>;
  /**
   * Appends streamed text to a message. Synchronous and cheap: buffered in memory and persisted at least every
   * second with an append whose cost does not grow with the chat's length.
   */
  appendToMessage(chatId: string, messageId: string, delta: { content?: string; reasoning?: string }): void;
  /** Changes fields of a message; a final status flushes and compacts the chat's file. */
  updateMessage(chatId: string, messageId: string, patch: MessagePatch): Promise<void>;
  /** Changes the tree: switch versions, delete messages or branches, undo a delete. Nothing else is touched. */
  editTree(chatId: string, edit: TreeEdit): Promise<void>;
  /** Persists everything buffered now. */
  flush(): Promise<void>;
  /** Write failures after open() (disk full, permissions): streaming goes on in memory. */
  onProblem(listener: (problem: StoreProblem) => void): { dispose(): void };
  /**
   * Another writer (a second VS Code window on the same folder) changed chats: they were reloaded from disk, with
   * this window's unsaved records applied on top. `chatIds` lists chats that changed, appeared or disappeared.
   */
  onDidChangeExternally(listener: (chatIds: string[]) => void): { dispose(): void };
  dispose(): Promise<void>;
}
