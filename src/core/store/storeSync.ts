/**
 * The chat store's disk side: opening, lazy loading, writing under the chat's lock (merging another window's
 * changes first, see storeLock.ts), deleting, the shared index, and reloading chats another window changed.
 *
 * Invariant: for a loaded chat, memory = the file as of `entry.disk` + `entry.pending`, whenever no write is running.
 * A re-read rebuilds memory as (file now) + pending, synchronously after the read, so streamed text arriving
 * meanwhile is never lost or applied twice.
 */
import * as path from 'node:path';
import type { StoreProblem } from '../chats/chatRepository';
import type { Clock, TimerHandle } from '../base/clock';
import { Emitter } from '../base/disposable';
import { isValidId } from '../base/ids';
import type { Logger } from '../base/logger';
import type { Entry } from './storeEntry';
import { encodePending, forEachLimit, install, makeReadOnly, newEntry, replayPending, rowOf, summaryOf } from './storeEntry';
import type { FileStat, StoreFs } from './storeFs';
import { errorCode, errorText, hintFor, sameStat, tmpIsAbandoned } from './storeFs';
import type { BodyRecord, ChatState, LogResult } from './storeFormat';
import { applyRecord, encodeRecord, encodeSnapshot, parseChatLog, parseHeader } from './storeFormat';
import { StoreIndex, writeAtomic } from './storeIndex';
import type { LockTiming } from './storeLock';
import { FileLocks, realLockTiming } from './storeLock';
import type { WatchFactory } from './storeWatch';
import { DebouncedWatcher, nodeWatch } from './storeWatch';
import { OpenedFiles } from './storeOpen';

export interface SyncOptions {
  dir: string;
  clock: Clock;
  logger: Logger;
  fs: StoreFs;
  flushIntervalMs: number;
  compactMinBytes: number;
  watch: WatchFactory | false | undefined;
  watchDebounceMs: number;
  lockTiming: LockTiming | undefined;
}

type OkLog = Extract<LogResult, { ok: true }>;
/** What a locked re-check of the file found. */
type Refresh = 'same' | 'changed' | 'gone' | 'new';

export class StoreSync {
  readonly chatsDir: string;
  readonly problems = new Emitter<StoreProblem>();
  readonly external = new Emitter<string[]>();
  readonly fs: StoreFs;
  readonly logger: Logger;
  readonly locks: FileLocks;
  readonly index: StoreIndex;
  readonly lockTiming: LockTiming;
  /** Chats this window deleted: never re-listed from another window's index rows or a late watcher event. */
  readonly forgotten = new Set<string>();
  private readonly opener: OpenedFiles;
  /** Every write in flight, so flush() and whenIdle() can wait for all of them. */
  private readonly ops = new Set<Promise<void>>();
  private flushTimer: TimerHandle | undefined;
  private indexQueue: Promise<void> = Promise.resolve();
  /** The chat list changed: write the index soon. */
  private indexDirty = false;
  /** Only sizes changed (streaming appends): write the index at the next explicit flush. */
  private indexStale = false;
  private indexFailing = false;
  private watcher: DebouncedWatcher | undefined;
  private disposed = false;

  constructor(
    readonly o: SyncOptions,
    readonly entries: Map<string, Entry>,
  ) {
    this.chatsDir = path.join(o.dir, 'chats');
    this.fs = o.fs;
    this.logger = o.logger;
    this.lockTiming = o.lockTiming ?? realLockTiming;
    this.locks = new FileLocks(o.fs, this.lockTiming);
    this.index = new StoreIndex(o.dir, this.chatsDir, o.fs, this.locks, o.logger);
    this.opener = new OpenedFiles(this);
  }

  async open(): Promise<StoreProblem[]> {
    const problems = await this.opener.open();
    if (this.o.watch !== false && !this.disposed) {
      this.watcher = new DebouncedWatcher(
        this.chatsDir,
        this.o.watch ?? nodeWatch,
        this.o.clock,
        this.o.watchDebounceMs,
        (batch) => void this.track(this.onWatch(batch)),
        this.logger,
      );
    }
    return problems;
  }

  // ---- loading ----

