/**
 * Reading a chat file into memory: lazily on first use, and again after its body was dropped from memory
 * (storeCache.ts); the first read repairs what a crash left (torn tail, an answer left streaming); damaged files are
 * quarantined.
 */
import * as path from 'node:path';
import type { StoreProblem } from '../chats/chatRepository';
import type { Entry } from './storeEntry';
import { install, makeReadOnly, rowOf } from './storeEntry';
import type { FileStat } from './storeFs';
import { errorCode, errorText } from './storeFs';
import type { ChatState, LogResult } from './storeFormat';
import { parseChatLog, parseHeader } from './storeFormat';
import type { StoreSync } from './storeSync';
import { t } from '../base/l10n';

type OkLog = Extract<LogResult, { ok: true }>;

export class ChatLoader {
  constructor(private readonly s: StoreSync) {}

  /** The chat's body, read from its file if it is not in memory (first use, or dropped since); it counts as used. */
  async load(entry: Entry): Promise<ChatState | undefined> {
    const state = entry.state ?? (await (entry.loading ??= this.loadEntry(entry)));
    if (state && entry.state === state) this.s.bodies.touch(entry);
    return state;
  }

  private async loadEntry(entry: Entry): Promise<ChatState | undefined> {
    const r = await this.readInto(entry);
    if (entry.deleted) return undefined;
    if (r.kind === 'gone') {
      this.s.dropVanished(entry);
      return undefined;
    }
    if (r.kind === 'problem') {
      if (this.s.entries.get(entry.id) === entry) this.s.entries.delete(entry.id);
      this.s.markIndexDirty();
      this.s.logger.warn(`ChatStore: ${r.problem.error.message}`);
      this.s.problems.fire(r.problem);
      return undefined;
    }
    return entry.state;
  }

  /** Reads and replays a chat file into the entry (crash repair included); a damaged file is quarantined. */
  async readInto(entry: Entry, known?: FileStat): Promise<{ kind: 'ok' | 'gone' } | { kind: 'problem'; problem: StoreProblem }> {
    let stat = known;
    let buf: Buffer;
    try {
      stat ??= await this.s.fs.stat(entry.file);
      buf = await this.s.fs.readFile(entry.file);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return { kind: 'gone' };
      const message = t('Could not read chat file {0}: {1}', entry.file, errorText(err));
      return { kind: 'problem', problem: { file: entry.file, error: { kind: 'storage', message } } };
    }
    const parsed = parseChatLog(buf.toString('utf8'), entry.id);
    if (!parsed.ok) {
      if (parsed.future) {
        makeReadOnly(entry, parsed.future, stat);
        this.s.markIndexDirty();
        return { kind: 'ok' };
      }
      return { kind: 'problem', problem: await this.quarantine(entry.file, parsed.reason) };
    }
    if (parsed.tornTail) this.s.logger.info(`ChatStore: dropped an incomplete last record in ${entry.file}`);
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
      this.s.markIndexDirty();
    }
    // A reload (the body was dropped from memory) finds only live writers' streams: they are left alone.
    for (const m of entry.readBefore ? [] : state.chat.messages) {
      // No `at`: an interrupted answer should not move the chat to the top of the list.
      if (m.status === 'streaming') this.s.commit(entry, state, { t: 'patch', id: m.id, p: { status: 'interrupted' } });
    }
    entry.readBefore = true;
    if (entry.unsaved || entry.pending.length > 0) void this.s.writeNow(entry);
  }

  /** Index rebuild: the summary from the header line alone. False when the log must be replayed instead. */
  async openFromHeader(entry: Entry, stat: FileStat): Promise<StoreProblem | undefined | false> {
    let head: Buffer;
    try {
      head = await this.s.fs.readHead(entry.file, 64 * 1024);
    } catch (err) {
      this.s.logger.warn(`ChatStore: cannot read the header of ${entry.file}: ${errorText(err)}`);
      return false; // the full read reports it
    }
    const nl = head.indexOf(0x0a);
    if (nl < 0) return false;
    const parsed = parseHeader(head.subarray(0, nl).toString('utf8'), entry.id);
    if (!parsed.ok) {
      if (!parsed.future) return this.quarantine(entry.file, parsed.reason);
      makeReadOnly(entry, parsed.future, stat);
      this.s.entries.set(entry.id, entry);
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
    this.s.entries.set(entry.id, entry);
    return undefined;
  }

  async quarantine(file: string, reason: string): Promise<StoreProblem> {
    const qdir = path.join(this.s.o.dir, 'quarantine');
    const stamp = new Date(this.s.o.clock.now()).toISOString().replace(/[:.]/g, '-');
    let dest = path.join(qdir, `${path.basename(file)}.${stamp}`);
    try {
      await this.s.fs.mkdir(qdir);
      // rename() would silently replace an earlier quarantined copy of the same file.
      for (let n = 2; await this.s.exists(dest); n++) dest = path.join(qdir, `${path.basename(file)}.${stamp}.${n}`);
      await this.s.fs.rename(file, dest);
      return {
        file,
        quarantinedTo: dest,
        error: {
          kind: 'storage',
          message: t('Chat file {0} could not be read: {1}. It was moved to {2}.', file, reason, dest),
          hint: t('Other chats are not affected. The moved file is kept for recovery by hand.'),
        },
      };
    } catch (err) {
      return {
        file,
        error: {
          kind: 'storage',
          message: t('Chat file {0} could not be read: {1}. Moving it aside failed: {2}.', file, reason, errorText(err)),
          hint: t('Other chats are not affected.'),
        },
      };
    }
  }
}
