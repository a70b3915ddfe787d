/**
 * Chats on disk: `<dir>/chats/<id>.jsonl` (append-only logs, see storeFormat.ts), `<dir>/index.json` (the chat
 * list, so listing never reads bodies), `<dir>/quarantine/` (files this build cannot read, moved aside) and
 * `<dir>/migrated-v1/` (the original of each v1 log, copied once before its first rewrite as v2).
 *
 * Several windows may share the folder: every write takes the chat's lock file and first merges what another writer
 * added (see storeLock.ts for the design); a watcher reloads chats changed by another window (storeSync.ts).
 */
import type { Chat, ChatMessage, ChatSummary, MessagePatch } from '../chats/chat';
import { deriveTitle, isFinal } from '../chats/chat';
import type { ChatRepository, StoreProblem, TreeEdit } from '../chats/chatRepository';
import type { Clock } from '../base/clock';
import { systemClock } from '../base/clock';
import type { IDisposable } from '../base/disposable';
import { newId } from '../base/ids';
import type { Logger } from '../base/logger';
import { nullLogger } from '../base/logger';
import type { AppendRecord, Entry } from './storeEntry';
import { cloneMessage, newEntry, summaryOf } from './storeEntry';
import type { StoreFs } from './storeFs';
import { nodeStoreFs } from './storeFs';
import type { BodyRecord, ChatState } from './storeFormat';
import { applyRecord, encodePatch } from './storeFormat';
import type { LockTiming } from './storeLock';
import { StoreSync } from './storeSync';
import type { WatchFactory } from './storeWatch';

export type { FileStat, StoreFs } from './storeFs';
export { nodeStoreFs } from './storeFs';

export interface ChatStoreOptions {
  /** The extension passes context.storageUri.fsPath (or the global storage path). */
  dir: string;
  clock?: Clock;
  logger?: Logger;
  /** Streamed text is persisted at least this often. Default 1000 ms. */
  flushIntervalMs?: number;
  fs?: StoreFs;
  /** A chat's log is compacted mid-stream once its appends exceed both this and the last compacted size. */
  compactMinBytes?: number;
  /** Watches the chats folder for other windows' writes (default node fs.watch); false: merge on write only. */
  watch?: WatchFactory | false;
  /** Debounce of watcher events, ms (on `clock`). Default 100. */
  watchDebounceMs?: number;
  /** Wall-clock time and sleeping for lock files (shared between processes). */
  lockTiming?: LockTiming;
  /**
   * Chat bodies kept in memory besides those in use (the active chat, a streaming one, one with unsaved records);
   * older ones are dropped and read again on the next access. The chat list is always in memory. Default 16.
   */
  maxLoadedChats?: number;
}

const NEW_CHAT_TITLE = 'New chat';

export class ChatStore implements ChatRepository {
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly sync: StoreSync;
  private readonly entries = new Map<string, Entry>();
  private opening: Promise<StoreProblem[]> | undefined;
  private disposed = false;

  constructor(options: ChatStoreOptions) {
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? nullLogger;
    this.sync = new StoreSync(
      {
        dir: options.dir,
        clock: this.clock,
        logger: this.logger,
        fs: options.fs ?? nodeStoreFs,
        flushIntervalMs: options.flushIntervalMs ?? 1000,
        compactMinBytes: options.compactMinBytes ?? 256 * 1024,
        watch: options.watch,
        watchDebounceMs: options.watchDebounceMs ?? 100,
        lockTiming: options.lockTiming,
        maxLoadedChats: Math.max(1, options.maxLoadedChats ?? 16),
      },
      this.entries,
    );
  }

  open(): Promise<StoreProblem[]> {
    this.opening ??= this.sync.open();
    return this.opening;
  }

