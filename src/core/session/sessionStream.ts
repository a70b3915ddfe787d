/**
 * One answer's stream from the first frame to its single final status: every frame feeds the meter, the
 * watchdogs and the repository; text is batched into deltas; `stats` are rate-limited; and whoever ends the stream
 * first (the server, or a user action) decides its status.
 */
import type { ChatMessage, MessagePatch, MessageStatus } from '../chats/chat';
import type { ChatRequest, ServerProps } from '../server/client';
import { modelNameOf } from '../server/connection';
import { t } from '../base/l10n';
import type { ErrorInfo } from '../base/errors';
import type { StreamEvent } from '../base/events';
import { ThroughputMeter } from './meter';
import type { ActionOutcome, ActiveStream, SessionSettings } from './sessionApi';
import { deferred, errorText } from './sessionCore';
import type { SessionCore, StreamState } from './sessionCore';
import type { LiveStats, SessionEvent } from './sessionEvents';
import { StreamLiveness } from './streamLiveness';
import { StaleWatchdog } from './watchdog';

/** At most one `stats` event per stream per this much clock time (plus one on every phase change and at the end). */
export const STATS_INTERVAL_MS = 250;

/** No token, reasoning or prompt progress for this long on a live stream: the server is busy (not stale). */
export const BUSY_AFTER_MS = 5_000;

/** How a stream ends when a user action (not the server) ends it. */
export type EndCause =
  | { kind: 'natural' }
  | { kind: 'stop' }
  | { kind: 'retry'; silentMs: number; stale: boolean }
  | { kind: 'discard' }
  | { kind: 'shutdown' };

export class StreamRunner {
  readonly liveness: StreamLiveness;

  constructor(private readonly core: SessionCore) {
    this.liveness = new StreamLiveness(core, (state, now) => this.emitStats(state, now));
  }

  activeStreams(): ActiveStream[] {
    const now = this.core.clock.now();
    return [...this.core.streams.values()].map((s) => {
      const active: ActiveStream = { chatId: s.chatId, messageId: s.message.id, stale: s.stale, stats: this.statsOf(s, now) };
      if (s.stale && s.staleAnnounced) {
        active.silentMs = s.watchdog.silentMs(now);
        if (s.staleAnnounced.diagnosis) active.diagnosis = s.staleAnnounced.diagnosis;
      }
      return active;
    });
  }

  /** Registers a stream for `message` (its own copy) with its meter and watchdogs armed. */
  newStream(chatId: string, message: ChatMessage, now: number, model: string | undefined, baseTokens: number): StreamState {
    const { core } = this;
    const settings = core.settings();
    const meter = new ThroughputMeter(core.clock, { startedAt: now, ctxMax: core.lastProps?.nCtx, model });
    const state: StreamState = {
      chatId,
      message,
      controller: new AbortController(),
      meter,
      watchdog: new StaleWatchdog(core.clock, (silentMs) => this.liveness.onStale(state, silentMs)),
      stale: false,
      staleAnnounced: undefined,
      terminal: false,
      finishReason: undefined,
      error: undefined,
      lastStatsAt: Number.NEGATIVE_INFINITY,
      lastPhase: 'waiting',
      storageFailed: false,
      finalizing: undefined,
      ended: deferred(),
      baseTokens,
      progressWatch: new StaleWatchdog(core.clock, (silentMs) => this.liveness.onBusy(state, silentMs)),
      busySince: undefined,
      queued: undefined,
      completionId: undefined,
      reconnecting: false,
      skip: { content: 0, reasoning: 0 },
    };
    core.streams.set(chatId, state);
    state.watchdog.arm(settings.staleSeconds * 1000);
    state.progressWatch.arm(BUSY_AFTER_MS);
    return state;
  }

