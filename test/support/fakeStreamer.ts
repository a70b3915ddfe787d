/**
 * A scripted ChatStreamer for tests. Each streamChat() or streamChatBatches() call creates a FakeStream whose events
 * the test pushes. Through streamChatBatches (what the session uses, as production does with LlamaClient) everything
 * queued when the consumer asks comes as one batch, like the events of one network chunk. Faithful to the contract: it never throws, an abort ends the stream with
 * `{type: 'error', error: {kind: 'aborted'}}`, and nothing follows a `done` or `error` event.
 */
import type { ChatRequest, ChatStreamer, PromptCount, ServerProps, SlotInfo } from '../../src/core/server/client';
import type { ErrorInfo } from '../../src/core/base/errors';
import type { FinishReason, ServerTimings, StreamEvent, Usage } from '../../src/core/base/events';

export const ABORTED: ErrorInfo = { kind: 'aborted', message: 'The request was cancelled.' };

export class FakeStream {
  private readonly queue: StreamEvent[] = [];
  private waiting: ((r: IteratorResult<StreamEvent>) => void) | undefined;
  private waitingBatch: ((r: IteratorResult<StreamEvent[]>) => void) | undefined;
  private drainWaiters: (() => void)[] = [];
  private closed = false;
  private finishedIterating = false;
  /** Events handed to the consumer so far. */
  readonly delivered: StreamEvent[] = [];
  /** The consumer called return() (broke out of its loop). */
  returned = false;

  constructor(
    readonly request: ChatRequest,
    readonly signal: AbortSignal | undefined,
  ) {
    if (signal?.aborted) {
      this.push({ type: 'error', error: ABORTED });
    } else {
      signal?.addEventListener('abort', () => this.push({ type: 'error', error: ABORTED }), { once: true });
    }
  }

  get aborted(): boolean {
    return this.signal?.aborted ?? false;
  }

  /** No more events will be delivered (terminal event pushed, or end()). */
  get ended(): boolean {
    return this.closed;
  }

  /** Queues events; a `done` or `error` closes the stream, and anything after a close is ignored. */
  push(...events: StreamEvent[]): this {
    for (const e of events) {
      if (this.closed) return this;
      this.queue.push(e);
      if (e.type === 'done' || e.type === 'error') this.closed = true;
    }
    this.pump();
    return this;
  }

  content(text: string): this {
    return this.push({ type: 'content', text });
  }

  reasoning(text: string): this {
    return this.push({ type: 'reasoning', text });
  }

  /** A successful ending: finish, then usage (when given), then done. */
  finish(reason: FinishReason = 'stop', usage?: Usage, timings?: ServerTimings): this {
    this.push({ type: 'finish', reason });
    if (usage) this.push(timings ? { type: 'usage', usage, timings } : { type: 'usage', usage });
    return this.push({ type: 'done' });
  }

  fail(error: ErrorInfo): this {
    return this.push({ type: 'error', error });
  }

  /** Ends the iteration without a terminal event (a contract breach, for robustness tests). */
  end(): this {
    this.closed = true;
    this.pump();
    return this;
  }