  listChats(): ChatSummary[] {
    return [...this.entries.values()].map((e) => summaryOf(e.summary)).sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /**
   * The returned chat is the store's live copy while its body stays in memory (see storeCache.ts): read it, change
   * it only through the store, and call getChat again after an await rather than keeping it.
   */
  async getChat(chatId: string): Promise<Chat | undefined> {
    const entry = this.entries.get(chatId);
    if (!entry) return undefined;
    return (await this.sync.load(entry))?.chat;
  }

  async createChat(init?: { title?: string; messages?: ChatMessage[] }): Promise<Chat> {
    const now = this.clock.now();
    const id = newId(now);
    const messages = (init?.messages ?? []).map(cloneMessage);
    let title = init?.title?.trim() ?? '';
    let titled = title !== '';
    if (!titled) {
      const firstUser = messages.find((m) => m.role === 'user');
      title = firstUser ? deriveTitle(firstUser.content) : NEW_CHAT_TITLE;
      titled = firstUser !== undefined && title !== NEW_CHAT_TITLE;
    }
    const chat: Chat = { id, title, createdAt: now, updatedAt: now, messageCount: messages.length, messages };
    const last = messages[messages.length - 1];
    if (last) chat.leafId = last.id;
    const entry = newEntry(this.sync.chatsDir, id, chat, titled);
    entry.state = { chat, titled };
    // The file is created whole, atomically, so its header is never torn.
    entry.needsCompaction = true;
    entry.unsaved = true;
    this.entries.set(id, entry);
    this.sync.bodies.touch(entry);
    this.sync.markIndexDirty();
    await this.sync.writeNow(entry);
    return chat;
  }

  renameChat(chatId: string, title: string): Promise<void> {
    return this.withChat(chatId, (entry, state) => {
      const t = title.trim();
      this.commit(entry, state, { t: 'title', at: this.clock.now(), title: t || NEW_CHAT_TITLE, titled: t !== '' });
      this.sync.markIndexDirty();
      // Rewrite so the header carries the title: an index rebuilt from headers then shows the right names.
      return this.sync.writeNow(entry, true);
    });
  }

  async deleteChat(chatId: string): Promise<void> {
    const entry = this.entries.get(chatId);
    if (!entry) return;
    // A file listed from the index may turn out to be a newer version's: look before deleting anything.
    await this.sync.load(entry);
    if (entry.readOnly) throw new Error(`ChatStore: chat ${chatId} cannot be deleted: ${entry.readOnly}`);
    if (this.entries.get(chatId) !== entry) return;
    await this.sync.deleteEntry(entry);
  }

  addMessage(chatId: string, message: ChatMessage): Promise<void> {
    return this.withChat(chatId, (entry, state) => {
      const now = this.clock.now();
      const m = cloneMessage(message);
      this.commit(entry, state, { t: 'message', at: now, m });
      let retitled = false;
      if (m.role === 'user' && !state.titled) {
        const title = deriveTitle(m.content);
        if (title !== NEW_CHAT_TITLE) {
          this.commit(entry, state, { t: 'title', at: now, title, titled: true });
          retitled = true; // once per chat: compact so the header has the title (see renameChat)
        }
      }
      this.sync.markIndexDirty();
      return this.sync.writeNow(entry, retitled);
    });
  }

  appendToMessage(chatId: string, messageId: string, delta: { content?: string; reasoning?: string }): void {
    if (this.disposed || (!delta.content && !delta.reasoning)) return;
    const entry = this.entries.get(chatId);
    const state = entry?.state;
    if (!entry || !state || entry.readOnly) {
      this.logger.warn(`ChatStore: append to a chat that is not loaded or read-only (${chatId}); dropped`);
      return;
    }
    const why = applyRecord(state, { t: 'append', id: messageId, c: delta.content, r: delta.reasoning });
    if (why) {
      this.logger.warn(`ChatStore: ${why} in chat ${chatId}; dropped`);
      return;
    }
    // Coalesce consecutive deltas into one record: a flush writes what arrived since the last one, nothing more.
    const last = entry.pending[entry.pending.length - 1];
    let rec: AppendRecord;
    if (typeof last === 'object' && last.id === messageId) {
      rec = last;
    } else {
      rec = { t: 'append', id: messageId };
      entry.pending.push(rec);
    }
    if (delta.content) rec.c = (rec.c ?? '') + delta.content;
    if (delta.reasoning) rec.r = (rec.r ?? '') + delta.reasoning;
    this.sync.scheduleFlush();
  }

  updateMessage(chatId: string, messageId: string, patch: MessagePatch): Promise<void> {
    return this.withChat(chatId, (entry, state) => {
      const msg = state.chat.messages.find((m) => m.id === messageId);
      if (!msg) throw new Error(`ChatStore: no message ${messageId} in chat ${chatId}`);
      const becameFinal = patch.status !== undefined && isFinal(patch.status) && !isFinal(msg.status);
      const p = structuredClone(patch);
      this.commit(entry, state, { t: 'patch', at: this.clock.now(), id: messageId, p: encodePatch(p) });
      if (becameFinal) {
        // The answer is done: rewrite the log as plain messages so the next load replays nothing.
        this.sync.markIndexDirty();
        return this.sync.writeNow(entry, true);
      }
      this.sync.scheduleFlush();
      return Promise.resolve();
    });
  }

  editTree(chatId: string, edit: TreeEdit): Promise<void> {
    return this.withChat(chatId, (entry, state) => {
      const at = this.clock.now();
      const records: BodyRecord[] = [];
      for (const m of edit.add ?? []) records.push({ t: 'message', at, m: cloneMessage(m) });
      for (const r of edit.relink ?? []) records.push({ t: 'patch', at, id: r.id, p: encodePatch({ parentId: r.parentId }) });
      if (edit.remove && edit.remove.length > 0) records.push({ t: 'remove', at, ids: [...edit.remove] });
      if (edit.leafId !== undefined) records.push({ t: 'leaf', at, id: edit.leafId });
      if (records.length === 0) return Promise.resolve();
      // Try the whole edit on a copy first: a bad edit throws and changes nothing, in memory or on disk.
      const trial: ChatState = structuredClone(state);
      for (const rec of records) {
        const why = applyRecord(trial, rec);
        if (why) throw new Error(`ChatStore: cannot edit chat ${chatId}: ${why}`);
      }
      for (const rec of records) this.commit(entry, state, rec);
      this.sync.markIndexDirty();
      return this.sync.writeNow(entry);
    });
  }

  async flush(): Promise<void> {
    await this.sync.flush();
  }

  /** Waits for every write already started (timer flushes included) without starting new ones. */
  async whenIdle(): Promise<void> {
    await this.sync.whenIdle();
  }

  setActiveChat(chatId: string | undefined): void {
    this.sync.bodies.setActive(chatId);
  }

  /** How many chat bodies are in memory now, and how many were dropped so far (for tests and the benchmark). */
  memoryStats(): { loaded: number; evictions: number } {
    return { loaded: this.sync.bodies.loaded, evictions: this.sync.bodies.evictions };
  }

  onProblem(listener: (problem: StoreProblem) => void): IDisposable {
    return this.sync.problems.event(listener);
  }

  onDidChangeExternally(listener: (chatIds: string[]) => void): IDisposable {
    return this.sync.external.event(listener);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.sync.flush();
    this.disposed = true;
    this.sync.dispose();
  }

  /**
   * Loads the chat and runs `fn` on it in the same tick as the check that its body is still the one in memory (a
   * body dropped between the load and `fn` would take the records away with it): `fn` commits synchronously.
   */
  private async withChat(chatId: string, fn: (entry: Entry, state: ChatState) => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const entry = this.entries.get(chatId);
      const state = entry && (await this.sync.load(entry));
      if (!entry || !state || entry.deleted) throw new Error(`ChatStore: unknown chat ${chatId}`);
      if (entry.readOnly) throw new Error(`ChatStore: chat ${chatId} is read-only: ${entry.readOnly}`);
      if (entry.state === state) return fn(entry, state);
      // Dropped from memory by other chats' loads in between: load it again.
      if (attempt >= 10) throw new Error(`ChatStore: chat ${chatId} could not be kept in memory`);
    }
  }

  /** Applies a record to memory and queues it for the file: one code path with replay, so they cannot disagree. */
  private commit(entry: Entry, state: ChatState, rec: BodyRecord): void {
    this.sync.commit(entry, state, rec);
  }
}
