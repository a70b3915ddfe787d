/**
 * One request from VS Code's own chat (the Language Model Chat Provider API), run through the same pieces as a
 * webview answer: the client's stream, the ThroughputMeter and the StaleWatchdog. Nothing is stored: the text goes
 * to `onText`, the figures to the LmStreams tracker (which the status bar reads next to the session's streams), and
 * the request ends with a result or an LmRequestError — never a hang: `staleSeconds` without a single frame aborts
 * the request (the server frees the slot) and fails it with a clear message.
 *
 * Tool calls: the stream's `toolCall` fragments are joined per index; a call goes to `onToolCall` whole (arguments
 * parsed) when the next call starts or the answer finishes. Arguments that are not a JSON object fail the request.
 */
import { errorText } from '../base/errors';
import { t } from '../base/l10n';
import type { Clock } from '../base/clock';
import { systemClock } from '../base/clock';
import { Emitter } from '../base/disposable';
import type { IDisposable } from '../base/disposable';
import type { ErrorInfo } from '../base/errors';
import type { FinishReason, StreamEvent, Usage } from '../base/events';
import type { ChatMessage } from '../chats/chat';
import type { ChatRequest, ChatStreamer } from '../server/client';
import type { MeterSummary } from './meter';
import { ThroughputMeter } from './meter';
import type { ActiveStream } from './sessionApi';
import type { LiveStats, SessionEvent } from './sessionEvents';
import { StaleWatchdog } from './watchdog';

/** The chat id native-chat streams carry in ActiveStream and SessionEvent (no stored chat has it). */
export const NATIVE_CHAT_ID = 'vscode-lm';

/** Live figures are reported at most this often (and at every phase change). */
const STATS_INTERVAL_MS = 250;

export type LmFailure = 'cancelled' | 'stalled' | 'failed';

export class LmRequestError extends Error {
  constructor(
    readonly reason: LmFailure,
    message: string,
    readonly info?: ErrorInfo,
  ) {
    super(message);
    this.name = 'LmRequestError';
  }
}

export interface LmRequestOptions {
  streamer: ChatStreamer;
  request: ChatRequest;
  /** Silence (no frame of any kind) that ends the request; <= 0: never. */
  staleSeconds: number;
  /** VS Code's cancellation: aborts the HTTP request, which frees the server's slot. */
  signal?: AbortSignal;
  /** n_ctx of the model, for the context figures. */
  ctxMax?: number;
  clock?: Clock;
  /** Where the live figures go (the status bar); optional for callers that only want the text. */
  tracker?: LmStreams;
  /** Each run of answer text, in order. */
  onText: (text: string) => void;
  /** Each run of reasoning text (not part of the answer). */
  onReasoning?: (text: string) => void;
  /** Each tool call of the answer, whole, in order. */
  onToolCall?: (call: LmToolCall) => void;
}

/** A tool call the model made: its id (the server's, or `call_<index>` where it sent none), name and arguments. */
export interface LmToolCall {
  id: string;
  name: string;
  input: Record<string, unknown>;
}

export interface LmRequestResult {
  finishReason?: FinishReason;
  usage?: Usage;
  summary: MeterSummary;
  /** The answer's text, whole. */
  text: string;
  /** The tool calls of the answer, in order ([] when none). */
  toolCalls: LmToolCall[];
}

interface PendingToolCall {
  index: number;
  id?: string;
  name?: string;
  args: string;
}

/** A joined call's arguments as an object ({} for none); an LmRequestError when they are not a JSON object. */
function toolCallOf(p: PendingToolCall, cut: boolean): LmToolCall {
  const name = p.name ?? '';
  const id = p.id ?? `call_${p.index}`;
  if (name === '') throw new LmRequestError('failed', t('The model sent a tool call without a name.'));
  const text = p.args.trim();
  if (text === '') return { id, name, input: {} };
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch {
    input = undefined;
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    const shown = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    if (cut) throw new LmRequestError('failed', t('The answer reached its token limit in the middle of a call of the tool {0}: {1}', name, shown));
    throw new LmRequestError('failed', t('The model called the tool {0} with arguments that are not a JSON object: {1}', name, shown));
  }
  return { id, name, input: input as Record<string, unknown> };
}