  load(entry: Entry): Promise<ChatState | undefined> {
    if (entry.state) return Promise.resolve(entry.state);
    entry.loading ??= this.loadEntry(entry);
    return entry.loading;
  }

  private async loadEntry(entry: Entry): Promise<ChatState | undefined> {
    const r = await this.readInto(entry);
    if (entry.deleted) return undefined;
    if (r.kind === 'gone') {
      this.dropVanished(entry);
      return undefined;
    }
    if (r.kind === 'problem') {
      if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
      this.markIndexDirty();
      this.logger.warn(`ChatStore: ${r.problem.error.message}`);
      this.problems.fire(r.problem);
      return undefined;
    }
    return entry.state;
  }

  /** Reads and replays a chat file into the entry (crash repair included); a damaged file is quarantined. */
  async readInto(entry: Entry, known?: FileStat): Promise<{ kind: 'ok' | 'gone' } | { kind: 'problem'; problem: StoreProblem }> {
    let stat = known;
    let buf: Buffer;
    try {
      stat ??= await this.fs.stat(entry.file);
      buf = await this.fs.readFile(entry.file);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return { kind: 'gone' };
      const message = `Could not read chat file ${entry.file}: ${errorText(err)}`;
      return { kind: 'problem', problem: { file: entry.file, error: { kind: 'storage', message } } };
    }
    const parsed = parseChatLog(buf.toString('utf8'), entry.id);
    if (!parsed.ok) {
      if (parsed.future) {
        makeReadOnly(entry, parsed.future, stat);
        this.markIndexDirty();
        return { kind: 'ok' };
      }
      return { kind: 'problem', problem: await this.quarantine(entry.file, parsed.reason) };
    }
    if (parsed.tornTail) this.logger.info(`ChatStore: dropped an incomplete last record in ${entry.file}`);
    this.adopt(entry, parsed, stat, buf.length);
    return { kind: 'ok' };
  }

  /** Takes a replayed chat into memory; what a crash left behind (torn tail, live stream) is repaired on disk. */
  private adopt(entry: Entry, parsed: OkLog, stat: FileStat, bytes: number): void {
    const before = entry.persisted;
    const state = install(entry, parsed.state);
    entry.disk = stat;
    entry.snapshotBytes = bytes;
    entry.appendedBytes = 0;
    entry.migratedFrom = parsed.migratedFrom;
    // An older format is never appended to: its first write rewrites it whole (after a backup copy).
    if (parsed.migratedFrom !== undefined) entry.needsCompaction = true;
    // Appending after a torn line would glue the next record to it: rewrite the file first.
    if (parsed.tornTail) entry.needsCompaction = entry.unsaved = true;
    entry.persisted = rowOf(state, stat);
    const after = entry.persisted;
    // The header the index was rebuilt from can lag behind the log: correct the row, the file is unchanged.
    if (!before || before.title !== after.title || before.messageCount !== after.messageCount || before.updatedAt !== after.updatedAt) {
      this.markIndexDirty();
    }
    for (const m of state.chat.messages) {
      // No `at`: an interrupted answer should not move the chat to the top of the list.
      if (m.status === 'streaming') this.commit(entry, state, { t: 'patch', id: m.id, p: { status: 'interrupted' } });
    }
    if (entry.unsaved || entry.pending.length > 0) void this.writeNow(entry);
  }

  /** Index rebuild: the summary from the header line alone. False when the log must be replayed instead. */
  async openFromHeader(entry: Entry, stat: FileStat): Promise<StoreProblem | undefined | false> {
    let head: Buffer;
    try {
      head = await this.fs.readHead(entry.file, 64 * 1024);
    } catch (err) {
      this.logger.warn(`ChatStore: cannot read the header of ${entry.file}: ${errorText(err)}`);
      return false; // the full read reports it
    }
    const nl = head.indexOf(0x0a);
    if (nl < 0) return false;
    const parsed = parseHeader(head.subarray(0, nl).toString('utf8'), entry.id);
    if (!parsed.ok) {
      if (!parsed.future) return this.quarantine(entry.file, parsed.reason);
      makeReadOnly(entry, parsed.future, stat);
      this.entries.set(entry.id, entry);
      return undefined;
    }
    const h = parsed.header;
    // Records were appended after the last compaction (or the file is v1): replay the log.
    if (h.bodyBytes === undefined || stat.size !== nl + 1 + h.bodyBytes) return false;
    entry.summary = { id: entry.id, title: h.title, createdAt: h.createdAt, updatedAt: h.updatedAt, messageCount: h.messageCount };
    entry.titled = h.titled;
    entry.persisted = { ...entry.summary, titled: h.titled, size: stat.size, mtimeMs: stat.mtimeMs };
    entry.snapshotBytes = stat.size;
    entry.disk = stat;
    this.entries.set(entry.id, entry);
    return undefined;
  }

