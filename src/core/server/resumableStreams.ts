/**
 * llama-server's resumable streams (a request with `X-Conversation-Id` outlives its connection): re-attaching to a
 * stream from a byte offset, cancelling one (Stop), and looking up which conversations the server still holds.
 * Both spellings of the endpoints are probed once and the one that answers is remembered.
 */
import type { Dispatcher } from 'undici';
import { LlamaError, errorText } from '../base/errors';
import { t } from '../base/l10n';
import { displayUrl, networkError } from './httpErrors';
import { ERROR_BODY_LIMIT, readText, undici } from './llamaHttp';
import type { LlamaHttp, ResponseBody } from './llamaHttp';
import { isObject, optNumber, optString } from './llamaWire';

/** A stream the server still holds (llama-server's resumable streams). */
export interface StreamInfo {
  id: string;
  /** Generation has ended; the whole body can still be replayed. */
  done: boolean;
  /** SSE body bytes so far. */
  totalBytes: number;
}

/**
 * The two spellings of llama-server's resumable-stream endpoints: `path` is `/v1/stream/ID` (newer llama.cpp,
 * ggml-org/llama.cpp#23226), `query` is `/v1/stream?conv_id=ID` (v0.5.0). Probed in this order.
 */
export type StreamApi = 'path' | 'query';
const STREAM_APIS: readonly StreamApi[] = ['path', 'query'];
/** Statuses of a resume or cancel that mean "not this spelling" (or "no such stream"). */
const STREAM_MISSING = new Set([400, 404, 405]);
const CANCEL_TIMEOUT_MS = 2_000;

/** `/v1/stream/ID?from=N` or `/v1/stream?conv_id=ID&from=N` (without `from`: the DELETE target). */
export function streamPath(api: StreamApi, id: string, from?: number): string {
  const e = encodeURIComponent(id);
  if (api === 'path') return from === undefined ? `/v1/stream/${e}` : `/v1/stream/${e}?from=${from}`;
  return from === undefined ? `/v1/stream?conv_id=${e}` : `/v1/stream?conv_id=${e}&from=${from}`;
}

/** A lookup or list answer → the entries for `ids` (v0.5.0: `[{conversation_id, is_done, total_bytes}]`). */
export function parseStreamList(json: unknown, ids: readonly string[]): StreamInfo[] {
  const list = Array.isArray(json)
    ? (json as unknown[])
    : isObject(json) && Array.isArray(json.streams)
      ? (json.streams as unknown[])
      : isObject(json) && Array.isArray(json.data)
        ? (json.data as unknown[])
        : undefined;
  if (list === undefined) throw new LlamaError({ kind: 'unknown', status: 404, message: t('The streams lookup answered no list.') });
  const wanted = new Set(ids);
  const out: StreamInfo[] = [];
  for (const item of list) {
    if (!isObject(item)) continue;
    const id = optString(item.conversation_id) ?? optString(item.id);
    if (id === undefined || !wanted.has(id)) continue;
    out.push({ id, done: item.is_done === true, totalBytes: optNumber(item.total_bytes) ?? 0 });
  }
  return out;
}

function isMissingStreamApi(err: unknown): boolean {
  return LlamaError.is(err) && err.status !== undefined && (STREAM_MISSING.has(err.status) || err.status === 501);
}

export interface OpenedStream {
  ok: true;
  body: ResponseBody;
  url: string;
}

export interface NotOpened {
  ok: false;
  /** Worth another attempt (a network error or a 5xx). */
  retry: boolean;
  why: string;
}

export class ResumableStreams {
  /** How this server spells its resumable-stream endpoints; 'none': it has none; undefined: not probed yet. */
  private api: StreamApi | 'none' | undefined;

  constructor(private readonly http: LlamaHttp) {}

  /** False once the server was found to have no resumable streams. */
  get available(): boolean {
    return this.api !== 'none';
  }

  /** Whether this server resumes streams: unknown until a stream first drops (or a resume or Stop tried). */
  get support(): 'yes' | 'no' | 'unknown' {
    return this.api === undefined ? 'unknown' : this.api === 'none' ? 'no' : 'yes';
  }

  /**
   * Which of `ids` the server still holds a stream for: `POST /v1/streams/lookup` (llama-server v0.5.0), else the
   * newer `GET /v1/streams`; [] when the server has neither. Rejects on network errors and aborts.
   */
  async lookup(ids: string[], signal?: AbortSignal): Promise<StreamInfo[]> {
    if (ids.length === 0 || this.api === 'none') return [];
    return (await this.lookupOrMissing(ids, signal)) ?? [];
  }

