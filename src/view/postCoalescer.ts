/**
 * Batches streamed text for the webview: whatever the token rate, each streaming message gets at most one `delta`
 * post per 25 ms and usage figures at most once per 500 ms, inside the next delta when text is pending. Every delta post carries the next `seq` of its message,
 * so a snapshot can say which text it already contains and the webview drops anything at or below that seq.
 */
import type { Clock, TimerHandle } from '../core/base/clock';
import type { IDisposable } from '../core/base/disposable';
import type { ChatMessage } from '../core/chats/chat';
import type { ToWebviewMessage, UsagePayload } from '../protocol';

/**
 * The `done` post for a webview that got the answer's text through deltas: the final fields and the text lengths,
 * not the text again (it would double the bytes of a stream).
 */
export function doneWithoutText(chatId: string, messageId: string, message: ChatMessage): ToWebviewMessage {
  const { content, reasoning, ...fields } = message;
  const textLengths = { content: content.length, reasoning: reasoning?.length ?? 0 };
  return { type: 'done', chatId, messageId, message: { ...fields, content: '' }, textLengths };
}

export interface PostCoalescerOptions {
  clock: Clock;
  post: (message: ToWebviewMessage) => void;
  /**
   * Longest a delta waits before it is posted; default 25 ms (at most 40 posts/s). Each delta post carries ~110
   * bytes of addressing: at one per 16 ms frame that was ~20 % on top of the text at 5,000 tok/s.
   */
  frameMs?: number;
  /** Shortest gap between two usage posts of one message; default 500 ms. */
  usageMs?: number;
}

interface PendingDelta {
  chatId: string;
  text: string;
  reasoning: string;
}

interface UsageState {
  lastPostAt: number | undefined;
  pending: UsagePayload | undefined;
  timer: TimerHandle | undefined;
}

export class PostCoalescer implements IDisposable {
  private readonly clock: Clock;
  private readonly postFn: (message: ToWebviewMessage) => void;
  private readonly frameMs: number;
  private readonly usageMs: number;
  /** Insertion-ordered, so messages flush in the order their text started. */
  private readonly pending = new Map<string, PendingDelta>();
  private readonly seqs = new Map<string, number>();
  private readonly usages = new Map<string, UsageState>();
  private frameTimer: TimerHandle | undefined;
  private disposed = false;

  constructor(options: PostCoalescerOptions) {
    this.clock = options.clock;
    this.postFn = options.post;
    this.frameMs = options.frameMs ?? 25;
    this.usageMs = options.usageMs ?? 500;
  }

  /** Queues streamed text; it is posted with the next frame. */
  delta(chatId: string, messageId: string, content?: string, reasoning?: string): void {
    if (this.disposed || (!content && !reasoning)) return;
    let p = this.pending.get(messageId);
    if (!p) {
      p = { chatId, text: '', reasoning: '' };
      this.pending.set(messageId, p);
    }
    if (content) p.text += content;
    if (reasoning) p.reasoning += reasoning;
    this.frameTimer ??= this.clock.setTimeout(() => {
      this.frameTimer = undefined;
      this.flush();
    }, this.frameMs);
  }

  /** Latest figures win; posted at once when the last usage post of that message is old enough, else later. */
  usage(payload: UsagePayload): void {
    if (this.disposed) return;
    let u = this.usages.get(payload.messageId);
    if (!u) {
      u = { lastPostAt: undefined, pending: undefined, timer: undefined };
      this.usages.set(payload.messageId, u);
    }
    u.pending = payload;
    if (u.timer !== undefined) return;
    const now = this.clock.now();
    const wait = u.lastPostAt === undefined ? 0 : u.lastPostAt + this.usageMs - now;
    if (wait <= 0) {
      // Text is about to go: the figures ride along with it (flush takes them) instead of a post of their own.
      if (!this.pending.has(payload.messageId)) this.postUsage(u);
    } else {
      const state = u;
      u.timer = this.clock.setTimeout(() => {
        state.timer = undefined;
        if (!state.pending || !this.pending.has(state.pending.messageId)) this.postUsage(state);
      }, wait);
    }
  }

  /**
   * Posts any other message. Pending text goes first, so `done` and `status` never overtake the text before them;
   * `done` also drops pending usage (it carries the final figures) and forgets the message.
   */
  post(message: ToWebviewMessage): void {
    if (this.disposed) return;
    this.flush();
    this.postFn(message);
    if (message.type === 'done') this.forget(message.messageId);
  }

  /** Posts all pending text now. */
  flush(): void {
    if (this.frameTimer !== undefined) {
      this.clock.clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    }
    if (this.pending.size === 0) return;
    const batch = [...this.pending];
    this.pending.clear();
    for (const [messageId, p] of batch) {
      const seq = (this.seqs.get(messageId) ?? 0) + 1;
      this.seqs.set(messageId, seq);
      const msg: Extract<ToWebviewMessage, { type: 'delta' }> = { type: 'delta', chatId: p.chatId, messageId, seq, text: p.text };
      if (p.reasoning) msg.reasoning = p.reasoning;
      const u = this.usages.get(messageId);
      if (u?.pending !== undefined && u.timer === undefined) {
        const { chatId: _chat, messageId: _id, ...figures } = u.pending;
        msg.usage = figures;
        u.pending = undefined;
        u.lastPostAt = this.clock.now();
      }
      this.postFn(msg);
    }
  }

  /**
   * Called while building a snapshot whose text already contains everything streamed so far: drops pending text
   * (it is in the snapshot) and returns the seq the snapshot covers. Later deltas continue above it.
   */
  snapshotSeq(messageId: string): number {
    this.pending.delete(messageId);
    if (this.pending.size === 0 && this.frameTimer !== undefined) {
      this.clock.clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    }
    return this.seqs.get(messageId) ?? 0;
  }

  /** The view went away: nothing pending is posted (the next snapshot carries it). Seq counters keep counting. */
  dropPending(): void {
    this.pending.clear();
    if (this.frameTimer !== undefined) {
      this.clock.clearTimeout(this.frameTimer);
      this.frameTimer = undefined;
    }
    for (const u of this.usages.values()) {
      if (u.timer !== undefined) this.clock.clearTimeout(u.timer);
      u.timer = undefined;
      u.pending = undefined;
    }
  }

  /** The message ended: drop its pending usage and its seq counter. */
  forget(messageId: string): void {
    this.pending.delete(messageId);
    this.seqs.delete(messageId);
    const u = this.usages.get(messageId);
    if (u?.timer !== undefined) this.clock.clearTimeout(u.timer);
    this.usages.delete(messageId);
  }

  dispose(): void {
    this.dropPending();
    this.disposed = true;
    this.seqs.clear();
    this.usages.clear();
  }

  private postUsage(u: UsageState): void {
    const payload = u.pending;
    if (!payload) return;
    u.pending = undefined;
    u.lastPostAt = this.clock.now();
    this.postFn({ type: 'usage', ...payload });
  }
}