  async quarantine(file: string, reason: string): Promise<StoreProblem> {
    const qdir = path.join(this.o.dir, 'quarantine');
    const stamp = new Date(this.o.clock.now()).toISOString().replace(/[:.]/g, '-');
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

  /** Applies a record to memory and queues it for the file: one code path with replay, so they cannot disagree. */
  commit(entry: Entry, state: ChatState, rec: BodyRecord): void {
    const why = applyRecord(state, rec);
    if (why) throw new Error(`ChatStore: ${why} in chat ${entry.id}`);
    entry.titled = state.titled;
    // Encode now: later appends mutate the message this record points at.
    entry.pending.push(encodeRecord(rec));
  }

  enqueue(entry: Entry, task: () => Promise<void>): Promise<void> {
    const run = entry.queue.then(task).catch((err: unknown) => {
      this.logger.error(`ChatStore: unexpected error writing ${entry.file}: ${errorText(err)}`);
    });
    entry.queue = run;
    return this.track(run);
  }

  track(p: Promise<void>): Promise<void> {
    this.ops.add(p);
    void p.finally(() => this.ops.delete(p));
    return p;
  }

  writeNow(entry: Entry, compact = false): Promise<void> {
    return this.enqueue(entry, () => this.writeChat(entry, compact));
  }

  private async writeChat(entry: Entry, forceCompact: boolean): Promise<void> {
    if (entry.deleted || !entry.state || entry.readOnly) return;
    if (!forceCompact && !entry.unsaved && entry.pending.length === 0) return;
    const seen: { refresh: Refresh } = { refresh: 'same' };
    try {
      await this.locks.withLock(entry.lockFile, async () => {
        seen.refresh = await this.refreshLocked(entry);
        if (seen.refresh !== 'gone') await this.writeLocked(entry, forceCompact, seen.refresh);
      });
    } catch (err) {
      // No lock (another window stuck, or the disk refuses even the lock file), or the file could not be
      // checked: nothing was written, nothing left memory. Retried with the next flush.
      this.reportWriteFailure(entry, err, 'save');
      this.scheduleFlush();
    }
    if (seen.refresh === 'changed' && !this.disposed) this.external.fire([entry.id]);
  }

  private async writeLocked(entry: Entry, forceCompact: boolean, refresh: Refresh): Promise<void> {
    const state = entry.state;
    if (entry.deleted || !state || entry.readOnly) return;
    const compact =
      forceCompact ||
      entry.needsCompaction ||
      (entry.pending.length > 0 && entry.appendedBytes > this.o.compactMinBytes && entry.appendedBytes > entry.snapshotBytes);
    if (!compact && entry.pending.length === 0 && !entry.unsaved) return;
    if (compact && entry.migratedFrom !== undefined && refresh !== 'new') {
      try {
        await this.backupOriginal(entry, entry.migratedFrom);
      } catch (err) {
        // Never rewrite an older file without its copy: keep everything in memory and retry.
        this.reportWriteFailure(entry, err, 'save');
        this.scheduleFlush();
        return;
      }
    }
    // Snapshot synchronously: memory now equals what the file will hold once this write lands.
    const text = compact ? encodeSnapshot(state) : entry.pending.map(encodePending).join('');
    const written = entry.pending;
    entry.pending = [];
    const row = { ...summaryOf(state.chat), titled: state.titled };
    const data = Buffer.from(text, 'utf8');
    try {
      const stat = compact ? await writeAtomic(this.fs, entry.file, data) : await this.fs.append(entry.file, data);
      if (compact) {
        entry.needsCompaction = false;
        entry.migratedFrom = undefined;
        entry.snapshotBytes = data.length;
        entry.appendedBytes = 0;
      } else {
        entry.appendedBytes += data.length;
      }
      entry.unsaved = false;
      entry.disk = stat;
      entry.persisted = { ...row, size: stat.size, mtimeMs: stat.mtimeMs };
      this.indexStale = true;
      if (entry.failing) {
        entry.failing = false;
        this.logger.info(`ChatStore: ${entry.file} is being saved again`);
      }
    } catch (err) {
      // A failed append may have left part of a line behind: the next attempt rewrites the whole file from memory.
      // The records go back to pending, so a re-read (if another window writes meanwhile) still has them; the
      // file as it is now (with our partial line) is what "unchanged since" means for that next attempt.
      entry.pending = [...written.map(encodePending), ...entry.pending];
      entry.needsCompaction = true;
      entry.unsaved = true;
      if (!compact) {
        try {
          entry.disk = await this.fs.stat(entry.file);
        } catch {
          // keep the old one: the next write re-reads
        }
      }
      this.reportWriteFailure(entry, err, 'save');
      this.scheduleFlush();
    }
  }

  /**
   * Under the chat's lock: has another writer changed the file since we last wrote or read it? Then re-read it and
   * replay our pending records on top. A vanished file (deleted by the other window) drops the chat.
   */
  async refreshLocked(entry: Entry): Promise<Refresh> {
    let stat: FileStat;
    try {
      stat = await this.fs.stat(entry.file);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
      if (entry.disk === undefined) return 'new';
      this.dropVanished(entry);
      return 'gone';
    }
    if (sameStat(stat, entry.disk)) return 'same';
    const buf = await this.fs.readFile(entry.file);
    const parsed = parseChatLog(buf.toString('utf8'), entry.id);
    if (!parsed.ok) {
      if (parsed.future) {
        makeReadOnly(entry, parsed.future, stat);
        this.markIndexDirty();
        return 'changed';
      }
      // Damaged by someone else: move it aside and write what this window has, whole.
      const problem = await this.quarantine(entry.file, `${parsed.reason} (after a change by another window)`);
      this.logger.warn(`ChatStore: ${problem.error.message}`);
      this.problems.fire(problem);
      entry.disk = undefined;
      entry.needsCompaction = entry.unsaved = true;
      return 'changed';
    }
    const row = rowOf(parsed.state, stat);
    for (const why of replayPending(entry, parsed.state)) this.logger.warn(`ChatStore: ${why} in chat ${entry.id} after another window's change; dropped`);
    install(entry, parsed.state);
    entry.disk = stat;
    entry.snapshotBytes = buf.length;
    entry.appendedBytes = 0;
    entry.migratedFrom = parsed.migratedFrom;
    if (parsed.migratedFrom !== undefined) entry.needsCompaction = true;
    if (parsed.tornTail) entry.needsCompaction = entry.unsaved = true;
    entry.persisted = row;
    this.indexStale = true;
    return 'changed';
  }

  private async backupOriginal(entry: Entry, version: number): Promise<void> {
    const dir = path.join(this.o.dir, `migrated-v${version}`);
    const dest = path.join(dir, path.basename(entry.file));
    if (await this.exists(dest)) return; // copied once, by this window or another
    await this.fs.mkdir(dir);
    await writeAtomic(this.fs, dest, await this.fs.readFile(entry.file));
    this.logger.info(`ChatStore: kept the v${version} original of ${entry.file} as ${dest}`);
  }

  async deleteEntry(entry: Entry): Promise<void> {
    if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
    entry.deleted = true;
    entry.pending = [];
    this.forgotten.add(entry.id);
    this.markIndexDirty();
    await this.enqueue(entry, async () => {
      try {
        await this.locks.withLock(entry.lockFile, async () => {
          try {
            await this.fs.unlink(entry.file);
          } catch (err) {
            if (errorCode(err) !== 'ENOENT') throw err;
          }
        });
      } catch (err) {
        this.reportWriteFailure(entry, err, 'delete');
      }
    });
  }

  /** The file is gone (another window deleted it): forget the chat, never recreate a headerless file. */
  dropVanished(entry: Entry): void {
    if (entry.deleted) return;
    if (this.entries.get(entry.id) === entry) this.entries.delete(entry.id);
    entry.deleted = true;
    entry.pending = [];
    this.markIndexDirty();
    if (!this.disposed) this.external.fire([entry.id]);
  }

  async exists(file: string): Promise<boolean> {
    try {
      await this.fs.stat(file);
      return true;
    } catch {
      return false;
    }
  }

  private reportWriteFailure(entry: Entry, err: unknown, action: 'save' | 'delete'): void {
    const message = `Could not ${action} chat file ${entry.file}: ${errorText(err)}`;
    this.logger.error(`ChatStore: ${message}`);
    if (entry.failing) return;
    entry.failing = true;
    this.problems.fire({ file: entry.file, error: { kind: 'storage', message, hint: hintFor(err) } });
  }

  // ---- index and flushing ----

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
    const rows = [];
    for (const e of this.entries.values()) if (e.persisted && !e.deleted && !e.readOnly) rows.push(e.persisted);
    try {
      await this.index.write(rows, new Set(this.entries.keys()), this.forgotten);
      this.indexFailing = false;
    } catch (err) {
      this.indexDirty = true;
      const message = `Could not save the chat list ${this.index.file}: ${errorText(err)}`;
      this.logger.error(`ChatStore: ${message}`);
      if (!this.indexFailing) {
        this.indexFailing = true;
        this.problems.fire({ file: this.index.file, error: { kind: 'storage', message, hint: hintFor(err) } });
      }
      this.scheduleFlush();
    }
  }

