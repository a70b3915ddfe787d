/**
 * Prompt and text sizes in tokens, as the server counts them: `POST /v1/chat/completions/input_tokens` (exact),
 * else `/apply-template` + `/tokenize` (exact for text), else an estimate. What works is remembered per client.
 */
import { LlamaError } from '../base/errors';
import { t } from '../base/l10n';
import type { ChatRequest, PromptCount } from './client';
import { IMAGE_TOKEN_ESTIMATE, estimatePromptTokens, estimateTextTokens } from '../session/contextBudget';
import { MISSING_ENDPOINT } from './llamaHttp';
import type { LlamaHttp } from './llamaHttp';
import { buildCountBody, isObject, optNumber } from './llamaWire';

/**
 * How a client counts prompts: llama-server's `POST /v1/chat/completions/input_tokens` (exact), its
 * `/apply-template` + `/tokenize` (exact for text), or an estimate of about 3.5 characters a token.
 */
export type PromptCountMethod = 'input_tokens' | 'template' | 'estimate';

export interface TokenizeOptions {
  /** Add BOS etc. like a real prompt (llama-server `add_special`). Default false. */
  addSpecial?: boolean;
  /** Do not log an error status (the caller falls back and logs once). */
  quiet?: boolean;
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

export class PromptCounter {
  /** What worked for countPrompt on this server (probed on first use, downgraded when an endpoint is missing). */
  private methodInUse: PromptCountMethod;
  private tokenizeMissing = false;
  /** Count problems already logged (once each, at debug). */
  private readonly logged = new Set<string>();

  constructor(
    private readonly http: LlamaHttp,
    private readonly initialMethod: PromptCountMethod,
  ) {
    this.methodInUse = initialMethod;
  }

  /** How countPrompt counts right now (after any fallback). */
  get method(): PromptCountMethod {
    return this.methodInUse;
  }

  /** Probes again from the start (server restarted, model or URL changed). */
  reset(): void {
    this.methodInUse = this.initialMethod;
    this.tokenizeMissing = false;
  }

  /**
   * The prompt size of the chat request `req` would make, as the server counts it: `POST
   * /v1/chat/completions/input_tokens` with the same body (exact); on a server without it `/apply-template` of that
   * body then `/tokenize` with `add_special` (exact for text: the server tokenizes its prompt the same way); without
   * those an estimate (`exact: false`). Images make a template count an estimate (the prompt text holds only a
   * marker for each). Rejects on network errors, aborts and refused keys; other HTTP errors for this request (e.g.
   * images on a text-only model) give an estimate.
   */
  async countPrompt(req: ChatRequest, signal?: AbortSignal): Promise<PromptCount> {
    for (;;) {
      const method = this.methodInUse;
      try {
        if (method === 'input_tokens') return await this.countByInputTokens(req, signal);
        if (method === 'template') return await this.countByTemplate(req, signal);
        return estimatePromptTokens(req.messages);
      } catch (err) {
        if (!LlamaError.is(err) || err.status === undefined || err.status === 401 || err.status === 403) throw err;
        if (MISSING_ENDPOINT.has(err.status) && this.methodInUse === method) {
          const next: PromptCountMethod = method === 'input_tokens' ? 'template' : 'estimate';
          this.logOnce(`missing:${method}`, `Prompt counting: ${method} is not offered (HTTP ${err.status}); using ${next}.`);
          this.methodInUse = next;
          continue;
        }
        if (MISSING_ENDPOINT.has(err.status)) continue; // another call switched already
        this.logOnce(`status:${err.status}`, `Prompt counting: HTTP ${err.status} (${err.message}); estimating this request.`);
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
      this.logOnce('missing:tokenize', `Token counting: /tokenize is not offered (HTTP ${err.status}); estimating.`);
      return estimateTextTokens(text);
    }
  }

  /** POST /tokenize → token ids. */
  async tokenize(text: string, signal?: AbortSignal, options: TokenizeOptions = {}): Promise<number[]> {
    const json = await this.http.postJson('/tokenize', { content: text, add_special: options.addSpecial ?? false }, signal, options.quiet);
    const tokens = isObject(json) && Array.isArray(json.tokens) ? (json.tokens as unknown[]) : undefined;
    if (tokens === undefined) throw new LlamaError({ kind: 'unknown', message: t('{0} returned no tokens array.', 'POST /tokenize') });
    // Plain ids, or {id, piece} when pieces were requested.
    return tokens.map((t) => (typeof t === 'number' ? t : isObject(t) && typeof t.id === 'number' ? t.id : -1));
  }

  private async countByInputTokens(req: ChatRequest, signal: AbortSignal | undefined): Promise<PromptCount> {
    const json = await this.http.postJson('/v1/chat/completions/input_tokens', buildCountBody(req), signal, true);
    const tokens = isObject(json) ? optNumber(json.input_tokens) : undefined;
    if (tokens === undefined) {
      // Something answers there, but not with a count: treat it like a missing endpoint.
      throw new LlamaError({ kind: 'unknown', status: 404, message: t('{0} returned no {1}.', 'POST /v1/chat/completions/input_tokens', 'input_tokens') });
    }
    return { tokens, exact: true };
  }

  private async countByTemplate(req: ChatRequest, signal: AbortSignal | undefined): Promise<PromptCount> {
    const images = imageCount(req);
    const body = buildCountBody(images > 0 ? withoutImages(req) : req);
    const json = await this.http.postJson('/apply-template', body, signal, true);
    if (!isObject(json) || typeof json.prompt !== 'string') {
      throw new LlamaError({ kind: 'unknown', status: 404, message: t('{0} returned no prompt.', 'POST /apply-template') });
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

  private logOnce(key: string, line: string): void {
    if (this.logged.has(key)) return;
    this.logged.add(key);
    this.http.logger.debug(line);
  }
}
