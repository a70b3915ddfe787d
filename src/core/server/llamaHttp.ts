/**
 * The HTTP plumbing every part of the llama-server client shares: the lazily loaded undici and its keep-alive
 * agent, the API key (read before every request), JSON requests with typed errors, and redaction: the key never
 * reaches a log line or an error message, even where a server quotes it back.
 */
import type * as UndiciTypes from 'undici';
import type { Dispatcher } from 'undici';
import { LlamaError } from '../base/errors';
import { t } from '../base/l10n';
import type { ErrorInfo } from '../base/errors';
import type { StreamEvent } from '../base/events';
import type { Logger } from '../base/logger';
import { displayUrl, excerpt, httpStatusError, networkError } from './httpErrors';
import type { ErrorContext } from './httpErrors';

export type ApiKeySource = string | (() => Promise<string | undefined> | string | undefined);

type Undici = typeof UndiciTypes;
let undiciModule: Undici | undefined;

/**
 * undici is ~80 % of the bundle and costs ~90 ms to evaluate: load it on the first request, not at activation.
 * esbuild keeps CommonJS modules in lazy closures, so this require is only evaluated when called.
 */
export function undici(): Undici {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  undiciModule ??= require('undici') as Undici;
  return undiciModule;
}

const REDACTED = '[API key]';
export const ERROR_BODY_LIMIT = 64 * 1024;
export const EXCERPT_BODY_LIMIT = 4 * 1024;
const JSON_BODY_LIMIT = 16 * 1024 * 1024;

export type ResponseBody = Dispatcher.ResponseData['body'];

/** Every line the client logs goes through this: the key is blanked even where a server quoted it. */
function redactingLogger(inner: Logger, key: () => string | undefined): Logger {
  const clean = (text: string): string => {
    const k = key();
    return k !== undefined && text.includes(k) ? text.split(k).join(REDACTED) : text;
  };
  return {
    trace: (m, ...a) => inner.trace(clean(m), ...a),
    debug: (m, ...a) => inner.debug(clean(m), ...a),
    info: (m, ...a) => inner.info(clean(m), ...a),
    warn: (m, ...a) => inner.warn(clean(m), ...a),
    error: (m, ...a) => inner.error(typeof m === 'string' ? clean(m) : m, ...a),
  };
}

/** Statuses that say "this server has no such endpoint". */
export const MISSING_ENDPOINT = new Set([404, 405, 501]);

/** An HTTP status that says the endpoint is not there (not: the server is down or refused the key). */
export function isMissing(err: unknown): err is LlamaError {
  return LlamaError.is(err) && err.status !== undefined && MISSING_ENDPOINT.has(err.status);
}

/** A 2xx answer that is not JSON (expectJson): some other server's page, not the endpoint. */
export function isNotJson(err: unknown): boolean {
  return LlamaError.is(err) && err.status === undefined && err.kind === 'unknown' && /did not answer with JSON/.test(err.message);
}

/**
 * Closes a response body we stopped reading. undici reports a destroy without an error as an 'error' event
 * (RequestAbortedError); with no reader left listening that would be an uncaught exception in the host.
 */
export function destroyQuietly(body: ResponseBody): void {
  body.on('error', () => undefined);
  body.destroy();
}

export async function readText(body: ResponseBody, limit: number): Promise<string> {
  const decoder = new TextDecoder();
  let text = '';
  try {
    for await (const chunk of body as AsyncIterable<Uint8Array>) {
      text += decoder.decode(chunk, { stream: true });
      if (text.length >= limit) {
        destroyQuietly(body);
        return text.slice(0, limit);
      }
    }
    return text + decoder.decode();
  } catch {
    // A body cut short still says something useful.
    return text;
  }
}

/** The endpoints a server lacks (an OpenAI-compatible server that is not llama-server): not asked again. */
export type OptionalEndpoint = 'props' | 'slots' | 'health' | 'models' | 'router';

export interface LlamaHttpOptions {
  baseUrl: string;
  apiKey: ApiKeySource | undefined;
  logger: Logger;
  requestTimeoutMs: number;
  connectTimeoutMs: number | undefined;
  dispatcher: Dispatcher | undefined;
  /** A request failed on the network (not an abort): cached server facts may be stale. */
  onNetworkError: () => void;
}

export class LlamaHttp {
  readonly baseUrl: string;
  readonly logger: Logger;
  readonly requestTimeoutMs: number;
  /** Endpoints this server lacks, learnt on first use (cleared by the client's invalidate()). */
  readonly missing = new Set<OptionalEndpoint>();
  disposed = false;
  /** Created on first use (see undici()); undefined until then when the client owns its agent. */
  private agent: Dispatcher | undefined;
  private readonly agentOptions: ConstructorParameters<Undici['Agent']>[0];
  private readonly ownsDispatcher: boolean;
  private readonly apiKey: ApiKeySource | undefined;
  private readonly onNetworkError: () => void;
  /** The last key read, so anything the server quotes back can be blanked out of logs and errors. */
  private knownKey: string | undefined;

  constructor(options: LlamaHttpOptions) {
    this.baseUrl = options.baseUrl;
    this.apiKey = options.apiKey;
    this.logger = redactingLogger(options.logger, () => this.knownKey);
    this.requestTimeoutMs = options.requestTimeoutMs;
    this.onNetworkError = options.onNetworkError;
    this.agent = options.dispatcher;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.agentOptions = {
      keepAliveTimeout: 4_000, // below llama-server's 5 s keep-alive, so we never reuse a socket it is closing
      connectTimeout: options.connectTimeoutMs ?? Math.min(this.requestTimeoutMs, 10_000),
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
    };
  }

