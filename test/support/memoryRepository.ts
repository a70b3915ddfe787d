/**
 * An in-memory ChatRepository for tests. Faithful to the contract: every value going in or out is copied (callers
 * can never alias stored state), unknown chats/messages are errors, and failures can be injected per method.
 */
import type { Chat, ChatMessage, ChatSummary, MessagePatch } from '../../src/core/chats/chat';
import type { ChatRepository, StoreProblem, TreeEdit } from '../../src/core/chats/chatRepository';
import type { Clock } from '../../src/core/base/clock';
import { systemClock } from '../../src/core/base/clock';
import { Emitter } from '../../src/core/base/disposable';
import { newId } from '../../src/core/base/ids';

export type RepositoryMethod =
  | 'open'
  | 'getChat'
  | 'createChat'
  | 'renameChat'
  | 'deleteChat'
  | 'addMessage'
  | 'appendToMessage'
  | 'updateMessage'
  | 'editTree'
  | 'flush';

export class MemoryRepository implements ChatRepository {
  private readonly chats = new Map<string, Chat>();
  private readonly problems = new Emitter<StoreProblem>();
  private readonly external = new Emitter<string[]>();
  /** Methods that throw (sync) or reject (async) with an Error until removed from the set. */
  readonly failing = new Set<RepositoryMethod>();
  /** Calls per method, for assertions. */
  readonly calls: Record<RepositoryMethod, number> = {
    open: 0,
    getChat: 0,
    createChat: 0,
    renameChat: 0,
    deleteChat: 0,
    addMessage: 0,
    appendToMessage: 0,
    updateMessage: 0,
    editTree: 0,
    flush: 0,
  };
  disposed = false;

  constructor(private readonly clock: Clock = systemClock) {}

  private enter(method: RepositoryMethod): void {
    this.calls[method]++;
    if (this.failing.has(method)) throw new Error(`injected ${method} failure`);
  }

  private chat(chatId: string): Chat {
    const chat = this.chats.get(chatId);
    if (!chat) throw new Error(`unknown chat ${chatId}`);
    return chat;
  }

  private message(chatId: string, messageId: string): ChatMessage {
    const m = this.chat(chatId).messages.find((x) => x.id === messageId);
    if (!m) throw new Error(`unknown message ${messageId} in chat ${chatId}`);
    return m;
  }

  private touch(chat: Chat): void {
    chat.updatedAt = Math.max(this.clock.now(), chat.updatedAt);
    chat.messageCount = chat.messages.length;
  }

  /** Fires a write problem, as the file store does when a background write fails. */
  emitProblem(problem: StoreProblem): void {
    this.problems.fire(problem);
  }

  /** The stored chat without copying overhead concerns (still a copy). */
  peek(chatId: string): Chat | undefined {
    const c = this.chats.get(chatId);
    return c ? structuredClone(c) : undefined;
  }

  open(): Promise<StoreProblem[]> {
    this.enter('open');
    return Promise.resolve([]);
  }

