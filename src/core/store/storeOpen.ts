/** Opening the chat folder: clean up what dead writers left, then list chats from the index or the files. */
import type { StoreProblem } from '../chats/chatRepository';
import { isValidId } from '../base/ids';
import { forEachLimit, newEntry, summaryOf } from './storeEntry';
import type { FileStat } from './storeFs';
import { errorText } from './storeFs';
import type { StoreSync } from './storeSync';

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
          message: `Could not open the chat folder ${chatsDir}: ${errorText(err)}`,
          hint: 'Check that the folder exists and is writable; chats are kept in memory only until it is.',
        },
      });
      return problems;
    }
    // Leftovers of writes that crashed before their rename (the real files are intact), and stale locks.
    await s.cleanup(chatsDir, names);
    try {
      await s.cleanup(s.o.dir, (await fs.readdir(s.o.dir)).filter((n) => n.startsWith('index.')));
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
        const problem = await s.openFromHeader(entry, stat);
        if (problem !== false) {
          if (problem) problems.push(problem);
          return;
        }
      }
      // Changed since the index was written (a crash, or another writer): replay it, which also validates it.
      s.entries.set(id, entry);
      const r = await s.readInto(entry, stat);
      if (r.kind !== 'ok') s.entries.delete(id);
      if (r.kind === 'problem') problems.push(r.problem);
    });
    if (index && index.some((r) => !s.entries.has(r.id))) dirty = true;
    if (dirty) s.markIndexDirty();
    for (const p of problems) logger.warn(`ChatStore: ${p.error.message}`);
    return problems;
  }
}