  /** n_ctx (and the model name) for the meter; a failure here never blocks the stream. */
  fetchProps(state: StreamState, settings: SessionSettings): void {
    const { core } = this;
    let p: Promise<ServerProps>;
    try {
      p = core.streamer.getProps(state.controller.signal, core.chatOptions(state.chatId).model);
    } catch (err) {
      core.logger.warn(`Could not read server props: ${errorText(err)}`);
      return;
    }
    p.then(
      (props) => {
        core.lastProps = props;
        if (state.finalizing) return;
        state.meter.setCtxMax(props.nCtx);
        const patch: MessagePatch = {};
        // The alias cached from an earlier answer may name a model the server has since swapped.
        const name = modelNameOf(props);
        if (!settings.model && !core.chatOptions(state.chatId).model && name && name !== state.message.model) {
          state.message.model = name;
          state.meter.setModel(name);
          patch.model = name;
          void core.persist(() => core.repository.updateMessage(state.chatId, state.message.id, patch));
          core.fire({ type: 'messageUpdated', chatId: state.chatId, messageId: state.message.id, patch });
        }
        this.emitStats(state, core.clock.now());
      },
      (err: unknown) => core.logger.warn(`Could not read server props: ${errorText(err)}`),
    );
  }

  async run(state: StreamState, source: AsyncIterable<StreamEvent[]>): Promise<void> {
    try {
      for await (const batch of source) {
        this.onStreamBatch(state, batch);
        if (state.finalizing || state.terminal) break;
      }
    } catch (err) {
      // The contract says streamers never throw; if one does, the answer still gets a final status.
      state.error = { kind: 'unknown', message: t('The stream failed: {0}', errorText(err)) };
    }
    await this.finalize(state, { kind: 'natural' });
  }

  /** The streamer's batches; one that streams single events is read as batches of one (one code path here). */
  async *batches(request: ChatRequest, signal: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    const { streamer } = this.core;
    if (streamer.streamChatBatches) {
      yield* streamer.streamChatBatches(request, signal);
      return;
    }
    for await (const event of streamer.streamChat(request, signal)) yield [event];
  }

  /** The stream's single ending; later callers get the same promise. */
  finalize(state: StreamState, cause: EndCause): Promise<void> {
    state.finalizing ??= this.doFinalize(state, cause).finally(() => state.ended.resolve());
    return state.finalizing;
  }

  /** Stop or discard by the user: refused when the stream ended already or another answer streams now. */
  async endByUser(chatId: string, messageId: string | undefined, cause: EndCause): Promise<ActionOutcome> {
    const state = this.core.streams.get(chatId);
    if (!state) return this.core.notStreaming(chatId);
    if (state.terminal || state.finalizing) {
      return { ok: false, reason: 'already-finished', detail: t('The answer already finished on its own.') };
    }
    if (messageId !== undefined && messageId !== state.message.id) {
      return { ok: false, reason: 'target-changed', detail: t('That answer is no longer being generated; another one is.') };
    }
    state.controller.abort();
    await this.finalize(state, cause);
    return { ok: true, chatId, messageId: state.message.id };
  }

  /**
   * One network chunk's events (often hundreds of tokens at speed): one clock read, and each run of text of one
   * kind goes to the repository and the listeners as one delta instead of one per token. A `timings` frame (with
   * `timings_per_token` one follows every token) does not end the run: the meter and the watchdog take it in place,
   * and the stats check it would make is made once, when the run is handed on.
   */
  private onStreamBatch(state: StreamState, batch: StreamEvent[]): void {
    // A user action may have ended the stream while this batch was in flight: nothing more is applied.
    if (state.finalizing) return;
    const now = this.core.clock.now();
    let kind: 'content' | 'reasoning' | undefined;
    // The run's pieces, joined once: one flat string per run instead of a rope of one string per token, which the
    // message, the store and the coalescer would each keep (and every scavenge would copy).
    const pieces: string[] = [];
    let timingsInRun = false;
    for (let i = 0; i < batch.length; i++) {
      const event = batch[i];
      if (event.type === 'content' || event.type === 'reasoning') {
        if (kind !== event.type && kind !== undefined) {
          this.endRun(state, kind, joined(pieces), timingsInRun, now);
          if (state.finalizing) return;
          pieces.length = 0;
          timingsInRun = false;
        }
        kind = event.type;
        pieces.push(event.text);
        state.watchdog.touch(now);
        state.meter.onEvent(event, now);
        continue;
      }
      if (event.type === 'timings' && kind !== undefined) {
        // What onStreamEvent does for it, minus the stats check (endRun makes it) and clearing a stale
        // mark (onText does that for the run's text).
        state.watchdog.touch(now);
        state.meter.onEvent(event, now);
        timingsInRun = true;
        continue;
      }
      if (kind !== undefined) {
        this.endRun(state, kind, joined(pieces), timingsInRun, now);
        kind = undefined;
        pieces.length = 0;
        timingsInRun = false;
      }
      if (state.finalizing) return;
      this.onStreamEvent(state, event, now);
      if (state.terminal) return;
    }
    if (kind !== undefined) this.endRun(state, kind, joined(pieces), timingsInRun, now);
  }