/** Streams one request to its end; rejects with an LmRequestError when it was cancelled, stalled or failed. */
export async function runLmRequest(o: LmRequestOptions): Promise<LmRequestResult> {
  const clock = o.clock ?? systemClock;
  const started = clock.now();
  const meter = new ThroughputMeter(clock, { startedAt: started, ctxMax: o.ctxMax, model: o.request.model });
  const controller = new AbortController();
  let stalledAfterMs: number | undefined;
  const watchdog = new StaleWatchdog(clock, (silentMs) => {
    stalledAfterMs = silentMs;
    o.tracker?.stale(handle, silentMs);
    controller.abort(new Error('stalled'));
  });
  const onAbort = (): void => controller.abort(new Error('cancelled'));
  if (o.signal?.aborted) onAbort();
  else o.signal?.addEventListener('abort', onAbort, { once: true });
  const handle = o.tracker?.begin(meter.stats(started)) ?? NO_HANDLE;
  let text = '';
  let finishReason: FinishReason | undefined;
  let usage: Usage | undefined;
  let failure: ErrorInfo | undefined;
  const toolCalls: LmToolCall[] = [];
  let pendingTool: PendingToolCall | undefined;
  let toolFailure: LmRequestError | undefined;
  /** The call being joined is complete: parsed and reported (a bad one ends the request). */
  const flushTool = (cut = false): void => {
    const p = pendingTool;
    pendingTool = undefined;
    if (p === undefined || toolFailure !== undefined) return;
    try {
      const call = toolCallOf(p, cut);
      toolCalls.push(call);
      o.onToolCall?.(call);
    } catch (err) {
      toolFailure = err instanceof LmRequestError ? err : new LmRequestError('failed', errorText(err));
      controller.abort(new Error('tool call'));
    }
  };
  let done = false;
  let lastStatsAt = -Infinity;
  let lastPhase: LiveStats['phase'] | undefined;
  const report = (now: number, force = false): void => {
    if (!o.tracker) return;
    const stats = meter.stats(now);
    if (!force && stats.phase === lastPhase && now - lastStatsAt < STATS_INTERVAL_MS) return;
    lastStatsAt = now;
    lastPhase = stats.phase;
    o.tracker.stats(handle, stats);
  };
  const onEvent = (event: StreamEvent, now: number): void => {
    watchdog.touch(now);
    meter.onEvent(event, now);
    switch (event.type) {
      case 'content':
        text += event.text;
        o.onText(event.text);
        report(now);
        return;
      case 'reasoning':
        o.onReasoning?.(event.text);
        report(now);
        return;
      case 'toolCall':
        if (pendingTool !== undefined && pendingTool.index !== event.index) flushTool();
        pendingTool ??= { index: event.index, args: '' };
        if (event.id !== undefined) pendingTool.id ??= event.id;
        if (event.name !== undefined) pendingTool.name ??= event.name;
        if (event.argumentsDelta !== undefined) pendingTool.args += event.argumentsDelta;
        report(now);
        return;
      case 'progress':
      case 'timings':
        report(now);
        return;
      case 'finish':
        finishReason = event.reason;
        flushTool(event.reason === 'length');
        return;
      case 'usage':
        usage = event.usage;
        return;
      case 'error':
        failure = event.error;
        return;
      case 'done':
        // A server that ends without a finish chunk: the last call is complete all the same.
        flushTool();
        done = true;
        return;
      default:
        return;
    }
  };
  watchdog.arm(o.staleSeconds * 1000);
  try {
    if (!controller.signal.aborted) {
      if (o.streamer.streamChatBatches) {
        for await (const batch of o.streamer.streamChatBatches(o.request, controller.signal)) {
          const now = clock.now();
          for (const event of batch) onEvent(event, now);
        }
      } else {
        for await (const event of o.streamer.streamChat(o.request, controller.signal)) onEvent(event, clock.now());
      }
    }
  } catch (err) {
    // The client never throws by contract; anything else is a failure all the same.
    failure ??= { kind: 'unknown', message: errorText(err) };
  } finally {
    watchdog.dispose();
    o.signal?.removeEventListener('abort', onAbort);
    meter.end();
  }
  const summary = meter.summary();
  const status: ChatMessage['status'] =
    toolFailure !== undefined || stalledAfterMs !== undefined || (failure && !o.signal?.aborted) ? 'failed' : o.signal?.aborted ? 'stopped' : done ? 'complete' : 'failed';
  o.tracker?.end(handle, summary, status, clock.now());
  if (stalledAfterMs !== undefined) {
    const seconds = Math.round(stalledAfterMs / 1000);
    throw new LmRequestError(
      'stalled',
      t('llama-server sent nothing for {0} s ({1}): the request was stopped. Check the server, then send again.', seconds, 'llamaChat.staleSeconds'),
    );
  }
  if (o.signal?.aborted) throw new LmRequestError('cancelled', t('The request was cancelled.'));
  if (toolFailure !== undefined) throw toolFailure;
  if (failure) {
    const message = failure.hint ? `${failure.message} ${failure.hint}` : failure.message;
    throw new LmRequestError('failed', message, failure);
  }
  if (!done) throw new LmRequestError('failed', t('The stream ended before the answer was complete.'));
  return { finishReason, usage, summary, text, toolCalls };
}

