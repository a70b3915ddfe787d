/**
 * The llama-server HTTP client on undici: keep-alive agent, typed errors, and a chat stream that never throws.
 * Logs method, URL, status and timings only; the API key never reaches a log line or a message.
 *
 * A facade over its parts: LlamaHttp (requests, key, redaction), ChatStreams (streaming and resume),
 * ResumableStreams (the server's stream endpoints), ServerInfo (health, props, models, slots), PromptCounter
 * (token counts) and RouterModels (router-mode models).
 */
import type { Dispatcher } from 'undici';
import { LlamaError } from '../base/errors';
import { t } from '../base/l10n';
import type { StreamEvent } from '../base/events';
import { nullLogger } from '../base/logger';
import type { Logger } from '../base/logger';
import { ChatStreams } from './chatStream';
import type { ChatRequest, ChatStreamer, ModelInfo, PromptCount, RouterModel, ServerProps, SlotInfo } from './client';
import { LlamaHttp } from './llamaHttp';
import type { ApiKeySource } from './llamaHttp';
import { normalizeBaseUrl } from './llamaWire';
import { PromptCounter } from './promptCounter';
import type { PromptCountMethod, TokenizeOptions } from './promptCounter';
import { ResumableStreams } from './resumableStreams';
import type { StreamInfo } from './resumableStreams';
import { RouterModels } from './routerModels';
import { ServerInfo } from './serverInfo';
import type { HealthStatus } from './serverInfo';