  /** A run of text, and the stats check of the `timings` frames taken in with it. */
  private endRun(state: StreamState, kind: 'content' | 'reasoning', text: string, timings: boolean, now: number): void {
    this.onText(state, kind, text, now);
    // onText checked already unless a replay skipped all of its text; a second check at the same `now` is a no-op.
    if (timings && !state.finalizing) this.maybeStats(state, now);
  }

  /** Streamed text (one token or a run of them) that the meter has already counted. */
  private onText(state: StreamState, kind: 'content' | 'reasoning', text: string, now: number): void {
    if (state.stale) this.liveness.clearStale(state);
    this.liveness.onProgress(state, now);
    const skip = state.skip[kind];
    if (skip > 0) {
      // A replay from the first byte: what the message already holds is not appended twice.
      const n = Math.min(skip, text.length);
      state.skip[kind] -= n;
      text = text.slice(n);
      if (!text) return;
    }
    const delta = kind === 'content' ? { content: text } : { reasoning: text };
    if (kind === 'content') state.message.content += text;
    else state.message.reasoning = (state.message.reasoning ?? '') + text;
    this.append(state, delta);
    this.core.fire({ type: 'delta', chatId: state.chatId, messageId: state.message.id, ...delta });
    this.maybeStats(state, now);
  }

  private onStreamEvent(state: StreamState, event: StreamEvent, now: number): void {
    state.watchdog.touch(now);
    state.meter.onEvent(event, now);
    const { chatId } = state;
    const messageId = state.message.id;
    switch (event.type) {
      case 'content':
      case 'reasoning':
        this.onText(state, event.type, event.text, now);
        return;
      case 'progress':
        if (state.stale) this.liveness.clearStale(state);
        this.liveness.onProgress(state, now);
        this.core.fire({ type: 'progress', chatId, messageId, progress: event.progress });
        this.maybeStats(state, now);
        return;
      case 'reconnecting':
        // The connection dropped; the client resumes the stream where the last complete event ended.
        state.reconnecting = true;
        this.core.logger.info(`Connection dropped on answer ${messageId}; resuming (attempt ${event.attempt})`);
        this.emitStats(state, now);
        return;
      case 'role':
        if (event.id !== undefined) state.completionId = event.id;
        if (state.stale) this.liveness.clearStale(state);
        return;
      case 'timings':
      case 'alive':
        // Any frame, a ping included, proves the stream lives.
        if (state.stale) this.liveness.clearStale(state);
        if (event.type === 'timings') this.maybeStats(state, now);
        return;
      case 'finish':
        state.finishReason = event.reason;
        return;
      case 'usage':
        return;
      case 'done':
        state.terminal = true;
        return;
      case 'error':
        state.terminal = true;
        state.error = event.error;
        return;
    }
  }

  private append(state: StreamState, delta: { content?: string; reasoning?: string }): void {
    if (state.storageFailed) return;
    try {
      this.core.repository.appendToMessage(state.chatId, state.message.id, delta);
    } catch (err) {
      // Keep streaming in memory; the final updateMessage tries to save the whole text again.
      state.storageFailed = true;
      this.core.storageError(err);
    }
  }

  private maybeStats(state: StreamState, now: number): void {
    const phase = state.meter.currentPhase;
    if (phase !== state.lastPhase || now - state.lastStatsAt >= STATS_INTERVAL_MS) this.emitStats(state, now);
  }

  emitStats(state: StreamState, now: number): void {
    state.lastStatsAt = now;
    const stats = this.statsOf(state, now);
    state.lastPhase = stats.phase;
    this.core.fire({ type: 'stats', chatId: state.chatId, messageId: state.message.id, stats });
  }

