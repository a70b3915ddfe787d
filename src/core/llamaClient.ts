/**
 * The llama-server HTTP client on undici: keep-alive agent, typed errors, and a chat stream that never throws.
 * Logs method, URL, status and timings only; the API key never reaches a log line or a message.
 */
import type * as UndiciTypes from 'undici';
import type { Dispatcher } from 'undici';
import { LlamaError } from './errors';
import type { ErrorInfo } from './errors';
import type { ChatRequest, ChatRequestMessage, ChatStreamer, ModelInfo, PromptCount, ServerProps, SlotInfo } from './client';
import { IMAGE_TOKEN_ESTIMATE, estimatePromptTokens, estimateTextTokens } from './contextBudget';
import type { StreamEvent } from './events';
import { nullLogger } from './logger';
import type { Logger } from './logger';
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
    const nCtx = optNumber(meta.n_ctx);
    if (nCtx !== undefined) model.nCtx = nCtx;
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
type WireMessage = { role: ChatRequestMessage['role']; content: string | WirePart[] };

/** Request messages as the OpenAI-compatible API takes them: a message with images becomes text + image_url parts. */
export function toWireMessages(messages: readonly ChatRequestMessage[]): WireMessage[] {
  return messages.map((m) => {
    if (m.images === undefined || m.images.length === 0) return { role: m.role, content: m.content };
    const parts: WirePart[] = [];
    if (m.content) parts.push({ type: 'text', text: m.content });
    for (const url of m.images) parts.push({ type: 'image_url', image_url: { url } });
    return { role: m.role, content: parts };
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
  /** The last key read, so anything the server quotes back can be blanked out of logs and errors. */
  private knownKey: string | undefined;

  constructor(options: LlamaClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    this.apiKey = options.apiKey;
    this.logger = redactingLogger(options.logger ?? nullLogger, () => this.knownKey);
    this.requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.streamHeadersTimeoutMs = options.streamHeadersTimeoutMs ?? Math.max(this.requestTimeoutMs, 300_000);
    this.initialCountMethod = options.countMethod ?? 'input_tokens';
    this.countMethodInUse = this.initialCountMethod;
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
    const res = await this.send('GET', '/health', undefined, signal);
    if (res.statusCode === 503) {
      await readText(res.body, ERROR_BODY_LIMIT);
      return 'loading';
    }
    await this.expectJson(res, '/health');
    return 'ok';
  }

  /** GET /props (cached per model; `model` selects one on a multi-model server). */
  async getProps(signal?: AbortSignal, model?: string): Promise<ServerProps> {
    const key = model ?? '';
    const cached = this.propsCache.get(key);
    if (cached !== undefined) return cached;
    const path = model !== undefined && model !== '' ? `/props?model=${encodeURIComponent(model)}` : '/props';
    const props = parseProps(await this.getJson(path, signal));
    this.propsCache.set(key, props);
    if (props.modelAlias !== undefined && key === '') this.propsCache.set(props.modelAlias, props);
    return props;
  }

  /** Forgets cached /props and how prompts are counted (server restarted, model or URL changed). */
  invalidate(): void {
    this.propsCache.clear();
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
    try {
      return parseSlots(await this.getJson('/slots', signal));
    } catch (err) {
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
   */
  async *streamChatBatches(req: ChatRequest, signal?: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    const path = '/v1/chat/completions';
    const ctx: ErrorContext = { serverUrl: this.baseUrl, url: this.baseUrl + path };
    const started = Date.now();
    const logUrl = displayUrl(ctx.url!);
    let res: Dispatcher.ResponseData;
    try {
      if (this.disposed) throw new LlamaError({ kind: 'aborted', message: 'The client was disposed.' });
      const key = await this.readKey();
      ctx.sentApiKey = key !== undefined;
      if (signal?.aborted) throw new LlamaError({ kind: 'aborted', message: 'Stopped.' });
      this.logger.debug(`POST ${logUrl} (stream, ${req.messages.length} messages)`);
      res = await undici().request(ctx.url!, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers: this.headers(key, 'text/event-stream'),
        body: JSON.stringify(buildChatBody(req)),
        signal,
        headersTimeout: this.streamHeadersTimeoutMs,
        bodyTimeout: 0, // silence is the stale watchdog's call, not a transport error
      });
    } catch (err) {
      const error = networkError(err, { ...ctx, aborted: signal?.aborted === true });
      this.logFailure('POST', logUrl, error, started);
      yield [{ type: 'error', error: this.redactInfo(error.toInfo()) }];
      return;
    }

    const body = res.body;
    let streaming = false;
    let lastEvent: StreamEvent | undefined;
    try {
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

      streaming = true;
      let queue: StreamEvent[] = [];
      const decoder = new ChatStreamDecoder((e) => queue.push(e));
      // Hands the queued events over as one batch (errors redacted) and starts a new queue.
      const take = (): StreamEvent[] => {
        const batch = queue;
        queue = [];
        for (let i = 0; i < batch.length; i++) if (batch[i].type === 'error') batch[i] = this.redactEvent(batch[i]);
        lastEvent = batch[batch.length - 1];
        return batch;
      };
      try {
        // destroyOnReturn false: leaving the loop at [DONE] must not kill a socket that can be reused.
        const chunks = body.iterator({ destroyOnReturn: false }) as AsyncIterable<Uint8Array>;
        for await (const chunk of chunks) {
          decoder.write(chunk);
          if (queue.length > 0) yield take();
          if (decoder.finished) break;
        }
        decoder.end();
      } catch (err) {
        decoder.fail(networkError(err, { ...ctx, midStream: true, aborted: signal?.aborted === true }).toInfo());
      }
      if (queue.length > 0) yield take();
    } finally {
      if (!body.destroyed && !body.readableEnded) {
        if (lastEvent?.type === 'done') {
          // Let the last bytes (the chunked terminator) arrive so the socket is reused; give up quickly.
          await body.dump({ limit: ERROR_BODY_LIMIT, signal: AbortSignal.timeout(2_000) }).catch(() => undefined);
        } else {
          // Errors, aborts and early exits close the connection: llama-server then cancels the generation.
          destroyQuietly(body);
        }
      }
      if (streaming) this.logStreamEnd(logUrl, lastEvent, started);
    }
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

  private logStreamEnd(url: string, last: StreamEvent | undefined, started: number): void {
    const ms = Date.now() - started;
    if (last?.type === 'done') this.logger.info(`POST ${url} stream done in ${ms} ms`);
    else if (last?.type === 'error') {
      if (last.error.kind === 'aborted') this.logger.debug(`POST ${url} stream stopped after ${ms} ms`);
      else this.logger.warn(`POST ${url} stream failed after ${ms} ms: ${last.error.kind}: ${last.error.message}`);
    } else this.logger.debug(`POST ${url} stream left early after ${ms} ms`);
  }
}