  listChats(): ChatSummary[] {
    return [...this.chats.values()]
      .map(({ id, title, createdAt, updatedAt, messageCount, readOnly }) => ({
        id,
        title,
        createdAt,
        updatedAt,
        messageCount,
        ...(readOnly !== undefined ? { readOnly } : {}),
      }))
      .sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** Makes a chat read-only, as the file store does for a file from a newer version. */
  markReadOnly(chatId: string, reason: string): void {
    this.chat(chatId).readOnly = reason;
  }

  /** Changes a chat as another window would, then says so like the file store's watcher. */
  changeExternally(chatId: string, fn: (chat: Chat) => void): void {
    fn(this.chat(chatId));
    this.external.fire([chatId]);
  }

  private writable(chatId: string): Chat {
    const chat = this.chat(chatId);
    if (chat.readOnly) throw new Error(`chat ${chatId} is read-only`);
    return chat;
  }

  async getChat(chatId: string): Promise<Chat | undefined> {
    await Promise.resolve();
    this.enter('getChat');
    const c = this.chats.get(chatId);
    return c ? structuredClone(c) : undefined;
  }

  async createChat(init?: { title?: string; messages?: ChatMessage[] }): Promise<Chat> {
    await Promise.resolve();
    this.enter('createChat');
    const now = this.clock.now();
    const messages = structuredClone(init?.messages ?? []);
    const chat: Chat = {
      id: newId(now),
      title: init?.title ?? 'New chat',
      createdAt: now,
      updatedAt: now,
      messageCount: messages.length,
      messages,
    };
    const last = messages[messages.length - 1];
    if (last) chat.leafId = last.id;
    this.chats.set(chat.id, chat);
    return structuredClone(chat);
  }

  async renameChat(chatId: string, title: string): Promise<void> {
    await Promise.resolve();
    this.enter('renameChat');
    const chat = this.chat(chatId);
    chat.title = title;
    this.touch(chat);
  }

  async deleteChat(chatId: string): Promise<void> {
    await Promise.resolve();
    this.enter('deleteChat');
    this.chats.delete(chatId);
  }

  async addMessage(chatId: string, message: ChatMessage): Promise<void> {
    await Promise.resolve();
    this.enter('addMessage');
    const chat = this.writable(chatId);
    if (chat.messages.some((m) => m.id === message.id)) throw new Error(`duplicate message ${message.id}`);
    if (message.parentId !== undefined && !chat.messages.some((m) => m.id === message.parentId)) {
      throw new Error(`unknown parent ${message.parentId}`);
    }
    chat.messages.push(structuredClone(message));
    chat.leafId = message.id;
    this.touch(chat);
  }

  appendToMessage(chatId: string, messageId: string, delta: { content?: string; reasoning?: string }): void {
    this.enter('appendToMessage');
    const m = this.message(chatId, messageId);
    if (delta.content) m.content += delta.content;
    if (delta.reasoning) m.reasoning = (m.reasoning ?? '') + delta.reasoning;
  }

  async updateMessage(chatId: string, messageId: string, patch: MessagePatch): Promise<void> {
    await Promise.resolve();
    this.enter('updateMessage');
    this.writable(chatId);
    const m = this.message(chatId, messageId);
    Object.assign(m, structuredClone(patch));
    this.touch(this.chat(chatId));
  }

  async editTree(chatId: string, edit: TreeEdit): Promise<void> {
    await Promise.resolve();
    this.enter('editTree');
    const chat = this.writable(chatId);
    const next = structuredClone(chat.messages);
    for (const m of edit.add ?? []) {
      if (next.some((x) => x.id === m.id)) throw new Error(`duplicate message ${m.id}`);
      next.push(structuredClone(m));
    }
    for (const r of edit.relink ?? []) {
      const m = next.find((x) => x.id === r.id);
      if (!m) throw new Error(`relink of unknown message ${r.id}`);
      if (r.parentId === undefined) delete m.parentId;
      else m.parentId = r.parentId;
    }
    const gone = new Set(edit.remove ?? []);
    const kept = next.filter((m) => !gone.has(m.id));
    let leafId = chat.leafId;
    if (edit.add && edit.add.length > 0) leafId = edit.add[edit.add.length - 1].id;
    if (leafId !== undefined && gone.has(leafId)) leafId = kept[kept.length - 1]?.id;
    if (edit.leafId !== undefined) {
      if (!kept.some((m) => m.id === edit.leafId)) throw new Error(`leaf at unknown message ${edit.leafId}`);
      leafId = edit.leafId;
    }
    chat.messages = kept;
    if (leafId === undefined) delete chat.leafId;
    else chat.leafId = leafId;
    this.touch(chat);
  }

  async flush(): Promise<void> {
    await Promise.resolve();
    this.enter('flush');
  }

  onProblem(listener: (problem: StoreProblem) => void): { dispose(): void } {
    return this.problems.event(listener);
  }

  onDidChangeExternally(listener: (chatIds: string[]) => void): { dispose(): void } {
    return this.external.event(listener);
  }

  dispose(): Promise<void> {
    this.disposed = true;
    this.problems.dispose();
    this.external.dispose();
    return Promise.resolve();
  }
}
