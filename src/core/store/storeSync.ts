/**
 * The chat store's disk side, put together: the shared state of one store (options, entries, locks, index, events)
 * and the parts that act on it: opening (storeOpen.ts), loading (storeLoad.ts), writing under the chat's lock
 * (storeWrite.ts), another window's changes (storeExternal.ts), the chat bodies kept in
 * memory (storeCache.ts), and here the shared index and flushing.
 */
import * as path from 'node:path';
import type { StoreProblem } from '../chats/chatRepository';
import type { Clock, TimerHandle } from '../base/clock';
import { Emitter } from '../base/disposable';
import type { Logger } from '../base/logger';
import { LoadedBodies } from './storeCache';
import type { Entry } from './storeEntry';
import type { StoreFs } from './storeFs';
import { errorText, hintFor } from './storeFs';
import type { BodyRecord, ChatState } from './storeFormat';
import { StoreIndex } from './storeIndex';
import { ChatLoader } from './storeLoad';
import type { LockTiming } from './storeLock';
import { FileLocks, realLockTiming } from './storeLock';
import { OpenedFiles } from './storeOpen';
import type { Refresh } from './storeWrite';
import { ChatWriter } from './storeWrite';
import { ExternalChanges } from './storeExternal';
import type { WatchFactory } from './storeWatch';
import { DebouncedWatcher, nodeWatch } from './storeWatch';
import { t } from '../base/l10n';

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
  /** Chat bodies kept in memory besides those in use (see storeCache.ts). */
  maxLoadedChats: number;
}

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
  readonly loader: ChatLoader;
  readonly writer: ChatWriter;
  readonly bodies: LoadedBodies;
  private readonly opener: OpenedFiles;
  private readonly externalChanges: ExternalChanges;
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
    this.loader = new ChatLoader(this);
    this.writer = new ChatWriter(this);
    this.externalChanges = new ExternalChanges(this);
    this.bodies = new LoadedBodies(o.maxLoadedChats);
  }

  get isDisposed(): boolean {
    return this.disposed;
  }

  async open(): Promise<StoreProblem[]> {
    const problems = await this.opener.open();
    if (this.o.watch !== false && !this.disposed) {
      this.watcher = new DebouncedWatcher(
        this.chatsDir,
        this.o.watch ?? nodeWatch,
        this.o.clock,
        this.o.watchDebounceMs,
        (batch) => void this.track(this.externalChanges.onWatch(batch)),
        this.logger,
      );
    }
    return problems;
  }

  // ---- the parts, for each other and for ChatStore ----

  load(entry: Entry): Promise<ChatState | undefined> {
    return this.loader.load(entry);
  }

  quarantine(file: string, reason: string): Promise<StoreProblem> {
    return this.loader.quarantine(file, reason);
  }

  commit(entry: Entry, state: ChatState, rec: BodyRecord): void {
    this.writer.commit(entry, state, rec);
  }

  enqueue(entry: Entry, task: () => Promise<void>): Promise<void> {
    return this.writer.enqueue(entry, task);
  }

  writeNow(entry: Entry, compact = false): Promise<void> {
    return this.writer.writeNow(entry, compact);
  }

  refreshLocked(entry: Entry): Promise<Refresh> {
    return this.writer.refreshLocked(entry);
  }

  deleteEntry(entry: Entry): Promise<void> {
    return this.writer.deleteEntry(entry);
  }

  dropVanished(entry: Entry): void {
    this.writer.dropVanished(entry);
  }

  track(p: Promise<void>): Promise<void> {
    this.ops.add(p);
    void p.finally(() => this.ops.delete(p));
    return p;
  }

  async exists(file: string): Promise<boolean> {
    try {
      await this.fs.stat(file);
      return true;
    } catch {
      return false;
    }
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
        this.problems.fire({ file: this.index.file, error: { kind: 'storage', message: t('Could not save the chat list {0}: {1}', this.index.file, errorText(err)), hint: hintFor(err) } });
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
}
