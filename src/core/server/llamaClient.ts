/**
 * The llama-server HTTP client on undici: keep-alive agent, typed errors, and a chat stream that never throws.
 * Logs method, URL, status and timings only; the API key never reaches a log line or a message.
 */
import type * as UndiciTypes from 'undici';
import type { Dispatcher } from 'undici';
import { LlamaError } from '../base/errors';
import type { ErrorInfo } from '../base/errors';
import type { ChatRequest, ChatRequestMessage, ChatStreamer, ModelInfo, PromptCount, RouterModel, ServerProps, SlotInfo } from './client';
import { DETACH } from './client';
import { IMAGE_TOKEN_ESTIMATE, estimatePromptTokens, estimateTextTokens } from '../session/contextBudget';
import type { StreamEvent } from '../base/events';
import { nullLogger } from '../base/logger';
import type { Logger } from '../base/logger';
import { ChatStreamDecoder } from './streamDecoder';
import { displayUrl, excerpt, httpStatusError, networkError, notSseError } from './httpErrors';
import type { ErrorContext } from './httpErrors';

export type ApiKeySource = string | (() => Promise<string | undefined> | string | undefined);

export interface LlamaClientOptions {
  /** llama-server root, e.g. http://127.0.0.1:8080 (a trailing / or /v1 is tolerated). */
  baseUrl: string;
  /** Read before every request, so a key set later applies without rebuilding the client. */
  apiKey?: ApiKeySource;
  /** Headers timeout for every request, and body timeout for non-streaming ones. Default 30 000 ms. */
  requestTimeoutMs?: number;
  /** TCP/TLS connect timeout. Default min(requestTimeoutMs, 10 000) ms. */
  connectTimeoutMs?: number;
  /**
   * Headers timeout for chat streams. llama-server answers a stream only once the prompt has started to be
   * processed, so this is longer than requestTimeoutMs. 0 = none. Default max(requestTimeoutMs, 300 000) ms.
   */
  streamHeadersTimeoutMs?: number;
  logger?: Logger;
  /** Use this dispatcher instead of an own Agent (not closed by dispose()). */
  dispatcher?: Dispatcher;
  /**
   * How countPrompt starts (default 'input_tokens'): it falls back from there to 'template' (/apply-template +
   * /tokenize) and then 'estimate' when the server lacks the endpoints. Tests force a fallback with this.
   */
  countMethod?: PromptCountMethod;
  /**
   * The context size (tokens) to assume where the server does not say (an OpenAI-compatible server without /props
   * and without a context length in /v1/models).
   */
  contextSize?: number;
}

/**
 * How a client counts prompts: llama-server's `POST /v1/chat/completions/input_tokens` (exact), its
 * `/apply-template` + `/tokenize` (exact for text), or an estimate of about 3.5 characters a token.
 */
export type PromptCountMethod = 'input_tokens' | 'template' | 'estimate';

export type HealthStatus = 'ok' | 'loading';

