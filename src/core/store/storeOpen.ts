/** Opening the chat folder: clean up what dead writers left, then list chats from the index or the files. */
import * as path from 'node:path';
import type { StoreProblem } from '../chats/chatRepository';
import { isValidId } from '../base/ids';
import { forEachLimit, newEntry, summaryOf } from './storeEntry';
import type { FileStat } from './storeFs';
import { errorText, tmpIsAbandoned } from './storeFs';
import type { StoreSync } from './storeSync';
import { t } from '../base/l10n';

const OPEN_CONCURRENCY = 32;

export class OpenedFiles {
  constructor(private readonly sync: StoreSync) {}

  async open(): Promise<StoreProblem[]> {
    const s = this.sync;
    const { chatsDir, fs, logger } = s;
    const problems: StoreProblem[] = [];
    let names: string[];
    try {
      await fs.mkdir(chatsDir);
      names = await fs.readdir(chatsDir);
    } catch (err) {
      problems.push({
        file: chatsDir,
        error: {
          kind: 'storage',
          message: t('Could not open the chat folder {0}: {1}', chatsDir, errorText(err)),
          hint: t('Check that the folder exists and is writable; chats are kept in memory only until it is.'),
        },
      });
      return problems;
    }
    // Leftovers of writes that crashed before their rename (the real files are intact), and stale locks.
    await this.cleanup(chatsDir, names);
    try {
      await this.cleanup(s.o.dir, (await fs.readdir(s.o.dir)).filter((n) => n.startsWith('index.')));
    } catch {
      // nothing to clean
    }

    const ids = names
      .filter((n) => n.endsWith('.jsonl'))
      .map((n) => n.slice(0, -'.jsonl'.length))
      .filter(isValidId);
    const index = await s.index.read();
    let dirty = false;
    const rows = new Map((index ?? []).map((r) => [r.id, r]));
    if (!index) logger.info(`ChatStore: index missing or unreadable; rebuilding it from ${ids.length} chat headers`);

    await forEachLimit(ids, OPEN_CONCURRENCY, async (id) => {
      const entry = newEntry(chatsDir, id, { id, title: '', createdAt: 0, updatedAt: 0, messageCount: 0 }, false);
      let stat: FileStat;
      try {
        stat = await fs.stat(entry.file);
      } catch (err) {
        logger.warn(`ChatStore: cannot stat ${entry.file}: ${errorText(err)}`);
        return;
      }
      const row = rows.get(id);
      if (row && row.size === stat.size && row.mtimeMs === stat.mtimeMs) {
        entry.summary = summaryOf(row);
        entry.titled = row.titled;
        entry.persisted = row;
        entry.snapshotBytes = stat.size;
        entry.disk = stat;
        s.entries.set(id, entry);
        return;
      }
      dirty = true;
      if (!index) {
        const problem = await s.loader.openFromHeader(entry, stat);
        if (problem !== false) {
          if (problem) problems.push(problem);
          return;
        }
      }
      // Changed since the index was written (a crash, or another writer): replay it, which also validates it.
      s.entries.set(id, entry);
      const r = await s.loader.readInto(entry, stat);
      if (r.kind !== 'ok') s.entries.delete(id);
      else s.bodies.touch(entry);
      if (r.kind === 'problem') problems.push(r.problem);
    });
    if (index && index.some((r) => !s.entries.has(r.id))) dirty = true;
    if (dirty) s.markIndexDirty();
    for (const p of problems) logger.warn(`ChatStore: ${p.error.message}`);
    return problems;
  }

  /** Start-up cleanup: temp files and locks whose writer is gone; never another live window's. */
  async cleanup(dir: string, names: string[]): Promise<void> {
    const now = this.sync.lockTiming.now();
    for (const n of names) {
      const file = path.join(dir, n);
      if (n.endsWith('.tmp')) {
        let stat: FileStat | undefined;
        try {
          stat = await this.sync.fs.stat(file);
        } catch {
          continue;
        }
        if (tmpIsAbandoned(n, stat, now, TMP_MAX_AGE_MS)) await this.removeQuietly(file);
      } else if (n.endsWith('.lock')) {
        try {
          await this.sync.locks.clearIfStale(file);
        } catch {
          // the next write retries
        }
      } else if (n.endsWith('.lock.break')) {
        if ((await this.sync.locks.isStale(file)).stale) await this.removeQuietly(file);
      }
    }
  }

  private async removeQuietly(file: string): Promise<void> {
    try {
      await this.sync.fs.unlink(file);
    } catch {
      // already gone
    }
  }
}

/** A temp file of a live writer older than this is abandoned too (a hung window, or a pid reused). */
const TMP_MAX_AGE_MS = 5 * 60_000;
