/**
 * An in-memory ChatRepository for tests. Faithful to the contract: every value going in or out is copied (callers
 * can never alias stored state), unknown chats/messages are errors, and failures can be injected per method.
 */
import type { Chat, ChatMessage, ChatSummary, MessagePatch } from '../../src/core/chat';
import type { ChatRepository, StoreProblem } from '../../src/core/chatRepository';
import type { Clock } from '../../src/core/clock';
import { systemClock } from '../../src/core/clock';
import { Emitter } from '../../src/core/disposable';
import { newId } from '../../src/core/ids';

export type RepositoryMethod =
  | 'open'
  | 'getChat'
  | 'createChat'
  | 'renameChat'
  | 'deleteChat'
  | 'addMessage'
  | 'appendToMessage'
  | 'updateMessage'
  | 'truncateMessages'
  | 'flush';

export class MemoryRepository implements ChatRepository {
  private readonly chats = new Map<string, Chat>();
  private readonly problems = new Emitter<StoreProblem>();
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
    truncateMessages: 0,
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
      .map(({ id, title, createdAt, updatedAt, messageCount }) => ({ id, title, createdAt, updatedAt, messageCount }))
      .sort((a, b) => b.updatedAt - a.updatedAt);
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
    const chat = this.chat(chatId);
    if (chat.messages.some((m) => m.id === message.id)) throw new Error(`duplicate message ${message.id}`);
    chat.messages.push(structuredClone(message));
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
    const m = this.message(chatId, messageId);
    Object.assign(m, structuredClone(patch));
    this.touch(this.chat(chatId));
  }

  async truncateMessages(chatId: string, fromIndex: number): Promise<void> {
    await Promise.resolve();
    this.enter('truncateMessages');
    const chat = this.chat(chatId);
    chat.messages.splice(Math.max(0, fromIndex));
    this.touch(chat);
  }

  async flush(): Promise<void> {
    await Promise.resolve();
    this.enter('flush');
  }

  onProblem(listener: (problem: StoreProblem) => void): { dispose(): void } {
    return this.problems.event(listener);
  }

  dispose(): Promise<void> {
    this.disposed = true;
    this.problems.dispose();
    return Promise.resolve();
  }
}
