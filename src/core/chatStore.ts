/**
 * Chats on disk: `<dir>/chats/<id>.jsonl` (append-only logs, see storeFormat.ts), `<dir>/index.json` (the chat
 * list, so listing never reads bodies) and `<dir>/quarantine/` (files this build cannot read, moved aside).
 */
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';
import type { Chat, ChatMessage, ChatSummary, MessagePatch } from './chat';
import { deriveTitle, isFinal } from './chat';
import type { ChatRepository, StoreProblem } from './chatRepository';
import type { Clock, TimerHandle } from './clock';
import { systemClock } from './clock';
import { Emitter } from './disposable';
import type { IDisposable } from './disposable';
import { isValidId, newId } from './ids';
import type { Logger } from './logger';
import { nullLogger } from './logger';
import type { BodyRecord, ChatState, IndexRow } from './storeFormat';
import { applyRecord, encodeIndex, encodePatch, encodeRecord, encodeSnapshot, parseChatLog, parseHeader, parseIndex } from './storeFormat';

export interface FileStat {
  size: number;
  mtimeMs: number;
}

/** The file operations the store uses; injectable so tests can count bytes and simulate ENOSPC/EACCES. */
export interface StoreFs {
  mkdir(dir: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  readFile(file: string): Promise<Buffer>;
  /** Up to maxBytes from the start of the file. */
  readHead(file: string, maxBytes: number): Promise<Buffer>;
  stat(file: string): Promise<FileStat>;
  /** Appends, syncs the data to disk, returns the file's new size and mtime. */
  append(file: string, data: Buffer): Promise<FileStat>;
  /** Creates or truncates, writes, fsyncs, returns the file's size and mtime. */
  writeDurable(file: string, data: Buffer): Promise<FileStat>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  /** Makes a rename in dir durable (best effort: some platforms cannot fsync a directory). */
  syncDir(dir: string): Promise<void>;
}

async function withHandle<T>(file: string, flags: string, fn: (fh: fsp.FileHandle) => Promise<T>): Promise<T> {
  const fh = await fsp.open(file, flags);
  try {
    return await fn(fh);
  } finally {
    await fh.close();
  }
}

export const nodeStoreFs: StoreFs = {
  mkdir: async (dir) => {
    await fsp.mkdir(dir, { recursive: true });
  },
  readdir: (dir) => fsp.readdir(dir),
  readFile: (file) => fsp.readFile(file),
  readHead: (file, maxBytes) =>
    withHandle(file, 'r', async (fh) => {
      const buf = Buffer.alloc(maxBytes);
      const { bytesRead } = await fh.read(buf, 0, maxBytes, 0);
      return buf.subarray(0, bytesRead);
    }),
  stat: async (file) => {
    const s = await fsp.stat(file);
    return { size: s.size, mtimeMs: s.mtimeMs };
  },
  append: (file, data) =>
    withHandle(file, 'a', async (fh) => {
      await fh.writeFile(data);
      await fh.datasync();
      const s = await fh.stat();
      return { size: s.size, mtimeMs: s.mtimeMs };
    }),
  writeDurable: (file, data) =>
    withHandle(file, 'w', async (fh) => {
      await fh.writeFile(data);
      await fh.sync();
      const s = await fh.stat();
      return { size: s.size, mtimeMs: s.mtimeMs };
    }),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (file) => fsp.unlink(file),
  syncDir: async (dir) => {
    try {
      await withHandle(dir, 'r', (fh) => fh.sync());
    } catch {
      // Windows cannot open a directory for fsync; its rename is already as durable as it gets.
    }
  },
};

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
}

/** Pending records: encoded lines, or an append record still collecting streamed text. */
type AppendRecord = Extract<BodyRecord, { t: 'append' }>;
type Pending = string | AppendRecord;

interface Entry {
  id: string;
  file: string;
  /** The chat itself once loaded, else the row from the index or header. */
  summary: ChatSummary;
  titled: boolean;
  state?: ChatState;
  loading?: Promise<ChatState | undefined>;
  pending: Pending[];
  /** Rewrite the whole file next time: it does not exist yet, or may end in a torn line. */
  needsCompaction: boolean;
  snapshotBytes: number;
  appendedBytes: number;
  /** What is on disk, for the index. */
  persisted?: IndexRow;
  /** Writes to one file run one at a time. */
  queue: Promise<void>;
  deleted: boolean;
  /** A write failed and was reported; report again only after a success. */
  failing: boolean;
}