  markIndexDirty(): void {
    this.indexDirty = true;
    this.scheduleFlush();
  }

  markIndexStale(): void {
    this.indexStale = true;
  }

  scheduleFlush(): void {
    if (this.disposed || this.flushTimer !== undefined) return;
    this.flushTimer = this.o.clock.setTimeout(() => {
      this.flushTimer = undefined;
      void this.track(this.flushDue());
    }, this.o.flushIntervalMs);
  }

  private clearFlushTimer(): void {
    if (this.flushTimer !== undefined) this.o.clock.clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
  }

  /** The timer's flush: chats with something to write, and the index if the list changed. */
  private async flushDue(): Promise<void> {
    const due = [...this.entries.values()].filter((e) => e.pending.length > 0 || e.unsaved);
    await Promise.all(due.map((e) => this.writeNow(e)));
    if (this.indexDirty) await this.writeIndexQueued();
  }

  async flush(): Promise<void> {
    this.clearFlushTimer();
    await Promise.all([...this.entries.values()].map((e) => this.writeNow(e)));
    if (this.indexDirty || this.indexStale) await this.writeIndexQueued();
    await this.whenIdle();
  }

  async whenIdle(): Promise<void> {
    while (this.ops.size > 0) await Promise.all([...this.ops]);
  }

