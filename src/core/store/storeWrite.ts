/**
 * Writing a chat file: under the chat's lock, first merge what another writer added (see storeLock.ts), then append
 * the pending records or rewrite the file whole (compaction); deleting; dropping a chat another window deleted.
 *
 * Invariant: for a loaded chat, memory = the file as of `entry.disk` + `entry.pending`, whenever no write is running.
 * A re-read rebuilds memory as (file now) + pending, synchronously after the read, so streamed text arriving
 * meanwhile is never lost or applied twice.
 */
import * as path from 'node:path';
import type { Entry } from './storeEntry';
import { encodePending, install, makeReadOnly, replayPending, rowOf, summaryOf } from './storeEntry';
import type { FileStat } from './storeFs';
import { errorCode, errorText, hintFor, sameStat } from './storeFs';
import type { BodyRecord, ChatState } from './storeFormat';
import { applyRecord, encodeRecord, encodeSnapshot, parseChatLog } from './storeFormat';
import { writeAtomic } from './storeIndex';
import type { StoreSync } from './storeSync';
import { t } from '../base/l10n';

/** What a locked re-check of the file found. */
export type Refresh = 'same' | 'changed' | 'gone' | 'new';

export class ChatWriter {
  constructor(private readonly s: StoreSync) {}

  /** Applies a record to memory and queues it for the file: one code path with replay, so they cannot disagree. */
  commit(entry: Entry, state: ChatState, rec: BodyRecord): void {
    const why = applyRecord(state, rec);
    if (why) throw new Error(`ChatStore: ${why} in chat ${entry.id}`);
    entry.titled = state.titled;
    // Encode now: later appends mutate the message this record points at.
    entry.pending.push(encodeRecord(rec));
  }

  enqueue(entry: Entry, task: () => Promise<void>): Promise<void> {
    entry.busy++;
    const run = entry.queue
      .then(task)
      .catch((err: unknown) => {
        this.s.logger.error(`ChatStore: unexpected error writing ${entry.file}: ${errorText(err)}`);
      })
      .finally(() => {
        entry.busy--;
        // Written: a body kept only because of this write may go now.
        this.s.bodies.trim();
      });
    entry.queue = run;
    return this.s.track(run);
  }

  writeNow(entry: Entry, compact = false): Promise<void> {
    return this.enqueue(entry, () => this.writeChat(entry, compact));
  }

  private async writeChat(entry: Entry, forceCompact: boolean): Promise<void> {
    if (entry.deleted || !entry.state || entry.readOnly) return;
    if (!forceCompact && !entry.unsaved && entry.pending.length === 0) return;
    const seen: { refresh: Refresh } = { refresh: 'same' };
    try {
      await this.s.locks.withLock(entry.lockFile, async () => {
        seen.refresh = await this.refreshLocked(entry);
        if (seen.refresh !== 'gone') await this.writeLocked(entry, forceCompact, seen.refresh);
      });
    } catch (err) {
      // No lock (another window stuck, or the disk refuses even the lock file), or the file could not be
      // checked: nothing was written, nothing left memory. Retried with the next flush.
      this.reportWriteFailure(entry, err, 'save');
      this.s.scheduleFlush();
    }
    if (seen.refresh === 'changed' && !this.s.isDisposed) this.s.external.fire([entry.id]);
  }

  private async writeLocked(entry: Entry, forceCompact: boolean, refresh: Refresh): Promise<void> {
    const state = entry.state;
    if (entry.deleted || !state || entry.readOnly) return;
    const compact =
      forceCompact ||
      entry.needsCompaction ||
      (entry.pending.length > 0 && entry.appendedBytes > this.s.o.compactMinBytes && entry.appendedBytes > entry.snapshotBytes);
    if (!compact && entry.pending.length === 0 && !entry.unsaved) return;
    if (compact && entry.migratedFrom !== undefined && refresh !== 'new') {
      try {
        await this.backupOriginal(entry, entry.migratedFrom);
      } catch (err) {
        // Never rewrite an older file without its copy: keep everything in memory and retry.
        this.reportWriteFailure(entry, err, 'save');
        this.s.scheduleFlush();
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
      const stat = compact ? await writeAtomic(this.s.fs, entry.file, data) : await this.s.fs.append(entry.file, data);
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
      this.s.markIndexStale();
      if (entry.failing) {
        entry.failing = false;
        this.s.logger.info(`ChatStore: ${entry.file} is being saved again`);
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
          entry.disk = await this.s.fs.stat(entry.file);
        } catch {
          // keep the old one: the next write re-reads
        }
      }
      this.reportWriteFailure(entry, err, 'save');
      this.s.scheduleFlush();
    }
  }

