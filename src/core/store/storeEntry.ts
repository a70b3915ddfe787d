/** The chat store's bookkeeping per chat file, and the pure steps that rebuild memory from a re-read file. */
import * as path from 'node:path';
import type { Chat, ChatMessage, ChatSummary } from '../chats/chat';
import type { FileStat } from './storeFs';
import type { BodyRecord, ChatState, FuturePeek, IndexRow } from './storeFormat';
import { applyRecord } from './storeFormat';
import { t } from '../base/l10n';

/** Pending records: encoded lines, or an append record still collecting streamed text. */
export type AppendRecord = Extract<BodyRecord, { t: 'append' }>;
export type Pending = string | AppendRecord;

/** The read-only reason of a newer version's chat, in English (shown as `t(…)` of it). */
export const READ_ONLY_NEWER = 'Made by a newer version of Llama Server Chat';

export interface Entry {
  id: string;
  file: string;
  lockFile: string;
  /** The chat itself once loaded, else the row from the index or header. */
  summary: ChatSummary;
  titled: boolean;
  state?: ChatState;
  loading?: Promise<ChatState | undefined>;
  /** Records applied to memory and not yet in the file, oldest first. */
  pending: Pending[];
  /** The next write rewrites the whole file (new file, torn tail, older format, failed append). */
  needsCompaction: boolean;
  /** Memory holds something the file lacks besides `pending` (new file, torn tail, failed write): write soon. */
  unsaved: boolean;
  /** The file on disk is in this older format: copy it to `migrated-v<n>/` before rewriting it. */
  migratedFrom?: number;
  /** Set when this build must not change the file (see ChatSummary.readOnly). */
  readOnly?: string;
  /**
   * A write of ours failed half-way (a partial append may sit at the end of the file): memory is right, the file is
   * not. While the file keeps its inode (nobody rewrote it), the next write rewrites it from memory without re-reading.
   */
  trustMemory: boolean;
  snapshotBytes: number;
  appendedBytes: number;
  /** The chat file as this store last wrote or read it: another writer changed it when its stat differs. */
  disk?: FileStat;
  /** What is on disk, for the index. */
  persisted?: IndexRow;
  /** Writes to one file run one at a time. */
  queue: Promise<void>;
  /** Tasks queued or running on `queue`: the body stays in memory meanwhile (storeCache.ts). */
  busy: number;
  /**
   * This store has read the file before (its body was dropped from memory since, or another window made it): a
   * `streaming` message in it is a live writer's, so reloading it repairs nothing.
   */
  readBefore: boolean;
  deleted: boolean;
  /** A write failed and was reported; report again only after a success. */
  failing: boolean;
}

export function newEntry(chatsDir: string, id: string, summary: ChatSummary, titled: boolean): Entry {
  return {
    id,
    file: path.join(chatsDir, `${id}.jsonl`),
    lockFile: path.join(chatsDir, `${id}.lock`),
    summary,
    titled,
    pending: [],
    needsCompaction: false,
    unsaved: false,
    trustMemory: false,
    snapshotBytes: 0,
    appendedBytes: 0,
    queue: Promise.resolve(),
    busy: 0,
    readBefore: false,
    deleted: false,
    failing: false,
  };
}

export function summaryOf(s: ChatSummary): ChatSummary {
  const out: ChatSummary = { id: s.id, title: s.title, createdAt: s.createdAt, updatedAt: s.updatedAt, messageCount: s.messageCount };
  if (s.readOnly !== undefined) out.readOnly = s.readOnly;
  return out;
}

export function rowOf(state: ChatState, stat: FileStat): IndexRow {
  return { ...summaryOf(state.chat), titled: state.titled, size: stat.size, mtimeMs: stat.mtimeMs };
}

export function cloneMessage(m: ChatMessage): ChatMessage {
  return structuredClone(m);
}

export function encodePending(p: Pending): string {
  return typeof p === 'string' ? p : `${JSON.stringify(p)}\n`;
}

/**
 * Re-applies this store's unwritten records on top of a chat just re-read from disk (another writer changed it).
 * Records that no longer fit (the other window removed their message) are dropped and named in the result.
 */
export function replayPending(entry: Entry, state: ChatState): string[] {
  const dropped: string[] = [];
  const kept: Pending[] = [];
  for (const p of entry.pending) {
    const rec = typeof p === 'string' ? (JSON.parse(p) as BodyRecord) : p;
    const why = applyRecord(state, rec);
    if (why) dropped.push(why);
    else kept.push(p);
  }
  entry.pending = kept;
  return dropped;
}

/**
 * Puts a re-read chat into the entry, keeping the identity of the live Chat object handed out by getChat (its
 * fields are replaced), so holders of it see the reloaded chat.
 */
export function install(entry: Entry, fresh: ChatState): ChatState {
  const live = entry.state;
  if (!live) {
    entry.state = fresh;
  } else {
    const target = live.chat as unknown as Record<string, unknown>;
    for (const k of Object.keys(target)) delete target[k];
    Object.assign(target, fresh.chat);
    live.titled = fresh.titled;
  }
  const state = entry.state!;
  entry.summary = state.chat;
  entry.titled = state.titled;
  return state;
}

/** A file from a newer version: listed and shown empty, never written, moved or deleted. */
export function makeReadOnly(entry: Entry, peek: FuturePeek, stat: FileStat | undefined): void {
  const when = stat?.mtimeMs ?? 0;
  const chat: Chat = {
    id: entry.id,
    title: peek.title ?? path.basename(entry.file),
    createdAt: peek.createdAt ?? when,
    updatedAt: peek.updatedAt ?? when,
    messageCount: peek.messageCount ?? 0,
    messages: [],
    readOnly: t('Made by a newer version of Llama Server Chat'),
  };
  install(entry, { chat, titled: true });
  entry.readOnly = t('Made by a newer version of Llama Server Chat');
  entry.pending = [];
  entry.needsCompaction = false;
  entry.unsaved = false;
  entry.migratedFrom = undefined;
  entry.disk = stat;
  // Kept out of the index: every open re-detects it from the file itself.
  entry.persisted = undefined;
}

export async function forEachLimit<T>(items: T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
