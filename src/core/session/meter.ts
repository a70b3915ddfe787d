/**
 * Live and final throughput figures for one streaming answer: tok/s, context use, time to first token, prompt speed.
 * Prefers the server's own numbers (`timings`, `usage`) and falls back to counting stream events on the clock.
 */
import type { MessageTimings } from '../chats/chat';
import type { Clock } from '../base/clock';
import type { ServerTimings, StreamEvent, Usage } from '../base/events';
import type { LiveStats } from './sessionEvents';

export interface ThroughputMeterOptions {
  /** Sliding window for the fallback tok/s, ms. Default 2000. */
  windowMs?: number;
  /** n_ctx from /props, when already known. */
  ctxMax?: number;
  model?: string;
  /** When the request started; default: clock.now() at construction. */
  startedAt?: number;
}

/** The figures a finished message keeps (the shape of the matching ChatMessage fields). */
export interface MeterSummary {
  promptTokens?: number;
  completionTokens: number;
  cachedTokens?: number;
  ctxUsed?: number;
  ctxMax?: number;
  timings: MessageTimings;
}

const DEFAULT_WINDOW_MS = 2000;
// Samples closer together than this are merged, so the window holds at most windowMs / SAMPLE_MS entries
// whatever the token rate.
const SAMPLE_MS = 50;

interface Sample {
  t: number;
  n: number;
}

function positive(n: number | undefined): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n > 0;
}

function finite(n: number | undefined): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}

export class ThroughputMeter {
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly startedAt: number;
  private phase: LiveStats['phase'] = 'waiting';
  private ctxMax: number | undefined;
  private model: string | undefined;

  /** content + reasoning events seen (the fallback token count). */
  private eventTokens = 0;
  private firstTokenAt: number | undefined;
  private lastTokenAt: number | undefined;
  private samples: Sample[] = [];

  private progressTotal: number | undefined;
  private progressCache: number | undefined;
  private progressFraction: number | undefined;
  private progressPerSecond: number | undefined;

  /** Latest server timings (per-token during generation, final at the end). */
  private timings: ServerTimings | undefined;
  /** True once a timings object arrived while tokens were still coming: the server's live tok/s is usable. */
  private liveServerTps = false;
  private usage: Usage | undefined;

  constructor(clock: Clock, options: ThroughputMeterOptions = {}) {
    this.clock = clock;
    this.windowMs = options.windowMs ?? DEFAULT_WINDOW_MS;
    this.startedAt = options.startedAt ?? clock.now();
    this.ctxMax = options.ctxMax;
    this.model = options.model;
  }

  get currentPhase(): LiveStats['phase'] {
    return this.phase;
  }

  setCtxMax(nCtx: number | undefined): void {
    this.ctxMax = positive(nCtx) ? nCtx : undefined;
  }

  setModel(model: string | undefined): void {
    this.model = model;
  }

  /** Feeds one stream event. `now` lets a caller that already read the clock save a second read on the hot path. */
  onEvent(event: StreamEvent, now?: number): void {
    switch (event.type) {
      case 'content':
      case 'reasoning':
        this.onToken(now ?? this.clock.now());
        return;
      case 'progress': {
        const p = event.progress;
        if (this.phase === 'waiting') this.phase = 'prompt';
        if (finite(p.total)) this.progressTotal = p.total;
        if (finite(p.cache)) this.progressCache = p.cache;
        const todo = p.total - p.cache;
        const done = p.processed - p.cache;
        this.progressFraction = todo > 0 ? Math.min(1, Math.max(0, done / todo)) : 1;
        if (positive(p.timeMs) && done > 0) this.progressPerSecond = (done * 1000) / p.timeMs;
        return;
      }
      case 'timings':
        this.mergeTimings(event.timings);
        if (this.phase === 'generating' && positive(event.timings.predicted_per_second)) this.liveServerTps = true;
        return;
      case 'usage':
        this.usage = event.usage;
        if (event.timings) this.mergeTimings(event.timings);
        this.phase = 'done';
        return;
      case 'finish':
      case 'done':
      case 'error':
        this.phase = 'done';
        return;
      case 'role':
        return;
    }
  }

  /**
   * Latest fields win, merged into our own copy: a new object per token showed in profiles, and so did
   * Object.assign of the parsed JSON (one per token with timings_per_token); the fields read here are copied by name.
   */
  private mergeTimings(t: ServerTimings): void {
    const m = (this.timings ??= {});
    if (t.cache_n !== undefined) m.cache_n = t.cache_n;
    if (t.prompt_n !== undefined) m.prompt_n = t.prompt_n;
    if (t.prompt_ms !== undefined) m.prompt_ms = t.prompt_ms;
    if (t.prompt_per_token_ms !== undefined) m.prompt_per_token_ms = t.prompt_per_token_ms;
    if (t.prompt_per_second !== undefined) m.prompt_per_second = t.prompt_per_second;
    if (t.predicted_n !== undefined) m.predicted_n = t.predicted_n;
    if (t.predicted_ms !== undefined) m.predicted_ms = t.predicted_ms;
    if (t.predicted_per_token_ms !== undefined) m.predicted_per_token_ms = t.predicted_per_token_ms;
    if (t.predicted_per_second !== undefined) m.predicted_per_second = t.predicted_per_second;
  }