  /** The lookup, or undefined when the server has no lookup endpoint at all. */
  private async lookupOrMissing(ids: string[], signal: AbortSignal | undefined): Promise<StreamInfo[] | undefined> {
    try {
      return parseStreamList(await this.http.postJson('/v1/streams/lookup', { conversation_ids: ids }, signal, true), ids);
    } catch (err) {
      if (!isMissingStreamApi(err)) throw err;
    }
    try {
      return parseStreamList(await this.http.getJson('/v1/streams', signal, true), ids);
    } catch (err) {
      if (!isMissingStreamApi(err)) throw err;
      return undefined;
    }
  }

  /**
   * `GET` the server's stream for `id` from byte `from`, in the spelling this server answers. The first time, both
   * spellings are tried (newer `/v1/stream/ID`, then v0.5.0's `/v1/stream?conv_id=ID`) and the one that answers is
   * remembered. An unknown route and an unknown stream both answer 404 "File Not Found", so when both spellings
   * are missing the lookup endpoint decides: a server without it has no resumable streams (remembered).
   */
  async open(id: string, from: number, signal: AbortSignal | undefined): Promise<OpenedStream | NotOpened> {
    if (this.api === 'none') return { ok: false, retry: false, why: t('this llama-server has no resumable streams') };
    let key: string | undefined;
    try {
      key = await this.http.readKey();
    } catch {
      return { ok: false, retry: false, why: t('the API key could not be read') };
    }
    const known = this.api;
    for (const api of known !== undefined ? [known] : STREAM_APIS) {
      const url = this.http.baseUrl + streamPath(api, id, from);
      const started = Date.now();
      let res: Dispatcher.ResponseData;
      try {
        res = await undici().request(url, {
          method: 'GET',
          dispatcher: this.http.dispatcher,
          headers: this.http.headers(key, 'text/event-stream'),
          signal,
          headersTimeout: this.http.requestTimeoutMs,
          bodyTimeout: 0,
        });
      } catch (err) {
        const error = networkError(err, { serverUrl: this.http.baseUrl, url, aborted: signal?.aborted === true });
        this.http.logFailure('GET', displayUrl(url), error, started);
        return { ok: false, retry: error.kind !== 'aborted', why: this.http.redactText(error.message) };
      }
      this.http.logger.debug(`GET ${displayUrl(url)} → ${res.statusCode} after ${Date.now() - started} ms`);
      const sse = /^text\/event-stream\b/i.test(String(res.headers['content-type'] ?? ''));
      if (res.statusCode >= 200 && res.statusCode < 300 && sse) {
        this.api = api;
        return { ok: true, body: res.body, url };
      }
      await readText(res.body, ERROR_BODY_LIMIT);
      if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode >= 500) {
        return { ok: false, retry: res.statusCode >= 500, why: t('the server answered HTTP {0}', res.statusCode) };
      }
      // 400/404/405 (or anything but an event stream): not this spelling, or no such stream.
    }
    if (known !== undefined) return { ok: false, retry: false, why: t('the server no longer has this stream') };
    const supported = await this.hasStreamLookup(signal);
    if (!supported && !signal?.aborted) {
      this.api = 'none';
      this.http.logger.info(`${displayUrl(this.http.baseUrl)} has no resumable streams (GET /v1/stream: not found); a dropped stream ends the answer.`);
    }
    return { ok: false, retry: false, why: supported ? t('the server no longer has this stream') : t('this llama-server has no resumable streams') };
  }

  /** Whether the server answers a streams lookup (`POST /v1/streams/lookup` or the newer `GET /v1/streams`). */
  private async hasStreamLookup(signal: AbortSignal | undefined): Promise<boolean> {
    try {
      return (await this.lookupOrMissing([], signal)) !== undefined;
    } catch {
      return false;
    }
  }

  /**
   * Fire and forget: `DELETE` the server-side stream of `id` so a stopped answer stops generating (with
   * X-Conversation-Id llama-server goes on after the connection closes). Short timeout; failures are only logged.
   */
  cancel(id: string): void {
    if (this.api === 'none' || this.http.disposed) return;
    const known = this.api;
    void (async () => {
      const key = await this.http.readKey();
      for (const api of known !== undefined ? [known] : STREAM_APIS) {
        const url = this.http.baseUrl + streamPath(api, id);
        const res = await undici().request(url, {
          method: 'DELETE',
          dispatcher: this.http.dispatcher,
          headers: this.http.headers(key, 'application/json'),
          signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS),
          headersTimeout: CANCEL_TIMEOUT_MS,
          bodyTimeout: CANCEL_TIMEOUT_MS,
        });
        await res.body.dump().catch(() => undefined);
        this.http.logger.debug(`DELETE ${displayUrl(url)} → ${res.statusCode}`);
        if (res.statusCode >= 200 && res.statusCode < 300) {
          if (this.api === undefined) this.api = api;
          return;
        }
        if (!STREAM_MISSING.has(res.statusCode)) return;
      }
    })().catch((err: unknown) => {
      this.http.logger.debug(`DELETE stream ${id} failed: ${this.http.redactText(errorText(err))}`);
    });
  }
}