export interface TokenizeOptions {
  /** Add BOS etc. like a real prompt (llama-server `add_special`). Default false. */
  addSpecial?: boolean;
  /** Do not log an error status (the caller falls back and logs once). */
  quiet?: boolean;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

type Undici = typeof UndiciTypes;
let undiciModule: Undici | undefined;

/**
 * undici is ~80 % of the bundle and costs ~90 ms to evaluate: load it on the first request, not at activation.
 * esbuild keeps CommonJS modules in lazy closures, so this require is only evaluated when called.
 */
function undici(): Undici {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  undiciModule ??= require('undici') as Undici;
  return undiciModule;
}
const REDACTED = '[API key]';

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
const ERROR_BODY_LIMIT = 64 * 1024;
const EXCERPT_BODY_LIMIT = 4 * 1024;

/** Strips trailing slashes and a trailing /v1 (users paste OpenAI-style base URLs). */
export function normalizeBaseUrl(baseUrl: string): string {
  let url = baseUrl.trim();
  while (url.endsWith('/')) url = url.slice(0, -1);
  if (/\/v1$/i.test(url)) url = url.slice(0, -3);
  while (url.endsWith('/')) url = url.slice(0, -1);
  return url;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function optNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function optString(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function boolRecord(value: unknown): Record<string, boolean> | undefined {
  if (!isObject(value)) return undefined;
  const out: Record<string, boolean> = {};
  for (const [k, v] of Object.entries(value)) if (typeof v === 'boolean') out[k] = v;
  return out;
}

/** GET /props → ServerProps. Exported for tests and the fixture replay. */
export function parseProps(json: unknown): ServerProps {
  if (!isObject(json)) throw new LlamaError({ kind: 'unknown', message: 'GET /props returned something other than an object.' });
  const settings = isObject(json.default_generation_settings) ? json.default_generation_settings : {};
  const nCtx = optNumber(settings.n_ctx) ?? optNumber(json.n_ctx);
  if (nCtx === undefined) {
    throw new LlamaError({
      kind: 'unknown',
      message: 'GET /props has no default_generation_settings.n_ctx: is this llama-server?',
      hint: 'Check that llamaChat.serverUrl points at llama-server',
    });
  }
  const props: ServerProps = { nCtx };
  const totalSlots = optNumber(json.total_slots);
  if (totalSlots !== undefined) props.totalSlots = totalSlots;
  const alias = optString(json.model_alias);
  if (alias !== undefined) props.modelAlias = alias;
  const path = optString(json.model_path);
  if (path !== undefined) props.modelPath = path;
  const build = optString(json.build_info);
  if (build !== undefined) props.buildInfo = build;
  const template = optString(json.chat_template);
  if (template !== undefined) props.chatTemplate = template;
  const caps = boolRecord(json.chat_template_caps);
  if (caps !== undefined) props.chatTemplateCaps = caps;
  const modalities = boolRecord(json.modalities);
  if (modalities !== undefined) props.modalities = modalities;
  return props;
}

/** GET /v1/models → ModelInfo[]. */
export function parseModels(json: unknown): ModelInfo[] {
  const data = isObject(json) && Array.isArray(json.data) ? (json.data as unknown[]) : [];
  const models: ModelInfo[] = [];
  for (const item of data) {
    if (!isObject(item) || typeof item.id !== 'string') continue;
    const model: ModelInfo = { id: item.id };
    const meta = isObject(item.meta) ? item.meta : {};
    // llama-server: meta.n_ctx; vLLM: max_model_len; LM Studio and others: context_length / max_context_length.
    const nCtx = optNumber(meta.n_ctx) ?? optNumber(item.context_length) ?? optNumber(item.max_model_len) ?? optNumber(item.max_context_length);
    if (nCtx !== undefined && nCtx > 0) model.nCtx = nCtx;
    const nCtxTrain = optNumber(meta.n_ctx_train);
    if (nCtxTrain !== undefined) model.nCtxTrain = nCtxTrain;
    const nParams = optNumber(meta.n_params);
    if (nParams !== undefined) model.nParams = nParams;
    const size = optNumber(meta.size);
    if (size !== undefined) model.size = size;
    models.push(model);
  }
  return models;
}

/**
 * GET /models of a router-mode llama-server → RouterModel[]; undefined for any other shape (a plain llama-server
 * answers an Ollama-style `{"models": [...]}` there, other servers 404 or an OpenAI list without `status`).
 */
export function parseRouterModels(json: unknown): RouterModel[] | undefined {
  if (!isObject(json) || !Array.isArray(json.data)) return undefined;
  const models: RouterModel[] = [];
  for (const item of json.data as unknown[]) {
    if (!isObject(item) || typeof item.id !== 'string') continue;
    const status = item.status;
    const state = isObject(status) ? optString(status.value) : optString(status);
    if (state === undefined) return undefined;
    const arch = isObject(item.architecture) ? item.architecture : {};
    const inputModalities = Array.isArray(arch.input_modalities) ? (arch.input_modalities as unknown[]).filter((m): m is string => typeof m === 'string') : [];
    models.push({ id: item.id, state, inputModalities });
  }
  return models;
}

/** GET /slots → SlotInfo[]. */
export function parseSlots(json: unknown): SlotInfo[] {
  if (!Array.isArray(json)) return [];
  const slots: SlotInfo[] = [];
  for (const item of json as unknown[]) {
    if (!isObject(item) || typeof item.id !== 'number') continue;
    const slot: SlotInfo = { id: item.id, isProcessing: item.is_processing === true };
    const nCtx = optNumber(item.n_ctx);
    if (nCtx !== undefined) slot.nCtx = nCtx;
    slots.push(slot);
  }
  return slots;
}

type WirePart = { type: 'text'; text: string } | { type: 'image_url'; image_url: { url: string } };
type WireMessage = { role: ChatRequestMessage['role']; content: string | WirePart[]; reasoning_content?: string };

/** Request messages as the OpenAI-compatible API takes them: a message with images becomes text + image_url parts. */
export function toWireMessages(messages: readonly ChatRequestMessage[]): WireMessage[] {
  return messages.map((m) => {
    let wire: WireMessage;
    if (m.images === undefined || m.images.length === 0) {
      wire = { role: m.role, content: m.content };
    } else {
      const parts: WirePart[] = [];
      if (m.content) parts.push({ type: 'text', text: m.content });
      for (const url of m.images) parts.push({ type: 'image_url', image_url: { url } });
      wire = { role: m.role, content: parts };
    }
    // An earlier answer's thinking, where the template keeps it (llamaChat.sendReasoning).
    if (m.reasoning) wire.reasoning_content = m.reasoning;
    return wire;
  });
}

/** The JSON body of POST /v1/chat/completions for a streamed chat. */
export function buildChatBody(req: ChatRequest): Record<string, unknown> {
  const body: Record<string, unknown> = {
    stream_options: { include_usage: true },
    timings_per_token: true,
    return_progress: true,
    cache_prompt: true,
  };
  if (req.model !== undefined && req.model !== '') body.model = req.model;
  if (req.temperature !== undefined && Number.isFinite(req.temperature)) body.temperature = req.temperature;
  if (req.maxTokens !== undefined && req.maxTokens > 0) body.max_tokens = Math.floor(req.maxTokens);
  if (req.seed !== undefined && Number.isFinite(req.seed)) body.seed = req.seed;
  if (req.stop !== undefined && req.stop.length > 0) body.stop = req.stop;
  if (req.continueFinalMessage === true) {
    body.continue_final_message = true;
    body.add_generation_prompt = false;
  }
  if (req.extra !== undefined) Object.assign(body, req.extra);
  // The stream decoder depends on these two; extra must not change them.
  body.messages = toWireMessages(req.messages);
  body.stream = true;
  return body;
}

/**
 * The body that counts the prompt of `req`: the chat body itself (the same template flags, the same messages),
 * not streamed. llama-server's input_tokens and apply-template read the same fields as a chat request.
 */
export function buildCountBody(req: ChatRequest): Record<string, unknown> {
  const body = buildChatBody(req);
  body.stream = false;
  delete body.stream_options;
  delete body.timings_per_token;
  delete body.return_progress;
  return body;
}

/** Statuses that say "this server has no such endpoint". */
const MISSING_ENDPOINT = new Set([404, 405, 501]);

/** An HTTP status that says the endpoint is not there (not: the server is down or refused the key). */
function isMissing(err: unknown): err is LlamaError {
  return LlamaError.is(err) && err.status !== undefined && MISSING_ENDPOINT.has(err.status);
}

/** A 2xx answer that is not JSON (expectJson): some other server's page, not the endpoint. */
function isNotJson(err: unknown): boolean {
  return LlamaError.is(err) && err.status === undefined && err.kind === 'unknown' && /did not answer with JSON/.test(err.message);
}

function hasImages(req: ChatRequest): boolean {
  return req.messages.some((m) => (m.images?.length ?? 0) > 0);
}

function withoutImages(req: ChatRequest): ChatRequest {
  return { ...req, messages: req.messages.map((m) => ({ role: m.role, content: m.content })) };
}

function imageCount(req: ChatRequest): number {
  return req.messages.reduce((n, m) => n + (m.images?.length ?? 0), 0);
}

/**
 * Closes a response body we stopped reading. undici reports a destroy without an error as an 'error' event
 * (RequestAbortedError); with no reader left listening that would be an uncaught exception in the host.
 */
function destroyQuietly(body: Dispatcher.ResponseData['body']): void {
  body.on('error', () => undefined);
  body.destroy();
}

async function readText(body: Dispatcher.ResponseData['body'], limit: number): Promise<string> {
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
type StreamApi = 'path' | 'query';
const STREAM_APIS: readonly StreamApi[] = ['path', 'query'];
/** Statuses of a resume or cancel that mean "not this spelling" (or "no such stream"). */
const STREAM_MISSING = new Set([400, 404, 405]);
/** Backoff before resume attempt 1, 2, 3 (attempts in a row without a new complete event). */
const RESUME_BACKOFF_MS = [200, 500, 1_000];
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
  if (list === undefined) throw new LlamaError({ kind: 'unknown', status: 404, message: 'The streams lookup answered no list.' });
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

interface OpenedStream {
  ok: true;
  body: Dispatcher.ResponseData['body'];
  url: string;
}

const LF = 10;
const CR = 13;
/** Bytes of one incomplete event held back from the decoder; past this it is fed as it comes (no clean resume). */
const HOLD_LIMIT = 1024 * 1024;

/**
 * Follows SSE event boundaries (blank lines: LF LF, CRLF CRLF, CR CR, mixed) in the raw body bytes and feeds the
 * decoder only whole events, holding an incomplete tail back until its blank line arrives. `offset` is the byte
 * count of the body through the last complete event: where a resumed stream (`from=offset`) continues.
 * llama-server writes whole events ending in "\n\n", so the usual chunk costs a two-byte check and no allocation.
 */
export class SseEventCursor {
  /** Body bytes through the end of the last complete event. */
  offset = 0;
  private received = 0;
  private readonly held: Uint8Array[] = [];
  private heldBytes = 0;
  /** Part of an event reached the decoder (it exceeded HOLD_LIMIT): a cut before its end cannot be resumed. */
  private dirty = false;
  /** Line terminators at the end of the bytes so far (0: the last byte was none), and whether it was CR. */
  private tailTerms = 0;
  private tailCr = false;

  /** Whether the decoder saw whole events only (a cut here can be resumed from `offset`). */
  get clean(): boolean {
    return !this.dirty;
  }

  /** Feeds the whole events in `chunk` (and what was held before them); true when at least one event completed. */
  push(chunk: Uint8Array, sink: { write(bytes: Uint8Array): void }): boolean {
    const n = chunk.length;
    this.received += n;
    const end = this.lastBoundary(chunk);
    if (this.dirty) {
      sink.write(chunk);
      if (end < 0) return false;
      this.offset = this.received - n + end;
      this.dirty = end < n;
      return true;
    }
    if (end < 0) {
      if (n === 0) return false;
      this.held.push(chunk);
      this.heldBytes += n;
      if (this.heldBytes > HOLD_LIMIT) {
        this.flush(sink);
        this.dirty = true;
      }
      return false;
    }
    if (this.heldBytes > 0) this.flush(sink);
    if (end === n) sink.write(chunk);
    else {
      if (end > 0) sink.write(chunk.subarray(0, end));
      this.held.push(chunk.subarray(end));
      this.heldBytes = n - end;
    }
    this.offset = this.received - n + end;
    return true;
  }

  /** Hands the held (incomplete) bytes to the decoder: the body ended for good. */
  flush(sink: { write(bytes: Uint8Array): void }): void {
    for (const bytes of this.held) sink.write(bytes);
    this.held.length = 0;
    this.heldBytes = 0;
  }

  /** A continuation starts at `offset`: the held tail is dropped (the continuation sends it again, whole). */
  restart(): void {
    this.held.length = 0;
    this.heldBytes = 0;
    this.received = this.offset;
    this.tailTerms = 0;
    this.tailCr = false;
    this.dirty = false;
  }

  /** Index in `chunk` just past its last blank line (with the bytes before it), or -1; updates the tail state. */
  private lastBoundary(chunk: Uint8Array): number {
    const n = chunk.length;
    if (n === 0) return -1;
    if (chunk[n - 1] === LF && n > 1 && chunk[n - 2] === LF) {
      this.tailTerms = 2;
      this.tailCr = false;
      return n;
    }
    const last = chunk[n - 1];
    const endsInRun = last === LF || last === CR;
    const prevTerms = this.tailTerms;
    const prevCr = this.tailCr;
    if (!endsInRun) {
      this.tailTerms = 0;
      this.tailCr = false;
    }
    let i = n - 1;
    let trailing = true;
    while (i >= 0) {
      while (i >= 0 && chunk[i] !== LF && chunk[i] !== CR) i--;
      if (i < 0) break;
      const runEnd = i;
      while (i >= 0 && (chunk[i] === LF || chunk[i] === CR)) i--;
      const runStart = i + 1;
      let terms = runStart === 0 ? prevTerms : 0;
      let cr = runStart === 0 ? prevCr : false;
      for (let k = runStart; k <= runEnd; k++) {
        const c = chunk[k];
        if (c === LF && cr) cr = false; // the LF of a CRLF: the same line end
        else {
          terms++;
          cr = c === CR;
        }
      }
      if (trailing && runEnd === n - 1) {
        this.tailTerms = terms;
        this.tailCr = last === CR;
      }
      trailing = false;
      // Two line ends in a row: the first ends a line, the second is the blank line that completes an event.
      if (terms >= 2) return runEnd + 1;
    }
    return -1;
  }
}

export class LlamaClient implements ChatStreamer {
  readonly baseUrl: string;
  /** Created on first use (see undici()); undefined until then when the client owns its agent. */
  private agent: Dispatcher | undefined;
  private readonly agentOptions: ConstructorParameters<Undici['Agent']>[0];
  private readonly ownsDispatcher: boolean;
  private readonly apiKey: ApiKeySource | undefined;
  private readonly logger: Logger;
  private readonly requestTimeoutMs: number;
  private readonly streamHeadersTimeoutMs: number;
  private readonly propsCache = new Map<string, ServerProps>();
  private readonly initialCountMethod: PromptCountMethod;
  /** What worked for countPrompt on this server (probed on first use, downgraded when an endpoint is missing). */
  private countMethodInUse: PromptCountMethod;
  private tokenizeMissing = false;
  /** Count problems already logged (once each, at debug). */
  private readonly countLogged = new Set<string>();
  private disposed = false;
  private readonly contextSize: number | undefined;
  /** Endpoints this server lacks (an OpenAI-compatible server that is not llama-server): not asked again. */
  private readonly missing = new Set<'props' | 'slots' | 'health' | 'models' | 'router'>();
  /** The last key read, so anything the server quotes back can be blanked out of logs and errors. */
  private knownKey: string | undefined;
  /** How this server spells its resumable-stream endpoints; 'none': it has none; undefined: not probed yet. */
  private streamApi: StreamApi | 'none' | undefined;

  constructor(options: LlamaClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    this.apiKey = options.apiKey;
    this.logger = redactingLogger(options.logger ?? nullLogger, () => this.knownKey);
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.streamHeadersTimeoutMs = options.streamHeadersTimeoutMs ?? Math.max(this.requestTimeoutMs, 300_000);
    this.initialCountMethod = options.countMethod ?? 'input_tokens';
    this.countMethodInUse = this.initialCountMethod;
    this.contextSize = options.contextSize !== undefined && Number.isFinite(options.contextSize) && options.contextSize > 0 ? Math.floor(options.contextSize) : undefined;
    this.agent = options.dispatcher;
    this.ownsDispatcher = options.dispatcher === undefined;
    this.agentOptions = {
      keepAliveTimeout: 4_000, // below llama-server's 5 s keep-alive, so we never reuse a socket it is closing
      connectTimeout: options.connectTimeoutMs ?? Math.min(this.requestTimeoutMs, 10_000),
      headersTimeout: this.requestTimeoutMs,
      bodyTimeout: this.requestTimeoutMs,
    };
  }

  private get dispatcher(): Dispatcher {
    this.agent ??= new (undici().Agent)(this.agentOptions);
    return this.agent;
  }

  /** GET /health: 'ok', or 'loading' while the model loads (503). Throws LlamaError otherwise. */
  async health(signal?: AbortSignal): Promise<HealthStatus> {
    if (!this.missing.has('health')) {
      let res: Dispatcher.ResponseData | undefined;
      try {
        res = await this.send('GET', '/health', undefined, signal, true);
      } catch (err) {
        if (!isMissing(err)) {
          if (LlamaError.is(err) && err.status !== undefined) this.logger.warn(`GET /health → ${err.status}: ${err.message}`);
          throw err;
        }
        this.noteMissing('health', `GET /health is not offered (HTTP ${err.status}); GET /v1/models is the liveness check.`);
      }
      if (res !== undefined) {
        if (res.statusCode === 503) {
          await readText(res.body, ERROR_BODY_LIMIT);
          return 'loading';
        }
        await this.expectJson(res, '/health');
        return 'ok';
      }
    }
    // An OpenAI-compatible server: it is alive when it lists its models.
    await this.getJson('/v1/models', signal);
    return 'ok';
  }

  /** Logs once (at debug) that this server lacks an endpoint, and remembers it. */
  private noteMissing(what: 'props' | 'slots' | 'health' | 'models' | 'router', line: string): void {
    if (this.missing.has(what)) return;
    this.missing.add(what);
    this.logger.debug(`${displayUrl(this.baseUrl)}: ${line}`);
  }

  /** Which llama-server endpoints this server lacks (learnt on first use; an OpenAI-only server lacks all). */
  get missingEndpoints(): string[] {
    return [...this.missing];
  }

  /** GET /props (cached per model; `model` selects one on a multi-model server). */
  /**
   * n_ctx and friends. llama-server: GET /props (`?model=ID` on a router-mode server, which loads that model if it is
   * not loaded). A server without /props (any OpenAI-compatible one): the model's context length from /v1/models,
   * else the `contextSize` option. Cached per model; a missing endpoint is logged once at debug and not asked again.
   */
  async getProps(signal?: AbortSignal, model?: string): Promise<ServerProps> {
    const key = model ?? '';
    const cached = this.propsCache.get(key);
    if (cached !== undefined) return cached;
    let props: ServerProps | undefined;
    if (!this.missing.has('props')) {
      const path = model !== undefined && model !== '' ? `/props?model=${encodeURIComponent(model)}` : '/props';
      let json: unknown;
      try {
        json = await this.expectJson(await this.send('GET', path, undefined, signal, true), path);
      } catch (err) {
        if (!isMissing(err) && !isNotJson(err)) {
          if (LlamaError.is(err) && err.status !== undefined) this.logger.warn(`GET ${path} → ${err.status}: ${err.message}`);
          throw err;
        }
        this.noteMissing('props', `GET /props is not offered (${LlamaError.is(err) && err.status !== undefined ? `HTTP ${err.status}` : 'not JSON'}); context size from /v1/models or the contextSize setting.`);
      }
      if (json !== undefined) {
        try {
          props = parseProps(json);
        } catch {
          this.noteMissing('props', 'GET /props is not llama-server\'s (no n_ctx); context size from /v1/models or the contextSize setting.');
        }
      }
    }
    // A router-mode server's own /props says n_ctx 0 (no model of its own): look further, keep the rest.
    if (props === undefined || !(props.nCtx > 0)) {
      const nCtx = (await this.contextFromModels(model, signal)) ?? this.contextSize;
      if (nCtx !== undefined) props = { ...(props ?? {}), nCtx };
      else if (props === undefined) {
        throw new LlamaError({
          kind: 'unknown',
          message: `${displayUrl(this.baseUrl)} does not say its context size (no /props, no context length in /v1/models).`,
          hint: 'Set the context size in the settings',
        });
      }
    }
    this.propsCache.set(key, props);
    if (props.modelAlias !== undefined && key === '') this.propsCache.set(props.modelAlias, props);
    return props;
  }

  /** The context length /v1/models gives for `model` (or the first model), where the server says one. */
  private async contextFromModels(model: string | undefined, signal: AbortSignal | undefined): Promise<number | undefined> {
    if (this.missing.has('models')) return undefined;
    let models: ModelInfo[];
    try {
      models = parseModels(await this.expectJson(await this.send('GET', '/v1/models', undefined, signal, true), '/v1/models'));
    } catch (err) {
      if (signal?.aborted || (LlamaError.is(err) && (err.status === 401 || err.status === 403))) throw err;
      this.noteMissing('models', `GET /v1/models gave no models (${err instanceof Error ? err.message : String(err)}).`);
      return undefined;
    }
    const found = model !== undefined && model !== '' ? models.find((m) => m.id === model) : models[0];
    return found?.nCtx;
  }

  /**
   * GET /models of a router-mode llama-server (`--models-dir`, no `-m`): each model with its state and input
   * modalities. Undefined when the server is not in router mode (404, or another shape: a plain llama-server
   * answers an Ollama-style list there).
   */
  async listRouterModels(signal?: AbortSignal): Promise<RouterModel[] | undefined> {
    if (this.missing.has('router')) return undefined;
    let json: unknown;
    try {
      json = await this.expectJson(await this.send('GET', '/models', undefined, signal, true), '/models');
    } catch (err) {
      if (!isMissing(err) && !isNotJson(err) && !(LlamaError.is(err) && err.status === 400)) throw err;
      this.noteMissing('router', `GET /models is not offered (not in router mode).`);
      return undefined;
    }
    const models = parseRouterModels(json);
    if (models === undefined) this.noteMissing('router', 'GET /models is not a router list (not in router mode).');
    return models;
  }

  /** POST /models/load on a router-mode server: starts loading `id` (listRouterModels shows `loading`, then `loaded`). */
  async loadModel(id: string, signal?: AbortSignal): Promise<void> {
    await this.modelAction('load', id, signal);
  }

  /** POST /models/unload on a router-mode server. */
  async unloadModel(id: string, signal?: AbortSignal): Promise<void> {
    await this.modelAction('unload', id, signal);
  }

  private async modelAction(action: 'load' | 'unload', id: string, signal: AbortSignal | undefined): Promise<void> {
    const json = await this.postJson(`/models/${action}`, { model: id }, signal);
    const answer = (json ?? {}) as { success?: unknown; message?: unknown };
    if (answer.success === false) {
      const why = typeof answer.message === 'string' ? answer.message : 'the server did not do it';
      throw new LlamaError({ kind: 'unknown', message: `llama-server could not ${action} ${id}: ${why}.` });
    }
    this.logger.info(`${action === 'load' ? 'Loading' : 'Unloaded'} model ${id}`);
  }

  /** Forgets cached /props and how prompts are counted (server restarted, model or URL changed). */
  invalidate(): void {
    this.propsCache.clear();
    this.missing.clear();
    this.countMethodInUse = this.initialCountMethod;
    this.tokenizeMissing = false;
  }

  /** How countPrompt counts right now (after any fallback). */
  get countMethod(): PromptCountMethod {
    return this.countMethodInUse;
  }

  /**
   * The prompt size of the chat request `req` would make, as the server counts it: `POST
   * /v1/chat/completions/input_tokens` with the same body (exact); on a server without it `/apply-template` of that
   * body then `/tokenize` with `add_special` (exact for text: the server tokenizes its prompt the same way); without
   * those an estimate (`exact: false`). What works is remembered per client. Images make a template count an
   * estimate (the prompt text holds only a marker for each). Rejects on network errors, aborts and refused keys;
   * other HTTP errors for this request (e.g. images on a text-only model) give an estimate.
   */
  async countPrompt(req: ChatRequest, signal?: AbortSignal): Promise<PromptCount> {
    for (;;) {
      const method = this.countMethodInUse;
      try {
        if (method === 'input_tokens') return await this.countByInputTokens(req, signal);
        if (method === 'template') return await this.countByTemplate(req, signal);
        return estimatePromptTokens(req.messages);
      } catch (err) {
        if (!LlamaError.is(err) || err.status === undefined || err.status === 401 || err.status === 403) throw err;
        if (MISSING_ENDPOINT.has(err.status) && this.countMethodInUse === method) {
          const next: PromptCountMethod = method === 'input_tokens' ? 'template' : 'estimate';
          this.logCountOnce(`missing:${method}`, `Prompt counting: ${method} is not offered (HTTP ${err.status}); using ${next}.`);
          this.countMethodInUse = next;
          continue;
        }
        if (MISSING_ENDPOINT.has(err.status)) continue; // another call switched already
        this.logCountOnce(`status:${err.status}`, `Prompt counting: HTTP ${err.status} (${err.message}); estimating this request.`);
        return this.estimateAround(req, signal);
      }
    }
  }

  /**
   * Tokens of one text as part of a prompt (no BOS), e.g. an attachment's formatted part: `/tokenize`, or an
   * estimate where the server has none.
   */
  /** POST /v1/chat/completions/control: e.g. end the reasoning of a running completion (`reasoning_control`). */
  async controlReasoning(completionId: string, action: 'reasoning_end', signal?: AbortSignal): Promise<void> {
    const json = await this.postJson('/v1/chat/completions/control', { id: completionId, action }, signal);
    // The server answers 200 either way: {"success": false, "message": …} means nothing was done.
    const answer = (json ?? {}) as { success?: unknown; message?: unknown };
    if (answer.success === false) {
      const why = typeof answer.message === 'string' ? answer.message : 'the server did not do it';
      throw new LlamaError({ kind: 'unknown', message: `llama-server refused ${action}: ${why}.` });
    }
  }

  async tokenCount(text: string, signal?: AbortSignal): Promise<PromptCount> {
    if (this.tokenizeMissing) return estimateTextTokens(text);
    try {
      return { tokens: (await this.tokenize(text, signal, { quiet: true })).length, exact: true };
    } catch (err) {
      if (!LlamaError.is(err) || err.status === undefined || !MISSING_ENDPOINT.has(err.status)) throw err;
      this.tokenizeMissing = true;
      this.logCountOnce('missing:tokenize', `Token counting: /tokenize is not offered (HTTP ${err.status}); estimating.`);
      return estimateTextTokens(text);
    }
  }

  private async countByInputTokens(req: ChatRequest, signal: AbortSignal | undefined): Promise<PromptCount> {
    const json = await this.postJson('/v1/chat/completions/input_tokens', buildCountBody(req), signal, true);
    const tokens = isObject(json) ? optNumber(json.input_tokens) : undefined;
    if (tokens === undefined) {
      // Something answers there, but not with a count: treat it like a missing endpoint.
      throw new LlamaError({ kind: 'unknown', status: 404, message: 'POST /v1/chat/completions/input_tokens returned no input_tokens.' });
    }
    return { tokens, exact: true };
  }

  private async countByTemplate(req: ChatRequest, signal: AbortSignal | undefined): Promise<PromptCount> {
    const images = imageCount(req);
    const body = buildCountBody(images > 0 ? withoutImages(req) : req);
    const json = await this.postJson('/apply-template', body, signal, true);
    if (!isObject(json) || typeof json.prompt !== 'string') {
      throw new LlamaError({ kind: 'unknown', status: 404, message: 'POST /apply-template returned no prompt.' });
    }
    // add_special: the server tokenizes a chat prompt with BOS (and parses special tokens, as /tokenize does).
    const tokens = await this.tokenize(json.prompt, signal, { addSpecial: true, quiet: true });
    return images > 0 ? { tokens: tokens.length + images * IMAGE_TOKEN_ESTIMATE, exact: false } : { tokens: tokens.length, exact: true };
  }

  /** This request cannot be counted as it is (e.g. images on a text-only model): the text's count plus a guess. */
  private async estimateAround(req: ChatRequest, signal: AbortSignal | undefined): Promise<PromptCount> {
    if (hasImages(req)) {
      try {
        const text = await this.countPrompt(withoutImages(req), signal);
        return { tokens: text.tokens + imageCount(req) * IMAGE_TOKEN_ESTIMATE, exact: false };
      } catch (err) {
        if (signal?.aborted) throw err;
      }
    }
    return estimatePromptTokens(req.messages);
  }

  private logCountOnce(key: string, line: string): void {
    if (this.countLogged.has(key)) return;
    this.countLogged.add(key);
    this.logger.debug(line);
  }

  async listModels(signal?: AbortSignal): Promise<ModelInfo[]> {
    return parseModels(await this.getJson('/v1/models', signal));
  }

  /** GET /slots. A server started with --no-slots answers 501: that becomes a bad_request error that says so. */
  async getSlots(signal?: AbortSignal): Promise<SlotInfo[]> {
    if (this.missing.has('slots')) return [];
    try {
      return parseSlots(await this.expectJson(await this.send('GET', '/slots', undefined, signal, true), '/slots'));
    } catch (err) {
      // Not llama-server (404), or a router-mode one (400: /slots needs ?model=): no slot figures, no error.
      if (LlamaError.is(err) && (err.status === 404 || err.status === 405 || err.status === 400)) {
        this.noteMissing('slots', `GET /slots is not offered (HTTP ${err.status}); no slot figures.`);
        return [];
      }
      if (LlamaError.is(err) && err.status !== undefined) this.logger.warn(`GET /slots → ${err.status}: ${err.message}`);
      if (LlamaError.is(err) && (err.status === 501 || err.status === 404)) {
        const info = err.toInfo();
        info.message = `This llama-server does not offer the /slots endpoint (HTTP ${err.status}).`;
        info.hint = 'Restart llama-server with --slots (or a newer version) to see slot usage';
        throw new LlamaError(info, { cause: err });
      }
      throw err;
    }
  }

  /** POST /tokenize → token ids. */
  async tokenize(text: string, signal?: AbortSignal, options: TokenizeOptions = {}): Promise<number[]> {
    const json = await this.postJson('/tokenize', { content: text, add_special: options.addSpecial ?? false }, signal, options.quiet);
    const tokens = isObject(json) && Array.isArray(json.tokens) ? (json.tokens as unknown[]) : undefined;
    if (tokens === undefined) throw new LlamaError({ kind: 'unknown', message: 'POST /tokenize returned no tokens array.' });
    // Plain ids, or {id, piece} when pieces were requested.
    return tokens.map((t) => (typeof t === 'number' ? t : isObject(t) && typeof t.id === 'number' ? t.id : -1));
  }

  /** POST /apply-template → the exact prompt text the model would see. */
  async applyTemplate(messages: ChatRequestMessage[], signal?: AbortSignal): Promise<string> {
    const json = await this.postJson('/apply-template', { messages }, signal);
    if (!isObject(json) || typeof json.prompt !== 'string') {
      throw new LlamaError({ kind: 'unknown', message: 'POST /apply-template returned no prompt.' });
    }
    return json.prompt;
  }

  /**
   * Streams one chat completion. Never throws: the last event is `done` or `error`. Aborting the signal, or
   * leaving the loop early, closes the connection so llama-server frees the slot.
   */
  async *streamChat(req: ChatRequest, signal?: AbortSignal): AsyncGenerator<StreamEvent, void, undefined> {
    for await (const batch of this.streamChatBatches(req, signal)) {
      for (const event of batch) yield event;
    }
  }

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
    const ctx: ErrorContext = { serverUrl: this.baseUrl, url: this.baseUrl + path };
    const started = Date.now();
    const logUrl = displayUrl(ctx.url!);
    const id = req.conversationId !== undefined && req.conversationId !== '' ? req.conversationId : undefined;
    let res: Dispatcher.ResponseData;
    let sent = false;
    try {
      if (this.disposed) throw new LlamaError({ kind: 'aborted', message: 'The client was disposed.' });
      const key = await this.readKey();
      ctx.sentApiKey = key !== undefined;
      if (signal?.aborted) throw new LlamaError({ kind: 'aborted', message: 'Stopped.' });
      this.logger.debug(`POST ${logUrl} (stream, ${req.messages.length} messages)`);
      const headers = this.headers(key, 'text/event-stream');
      if (id !== undefined) headers['x-conversation-id'] = id;
      sent = true;
      res = await undici().request(ctx.url!, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers,
        body: JSON.stringify(buildChatBody(req)),
        signal,
        headersTimeout: this.streamHeadersTimeoutMs,
        bodyTimeout: 0, // silence is the stale watchdog's call, not a transport error
      });
    } catch (err) {
      const error = networkError(err, { ...ctx, aborted: signal?.aborted === true });
      this.logFailure('POST', logUrl, error, started);
      // Stopped while the request was out: the server may have started a stream that outlives the connection.
      if (id !== undefined && sent && error.kind === 'aborted' && signal?.reason !== DETACH) this.cancelServerStream(id);
      yield [{ type: 'error', error: this.redactInfo(error.toInfo()) }];
      return;
    }

    const body = res.body;
    const contentType = String(res.headers['content-type'] ?? '');
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const text = await readText(body, ERROR_BODY_LIMIT);
      const error = httpStatusError(res.statusCode, text, { ...ctx, contentType });
      if (error.kind === 'context_exceeded') this.invalidate();
      this.logFailure('POST', logUrl, error, started);
      yield [{ type: 'error', error: this.redactInfo(error.toInfo()) }];
      return;
    }
    if (!/^text\/event-stream\b/i.test(contentType)) {
      const text = await readText(body, EXCERPT_BODY_LIMIT);
      const error = notSseError(contentType || undefined, text, ctx);
      this.logFailure('POST', logUrl, error, started, res.statusCode);
      yield [{ type: 'error', error: this.redactInfo(error.toInfo()) }];
      return;
    }
    this.logger.debug(`POST ${logUrl} → ${res.statusCode} after ${Date.now() - started} ms`);
    yield* this.readStream(body, { ctx, method: 'POST', logUrl, started, id, signal });
  }

  /**
   * Replays the server's stream for conversation `id` from byte 0 through a fresh decoder: the whole answer so far,
   * then live until it ends (a drop is resumed like in streamChatBatches). Same contract as streamChatBatches; an
   * error event (`truncated`) when the server holds no such stream or has no resumable streams at all. Stop
   * (abort) cancels the server-side stream.
   */
  async *resumeStream(id: string, signal?: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    const ctx: ErrorContext = { serverUrl: this.baseUrl, url: `${this.baseUrl}/v1/stream` };
    const started = Date.now();
    if (this.disposed || signal?.aborted) {
      yield [{ type: 'error', error: { kind: 'aborted', message: this.disposed ? 'The client was disposed.' : 'Stopped.' } }];
      return;
    }
    const opened = await this.openStream(id, 0, signal);
    if (!opened.ok) {
      const error: ErrorInfo = signal?.aborted
        ? { kind: 'aborted', message: 'Stopped.' }
        : { kind: 'truncated', message: `The answer could not be resumed: ${opened.why}.`, hint: 'Send the message again.' };
      yield [{ type: 'error', error: this.redactInfo(error) }];
      return;
    }
    yield* this.readStream(opened.body, { ctx, method: 'GET', logUrl: displayUrl(opened.url), started, id, signal });
  }

  /**
   * Which of `ids` the server still holds a stream for: `POST /v1/streams/lookup` (llama-server v0.5.0), else the
   * newer `GET /v1/streams`; [] when the server has neither. Rejects on network errors and aborts.
   */
  async lookupStreams(ids: string[], signal?: AbortSignal): Promise<StreamInfo[]> {
    if (ids.length === 0 || this.streamApi === 'none') return [];
    return (await this.lookupOrMissing(ids, signal)) ?? [];
  }

  /** The lookup, or undefined when the server has no lookup endpoint at all. */
  private async lookupOrMissing(ids: string[], signal: AbortSignal | undefined): Promise<StreamInfo[] | undefined> {
    try {
      return parseStreamList(await this.postJson('/v1/streams/lookup', { conversation_ids: ids }, signal, true), ids);
    } catch (err) {
      if (!isMissingStreamApi(err)) throw err;
    }
    try {
      return parseStreamList(await this.expectJson(await this.send('GET', '/v1/streams', undefined, signal, true), '/v1/streams'), ids);
    } catch (err) {
      if (!isMissingStreamApi(err)) throw err;
      return undefined;
    }
  }

  /** Whether this server resumes streams: unknown until a stream first drops (or a resume or Stop tried). */
  get resumableStreams(): 'yes' | 'no' | 'unknown' {
    return this.streamApi === undefined ? 'unknown' : this.streamApi === 'none' ? 'no' : 'yes';
  }

  /**
   * Reads an SSE body into batches through one decoder; with a conversation id, a body that fails or ends early is
   * continued from the end of the last complete event. Only whole events reach the decoder (an incomplete tail is
   * held back until its blank line), so a continuation never makes it see part of an event twice.
   */
  private async *readStream(first: Dispatcher.ResponseData['body'], run: StreamRun): AsyncGenerator<StreamEvent[], void, undefined> {
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
        if (e.type === 'error') batch[i] = this.redactEvent(resumeFailure === undefined ? e : withResumeNote(e, resumeFailure));
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
          events !== undefined && id !== undefined && !aborted && !this.disposed && this.streamApi !== 'none' && events.clean && (failed || !sawFinish);
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
          resumeFailure = 'resuming the stream brought nothing new';
          decoder.end();
          break;
        }
        if (progressed) attempt = 0;
        let next: OpenedStream | undefined;
        let why = 'the server did not answer';
        while (attempt < RESUME_BACKOFF_MS.length) {
          attempt++;
          queue.push({ type: 'reconnecting', attempt });
          yield take();
          this.logger.info(`${run.method} ${run.logUrl} connection lost; resuming from byte ${events.offset} (attempt ${attempt})`);
          await sleep(RESUME_BACKOFF_MS[attempt - 1], signal);
          if (signal?.aborted || this.disposed) break;
          const opened = await this.openStream(id, events.offset, signal);
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
            resumeFailure = `resuming the stream failed (${why})`;
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
      if (id !== undefined && lastEvent?.type !== 'done' && signal?.reason !== DETACH) this.cancelServerStream(id);
      this.logStreamEnd(run.method, run.logUrl, lastEvent, run.started);
    }
  }

