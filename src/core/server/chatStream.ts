/**
 * One chat completion as a stream of event batches: POST /v1/chat/completions (or a re-attach to the server's
 * stream), the SSE body through one ChatStreamDecoder, and, with a conversation id, a dropped body resumed from the
 * end of the last complete event. Never throws: the last event is `done` or `error`.
 */
import type { Dispatcher } from 'undici';
import { LlamaError } from '../base/errors';
import { t } from '../base/l10n';
import type { ErrorInfo } from '../base/errors';
import type { StreamEvent } from '../base/events';
import type { ChatRequest } from './client';
import { DETACH } from './client';
import { displayUrl, httpStatusError, networkError, notSseError } from './httpErrors';
import type { ErrorContext } from './httpErrors';
import { ERROR_BODY_LIMIT, EXCERPT_BODY_LIMIT, destroyQuietly, readText, undici } from './llamaHttp';
import type { LlamaHttp, ResponseBody } from './llamaHttp';
import { buildChatBody } from './llamaWire';
import type { OpenedStream, ResumableStreams } from './resumableStreams';
import { SseEventCursor } from './sseEventCursor';
import { ChatStreamDecoder } from './streamDecoder';

/** Backoff before resume attempt 1, 2, 3 (attempts in a row without a new complete event). */
const RESUME_BACKOFF_MS = [200, 500, 1_000];

function withResumeNote(event: Extract<StreamEvent, { type: 'error' }>, note: string): StreamEvent {
  const hint = event.error.hint;
  return { type: 'error', error: { ...event.error, hint: hint === undefined ? `${capitalize(note)}.` : `${capitalize(note)}. ${hint}` } };
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) {
      resolve();
      return;
    }
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

interface StreamRun {
  ctx: ErrorContext;
  method: 'POST' | 'GET';
  logUrl: string;
  started: number;
  /** The conversation id (X-Conversation-Id): resumable and cancellable on the server. */
  id: string | undefined;
  signal: AbortSignal | undefined;
}

export class ChatStreams {
  constructor(
    private readonly http: LlamaHttp,
    private readonly streams: ResumableStreams,
    /** Headers timeout of a chat stream (0 = none). */
    private readonly headersTimeoutMs: number,
    /** The server refused a prompt as too long: cached props (n_ctx) may be stale. */
    private readonly onContextExceeded: () => void,
  ) {}