export type { ApiKeySource } from './llamaHttp';
export type { PromptCountMethod, TokenizeOptions } from './promptCounter';
export type { HealthStatus } from './serverInfo';
export type { StreamInfo } from './resumableStreams';
export { buildChatBody, buildCountBody, normalizeBaseUrl, parseRouterModels } from './llamaWire';

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

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export class LlamaClient implements ChatStreamer {
  readonly baseUrl: string;
  private readonly http: LlamaHttp;
  private readonly info: ServerInfo;
  private readonly counter: PromptCounter;
  private readonly router: RouterModels;
  private readonly resumable: ResumableStreams;
  private readonly chats: ChatStreams;

  constructor(options: LlamaClientOptions) {
    this.baseUrl = normalizeBaseUrl(options.baseUrl);
    const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.http = new LlamaHttp({
      baseUrl: this.baseUrl,
      apiKey: options.apiKey,
      logger: options.logger ?? nullLogger,
      requestTimeoutMs,
      connectTimeoutMs: options.connectTimeoutMs,
      dispatcher: options.dispatcher,
      onNetworkError: () => this.invalidate(),
    });
    const contextSize = options.contextSize !== undefined && Number.isFinite(options.contextSize) && options.contextSize > 0 ? Math.floor(options.contextSize) : undefined;
    this.info = new ServerInfo(this.http, contextSize);
    this.counter = new PromptCounter(this.http, options.countMethod ?? 'input_tokens');
    this.router = new RouterModels(this.http);
    this.resumable = new ResumableStreams(this.http);
    const streamHeadersTimeoutMs = options.streamHeadersTimeoutMs ?? Math.max(requestTimeoutMs, 300_000);
    this.chats = new ChatStreams(this.http, this.resumable, streamHeadersTimeoutMs, () => this.invalidate());
  }

  /** GET /health: 'ok', or 'loading' while the model loads (503). Throws LlamaError otherwise. */
  health(signal?: AbortSignal): Promise<HealthStatus> {
    return this.info.health(signal);
  }

  /**
   * n_ctx and friends: GET /props (per model on a router-mode server), else the context length from /v1/models,
   * else the `contextSize` option. Cached per model.
   */
  getProps(signal?: AbortSignal, model?: string): Promise<ServerProps> {
    return this.info.getProps(signal, model);
  }

  listModels(signal?: AbortSignal): Promise<ModelInfo[]> {
    return this.info.listModels(signal);
  }

  /** GET /slots ([] where the server has none). */
  getSlots(signal?: AbortSignal): Promise<SlotInfo[]> {
    return this.info.getSlots(signal);
  }

  /** GET /models of a router-mode llama-server; undefined when the server is not in router mode. */
  listRouterModels(signal?: AbortSignal): Promise<RouterModel[] | undefined> {
    return this.router.list(signal);
  }

  /** POST /models/load on a router-mode server: starts loading `id` (listRouterModels shows `loading`, then `loaded`). */
  loadModel(id: string, signal?: AbortSignal): Promise<void> {
    return this.router.act('load', id, signal);
  }

  /** POST /models/unload on a router-mode server. */
  unloadModel(id: string, signal?: AbortSignal): Promise<void> {
    return this.router.act('unload', id, signal);
  }

  /** The prompt size of the chat request `req` would make, as the server counts it (see PromptCounter). */
  countPrompt(req: ChatRequest, signal?: AbortSignal): Promise<PromptCount> {
    return this.counter.countPrompt(req, signal);
  }

  /** Tokens of one text as part of a prompt (no BOS): `/tokenize`, or an estimate where the server has none. */
  tokenCount(text: string, signal?: AbortSignal): Promise<PromptCount> {
    return this.counter.tokenCount(text, signal);
  }

  /** POST /tokenize → token ids. */
  tokenize(text: string, signal?: AbortSignal, options?: TokenizeOptions): Promise<number[]> {
    return this.counter.tokenize(text, signal, options);
  }

  /** How countPrompt counts right now (after any fallback). */
  get countMethod(): PromptCountMethod {
    return this.counter.method;
  }

  /** POST /v1/chat/completions/control: e.g. end the reasoning of a running completion (`reasoning_control`). */
  async controlReasoning(completionId: string, action: 'reasoning_end', signal?: AbortSignal): Promise<void> {
    const json = await this.http.postJson('/v1/chat/completions/control', { id: completionId, action }, signal);
    // The server answers 200 either way: {"success": false, "message": …} means nothing was done.
    const answer = (json ?? {}) as { success?: unknown; message?: unknown };
    if (answer.success === false) {
      const why = typeof answer.message === 'string' ? answer.message : t('the server did not do it');
      throw new LlamaError({ kind: 'unknown', message: t('llama-server refused {0}: {1}.', action, why) });
    }
  }

  /**
   * Streams one chat completion. Never throws: the last event is `done` or `error`. Aborting the signal, or
   * leaving the loop early, closes the connection so llama-server frees the slot.
   */
  async *streamChat(req: ChatRequest, signal?: AbortSignal): AsyncGenerator<StreamEvent, void, undefined> {
    for await (const batch of this.chats.streamChatBatches(req, signal)) {
      for (const event of batch) yield event;
    }
  }

  /** The same stream, one array per network chunk; resumed after a drop with `req.conversationId` (see ChatStreams). */
  streamChatBatches(req: ChatRequest, signal?: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    return this.chats.streamChatBatches(req, signal);
  }

  /** Replays the server's stream for conversation `id` from its first byte, then live until it ends. */
  resumeStream(id: string, signal?: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    return this.chats.resumeStream(id, signal);
  }

  /** Which of `ids` the server still holds a stream for ([] when it has no such API). */
  lookupStreams(ids: string[], signal?: AbortSignal): Promise<StreamInfo[]> {
    return this.resumable.lookup(ids, signal);
  }

  /** Whether this server resumes streams: unknown until a stream first drops (or a resume or Stop tried). */
  get resumableStreams(): 'yes' | 'no' | 'unknown' {
    return this.resumable.support;
  }

  /** Forgets cached /props, missing endpoints and how prompts are counted (server restarted, model or URL changed). */
  invalidate(): void {
    this.info.clear();
    this.http.missing.clear();
    this.counter.reset();
  }

  /** Closes idle and active connections of the own agent. */
  dispose(): void {
    if (this.http.disposed) return;
    this.http.dispose();
    this.info.clear();
  }
}