  /**
   * `GET` the server's stream for `id` from byte `from`, in the spelling this server answers. The first time, both
   * spellings are tried (newer `/v1/stream/ID`, then v0.5.0's `/v1/stream?conv_id=ID`) and the one that answers is
   * remembered. An unknown route and an unknown stream both answer 404 "File Not Found", so when both spellings
   * are missing the lookup endpoint decides: a server without it has no resumable streams (remembered).
   */
  private async openStream(id: string, from: number, signal: AbortSignal | undefined): Promise<OpenedStream | { ok: false; retry: boolean; why: string }> {
    if (this.streamApi === 'none') return { ok: false, retry: false, why: 'this llama-server has no resumable streams' };
    let key: string | undefined;
    try {
      key = await this.readKey();
    } catch {
      return { ok: false, retry: false, why: 'the API key could not be read' };
    }
    const known = this.streamApi;
    for (const api of known !== undefined ? [known] : STREAM_APIS) {
      const url = this.baseUrl + streamPath(api, id, from);
      const started = Date.now();
      let res: Dispatcher.ResponseData;
      try {
        res = await undici().request(url, {
          method: 'GET',
          dispatcher: this.dispatcher,
          headers: this.headers(key, 'text/event-stream'),
          signal,
          headersTimeout: this.requestTimeoutMs,
          bodyTimeout: 0,
        });
      } catch (err) {
        const error = networkError(err, { serverUrl: this.baseUrl, url, aborted: signal?.aborted === true });
        this.logFailure('GET', displayUrl(url), error, started);
        return { ok: false, retry: error.kind !== 'aborted', why: this.redactText(error.message) };
      }
      this.logger.debug(`GET ${displayUrl(url)} → ${res.statusCode} after ${Date.now() - started} ms`);
      const sse = /^text\/event-stream\b/i.test(String(res.headers['content-type'] ?? ''));
      if (res.statusCode >= 200 && res.statusCode < 300 && sse) {
        this.streamApi = api;
        return { ok: true, body: res.body, url };
      }
      await readText(res.body, ERROR_BODY_LIMIT);
      if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode >= 500) {
        return { ok: false, retry: res.statusCode >= 500, why: `the server answered HTTP ${res.statusCode}` };
      }
      // 400/404/405 (or anything but an event stream): not this spelling, or no such stream.
    }
    if (known !== undefined) return { ok: false, retry: false, why: 'the server no longer has this stream' };
    const supported = await this.hasStreamLookup(signal);
    if (!supported && !signal?.aborted) {
      this.streamApi = 'none';
      this.logger.info(`${displayUrl(this.baseUrl)} has no resumable streams (GET /v1/stream: not found); a dropped stream ends the answer.`);
    }
    return { ok: false, retry: false, why: supported ? 'the server no longer has this stream' : 'this llama-server has no resumable streams' };
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
  private cancelServerStream(id: string): void {
    if (this.streamApi === 'none' || this.disposed) return;
    const known = this.streamApi;
    void (async () => {
      const key = await this.readKey();
      for (const api of known !== undefined ? [known] : STREAM_APIS) {
        const url = this.baseUrl + streamPath(api, id);
        const res = await undici().request(url, {
          method: 'DELETE',
          dispatcher: this.dispatcher,
          headers: this.headers(key, 'application/json'),
          signal: AbortSignal.timeout(CANCEL_TIMEOUT_MS),
          headersTimeout: CANCEL_TIMEOUT_MS,
          bodyTimeout: CANCEL_TIMEOUT_MS,
        });
        await res.body.dump().catch(() => undefined);
        this.logger.debug(`DELETE ${displayUrl(url)} → ${res.statusCode}`);
        if (res.statusCode >= 200 && res.statusCode < 300) {
          if (this.streamApi === undefined) this.streamApi = api;
          return;
        }
        if (!STREAM_MISSING.has(res.statusCode)) return;
      }
    })().catch((err: unknown) => {
      this.logger.debug(`DELETE stream ${id} failed: ${this.redactText(err instanceof Error ? err.message : String(err))}`);
    });
  }