const HEAD_BYTES = 64 * 1024;
const OPEN_CONCURRENCY = 32;
const NEW_CHAT_TITLE = 'New chat';

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function cloneMessage(m: ChatMessage): ChatMessage {
  return structuredClone(m);
}

function summaryOf(s: ChatSummary): ChatSummary {
  return { id: s.id, title: s.title, createdAt: s.createdAt, updatedAt: s.updatedAt, messageCount: s.messageCount };
}

async function forEachLimit<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export class ChatStore implements ChatRepository {
  private readonly dir: string;
  private readonly chatsDir: string;
  private readonly indexFile: string;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly fs: StoreFs;
  private readonly flushIntervalMs: number;
  private readonly compactMinBytes: number;

  private readonly entries = new Map<string, Entry>();
  private readonly problems = new Emitter<StoreProblem>();
  /** Every write in flight, so flush() and whenIdle() can wait for all of them. */
  private readonly ops = new Set<Promise<void>>();
  private opening: Promise<StoreProblem[]> | undefined;
  private flushTimer: TimerHandle | undefined;
  private indexQueue: Promise<void> = Promise.resolve();
  /** The chat list changed: write the index soon. */
  private indexDirty = false;
  /** Only sizes changed (streaming appends): write the index at the next explicit flush. */
  private indexStale = false;
  private indexFailing = false;
  private disposed = false;

  constructor(options: ChatStoreOptions) {
    this.dir = options.dir;
    this.chatsDir = path.join(options.dir, 'chats');
    this.indexFile = path.join(options.dir, 'index.json');
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? nullLogger;
    this.fs = options.fs ?? nodeStoreFs;
    this.flushIntervalMs = options.flushIntervalMs ?? 1000;
    this.compactMinBytes = options.compactMinBytes ?? 256 * 1024;
  }

  open(): Promise<StoreProblem[]> {
    this.opening ??= this.doOpen();
    return this.opening;
  }

  listChats(): ChatSummary[] {
    return [...this.entries.values()].map((e) => summaryOf(e.summary)).sort((a, b) => b.updatedAt - a.updatedAt);
  }

  /** The returned chat is the store's live copy: read it, change it only through the store. */
  async getChat(chatId: string): Promise<Chat | undefined> {
    const entry = this.entries.get(chatId);
    if (!entry) return undefined;
    return (await this.load(entry))?.chat;
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
    const entry = this.newEntry(id, chat, titled);
    entry.state = { chat, titled };
    entry.needsCompaction = true; // the file is created whole, atomically, so its header is never torn
    this.entries.set(id, entry);
    this.markIndexDirty();
    await this.writeNow(entry);
    return chat;
  }

  async renameChat(chatId: string, title: string): Promise<void> {
    const { entry, state } = await this.require(chatId);
    const t = title.trim();
    this.commit(entry, state, { t: 'title', at: this.clock.now(), title: t || NEW_CHAT_TITLE, titled: t !== '' });
    this.markIndexDirty();
    // Rewrite so the header carries the title: an index rebuilt from headers then shows the right names.
    await this.writeNow(entry, true);
  }

  async deleteChat(chatId: string): Promise<void> {
    const entry = this.entries.get(chatId);
    if (!entry) return;
    this.entries.delete(chatId);
    entry.deleted = true;
    entry.pending = [];
    this.markIndexDirty();
    await this.enqueue(entry, async () => {
      try {
        await this.fs.unlink(entry.file);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') this.reportWriteFailure(entry, err, 'delete');
      }
    });
  }

  async addMessage(chatId: string, message: ChatMessage): Promise<void> {
    const { entry, state } = await this.require(chatId);
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
    this.markIndexDirty();
    await this.writeNow(entry, retitled);
  }

  appendToMessage(chatId: string, messageId: string, delta: { content?: string; reasoning?: string }): void {
    if (this.disposed || (!delta.content && !delta.reasoning)) return;
    const entry = this.entries.get(chatId);
    const state = entry?.state;
    if (!entry || !state) {
      this.logger.warn(`ChatStore: append to a chat that is not loaded (${chatId}); dropped`);
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
    this.scheduleFlush();
  }

  async updateMessage(chatId: string, messageId: string, patch: MessagePatch): Promise<void> {
    const { entry, state } = await this.require(chatId);
    const msg = state.chat.messages.find((m) => m.id === messageId);
    if (!msg) throw new Error(`ChatStore: no message ${messageId} in chat ${chatId}`);
    const becameFinal = patch.status !== undefined && isFinal(patch.status) && !isFinal(msg.status);
    const p = structuredClone(patch);
    this.commit(entry, state, { t: 'patch', at: this.clock.now(), id: messageId, p: encodePatch(p) });
    if (becameFinal) {
      // The answer is done: rewrite the log as plain messages so the next load replays nothing.
      this.markIndexDirty();
      await this.writeNow(entry, true);
    } else {
      this.scheduleFlush();
    }
  }

  async truncateMessages(chatId: string, fromIndex: number): Promise<void> {
    const { entry, state } = await this.require(chatId);
    const from = Math.max(0, Math.floor(fromIndex));
    if (from >= state.chat.messages.length) return;
    this.commit(entry, state, { t: 'truncate', at: this.clock.now(), from });
    this.markIndexDirty();
    await this.writeNow(entry);
  }

  async flush(): Promise<void> {
    this.clearFlushTimer();
    await Promise.all([...this.entries.values()].map((e) => this.enqueue(e, () => this.writeChat(e, false))));
    if (this.indexDirty || this.indexStale) await this.writeIndexQueued();
    await this.whenIdle();
  }

  /** Waits for every write already started (timer flushes included) without starting new ones. */
  async whenIdle(): Promise<void> {
    while (this.ops.size > 0) await Promise.all([...this.ops]);
  }

  onProblem(listener: (problem: StoreProblem) => void): IDisposable {
    return this.problems.event(listener);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    await this.flush();
    this.disposed = true;
    this.clearFlushTimer();
    this.problems.dispose();
  }

  // ---- opening and loading ----

  private async doOpen(): Promise<StoreProblem[]> {
    const problems: StoreProblem[] = [];
    let names: string[];
    try {
      await this.fs.mkdir(this.chatsDir);
      names = await this.fs.readdir(this.chatsDir);
    } catch (err) {
      problems.push({
        file: this.chatsDir,
        error: {
          kind: 'storage',
          message: `Could not open the chat folder ${this.chatsDir}: ${errorText(err)}`,
          hint: 'Check that the folder exists and is writable; chats are kept in memory only until it is.',
        },
      });
      return problems;
    }
    // Leftovers of a compaction or index write that crashed before its rename: the real file is intact.
    for (const n of names.filter((n) => n.endsWith('.tmp'))) await this.removeQuietly(path.join(this.chatsDir, n));
    await this.removeQuietly(`${this.indexFile}.tmp`);

    const ids = names
      .filter((n) => n.endsWith('.jsonl'))
      .map((n) => n.slice(0, -'.jsonl'.length))
      .filter(isValidId);
    const index = await this.readIndex();
    const rows = new Map((index ?? []).map((r) => [r.id, r]));
    if (!index) this.logger.info(`ChatStore: index missing or unreadable; rebuilding it from ${ids.length} chat headers`);

    await forEachLimit(ids, OPEN_CONCURRENCY, async (id) => {
      const file = this.chatFile(id);
      let stat: FileStat;
      try {
        stat = await this.fs.stat(file);
      } catch (err) {
        this.logger.warn(`ChatStore: cannot stat ${file}: ${errorText(err)}`);
        return;
      }
      const row = rows.get(id);
      if (row && row.size === stat.size && row.mtimeMs === stat.mtimeMs) {
        const entry = this.newEntry(id, summaryOf(row), row.titled);
        entry.persisted = row;
        entry.snapshotBytes = stat.size;
        this.entries.set(id, entry);
        return;
      }
      this.indexDirty = true;
      if (!index) {
        const problem = await this.openFromHeader(id, file, stat);
        if (problem !== false) {
          if (problem) problems.push(problem);
          return;
        }
      }
      // Changed since the index was written (a crash, or another writer): replay it, which also validates it.
      const entry = this.newEntry(id, { id, title: '', createdAt: 0, updatedAt: 0, messageCount: 0 }, false);
      const loaded = await this.readChatFile(entry, stat);
      if ('problem' in loaded) {
        problems.push(loaded.problem);
        return;
      }
      this.entries.set(id, entry);
      this.adopt(entry, loaded.state, loaded.tornTail);
    });
    if (index && index.some((r) => !this.entries.has(r.id))) this.indexDirty = true;
    if (this.indexDirty) this.scheduleFlush();
    for (const p of problems) this.logger.warn(`ChatStore: ${p.error.message}`);
    return problems;
  }

  /** Index rebuild: the summary from the header line alone. False when the log must be replayed instead. */
  private async openFromHeader(id: string, file: string, stat: FileStat): Promise<StoreProblem | undefined | false> {
    let head: Buffer;
    try {
      head = await this.fs.readHead(file, HEAD_BYTES);
    } catch (err) {
      this.logger.warn(`ChatStore: cannot read the header of ${file}: ${errorText(err)}`);
      return false; // the full read reports it
    }
    const nl = head.indexOf(0x0a);
    if (nl < 0) return false;
    const parsed = parseHeader(head.subarray(0, nl).toString('utf8'), id);
    if (!parsed.ok) return this.quarantine(file, parsed.reason);
    const h = parsed.header;
    // Records were appended after the last compaction: the header is out of date, replay the log.
    if (h.bodyBytes === undefined || stat.size !== nl + 1 + h.bodyBytes) return false;
    const summary: ChatSummary = { id, title: h.title, createdAt: h.createdAt, updatedAt: h.updatedAt, messageCount: h.messageCount };
    const entry = this.newEntry(id, summary, h.titled);
    entry.persisted = { ...summary, titled: h.titled, size: stat.size, mtimeMs: stat.mtimeMs };
    entry.snapshotBytes = stat.size;
    this.entries.set(id, entry);
    return undefined;
  }

  private async readIndex(): Promise<IndexRow[] | undefined> {
    try {
      return parseIndex((await this.fs.readFile(this.indexFile)).toString('utf8'));
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') this.logger.warn(`ChatStore: cannot read ${this.indexFile}: ${errorText(err)}`);
      return undefined;
    }
  }

  private load(entry: Entry): Promise<ChatState | undefined> {
    if (entry.state) return Promise.resolve(entry.state);
    entry.loading ??= this.loadEntry(entry);
    return entry.loading;
  }

  private async loadEntry(entry: Entry): Promise<ChatState | undefined> {
    const loaded = await this.readChatFile(entry);
    if (entry.deleted) return undefined;
    if ('problem' in loaded) {
      this.entries.delete(entry.id);
      this.markIndexDirty();
      this.logger.warn(`ChatStore: ${loaded.problem.error.message}`);
      this.problems.fire(loaded.problem);
      return undefined;
    }
    const before = entry.summary;
    this.adopt(entry, loaded.state, loaded.tornTail);
    const after = entry.summary;
    // The header the index was rebuilt from can lag behind the log: correct the row, the file is unchanged.
    if (
      entry.persisted &&
      (before.title !== after.title || before.messageCount !== after.messageCount || before.updatedAt !== after.updatedAt)
    ) {
      entry.persisted = { ...summaryOf(after), titled: loaded.state.titled, size: entry.persisted.size, mtimeMs: entry.persisted.mtimeMs };
      this.markIndexDirty();
    }
    return entry.state;
  }

  private async readChatFile(
    entry: Entry,
    stat?: FileStat,
  ): Promise<{ state: ChatState; tornTail: boolean } | { problem: StoreProblem }> {
    let buf: Buffer;
    try {
      buf = await this.fs.readFile(entry.file);
    } catch (err) {
      return {
        problem: {
          file: entry.file,
          error: { kind: 'storage', message: `Could not read chat file ${entry.file}: ${errorText(err)}` },
        },
      };
    }
    const parsed = parseChatLog(buf.toString('utf8'), entry.id);
    if (!parsed.ok) return { problem: await this.quarantine(entry.file, parsed.reason) };
    if (parsed.tornTail) this.logger.info(`ChatStore: dropped an incomplete last record in ${entry.file}`);
    entry.snapshotBytes = buf.length;
    if (stat) {
      const s = parsed.state;
      entry.persisted = { ...summaryOf(s.chat), titled: s.titled, size: stat.size, mtimeMs: stat.mtimeMs };
    }
    return { state: parsed.state, tornTail: parsed.tornTail };
  }

  /** Takes a replayed chat into memory; what the crash left behind (torn tail, live stream) is repaired on disk. */
  private adopt(entry: Entry, state: ChatState, tornTail: boolean): void {
    entry.state = state;
    entry.summary = state.chat;
    entry.titled = state.titled;
    entry.appendedBytes = 0;
    // Appending after a torn line would glue the next record to it: rewrite the file first.
    if (tornTail) entry.needsCompaction = true;
    for (const m of state.chat.messages) {
      if (m.status === 'streaming') {
        // No `at`: an interrupted answer should not move the chat to the top of the list.
        this.commit(entry, state, { t: 'patch', id: m.id, p: { status: 'interrupted' } });
      }
    }
    if (entry.needsCompaction || entry.pending.length > 0) void this.writeNow(entry);
  }

  private async quarantine(file: string, reason: string): Promise<StoreProblem> {
    const qdir = path.join(this.dir, 'quarantine');
    const stamp = new Date(this.clock.now()).toISOString().replace(/[:.]/g, '-');
    let dest = path.join(qdir, `${path.basename(file)}.${stamp}`);
    try {
      await this.fs.mkdir(qdir);
      // rename() would silently replace an earlier quarantined copy of the same file.
      for (let n = 2; await this.exists(dest); n++) dest = path.join(qdir, `${path.basename(file)}.${stamp}.${n}`);
      await this.fs.rename(file, dest);
      return {
        file,
        quarantinedTo: dest,
        error: {
          kind: 'storage',
          message: `Chat file ${file} could not be read: ${reason}. It was moved to ${dest}.`,
          hint: 'Other chats are not affected. The moved file is kept for recovery by hand.',
        },
      };
    } catch (err) {
      return {
        file,
        error: {
          kind: 'storage',
          message: `Chat file ${file} could not be read: ${reason}. Moving it aside failed: ${errorText(err)}.`,
          hint: 'Other chats are not affected.',
        },
      };
    }
  }

  // ---- writing ----

  private newEntry(id: string, summary: ChatSummary, titled: boolean): Entry {
    return {
      id,
      file: this.chatFile(id),
      summary,
      titled,
      pending: [],
      needsCompaction: false,
      snapshotBytes: 0,
      appendedBytes: 0,
      queue: Promise.resolve(),
      deleted: false,
      failing: false,
    };
  }

  private chatFile(id: string): string {
    return path.join(this.chatsDir, `${id}.jsonl`);
  }

  private async require(chatId: string): Promise<{ entry: Entry; state: ChatState }> {
    const entry = this.entries.get(chatId);
    const state = entry && (await this.load(entry));
    if (!entry || !state || entry.deleted) throw new Error(`ChatStore: unknown chat ${chatId}`);
    return { entry, state };
  }

  /** Applies a record to memory and queues it for the file: one code path with replay, so they cannot disagree. */
  private commit(entry: Entry, state: ChatState, rec: BodyRecord): void {
    const why = applyRecord(state, rec);
    if (why) throw new Error(`ChatStore: ${why} in chat ${entry.id}`);
    entry.titled = state.titled;
    // Encode now: later appends mutate the message this record points at.
    entry.pending.push(encodeRecord(rec));
  }

  private enqueue(entry: Entry, task: () => Promise<void>): Promise<void> {
    const run = entry.queue.then(task).catch((err: unknown) => {
      this.logger.error(`ChatStore: unexpected error writing ${entry.file}: ${errorText(err)}`);
    });
    entry.queue = run;
    return this.track(run);
  }

  private track(p: Promise<void>): Promise<void> {
    this.ops.add(p);
    void p.finally(() => this.ops.delete(p));
    return p;
  }

  private writeNow(entry: Entry, compact = false): Promise<void> {
    return this.enqueue(entry, () => this.writeChat(entry, compact));
  }

  private async writeChat(entry: Entry, forceCompact: boolean): Promise<void> {
    const state = entry.state;
    if (entry.deleted || !state) return;
    const compact =
      forceCompact ||
      entry.needsCompaction ||
      (entry.pending.length > 0 &&
        entry.appendedBytes > this.compactMinBytes &&
        entry.appendedBytes > entry.snapshotBytes);
    if (!compact && entry.pending.length === 0) return;
    // Snapshot synchronously: memory now equals what the file will hold once this write lands.
    const text = compact
      ? encodeSnapshot(state)
      : entry.pending.map((p) => (typeof p === 'string' ? p : encodeRecord(p))).join('');
    entry.pending = [];
    const row = { ...summaryOf(state.chat), titled: state.titled };
    const data = Buffer.from(text, 'utf8');
    try {
      const stat = compact ? await this.writeAtomic(entry.file, data) : await this.fs.append(entry.file, data);
      if (compact) {
        entry.needsCompaction = false;
        entry.snapshotBytes = data.length;
        entry.appendedBytes = 0;
      } else {
        entry.appendedBytes += data.length;
      }
      entry.persisted = { ...row, size: stat.size, mtimeMs: stat.mtimeMs };
      this.indexStale = true;
      if (entry.failing) {
        entry.failing = false;
        this.logger.info(`ChatStore: ${entry.file} is being saved again`);
      }
    } catch (err) {
      // A failed append may have left part of a line behind, and the records are no longer queued:
      // the next attempt rewrites the whole file from memory.
      entry.needsCompaction = true;
      this.reportWriteFailure(entry, err, 'save');
      this.scheduleFlush();
    }
  }

  /** tmp + fsync + rename + fsync(dir): a crash leaves either the old file or the new one. */
  private async writeAtomic(file: string, data: Buffer): Promise<FileStat> {
    const tmp = `${file}.tmp`;
    try {
      const stat = await this.fs.writeDurable(tmp, data);
      await this.fs.rename(tmp, file);
      await this.fs.syncDir(path.dirname(file));
      return stat;
    } catch (err) {
      await this.removeQuietly(tmp);
      throw err;
    }
  }

  private async exists(file: string): Promise<boolean> {
    try {
      await this.fs.stat(file);
      return true;
    } catch {
      return false;
    }
  }

  private async removeQuietly(file: string): Promise<void> {
    try {
      await this.fs.unlink(file);
    } catch {
      // already gone, or not ours to worry about
    }
  }

  private reportWriteFailure(entry: Entry, err: unknown, action: 'save' | 'delete'): void {
    const message = `Could not ${action} chat file ${entry.file}: ${errorText(err)}`;
    this.logger.error(`ChatStore: ${message}`);
    if (entry.failing) return;
    entry.failing = true;
    this.problems.fire({ file: entry.file, error: { kind: 'storage', message, hint: hintFor(err) } });
  }

  private writeIndexQueued(): Promise<void> {
    const run = this.indexQueue.then(
      () => this.writeIndex(),
      () => this.writeIndex(),
    );
    this.indexQueue = run;
    return this.track(run);
  }

  private async writeIndex(): Promise<void> {
    this.indexDirty = false;
    this.indexStale = false;
    const rows: IndexRow[] = [];
    for (const e of this.entries.values()) if (e.persisted && !e.deleted) rows.push(e.persisted);
    try {
      await this.writeAtomic(this.indexFile, Buffer.from(encodeIndex(rows), 'utf8'));
      this.indexFailing = false;
    } catch (err) {
      this.indexDirty = true;
      const message = `Could not save the chat list ${this.indexFile}: ${errorText(err)}`;
      this.logger.error(`ChatStore: ${message}`);
      if (!this.indexFailing) {
        this.indexFailing = true;
        this.problems.fire({ file: this.indexFile, error: { kind: 'storage', message, hint: hintFor(err) } });
      }
      this.scheduleFlush();
    }
  }

  private markIndexDirty(): void {
    this.indexDirty = true;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.disposed || this.flushTimer !== undefined) return;
    this.flushTimer = this.clock.setTimeout(() => {
      this.flushTimer = undefined;
      void this.track(this.flushDue());
    }, this.flushIntervalMs);
  }

  private clearFlushTimer(): void {
    if (this.flushTimer !== undefined) this.clock.clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  /** The timer's flush: chats with something to write, and the index if the list changed. */
  private async flushDue(): Promise<void> {
    const due = [...this.entries.values()].filter((e) => e.pending.length > 0 || e.needsCompaction);
    await Promise.all(due.map((e) => this.writeNow(e)));
    if (this.indexDirty) await this.writeIndexQueued();
  }
}

function hintFor(err: unknown): string {
  switch (errorCode(err)) {
    case 'ENOSPC':
    case 'EDQUOT':
      return 'The disk is full. Free some space: the chat is kept in memory and saved when writing works again.';
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return 'Check the permissions of the extension storage folder: the chat is kept in memory meanwhile.';
    default:
      return 'The chat is kept in memory and saving is retried.';
  }
}