  /** The meter's figures plus what only the session knows: busy, waiting for a slot. */
  private statsOf(state: StreamState, now: number): LiveStats {
    const stats = state.meter.stats(now);
    if (!state.stale && state.busySince !== undefined) stats.busyMs = Math.max(0, now - state.busySince);
    if (state.queued) stats.queued = state.queued;
    if (state.reconnecting) stats.reconnecting = true;
    return stats;
  }

  private async doFinalize(state: StreamState, cause: EndCause): Promise<void> {
    const { core } = this;
    // Synchronous part first: from here on the chat is free and nothing else touches this stream.
    state.watchdog.cancel();
    state.progressWatch.cancel();
    state.meter.end();
    if (core.streams.get(state.chatId) === state) core.streams.delete(state.chatId);

    const { status, error } = outcome(state, cause);
    const summary = state.meter.summary();
    const patch: MessagePatch = {
      status,
      finishedAt: core.clock.now(),
      completionTokens: summary.completionTokens + state.baseTokens,
      timings: summary.timings,
    };
    if (state.finishReason !== undefined) patch.finishReason = state.finishReason;
    if (state.finishReason === 'length') {
      const max = core.settings().maxTokens;
      patch.limit = max !== undefined && max > 0 && summary.completionTokens >= max ? 'maxTokens' : 'context';
    }
    if (summary.promptTokens !== undefined) patch.promptTokens = summary.promptTokens;
    if (summary.cachedTokens !== undefined) patch.cachedTokens = summary.cachedTokens;
    if (summary.ctxUsed !== undefined) patch.ctxUsed = summary.ctxUsed;
    if (summary.ctxMax !== undefined) patch.ctxMax = summary.ctxMax;
    if (state.message.model) patch.model = state.message.model;
    if (error) patch.error = error;
    // If appends failed, the final patch carries the whole text so the store can still save it.
    if (state.storageFailed) {
      patch.content = state.message.content;
      if (state.message.reasoning !== undefined) patch.reasoning = state.message.reasoning;
    }
    Object.assign(state.message, patch);
    core.lastEnded.set(state.chatId, status);

    this.emitStats(state, core.clock.now());
    core.logger.info(`Answer ${state.message.id} ended: ${status}${error ? ` (${error.kind}: ${error.message})` : ''}`);
    await core.persist(() => core.repository.updateMessage(state.chatId, state.message.id, patch));
    const { chatId } = state;
    const messageId = state.message.id;
    core.fire({ type: 'messageUpdated', chatId, messageId, patch });
    const ended: SessionEvent = { type: 'streamEnded', chatId, messageId, message: structuredClone(state.message) };
    if (error) ended.error = error;
    core.fire(ended);
    core.fire({ type: 'chatsChanged' });
  }
}

/** The pieces as one flat string. */
function joined(pieces: string[]): string {
  return pieces.length === 1 ? pieces[0] : pieces.join('');
}

/** The final status of a stream, from how it ended. */
function outcome(state: StreamState, cause: EndCause): { status: MessageStatus; error?: ErrorInfo } {
  switch (cause.kind) {
    case 'stop':
      return { status: 'stopped' };
    case 'shutdown':
      return { status: 'interrupted' };
    case 'discard':
      return { status: 'failed', error: { kind: 'aborted', message: t('Discarded by the user; the answer is incomplete.') } };
    case 'retry': {
      const s = Math.round(cause.silentMs / 1000);
      const message = cause.stale ? t('Retried after no activity for {0} s.', s) : t('Retried by the user.');
      return { status: 'failed', error: { kind: 'aborted', message, hint: t('A new answer was requested.') } };
    }
    case 'natural':
      if (state.error) {
        // A connection that drops after the finish frame still delivered the whole answer.
        if (state.finishReason !== undefined && state.error.kind === 'truncated') return { status: 'complete' };
        return { status: 'failed', error: state.error };
      }
      if (state.terminal || state.finishReason !== undefined) return { status: 'complete' };
      return { status: 'failed', error: { kind: 'truncated', message: t('The stream ended before the answer was finished.') } };
  }
}