  /** Resolves once the consumer has taken every queued event and asked for the next one (or stopped iterating). */
  drained(): Promise<void> {
    if (this.isDrained()) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private isDrained(): boolean {
    return this.queue.length === 0 && (this.waiting !== undefined || this.waitingBatch !== undefined || this.finishedIterating);
  }

  private pump(): void {
    if (this.waitingBatch) {
      const resolve = this.waitingBatch;
      if (this.queue.length > 0) {
        this.waitingBatch = undefined;
        const batch = this.queue.splice(0, this.queue.length);
        this.delivered.push(...batch);
        resolve({ value: batch, done: false });
      } else if (this.closed) {
        this.waitingBatch = undefined;
        this.finishedIterating = true;
        resolve({ value: undefined, done: true });
      }
    }
    if (this.waiting) {
      const resolve = this.waiting;
      const e = this.queue.shift();
      if (e) {
        this.waiting = undefined;
        this.delivered.push(e);
        resolve({ value: e, done: false });
      } else if (this.closed) {
        this.waiting = undefined;
        this.finishedIterating = true;
        resolve({ value: undefined, done: true });
      }
    }
    if (this.isDrained()) {
      const ws = this.drainWaiters;
      this.drainWaiters = [];
      for (const w of ws) w();
    }
  }

  batchIterator(): AsyncIterator<StreamEvent[]> {
    return {
      next: () =>
        new Promise<IteratorResult<StreamEvent[]>>((resolve) => {
          this.waitingBatch = resolve;
          this.pump();
        }),
      return: () => this.stopIterating(),
    };
  }

  private stopIterating(): Promise<IteratorResult<never>> {
    this.returned = true;
    this.closed = true;
    this.finishedIterating = true;
    this.queue.length = 0;
    this.pump();
    return Promise.resolve({ value: undefined, done: true });
  }

  iterator(): AsyncIterator<StreamEvent> {
    return {
      next: () =>
        new Promise<IteratorResult<StreamEvent>>((resolve) => {
          this.waiting = resolve;
          this.pump();
        }),
      return: () => this.stopIterating(),
    };
  }
}

export class FakeStreamer implements ChatStreamer {
  readonly streams: FakeStream[] = [];
  /** What getProps resolves to; an Error rejects; a function is called per request. */
  props: ServerProps | Error | ((signal?: AbortSignal) => Promise<ServerProps>) = { nCtx: 2048, modelAlias: 'tiny.gguf' };
  propsCalls = 0;
  /** Requests counted with countPrompt (a fake tokenizer: 4 characters a token, 4 per message). */
  readonly counted: ChatRequest[] = [];
  /** Set to false to behave like a server that cannot count (the session then estimates). */
  canCount = true;
  /** What GET /health and GET /slots answer (an Error rejects); undefined: the method is absent. */
  healthAnswer: 'ok' | Error | undefined;
  slotsAnswer: SlotInfo[] | Error | undefined;
  health?: (signal?: AbortSignal) => Promise<unknown>;
  lookupStreams?: (ids: string[], signal?: AbortSignal) => Promise<{ id: string; done: boolean; totalBytes: number }[]>;
  resumeStream?: (id: string, signal?: AbortSignal) => AsyncIterable<StreamEvent[]>;
  getSlots?: (signal?: AbortSignal) => Promise<SlotInfo[]>;

  /** Gives the fake a /health and a /slots that answer with healthAnswer / slotsAnswer. */
  withProbes(health: 'ok' | Error, slots: SlotInfo[] | Error): this {
    this.healthAnswer = health;
    this.slotsAnswer = slots;
    this.health = () => (this.healthAnswer instanceof Error ? Promise.reject(this.healthAnswer) : Promise.resolve({ status: 'ok' }));
    this.getSlots = () => (this.slotsAnswer instanceof Error ? Promise.reject(this.slotsAnswer) : Promise.resolve(structuredClone(this.slotsAnswer ?? [])));
    return this;
  }
  private streamWaiters: ((s: FakeStream) => void)[] = [];

  streamChat(request: ChatRequest, signal?: AbortSignal): AsyncIterable<StreamEvent> {
    const stream = this.start(request, signal);
    return { [Symbol.asyncIterator]: () => stream.iterator() };
  }

  streamChatBatches(request: ChatRequest, signal?: AbortSignal): AsyncIterable<StreamEvent[]> {
    const stream = this.start(request, signal);
    return { [Symbol.asyncIterator]: () => stream.batchIterator() };
  }

  private start(request: ChatRequest, signal: AbortSignal | undefined): FakeStream {
    const stream = new FakeStream(structuredClone(request), signal);
    this.streams.push(stream);
    const ws = this.streamWaiters;
    this.streamWaiters = [];
    for (const w of ws) w(stream);
    return stream;
  }

  getProps(signal?: AbortSignal): Promise<ServerProps> {
    this.propsCalls++;
    const p = this.props;
    if (p instanceof Error) return Promise.reject(p);
    if (typeof p === 'function') return p(signal);
    return Promise.resolve({ ...p });
  }

  /** The fake tokenizer's size of a request: what a test can compute by hand. */
  static tokensOf(req: Pick<ChatRequest, 'messages'>): number {
    return req.messages.reduce((n, m) => n + 4 + Math.ceil(m.content.length / 4), 0);
  }

  countPrompt(request: ChatRequest): Promise<PromptCount> {
    if (!this.canCount) return Promise.reject(new Error('cannot count'));
    this.counted.push(structuredClone(request));
    return Promise.resolve({ tokens: FakeStreamer.tokensOf(request), exact: true });
  }

  tokenCount(text: string): Promise<PromptCount> {
    if (!this.canCount) return Promise.reject(new Error('cannot count'));
    return Promise.resolve({ tokens: Math.ceil(text.length / 4), exact: true });
  }

  /** The latest stream; throws when none was started. */
  get last(): FakeStream {
    const s = this.streams[this.streams.length - 1];
    if (!s) throw new Error('no stream was started');
    return s;
  }

  /** Resolves with the next stream started from now on. */
  nextStream(): Promise<FakeStream> {
    return new Promise((resolve) => this.streamWaiters.push(resolve));
  }
}
