/**
 * What the server says about itself: GET /health, /props (per model, cached), /v1/models and /slots, with the
 * fallbacks for an OpenAI-compatible server that is not llama-server (a missing endpoint is logged once at debug
 * and not asked again).
 */
import { LlamaError, errorText } from '../base/errors';
import { t } from '../base/l10n';
import type { ModelInfo, ServerProps, SlotInfo } from './client';
import { displayUrl } from './httpErrors';
import { ERROR_BODY_LIMIT, isMissing, isNotJson, readText } from './llamaHttp';
import type { LlamaHttp } from './llamaHttp';
import { parseModels, parseProps, parseSlots } from './llamaWire';

export type HealthStatus = 'ok' | 'loading';

export class ServerInfo {
  private readonly propsCache = new Map<string, ServerProps>();

  constructor(
    private readonly http: LlamaHttp,
    /** The context size (tokens) to assume where the server does not say. */
    private readonly contextSize: number | undefined,
  ) {}

  /** Forgets cached /props. */
  clear(): void {
    this.propsCache.clear();
  }

  /** GET /health: 'ok', or 'loading' while the model loads (503). Throws LlamaError otherwise. */
  async health(signal?: AbortSignal): Promise<HealthStatus> {
    const http = this.http;
    if (!http.missing.has('health')) {
      let res: Awaited<ReturnType<LlamaHttp['send']>> | undefined;
      try {
        res = await http.send('GET', '/health', undefined, signal, true);
      } catch (err) {
        if (!isMissing(err)) {
          if (LlamaError.is(err) && err.status !== undefined) http.logger.warn(`GET /health → ${err.status}: ${err.message}`);
          throw err;
        }
        http.noteMissing('health', `GET /health is not offered (HTTP ${err.status}); GET /v1/models is the liveness check.`);
      }
      if (res !== undefined) {
        if (res.statusCode === 503) {
          await readText(res.body, ERROR_BODY_LIMIT);
          return 'loading';
        }
        await http.expectJson(res, '/health');
        return 'ok';
      }
    }
    // An OpenAI-compatible server: it is alive when it lists its models.
    await http.getJson('/v1/models', signal);
    return 'ok';
  }

  /**
   * n_ctx and friends. llama-server: GET /props (`?model=ID` on a router-mode server, which loads that model if it is
   * not loaded). A server without /props (any OpenAI-compatible one): the model's context length from /v1/models,
   * else the `contextSize` option. Cached per model.
   */
  async getProps(signal?: AbortSignal, model?: string): Promise<ServerProps> {
    const http = this.http;
    const key = model ?? '';
    const cached = this.propsCache.get(key);
    if (cached !== undefined) return cached;
    let props: ServerProps | undefined;
    if (!http.missing.has('props')) {
      const path = model !== undefined && model !== '' ? `/props?model=${encodeURIComponent(model)}` : '/props';
      let json: unknown;
      try {
        json = await http.getJson(path, signal, true);
      } catch (err) {
        if (!isMissing(err) && !isNotJson(err)) {
          if (LlamaError.is(err) && err.status !== undefined) http.logger.warn(`GET ${path} → ${err.status}: ${err.message}`);
          throw err;
        }
        http.noteMissing('props', `GET /props is not offered (${LlamaError.is(err) && err.status !== undefined ? `HTTP ${err.status}` : 'not JSON'}); context size from /v1/models or the contextSize setting.`);
      }
      if (json !== undefined) {
        try {
          props = parseProps(json);
        } catch {
          http.noteMissing('props', 'GET /props is not llama-server\'s (no n_ctx); context size from /v1/models or the contextSize setting.');
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
          message: t('{0} does not say its context size (no {1}, no context length in {2}).', displayUrl(http.baseUrl), '/props', '/v1/models'),
          hint: t('Set the context size in the settings'),
        });
      }
    }
    this.propsCache.set(key, props);
    if (props.modelAlias !== undefined && key === '') this.propsCache.set(props.modelAlias, props);
    return props;
  }

  /** The context length /v1/models gives for `model` (or the first model), where the server says one. */
  private async contextFromModels(model: string | undefined, signal: AbortSignal | undefined): Promise<number | undefined> {
    const http = this.http;
    if (http.missing.has('models')) return undefined;
    let models: ModelInfo[];
    try {
      models = parseModels(await http.getJson('/v1/models', signal, true));
    } catch (err) {
      if (signal?.aborted || (LlamaError.is(err) && (err.status === 401 || err.status === 403))) throw err;
      http.noteMissing('models', `GET /v1/models gave no models (${errorText(err)}).`);
      return undefined;
    }
    const found = model !== undefined && model !== '' ? models.find((m) => m.id === model) : models[0];
    return found?.nCtx;
  }

  async listModels(signal?: AbortSignal): Promise<ModelInfo[]> {
    return parseModels(await this.http.getJson('/v1/models', signal));
  }

  /** GET /slots. A server started with --no-slots answers 501: that becomes a bad_request error that says so. */
  async getSlots(signal?: AbortSignal): Promise<SlotInfo[]> {
    const http = this.http;
    if (http.missing.has('slots')) return [];
    try {
      return parseSlots(await http.getJson('/slots', signal, true));
    } catch (err) {
      // Not llama-server (404), or a router-mode one (400: /slots needs ?model=): no slot figures, no error.
      if (LlamaError.is(err) && (err.status === 404 || err.status === 405 || err.status === 400)) {
        http.noteMissing('slots', `GET /slots is not offered (HTTP ${err.status}); no slot figures.`);
        return [];
      }
      if (LlamaError.is(err) && err.status !== undefined) http.logger.warn(`GET /slots → ${err.status}: ${err.message}`);
      if (LlamaError.is(err) && err.status === 501) {
        const info = err.toInfo();
        info.message = t('This llama-server does not offer the {0} endpoint (HTTP {1}).', '/slots', err.status);
        info.hint = t('Restart llama-server with {0} (or a newer version) to see slot usage', '--slots');
        throw new LlamaError(info, { cause: err });
      }
      throw err;
    }
  }
}
