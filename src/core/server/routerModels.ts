/**
 * A router-mode llama-server (`--models-dir`, no `-m`): its models with their state (GET /models), and loading or
 * unloading one (POST /models/load, /models/unload).
 */
import { LlamaError } from '../base/errors';
import { t } from '../base/l10n';
import type { RouterModel } from './client';
import { isMissing, isNotJson } from './llamaHttp';
import type { LlamaHttp } from './llamaHttp';
import { parseRouterModels } from './llamaWire';

export class RouterModels {
  constructor(private readonly http: LlamaHttp) {}

  /**
   * Each model with its state and input modalities. Undefined when the server is not in router mode (404, or
   * another shape: a plain llama-server answers an Ollama-style list there).
   */
  async list(signal?: AbortSignal): Promise<RouterModel[] | undefined> {
    const http = this.http;
    if (http.missing.has('router')) return undefined;
    let json: unknown;
    try {
      json = await http.getJson('/models', signal, true);
    } catch (err) {
      if (!isMissing(err) && !isNotJson(err) && !(LlamaError.is(err) && err.status === 400)) throw err;
      http.noteMissing('router', `GET /models is not offered (not in router mode).`);
      return undefined;
    }
    const models = parseRouterModels(json);
    if (models === undefined) http.noteMissing('router', 'GET /models is not a router list (not in router mode).');
    return models;
  }

  /** POST /models/load or /models/unload; resolves once the server accepted it (a load then shows `loading`). */
  async act(action: 'load' | 'unload', id: string, signal: AbortSignal | undefined): Promise<void> {
    const json = await this.http.postJson(`/models/${action}`, { model: id }, signal);
    const answer = (json ?? {}) as { success?: unknown; message?: unknown };
    if (answer.success === false) {
      const why = typeof answer.message === 'string' ? answer.message : t('the server did not do it');
      throw new LlamaError({ kind: 'unknown', message: action === 'load' ? t('llama-server could not load {0}: {1}.', id, why) : t('llama-server could not unload {0}: {1}.', id, why) });
    }
    this.http.logger.info(`${action === 'load' ? 'Loading' : 'Unloaded'} model ${id}`);
  }
}