  /** Closes idle and active connections of the own agent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.propsCache.clear();
    if (this.ownsDispatcher) this.agent?.destroy().catch(() => undefined);
  }

  private async readKey(): Promise<string | undefined> {
    const source = this.apiKey;
    let key: string | undefined;
    try {
      key = typeof source === 'function' ? await source() : source;
    } catch (err) {
      throw new LlamaError({ kind: 'unknown', message: 'The API key could not be read from secret storage.' }, { cause: err });
    }
    key = key?.trim();
    if (key) this.knownKey = key;
    return key ? key : undefined;
  }

  private headers(key: string | undefined, accept: string): Record<string, string> {
    const headers: Record<string, string> = { accept, 'content-type': 'application/json' };
    if (key !== undefined) headers.authorization = `Bearer ${key}`;
    return headers;
  }

  private async send(
    method: 'GET' | 'POST',
    path: string,
    json: unknown,
    signal: AbortSignal | undefined,
    quiet = false,
  ): Promise<Dispatcher.ResponseData> {
    const url = this.baseUrl + path;
    const ctx: ErrorContext = { serverUrl: this.baseUrl, url };
    const started = Date.now();
    if (this.disposed) throw new LlamaError({ kind: 'aborted', message: 'The client was disposed.' });
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
      if (error.kind !== 'aborted') this.invalidate();
      this.logFailure(method, displayUrl(url), error, started);
      throw this.redactError(error);
    }
  }

  private async expectJson(res: Dispatcher.ResponseData, path: string): Promise<unknown> {
    const text = await readText(res.body, 16 * 1024 * 1024);
    try {
      return JSON.parse(text) as unknown;
    } catch {
      throw new LlamaError({
        kind: 'unknown',
        message: this.redactText(`${displayUrl(this.baseUrl + path)} did not answer with JSON: ${excerpt(text, 80)}`),
        hint: 'Check that llamaChat.serverUrl points at llama-server',
      });
    }
  }

  private async getJson(path: string, signal: AbortSignal | undefined): Promise<unknown> {
    return this.expectJson(await this.send('GET', path, undefined, signal), path);
  }

  private async postJson(path: string, json: unknown, signal: AbortSignal | undefined, quiet = false): Promise<unknown> {
    return this.expectJson(await this.send('POST', path, json, signal, quiet), path);
  }

  private redactText(text: string): string {
    const key = this.knownKey;
    return key !== undefined && text.includes(key) ? text.split(key).join(REDACTED) : text;
  }

  /** A server (or a proxy) may quote the Authorization header back: never pass the key on. */
  private redactInfo(info: ErrorInfo): ErrorInfo {
    const out = { ...info };
    out.message = this.redactText(out.message);
    if (out.hint !== undefined) out.hint = this.redactText(out.hint);
    if (out.serverMessage !== undefined) out.serverMessage = this.redactText(out.serverMessage);
    if (out.serverType !== undefined) out.serverType = this.redactText(out.serverType);
    return out;
  }