  get dispatcher(): Dispatcher {
    this.agent ??= new (undici().Agent)(this.agentOptions);
    return this.agent;
  }

  /** Closes idle and active connections of the own agent. */
  dispose(): void {
    this.disposed = true;
    if (this.ownsDispatcher) this.agent?.destroy().catch(() => undefined);
  }

  /** Logs once (at debug) that this server lacks an endpoint, and remembers it. */
  noteMissing(what: OptionalEndpoint, line: string): void {
    if (this.missing.has(what)) return;
    this.missing.add(what);
    this.logger.debug(`${displayUrl(this.baseUrl)}: ${line}`);
  }

  async readKey(): Promise<string | undefined> {
    const source = this.apiKey;
    let key: string | undefined;
    try {
      key = typeof source === 'function' ? await source() : source;
    } catch (err) {
      throw new LlamaError({ kind: 'unknown', message: t('The API key could not be read from secret storage.') }, { cause: err });
    }
    key = key?.trim();
    if (key) this.knownKey = key;
    return key ? key : undefined;
  }

  headers(key: string | undefined, accept: string): Record<string, string> {
    const headers: Record<string, string> = { accept, 'content-type': 'application/json' };
    if (key !== undefined) headers.authorization = `Bearer ${key}`;
    return headers;
  }

  /** One request with a 2xx answer (a 503 of /health passes too); anything else throws a redacted LlamaError. */
  async send(method: 'GET' | 'POST', path: string, json: unknown, signal: AbortSignal | undefined, quiet = false): Promise<Dispatcher.ResponseData> {
    const url = this.baseUrl + path;
    const ctx: ErrorContext = { serverUrl: this.baseUrl, url };
    const started = Date.now();
    if (this.disposed) throw new LlamaError({ kind: 'aborted', message: t('The client was disposed.') });
    const key = await this.readKey();
    ctx.sentApiKey = key !== undefined;
    try {
      const res = await undici().request(url, {
        method,
        dispatcher: this.dispatcher,
        headers: this.headers(key, 'application/json'),
        body: json === undefined ? undefined : JSON.stringify(json),
        signal,
        headersTimeout: this.requestTimeoutMs,
        bodyTimeout: this.requestTimeoutMs,
      });
      this.logger.debug(`${method} ${displayUrl(url)} → ${res.statusCode} after ${Date.now() - started} ms`);
      if (res.statusCode < 200 || res.statusCode >= 300) {
        if (res.statusCode === 503 && path === '/health') return res;
        const text = await readText(res.body, ERROR_BODY_LIMIT);
        const error = httpStatusError(res.statusCode, text, { ...ctx, contentType: String(res.headers['content-type'] ?? '') });
        // Quiet: the caller falls back and logs once.
        if (!quiet) this.logFailure(method, displayUrl(url), error, started);
        throw this.redactError(error);
      }
      return res;
    } catch (err) {
      if (LlamaError.is(err)) throw err;
      const error = networkError(err, { ...ctx, aborted: signal?.aborted === true });
      if (error.kind !== 'aborted') this.onNetworkError();
      this.logFailure(method, displayUrl(url), error, started);
      throw this.redactError(error);
    }
  }

  async expectJson(res: Dispatcher.ResponseData, path: string): Promise<unknown> {
    const text = await readText(res.body, JSON_BODY_LIMIT);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new LlamaError({
        kind: 'unknown',
        message: this.redactText(t('{0} did not answer with JSON: {1}', displayUrl(this.baseUrl + path), excerpt(text, 80))),
        hint: t('Check that {0} points at llama-server', 'llamaChat.serverUrl'),
      });
    }
  }

  async getJson(path: string, signal: AbortSignal | undefined, quiet = false): Promise<unknown> {
    return this.expectJson(await this.send('GET', path, undefined, signal, quiet), path);
  }

  async postJson(path: string, json: unknown, signal: AbortSignal | undefined, quiet = false): Promise<unknown> {
    return this.expectJson(await this.send('POST', path, json, signal, quiet), path);
  }

  redactText(text: string): string {
    const key = this.knownKey;
    return key !== undefined && text.includes(key) ? text.split(key).join(REDACTED) : text;
  }

  /** A server (or a proxy) may quote the Authorization header back: never pass the key on. */
  redactInfo(info: ErrorInfo): ErrorInfo {
    const out = { ...info };
    out.message = this.redactText(out.message);
    if (out.hint !== undefined) out.hint = this.redactText(out.hint);
    if (out.serverMessage !== undefined) out.serverMessage = this.redactText(out.serverMessage);
    if (out.serverType !== undefined) out.serverType = this.redactText(out.serverType);
    return out;
  }

  redactEvent(event: StreamEvent): StreamEvent {
    return event.type === 'error' ? { type: 'error', error: this.redactInfo(event.error) } : event;
  }

  /** The same error without the key; the original (which holds it) is not kept as the cause. */
  redactError(error: LlamaError): LlamaError {
    const info = error.toInfo();
    const clean = this.redactInfo(info);
    return JSON.stringify(clean) === JSON.stringify(info) ? error : new LlamaError(clean);
  }

  logFailure(method: string, url: string, error: LlamaError, started: number, status?: number): void {
    const st = status ?? error.status;
    const line = `${method} ${url}${st !== undefined ? ` → ${st}` : ''} failed after ${Date.now() - started} ms: ${error.kind}: ${error.message}`;
    if (error.kind === 'aborted') this.logger.debug(line);
    else this.logger.warn(line);
  }
}
