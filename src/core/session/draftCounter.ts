/**
 * Counts the draft the user is typing without a request per keystroke: at most one `measure` per interval (a
 * leading call right away when idle, then a trailing one with the latest draft), a newer draft aborts the measure
 * in flight (its result is dropped), and results are cached by key so an idle or repeated draft costs nothing.
 */
import type { Clock, TimerHandle } from '../base/clock';

export interface DraftCounterOptions<D, R> {
  clock: Clock;
  /** Least time between the starts of two measures. Default 300 ms. */
  intervalMs?: number;
  /** Drafts with the same key have the same result (e.g. chat id + text + attachment ids). */
  key: (draft: D) => string;
  /** Measures one draft; should reject promptly once `signal` aborts. */
  measure: (draft: D, signal: AbortSignal) => Promise<R>;
  /** The result for the latest draft (never for one a newer draft replaced). */
  onResult: (draft: D, result: R) => void;
  /** A measure of the latest draft failed (not called for aborted ones). */
  onError?: (draft: D, error: unknown) => void;
  /** Results kept (least recently used dropped first). Default 64. */
  cacheSize?: number;
}

interface InFlight<D> {
  draft: D;
  key: string;
  controller: AbortController;
}

export class DraftCounter<D, R> {
  private readonly clock: Clock;
  private readonly intervalMs: number;
  private readonly cacheSize: number;
  private readonly cache = new Map<string, R>();
  private latest: { draft: D; key: string } | undefined;
  private inFlight: InFlight<D> | undefined;
  private timer: TimerHandle | undefined;
  private lastStart = Number.NEGATIVE_INFINITY;
  private disposed = false;

  constructor(private readonly options: DraftCounterOptions<D, R>) {
    this.clock = options.clock;
    this.intervalMs = Math.max(0, options.intervalMs ?? 300);
    this.cacheSize = Math.max(1, options.cacheSize ?? 64);
  }

  /** The draft changed (or is shown again): its result arrives through onResult, from the cache when known. */
  update(draft: D): void {
    if (this.disposed) return;
    const key = this.options.key(draft);
    this.latest = { draft, key };
    if (this.cache.has(key)) {
      const result = this.cache.get(key) as R;
      // Refresh its place in the LRU order.
      this.cache.delete(key);
      this.cache.set(key, result);
      this.abortInFlight();
      this.cancelTimer();
      this.options.onResult(draft, result);
      return;
    }
    if (this.inFlight?.key === key) return; // already being measured
    this.abortInFlight();
    this.schedule();
  }

  /** Forgets every result (the chat, the server or the settings changed) and measures the latest draft again. */
  invalidate(): void {
    if (this.disposed) return;
    this.cache.clear();
    this.abortInFlight();
    if (this.latest) this.schedule();
  }

  /** True while a measure runs or a trailing one is due. */
  get pending(): boolean {
    return this.inFlight !== undefined || this.timer !== undefined;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.abortInFlight();
    this.cancelTimer();
    this.cache.clear();
    this.latest = undefined;
  }

  /** Starts now when the last start is an interval ago, else once then (with whatever draft is latest by then). */
  private schedule(): void {
    if (this.timer !== undefined) return;
    const wait = this.lastStart + this.intervalMs - this.clock.now();
    if (wait <= 0) {
      this.start();
      return;
    }
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      const latest = this.latest;
      if (this.disposed || !latest || this.cache.has(latest.key) || this.inFlight?.key === latest.key) return;
      this.abortInFlight();
      this.start();
    }, wait);
  }

  private start(): void {
    const latest = this.latest;
    if (!latest) return;
    const flight: InFlight<D> = { draft: latest.draft, key: latest.key, controller: new AbortController() };
    this.inFlight = flight;
    this.lastStart = this.clock.now();
    let promise: Promise<R>;
    try {
      promise = this.options.measure(flight.draft, flight.controller.signal);
    } catch (err) {
      promise = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    promise.then(
      (result) => {
        if (this.inFlight !== flight) return; // replaced or aborted: dropped
        this.inFlight = undefined;
        this.remember(flight.key, result);
        if (!this.disposed) this.options.onResult(flight.draft, result);
      },
      (err: unknown) => {
        if (this.inFlight !== flight) return;
        this.inFlight = undefined;
        if (!this.disposed && !flight.controller.signal.aborted) this.options.onError?.(flight.draft, err);
      },
    );
  }

  private remember(key: string, result: R): void {
    this.cache.delete(key);
    this.cache.set(key, result);
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value as string;
      this.cache.delete(oldest);
    }
  }

  private abortInFlight(): void {
    const flight = this.inFlight;
    if (!flight) return;
    this.inFlight = undefined;
    flight.controller.abort();
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
