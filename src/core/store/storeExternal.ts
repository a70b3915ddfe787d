/**
 * Another window's changes, as the watcher reports them (storeWatch.ts): a loaded chat is re-read under its lock
 * with this window's unsaved records replayed on top; a chat not loaded only gets its row refreshed; a new file is
 * listed; a vanished one is dropped.
 */
import type { Entry } from './storeEntry';
import { forEachLimit, install, makeReadOnly, newEntry, rowOf, summaryOf } from './storeEntry';
import type { FileStat } from './storeFs';
import { errorCode, sameStat } from './storeFs';
import { parseChatLog } from './storeFormat';
import { isValidId } from '../base/ids';
import type { StoreSync } from './storeSync';

export class ExternalChanges {
  constructor(private readonly s: StoreSync) {}

  async onWatch(batch: string[] | 'all'): Promise<void> {
    if (this.s.isDisposed) return;
    let ids: string[];
    if (batch === 'all') {
      let names: string[] = [];
      try {
        names = await this.s.fs.readdir(this.s.chatsDir);
      } catch {
        // the folder is gone: every known chat's stat says so below
      }
      ids = [...new Set([...names.filter((n) => n.endsWith('.jsonl')).map((n) => n.slice(0, -6)), ...this.s.entries.keys()])];
    } else {
      ids = [...new Set(batch.filter((n) => n.endsWith('.jsonl')).map((n) => n.slice(0, -6)))];
    }
    const changed: string[] = [];
    await forEachLimit(ids.filter(isValidId), 8, async (id) => {
      if (await this.syncExternal(id)) changed.push(id);
    });
    if (changed.length > 0 && !this.s.isDisposed) this.s.external.fire(changed);
  }

  /** One chat file changed, appeared or vanished: bring memory up to date. True when the chat changed. */
  private async syncExternal(id: string): Promise<boolean> {
    const entry = this.s.entries.get(id);
    if (!entry) return this.adoptForeign(id);
    if (entry.deleted || entry.readOnly) return false;
    let changed = false;
    await this.s.enqueue(entry, async () => {
      if (entry.deleted || this.s.isDisposed) return;
      let stat: FileStat;
      try {
        stat = await this.s.fs.stat(entry.file);
      } catch (err) {
        if (errorCode(err) === 'ENOENT' && entry.disk !== undefined) this.s.dropVanished(entry);
        return;
      }
      if (sameStat(stat, entry.disk)) return; // our own write, or nothing new
      if (!entry.state) {
        changed = await this.refreshSummary(entry, stat);
        return;
      }
      await this.s.locks.withLock(entry.lockFile, async () => {
        changed = (await this.s.refreshLocked(entry)) === 'changed';
      });
      if (entry.unsaved) this.s.scheduleFlush();
    });
    return changed;
  }

  /** A chat not loaded here changed: refresh its row (read without the lock: a torn tail is only a write in flight). */
  private async refreshSummary(entry: Entry, stat: FileStat): Promise<boolean> {
    let buf: Buffer;
    try {
      buf = await this.s.fs.readFile(entry.file);
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
    this.s.markIndexStale();
    return true;
  }

  /** A chat file made by another window: list it, loaded as it is (no crash repair: its writer is alive). */
  private async adoptForeign(id: string): Promise<boolean> {
    if (this.s.forgotten.has(id) || this.s.isDisposed) return false;
    const entry = newEntry(this.s.chatsDir, id, { id, title: '', createdAt: 0, updatedAt: 0, messageCount: 0 }, false);
    let stat: FileStat;
    let buf: Buffer;
    try {
      stat = await this.s.fs.stat(entry.file);
      buf = await this.s.fs.readFile(entry.file);
    } catch {
      return false;
    }
    if (this.s.entries.has(id) || this.s.forgotten.has(id)) return false;
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
      this.s.markIndexStale();
    }
    entry.readBefore = true;
    this.s.entries.set(id, entry);
    this.s.bodies.touch(entry);
    return true;
  }
}