interface LmHandle {
  readonly messageId: string;
}

const NO_HANDLE: LmHandle = { messageId: '' };

/**
 * The native-chat requests that run now, in the shape the status bar reads from the session (`activeStreams()`
 * and `stats` / `stale` / `streamEnded` events under the chat id NATIVE_CHAT_ID).
 */
export class LmStreams implements IDisposable {
  private readonly streams = new Map<string, ActiveStream>();
  private readonly emitter = new Emitter<SessionEvent>();
  private next = 1;
  readonly onEvent = this.emitter.event;

  activeStreams(): ActiveStream[] {
    return [...this.streams.values()].map((s) => ({ ...s, stats: { ...s.stats } }));
  }

  begin(stats: LiveStats): LmHandle {
    const messageId = `lm-${this.next++}`;
    this.streams.set(messageId, { chatId: NATIVE_CHAT_ID, messageId, stale: false, stats });
    this.emitter.fire({ type: 'stats', chatId: NATIVE_CHAT_ID, messageId, stats });
    return { messageId };
  }

  stats(handle: LmHandle, stats: LiveStats): void {
    const s = this.streams.get(handle.messageId);
    if (!s) return;
    s.stats = stats;
    this.emitter.fire({ type: 'stats', chatId: NATIVE_CHAT_ID, messageId: handle.messageId, stats });
  }

  stale(handle: LmHandle, silentMs: number): void {
    const s = this.streams.get(handle.messageId);
    if (!s) return;
    s.stale = true;
    this.emitter.fire({ type: 'stale', chatId: NATIVE_CHAT_ID, messageId: handle.messageId, silentMs });
  }

  end(handle: LmHandle, summary: MeterSummary, status: ChatMessage['status'], now: number): void {
    if (!this.streams.delete(handle.messageId)) return;
    const message: ChatMessage = {
      id: handle.messageId,
      role: 'assistant',
      content: '',
      status,
      createdAt: now,
      finishedAt: now,
      completionTokens: summary.completionTokens,
      timings: summary.timings,
    };
    if (summary.promptTokens !== undefined) message.promptTokens = summary.promptTokens;
    if (summary.ctxUsed !== undefined) message.ctxUsed = summary.ctxUsed;
    if (summary.ctxMax !== undefined) message.ctxMax = summary.ctxMax;
    this.emitter.fire({ type: 'streamEnded', chatId: NATIVE_CHAT_ID, messageId: handle.messageId, message });
  }

  dispose(): void {
    this.streams.clear();
    this.emitter.dispose();
  }
}

/** What the status bar reads: the session's streams and the native chat's, as one source. */
export interface StreamSource {
  readonly onEvent: (listener: (e: SessionEvent) => void) => IDisposable;
  activeStreams(): ActiveStream[];
}

export function mergeStreamSources(...sources: StreamSource[]): StreamSource {
  return {
    onEvent: (listener) => {
      const subs = sources.map((s) => s.onEvent(listener));
      return { dispose: () => subs.forEach((d) => d.dispose()) };
    },
    activeStreams: () => sources.flatMap((s) => s.activeStreams()),
  };
}