  /** The stream ended (finished, stopped or failed). */
  end(): void {
    this.phase = 'done';
  }

  private onToken(now: number): void {
    this.eventTokens++;
    if (this.firstTokenAt === undefined) {
      this.firstTokenAt = now;
      if (this.progressFraction !== undefined) this.progressFraction = 1;
    }
    this.lastTokenAt = now;
    if (this.phase !== 'done') this.phase = 'generating';
    const last = this.samples[this.samples.length - 1];
    if (last && now - last.t < SAMPLE_MS && this.samples.length > 1) {
      last.n = this.eventTokens;
    } else {
      this.samples.push({ t: now, n: this.eventTokens });
    }
    // Keep one sample at or before the window start as the baseline.
    const cutoff = now - this.windowMs;
    let drop = 0;
    while (drop + 1 < this.samples.length && this.samples[drop + 1].t <= cutoff) drop++;
    if (drop > 0) this.samples.splice(0, drop);
  }

  /** Tokens generated: the server's count when it sent one, else the events counted. */
  get completionTokens(): number {
    if (this.usage) return this.usage.completionTokens;
    const n = this.timings?.predicted_n;
    return finite(n) ? n : this.eventTokens;
  }

  private get promptTokens(): number | undefined {
    if (this.usage) return this.usage.promptTokens;
    const t = this.timings;
    if (t && finite(t.prompt_n)) return t.prompt_n + (finite(t.cache_n) ? t.cache_n : 0);
    return this.progressTotal;
  }

  private get cachedTokens(): number | undefined {
    if (this.usage?.cachedTokens !== undefined) return this.usage.cachedTokens;
    if (finite(this.timings?.cache_n)) return this.timings.cache_n;
    return this.progressCache;
  }

  private get ttftMs(): number | undefined {
    return this.firstTokenAt === undefined ? undefined : Math.max(0, this.firstTokenAt - this.startedAt);
  }

  private get promptPerSecond(): number | undefined {
    const s = this.timings?.prompt_per_second;
    return positive(s) ? s : this.progressPerSecond;
  }

  /** Average generation rate over the whole answer, from the client's own clock. */
  private averageTps(): number | undefined {
    if (this.firstTokenAt === undefined || this.lastTokenAt === undefined || this.eventTokens < 2) return undefined;
    const ms = this.lastTokenAt - this.firstTokenAt;
    return ms > 0 ? ((this.eventTokens - 1) * 1000) / ms : undefined;
  }

  private windowTps(now: number): number | undefined {
    const base = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!base || !last || last.n - base.n <= 0) return undefined;
    // Measuring up to `now` (not the last token) lets the figure fall when tokens stop coming.
    const ms = Math.max(now, last.t) - base.t;
    return ms > 0 ? ((last.n - base.n) * 1000) / ms : undefined;
  }

  private tps(now: number): number | undefined {
    const server = this.timings?.predicted_per_second;
    if (this.phase === 'done') return positive(server) ? server : this.averageTps();
    if (this.liveServerTps && positive(server)) return server;
    return this.windowTps(now);
  }

  stats(now: number = this.clock.now()): LiveStats {
    const completionTokens = this.completionTokens;
    const promptTokens = this.promptTokens;
    const s: LiveStats = { phase: this.phase, completionTokens };
    const tps = this.tps(now);
    if (tps !== undefined) s.tps = tps;
    if (promptTokens !== undefined) {
      s.promptTokens = promptTokens;
      s.ctxUsed = promptTokens + completionTokens;
    }
    const cached = this.cachedTokens;
    if (cached !== undefined) s.cachedTokens = cached;
    if (this.ctxMax !== undefined) s.ctxMax = this.ctxMax;
    const ttft = this.ttftMs;
    if (ttft !== undefined) s.ttftMs = ttft;
    const pps = this.promptPerSecond;
    if (pps !== undefined) s.promptPerSecond = pps;
    if (this.progressFraction !== undefined) s.promptProgress = this.progressFraction;
    if (this.model !== undefined) s.model = this.model;
    return s;
  }

  /** The figures to store on the finished message. */
  summary(): MeterSummary {
    const st = this.stats();
    const timings: MessageTimings = {};
    if (st.ttftMs !== undefined) timings.ttftMs = st.ttftMs;
    const t = this.timings;
    if (t && finite(t.prompt_ms)) timings.promptMs = t.prompt_ms;
    if (st.promptPerSecond !== undefined) timings.promptPerSecond = st.promptPerSecond;
    if (t && finite(t.predicted_ms)) {
      timings.predictedMs = t.predicted_ms;
    } else if (this.firstTokenAt !== undefined && this.lastTokenAt !== undefined) {
      timings.predictedMs = this.lastTokenAt - this.firstTokenAt;
    }
    const tps = positive(t?.predicted_per_second) ? t.predicted_per_second : this.averageTps();
    if (tps !== undefined) timings.predictedPerSecond = tps;
    const out: MeterSummary = { completionTokens: st.completionTokens, timings };
    if (st.promptTokens !== undefined) out.promptTokens = st.promptTokens;
    if (st.cachedTokens !== undefined) out.cachedTokens = st.cachedTokens;
    if (st.ctxUsed !== undefined) out.ctxUsed = st.ctxUsed;
    if (st.ctxMax !== undefined) out.ctxMax = st.ctxMax;
    return out;
  }
}