  dispose(): void {
    this.disposed = true;
    this.watcher?.dispose();
    this.clearFlushTimer();
    this.problems.dispose();
    this.external.dispose();
  }

  // ---- another window's changes ----

  private async onWatch(batch: string[] | 'all'): Promise<void> {
    if (this.disposed) return;
    let ids: string[];
    if (batch === 'all') {
      let names: string[] = [];
      try {
        names = await this.fs.readdir(this.chatsDir);
      } catch {
        // the folder is gone: every known chat's stat says so below
      }
      ids = [...new Set([...names.filter((n) => n.endsWith('.jsonl')).map((n) => n.slice(0, -6)), ...this.entries.keys()])];
    } else {
      ids = [...new Set(batch.filter((n) => n.endsWith('.jsonl')).map((n) => n.slice(0, -6)))];
    }
    const changed: string[] = [];
    await forEachLimit(ids.filter(isValidId), 8, async (id) => {
      if (await this.syncExternal(id)) changed.push(id);
    });
    if (changed.length > 0 && !this.disposed) this.external.fire(changed);
  }

  /** One chat file changed, appeared or vanished: bring memory up to date. True when the chat changed. */
  private async syncExternal(id: string): Promise<boolean> {
    const entry = this.entries.get(id);
    if (!entry) return this.adoptForeign(id);
    if (entry.deleted || entry.readOnly) return false;
    let changed = false;
    await this.enqueue(entry, async () => {
      if (entry.deleted || this.disposed) return;
      let stat: FileStat;
      try {
        stat = await this.fs.stat(entry.file);
      } catch (err) {
        if (errorCode(err) === 'ENOENT' && entry.disk !== undefined) this.dropVanished(entry);
        return;
      }
      if (sameStat(stat, entry.disk)) return; // our own write, or nothing new
      if (!entry.state) {
        changed = await this.refreshSummary(entry, stat);
        return;
      }
      await this.locks.withLock(entry.lockFile, async () => {
        changed = (await this.refreshLocked(entry)) === 'changed';
      });
      if (entry.unsaved) this.scheduleFlush();
    });
    return changed;
  }

