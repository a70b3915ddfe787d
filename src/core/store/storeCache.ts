/**
 * Which chat bodies stay in memory. Every chat stays listed (its summary row is always in memory), but only the
 * bodies of the `max` most recently used chats are kept, plus every chat in use: the active one (shown in the view),
 * one with an answer streaming, one with records not yet in its file, and one with a write or re-read running.
 * A dropped body is read from its file again on the next access (storeLoad.ts), so it includes whatever another
 * window wrote meanwhile; the Chat object handed out before is then no longer updated.
 */
import type { Entry } from './storeEntry';
import { summaryOf } from './storeEntry';

export class LoadedBodies {
  /** Chats with a body in memory, least recently used first. */
  private readonly order = new Map<string, Entry>();
  private active: string | undefined;
  private dropped = 0;

  constructor(private readonly max: number) {}

  /** Bodies in memory now (the active and busy chats included). */
  get loaded(): number {
    let n = 0;
    for (const e of this.order.values()) if (e.state && !e.deleted) n++;
    return n;
  }

  /** Bodies dropped so far. */
  get evictions(): number {
    return this.dropped;
  }

  /** The chat the user is looking at: never dropped while it is. */
  setActive(chatId: string | undefined): void {
    this.active = chatId;
    this.trim();
  }

  /** The chat was used: it becomes the most recent, and the oldest unused bodies beyond `max` are dropped. */
  touch(entry: Entry): void {
    if (!entry.state || entry.deleted) return;
    this.order.delete(entry.id);
    this.order.set(entry.id, entry);
    this.trim();
  }

  forget(entry: Entry): void {
    if (this.order.get(entry.id) === entry) this.order.delete(entry.id);
  }

  /** Drops unused bodies, oldest first, until at most `max` are kept; the most recent one always stays. */
  trim(): void {
    let excess = this.order.size - this.max;
    if (excess <= 0) return;
    let left = this.order.size;
    for (const [id, e] of this.order) {
      if (excess <= 0 || --left === 0) break;
      if (!e.state || e.deleted) {
        this.order.delete(id);
        excess--;
      } else if (!this.inUse(e)) {
        drop(e);
        this.dropped++;
        this.order.delete(id);
        excess--;
      }
    }
  }

  private inUse(e: Entry): boolean {
    return e.id === this.active || e.pending.length > 0 || e.unsaved || e.busy > 0 || e.readOnly !== undefined || streaming(e);
  }
}

function streaming(e: Entry): boolean {
  const messages = e.state?.chat.messages ?? [];
  // The streaming message is almost always the newest one.
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i]?.status === 'streaming') return true;
  return false;
}

/** Keeps the row (a copy: the body must not stay reachable through it), drops the messages. */
function drop(e: Entry): void {
  const state = e.state!;
  e.summary = summaryOf(state.chat);
  e.titled = state.titled;
  e.state = undefined;
  e.loading = undefined;
}
