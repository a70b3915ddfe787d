/**
 * Several VS Code windows, one folder. Two windows without a workspace share one global storage directory, so two
 * ChatStores (two processes) may write the same chat files and the same index.json.
 *
 * Design: a lock file per chat (`chats/<id>.lock`) and one for the index (`index.lock`), each created with O_EXCL
 * and holding `{pid, host, at}`. A writer holds a lock only for one write (stat, maybe re-read, append or rewrite),
 * a few milliseconds; the streaming path (appendToMessage) never touches it: it only buffers in memory. Under the
 * lock the writer first compares the file's stat with what it last wrote or read; when another writer changed it,
 * it re-reads the log and replays this window's not-yet-written records on top before appending or compacting, so a
 * compaction from one window's memory can no longer drop the other's records.
 *
 * Why locks and not a journal per writer: a journal per window would make every reader merge N logs forever, and
 * the "one log per chat, replay = memory" invariant (storeFormat.ts) would be lost; a short lock keeps the format
 * unchanged and old files readable. Only one lock is ever held at a time (chat locks and the index lock are never
 * nested), so two windows cannot deadlock.
 *
 * Stale locks (a window killed while writing): the lock is stale when its pid is not alive on this host, or when it
 * is older than STALE_MS (another host on a shared drive, or a reused pid). Breaking one is itself guarded by a
 * `<lock>.break` file (O_EXCL), and the lock is re-read under it: two windows that both saw the same stale lock cannot
 * delete each other's fresh lock. Waiting retries with a small growing backoff.
 */
import type { StoreFs } from './storeFs';
import { HOST, errorCode, nodeStoreFs, pidAlive } from './storeFs';

export const STALE_MS = 10_000;
const BREAK_STALE_MS = 1_000;
/** Longer than STALE_MS: whoever holds the lock has either finished or become stale by then. */
const MAX_WAIT_MS = 15_000;

export interface LockInfo {
  pid: number;
  host: string;
  at: number;
}

/** Wall-clock time and sleeping for locks: shared between processes, so never a test's fake clock. */
export interface LockTiming {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const realLockTiming: LockTiming = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

export class LockTimeoutError extends Error {
  constructor(readonly lockFile: string) {
    super(`another window holds ${lockFile} for too long`);
  }
}

function parseLock(text: string): LockInfo | undefined {
  try {
    const x = JSON.parse(text) as Partial<LockInfo>;
    if (typeof x.pid === 'number' && typeof x.host === 'string' && typeof x.at === 'number') return { pid: x.pid, host: x.host, at: x.at };
  } catch {
    // being written, or garbage
  }
  return undefined;
}

export class FileLocks {
  private readonly fs: StoreFs;
  private readonly create: (file: string, data: Buffer) => Promise<void>;

  constructor(
    fs: StoreFs,
    private readonly timing: LockTiming = realLockTiming,
  ) {
    this.fs = fs;
    const own = fs.createExclusive?.bind(fs);
    const fallback = nodeStoreFs.createExclusive!.bind(nodeStoreFs);
    this.create = own ?? fallback;
  }

  /** Runs fn holding the lock file. Throws LockTimeoutError when it cannot be had (fn did not run). */
  async withLock<T>(lockFile: string, fn: () => Promise<T>): Promise<T> {
    const mine = await this.acquire(lockFile);
    try {
      return await fn();
    } finally {
      await this.release(lockFile, mine);
    }
  }

  /** Whether the lock file is stale (its writer gone), judged from its contents or, when unreadable, its age. */
  async isStale(lockFile: string): Promise<{ stale: boolean; text?: string }> {
    let text: string;
    try {
      text = (await this.fs.readFile(lockFile)).toString('utf8');
    } catch (err) {
      return { stale: errorCode(err) === 'ENOENT' };
    }
    const info = parseLock(text);
    const now = this.timing.now();
    if (info) return { stale: (info.host === HOST && !pidAlive(info.pid)) || now - info.at > STALE_MS, text };
    // Created but not yet written (a few microseconds), or written by a crash mid-write: judge by its age.
    try {
      const s = await this.fs.stat(lockFile);
      return { stale: now - s.mtimeMs > BREAK_STALE_MS, text };
    } catch {
      return { stale: true };
    }
  }

  /** Removes the lock file if it is stale (start-up cleanup of a window killed while writing). */
  async clearIfStale(lockFile: string): Promise<void> {
    const seen = await this.isStale(lockFile);
    if (seen.stale) await this.breakStale(lockFile, seen.text);
  }

  private async acquire(lockFile: string): Promise<string> {
    const start = this.timing.now();
    let delay = 2;
    for (;;) {
      const info: LockInfo = { pid: process.pid, host: HOST, at: this.timing.now() };
      const text = JSON.stringify(info);
      try {
        await this.create(lockFile, Buffer.from(text, 'utf8'));
        return text;
      } catch (err) {
        if (errorCode(err) !== 'EEXIST') throw err;
      }
      const seen = await this.isStale(lockFile);
      if (seen.stale) {
        await this.breakStale(lockFile, seen.text);
        continue;
      }
      if (this.timing.now() - start > MAX_WAIT_MS) throw new LockTimeoutError(lockFile);
      await this.timing.sleep(delay + Math.random() * delay);
      delay = Math.min(delay * 2, 50);
    }
  }

  /** Deletes a stale lock, unless it changed since it was judged stale (someone else broke it and locked again). */
  private async breakStale(lockFile: string, judged: string | undefined): Promise<void> {
    const guard = `${lockFile}.break`;
    try {
      await this.create(guard, Buffer.from(JSON.stringify({ pid: process.pid, host: HOST, at: this.timing.now() }), 'utf8'));
    } catch (err) {
      if (errorCode(err) !== 'EEXIST') throw err;
      // Someone is breaking it right now; a guard left by a writer killed mid-break is removed once old.
      if ((await this.isStale(guard)).stale) await this.unlinkQuietly(guard);
      else await this.timing.sleep(2);
      return;
    }
    try {
      let now: string | undefined;
      try {
        now = (await this.fs.readFile(lockFile)).toString('utf8');
      } catch {
        return; // already gone
      }
      if (now === judged || judged === undefined) await this.unlinkQuietly(lockFile);
    } finally {
      await this.unlinkQuietly(guard);
    }
  }

  private async release(lockFile: string, mine: string): Promise<void> {
    // Only our own lock: if it was broken as stale meanwhile (we were too slow), it belongs to someone else now.
    try {
      const now = (await this.fs.readFile(lockFile)).toString('utf8');
      if (now === mine) await this.fs.unlink(lockFile);
    } catch {
      // already gone
    }
  }

  private async unlinkQuietly(file: string): Promise<void> {
    try {
      await this.fs.unlink(file);
    } catch {
      // gone already
    }
  }
}