  /**
   * Under the chat's lock: has another writer changed the file since we last wrote or read it? Then re-read it and
   * replay our pending records on top. A vanished file (deleted by the other window) drops the chat.
   */
  async refreshLocked(entry: Entry): Promise<Refresh> {
    let stat: FileStat;
    try {
      stat = await this.s.fs.stat(entry.file);
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') throw err;
      if (entry.disk === undefined) return 'new';
      this.dropVanished(entry);
      return 'gone';
    }
    if (sameStat(stat, entry.disk)) return 'same';
    const buf = await this.s.fs.readFile(entry.file);
    const parsed = parseChatLog(buf.toString('utf8'), entry.id);
    if (!parsed.ok) {
      if (parsed.future) {
        makeReadOnly(entry, parsed.future, stat);
        this.s.markIndexDirty();
        return 'changed';
      }
      // Damaged by someone else: move it aside and write what this window has, whole.
      const problem = await this.s.quarantine(entry.file, `${parsed.reason} (after a change by another window)`);
      this.s.logger.warn(`ChatStore: ${problem.error.message}`);
      this.s.problems.fire(problem);
      entry.disk = undefined;
      entry.needsCompaction = entry.unsaved = true;
      return 'changed';
    }
    const row = rowOf(parsed.state, stat);
    for (const why of replayPending(entry, parsed.state)) this.s.logger.warn(`ChatStore: ${why} in chat ${entry.id} after another window's change; dropped`);
    install(entry, parsed.state);
    entry.disk = stat;
    entry.snapshotBytes = buf.length;
    entry.appendedBytes = 0;
    entry.migratedFrom = parsed.migratedFrom;
    if (parsed.migratedFrom !== undefined) entry.needsCompaction = true;
    if (parsed.tornTail) entry.needsCompaction = entry.unsaved = true;
    entry.persisted = row;
    this.s.markIndexStale();
    return 'changed';
  }

  private async backupOriginal(entry: Entry, version: number): Promise<void> {
    const dir = path.join(this.s.o.dir, `migrated-v${version}`);
    const dest = path.join(dir, path.basename(entry.file));
    if (await this.s.exists(dest)) return; // copied once, by this window or another
    await this.s.fs.mkdir(dir);
    await writeAtomic(this.s.fs, dest, await this.s.fs.readFile(entry.file));
    this.s.logger.info(`ChatStore: kept the v${version} original of ${entry.file} as ${dest}`);
  }

  async deleteEntry(entry: Entry): Promise<void> {
    if (this.s.entries.get(entry.id) === entry) this.s.entries.delete(entry.id);
    this.s.bodies.forget(entry);
    entry.deleted = true;
    entry.pending = [];
    this.s.forgotten.add(entry.id);
    this.s.markIndexDirty();
    await this.enqueue(entry, async () => {
      try {
        await this.s.locks.withLock(entry.lockFile, async () => {
          try {
            await this.s.fs.unlink(entry.file);
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
    if (this.s.entries.get(entry.id) === entry) this.s.entries.delete(entry.id);
    this.s.bodies.forget(entry);
    entry.deleted = true;
    entry.pending = [];
    this.s.markIndexDirty();
    if (!this.s.isDisposed) this.s.external.fire([entry.id]);
  }

  private reportWriteFailure(entry: Entry, err: unknown, action: 'save' | 'delete'): void {
    const message = `Could not ${action} chat file ${entry.file}: ${errorText(err)}`;
    this.s.logger.error(`ChatStore: ${message}`);
    if (entry.failing) return;
    entry.failing = true;
    const shown = action === 'save' ? t('Could not save chat file {0}: {1}', entry.file, errorText(err)) : t('Could not delete chat file {0}: {1}', entry.file, errorText(err));
    this.s.problems.fire({ file: entry.file, error: { kind: 'storage', message: shown, hint: hintFor(err) } });
  }
}