  /**
   * The same stream, one array per network chunk: a promise round trip per chunk instead of per event (two
   * events per token with timings_per_token). Batches are never empty; the consumer owns each array.
   *
   * With `req.conversationId` the request carries `X-Conversation-Id`, so llama-server keeps generating when the
   * connection drops; a body that fails or ends before the answer is complete is then resumed from the last
   * complete SSE event (`reconnecting` events, up to 3 attempts in a row) and the consumer sees one seamless
   * stream. A stream that ends without `done` (Stop, an early exit, a failure) is cancelled on the server.
   */
  async *streamChatBatches(req: ChatRequest, signal?: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    const path = '/v1/chat/completions';
    const ctx: ErrorContext = { serverUrl: this.http.baseUrl, url: this.http.baseUrl + path };
    const started = Date.now();
    const logUrl = displayUrl(ctx.url!);
    const id = req.conversationId !== undefined && req.conversationId !== '' ? req.conversationId : undefined;
    let res: Dispatcher.ResponseData;
    let sent = false;
    try {
      if (this.http.disposed) throw new LlamaError({ kind: 'aborted', message: t('The client was disposed.') });
      const key = await this.http.readKey();
      ctx.sentApiKey = key !== undefined;
      if (signal?.aborted) throw new LlamaError({ kind: 'aborted', message: 'Stopped.' });
      this.http.logger.debug(`POST ${logUrl} (stream, ${req.messages.length} messages)`);
      const headers = this.http.headers(key, 'text/event-stream');
      if (id !== undefined) headers['x-conversation-id'] = id;
      sent = true;
      res = await undici().request(ctx.url!, {
        method: 'POST',
        dispatcher: this.http.dispatcher,
        headers,
        body: JSON.stringify(buildChatBody(req)),
        signal,
        headersTimeout: this.headersTimeoutMs,
        bodyTimeout: 0, // silence is the stale watchdog's call, not a transport error
      });
    } catch (err) {
      const error = networkError(err, { ...ctx, aborted: signal?.aborted === true });
      this.http.logFailure('POST', logUrl, error, started);
      // Stopped while the request was out: the server may have started a stream that outlives the connection.
      if (id !== undefined && sent && error.kind === 'aborted' && signal?.reason !== DETACH) this.streams.cancel(id);
      yield [{ type: 'error', error: this.http.redactInfo(error.toInfo()) }];
      return;
    }

    const body = res.body;
    const contentType = String(res.headers['content-type'] ?? '');
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const text = await readText(body, ERROR_BODY_LIMIT);
      const error = httpStatusError(res.statusCode, text, { ...ctx, contentType });
      if (error.kind === 'context_exceeded') this.onContextExceeded();
      this.http.logFailure('POST', logUrl, error, started);
      yield [{ type: 'error', error: this.http.redactInfo(error.toInfo()) }];
      return;
    }
    if (!/^text\/event-stream\b/i.test(contentType)) {
      const text = await readText(body, EXCERPT_BODY_LIMIT);
      const error = notSseError(contentType || undefined, text, ctx);
      this.http.logFailure('POST', logUrl, error, started, res.statusCode);
      yield [{ type: 'error', error: this.http.redactInfo(error.toInfo()) }];
      return;
    }
    this.http.logger.debug(`POST ${logUrl} → ${res.statusCode} after ${Date.now() - started} ms`);
    yield* this.readStream(body, { ctx, method: 'POST', logUrl, started, id, signal });
  }

  /**
   * Replays the server's stream for conversation `id` from byte 0 through a fresh decoder: the whole answer so far,
   * then live until it ends (a drop is resumed like in streamChatBatches). Same contract as streamChatBatches; an
   * error event (`truncated`) when the server holds no such stream or has no resumable streams at all. Stop
   * (abort) cancels the server-side stream.
   */
  async *resumeStream(id: string, signal?: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    const ctx: ErrorContext = { serverUrl: this.http.baseUrl, url: `${this.http.baseUrl}/v1/stream` };
    const started = Date.now();
    if (this.http.disposed || signal?.aborted) {
      yield [{ type: 'error', error: { kind: 'aborted', message: this.http.disposed ? t('The client was disposed.') : t('Stopped.') } }];
      return;
    }
    const opened = await this.streams.open(id, 0, signal);
    if (!opened.ok) {
      const error: ErrorInfo = signal?.aborted
        ? { kind: 'aborted', message: t('Stopped.') }
        : { kind: 'truncated', message: t('The answer could not be resumed: {0}.', opened.why), hint: t('Send the message again.') };
      yield [{ type: 'error', error: this.http.redactInfo(error) }];
      return;
    }
    yield* this.readStream(opened.body, { ctx, method: 'GET', logUrl: displayUrl(opened.url), started, id, signal });
  }

  /**
   * Reads an SSE body into batches through one decoder; with a conversation id, a body that fails or ends early is
   * continued from the end of the last complete event. Only whole events reach the decoder (an incomplete tail is
   * held back until its blank line), so a continuation never makes it see part of an event twice.
   */
  private async *readStream(first: ResponseBody, run: StreamRun): AsyncGenerator<StreamEvent[], void, undefined> {
    const { ctx, signal, id } = run;
    let body = first;
    let lastEvent: StreamEvent | undefined;
    let sawFinish = false;
    /** Set when resuming was tried and failed: added to the hint of the final error. */
    let resumeFailure: string | undefined;
    let queue: StreamEvent[] = [];
    const decoder = new ChatStreamDecoder((e) => queue.push(e));
    // Hands the queued events over as one batch (errors redacted) and starts a new queue.
    const take = (): StreamEvent[] => {
      const batch = queue;
      queue = [];
      for (let i = 0; i < batch.length; i++) {
        const e = batch[i];
        if (e.type === 'error') batch[i] = this.http.redactEvent(resumeFailure === undefined ? e : withResumeNote(e, resumeFailure));
        else if (e.type === 'finish') sawFinish = true;
      }
      lastEvent = batch[batch.length - 1];
      return batch;
    };
    const events = id !== undefined ? new SseEventCursor() : undefined;
    let attempt = 0;
    try {
      for (let resumed = false; ; resumed = true) {
        let failure: unknown;
        let failed = false;
        let progressed = false;
        try {
          // destroyOnReturn false: leaving the loop at [DONE] must not kill a socket that can be reused.
          const chunks = body.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
          if (events === undefined) {
            for await (const chunk of chunks) {
              decoder.write(chunk);
              if (queue.length > 0) yield take();
              if (decoder.finished) break;
            }
          } else {
            for await (const chunk of chunks) {
              if (events.push(chunk, decoder)) progressed = true;
              if (queue.length > 0) yield take();
              if (decoder.finished) break;
            }
          }
        } catch (err) {
          failed = true;
          failure = err;
        }
        if (decoder.finished) break;
        const aborted = signal?.aborted === true;
        const midStream = { ...ctx, midStream: true, aborted };
        // A body that ends after the finish chunk completes normally (decoder.end() says done).
        const resumable =
          events !== undefined && id !== undefined && !aborted && !this.http.disposed && this.streams.available && events.clean && (failed || !sawFinish);
        if (!resumable) {
          if (failed) decoder.fail(networkError(failure, midStream).toInfo());
          else {
            events?.flush(decoder);
            decoder.end();
          }
          break;
        }
        if (resumed && !progressed && !failed) {
          // The continuation ended with nothing new: asking again would only get the same.
          resumeFailure = t('resuming the stream brought nothing new');
          decoder.end();
          break;
        }
        if (progressed) attempt = 0;
        let next: OpenedStream | undefined;
        let why = t('the server did not answer');
        while (attempt < RESUME_BACKOFF_MS.length) {
          attempt++;
          queue.push({ type: 'reconnecting', attempt });
          yield take();
          this.http.logger.info(`${run.method} ${run.logUrl} connection lost; resuming from byte ${events.offset} (attempt ${attempt})`);
          await sleep(RESUME_BACKOFF_MS[attempt - 1], signal);
          if (signal?.aborted || this.http.disposed) break;
          const opened = await this.streams.open(id, events.offset, signal);
          if (opened.ok) {
            next = opened;
            break;
          }
          why = opened.why;
          if (!opened.retry) break;
        }
        if (next === undefined) {
          if (signal?.aborted) decoder.fail(networkError(signal.reason, { ...ctx, midStream: true, aborted: true }).toInfo());
          else {
            resumeFailure = t('resuming the stream failed ({0})', why);
            if (failed) decoder.fail(networkError(failure, midStream).toInfo());
            else decoder.end();
          }
          break;
        }
        destroyQuietly(body);
        body = next.body;
        events.restart();
      }
      if (queue.length > 0) yield take();
    } finally {
      if (!body.destroyed && !body.readableEnded) {
        if (lastEvent?.type === 'done') {
          // Let the last bytes (the chunked terminator) arrive so the socket is reused; give up quickly.
          await body.dump({ limit: ERROR_BODY_LIMIT, signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        } else {
          // Errors, aborts and early exits close the connection: llama-server then cancels the generation...
          destroyQuietly(body);
        }
      }
      // ...unless the request had X-Conversation-Id: then the stream outlives the connection until cancelled.
      // A detached request (the window is closing) leaves it running, for the next window to resume.
      if (id !== undefined && lastEvent?.type !== 'done' && signal?.reason !== DETACH) this.streams.cancel(id);
      this.logStreamEnd(run.method, run.logUrl, lastEvent, run.started);
    }
  }


  private logStreamEnd(method: string, url: string, last: StreamEvent | undefined, started: number): void {
    const ms = Date.now() - started;
    if (last?.type === 'done') this.http.logger.info(`${method} ${url} stream done in ${ms} ms`);
    else if (last?.type === 'error') {
      if (last.error.kind === 'aborted') this.http.logger.debug(`${method} ${url} stream stopped after ${ms} ms`);
      else this.http.logger.warn(`${method} ${url} stream failed after ${ms} ms: ${last.error.kind}: ${last.error.message}`);
    } else this.http.logger.debug(`${method} ${url} stream left early after ${ms} ms`);
  }
}