  /** A chat not loaded here changed: refresh its row (read without the lock: a torn tail is only a write in flight). */
  private async refreshSummary(entry: Entry, stat: FileStat): Promise<boolean> {
    let buf: Buffer;
    try {
      buf = await this.fs.readFile(entry.file);
    } catch {
      return false;
    }
    const parsed = parseChatLog(buf.toString('utf8'), entry.id);
    if (!parsed.ok) {
      if (!parsed.future) return false;
      makeReadOnly(entry, parsed.future, stat);
      return true;
    }
    entry.summary = summaryOf(parsed.state.chat);
    entry.titled = parsed.state.titled;
    entry.disk = stat;
    entry.snapshotBytes = buf.length;
    entry.persisted = rowOf(parsed.state, stat);
    this.indexStale = true;
    return true;
  }

  /** A chat file made by another window: list it, loaded as it is (no crash repair: its writer is alive). */
  private async adoptForeign(id: string): Promise<boolean> {
    if (this.forgotten.has(id) || this.disposed) return false;
    const entry = newEntry(this.chatsDir, id, { id, title: '', createdAt: 0, updatedAt: 0, messageCount: 0 }, false);
    let stat: FileStat;
    let buf: Buffer;
    try {
      stat = await this.fs.stat(entry.file);
      buf = await this.fs.readFile(entry.file);
    } catch {
      return false;
    }
    if (this.entries.has(id) || this.forgotten.has(id)) return false;
    const parsed = parseChatLog(buf.toString('utf8'), id);
    if (!parsed.ok) {
      if (!parsed.future) return false; // damaged: the next open quarantines it
      makeReadOnly(entry, parsed.future, stat);
    } else {
      entry.persisted = rowOf(parsed.state, stat);
      install(entry, parsed.state);
      entry.disk = stat;
      entry.snapshotBytes = buf.length;
      entry.migratedFrom = parsed.migratedFrom;
      if (parsed.migratedFrom !== undefined) entry.needsCompaction = true;
      this.indexStale = true;
    }
    this.entries.set(id, entry);
    return true;
  }

  /** Start-up cleanup: temp files and locks whose writer is gone; never another live window's. */
  async cleanup(dir: string, names: string[]): Promise<void> {
    const now = this.lockTiming.now();
    for (const n of names) {
      const file = path.join(dir, n);
      if (n.endsWith('.tmp')) {
        let stat: FileStat | undefined;
        try {
          stat = await this.fs.stat(file);
        } catch {
          continue;
        }
        if (tmpIsAbandoned(n, stat, now, TMP_MAX_AGE_MS)) await this.removeQuietly(file);
      } else if (n.endsWith('.lock')) {
        try {
          await this.locks.clearIfStale(file);
        } catch {
          // the next write retries
        }
      } else if (n.endsWith('.lock.break')) {
        if ((await this.locks.isStale(file)).stale) await this.removeQuietly(file);
      }
    }
  }

  private async removeQuietly(file: string): Promise<void> {
    try {
      await this.fs.unlink(file);
    } catch {
      // already gone
    }
  }
}

/** A temp file of a live writer older than this is abandoned too (a hung window, or a pid reused). */
const TMP_MAX_AGE_MS = 5 * 60_000;