  private redactEvent(event: StreamEvent): StreamEvent {
    return event.type === 'error' ? { type: 'error', error: this.redactInfo(event.error) } : event;
  }

  /** The same error without the key; the original (which holds it) is not kept as the cause. */
  private redactError(error: LlamaError): LlamaError {
    const info = error.toInfo();
    const clean = this.redactInfo(info);
    return JSON.stringify(clean) === JSON.stringify(info) ? error : new LlamaError(clean);
  }

  private logFailure(method: string, url: string, error: LlamaError, started: number, status?: number): void {
    const st = status ?? error.status;
    const line = `${method} ${url}${st !== undefined ? ` → ${st}` : ''} failed after ${Date.now() - started} ms: ${error.kind}: ${error.message}`;
    if (error.kind === 'aborted') this.logger.debug(line);
    else this.logger.warn(line);
  }

  private logStreamEnd(method: string, url: string, last: StreamEvent | undefined, started: number): void {
    const ms = Date.now() - started;
    if (last?.type === 'done') this.logger.info(`${method} ${url} stream done in ${ms} ms`);
    else if (last?.type === 'error') {
      if (last.error.kind === 'aborted') this.logger.debug(`${method} ${url} stream stopped after ${ms} ms`);
      else this.logger.warn(`${method} ${url} stream failed after ${ms} ms: ${last.error.kind}: ${last.error.message}`);
    } else this.logger.debug(`${method} ${url} stream left early after ${ms} ms`);
  }
}
