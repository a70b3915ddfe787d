/**
 * llama-server models in VS Code's own chat: a Language Model Chat Provider (vendor `llama-server`, VS Code 1.104+;
 * nothing is registered where the API is missing). Every model of every configured server, with the context size
 * the server really has; requests stream through runLmRequest (the same client, meter and watchdog as the webview
 * chat), so the status bar shows them and a stalled stream fails after llamaChat.staleSeconds instead of hanging.
 */
import * as vscode from 'vscode';
import { errorText } from '../core/base/errors';
import type { Logger } from '../core/base/logger';
import { displayModelName } from '../core/base/format';
import type { ChatRequest, ChatRequestMessage, ChatToolCall, ModelInfo, PromptCount, RouterModel, ServerProps } from '../core/server/client';
import type { ServerEntry } from '../core/server/servers';
import { IMAGE_TOKEN_ESTIMATE, estimateTextTokens, reserveFor } from '../core/session/contextBudget';
import { LmRequestError, runLmRequest } from '../core/session/lmRequest';
import type { LmStreams } from '../core/session/lmRequest';
import type { ServerClient } from './serverClient';

/** A plain server's model when neither its alias nor /v1/models names it (a name, not a sentence). */
const DEFAULT_MODEL_NAME = 'llama-server';

export const LM_VENDOR = 'llama-server';

/** What the provider needs of a server's client (LlamaClient has all of it). */
export interface LmClient extends ServerClient {
  listRouterModels?(signal?: AbortSignal): Promise<RouterModel[] | undefined>;
  tokenCount?(text: string, signal?: AbortSignal): Promise<PromptCount>;
}

export interface LanguageModelsOptions {
  /** The configured servers (llamaChat.servers / serverUrl, and a started local server). */
  servers: () => ServerEntry[];
  /** A client for one server URL (with its API key); the provider keeps one per server. */
  createClient: (url: string) => LmClient;
  tracker: LmStreams;
  logger: Logger;
  /** Read at every request. */
  settings: () => { staleSeconds: number; temperature?: number; maxTokens?: number };
}

interface LmModel extends vscode.LanguageModelChatInformation {
  /** The server's URL and the model name to send (undefined: the server's only model). */
  readonly serverUrl: string;
  readonly model: string | undefined;
  readonly nCtx: number | undefined;
  /** The context size is the server's answer for this model (false: not loaded yet on a router server). */
  readonly exactContext: boolean;
  /** /props says the model's chat template supports tool calls (`chat_template_caps.supports_tool_calls`). */
  readonly tools: boolean;
}

/** n_ctx when nothing says it (an unloaded router model with no context in /v1/models). */
const UNKNOWN_CONTEXT = 4096;

function toolsOf(props: ServerProps | undefined): boolean {
  return props?.chatTemplateCaps?.supports_tool_calls === true;
}
const TOKEN_CACHE_LIMIT = 500;

function isTextPart(part: unknown): part is { value: string } {
  return part instanceof vscode.LanguageModelTextPart || (typeof part === 'object' && part !== null && typeof (part as { value?: unknown }).value === 'string');
}

function isDataPart(part: unknown): part is vscode.LanguageModelDataPartLike {
  return typeof part === 'object' && part !== null && typeof (part as { mimeType?: unknown }).mimeType === 'string' && (part as { data?: unknown }).data instanceof Uint8Array;
}

function isToolCall(part: unknown): part is vscode.LanguageModelToolCallPart {
  return part instanceof vscode.LanguageModelToolCallPart;
}

function isToolResult(part: unknown): part is vscode.LanguageModelToolResultPart {
  return part instanceof vscode.LanguageModelToolResultPart;
}

function textOf(parts: readonly unknown[]): string {
  return parts.map((p) => (isTextPart(p) ? p.value : '')).join('');
}

/** A tool result's content as text: its text parts and text/JSON data parts, joined. */
function resultText(parts: readonly unknown[]): string {
  return parts.map((p) => (isTextPart(p) ? p.value : isDataPart(p) && (p.mimeType.startsWith('text/') || p.mimeType === 'application/json') ? Buffer.from(p.data).toString('utf8') : '')).join('');
}

/**
 * VS Code's messages as llama-server's: text, images as data: URIs. With `tools` (the model's template supports
 * tool calls) an assistant message's tool calls become its `tool_calls` and each tool result a `tool` message of its
 * own (before the rest of that user message); without, tool exchanges are written out as text.
 */
export function toRequestMessages(messages: readonly vscode.LanguageModelChatRequestMessage[], options: { tools?: boolean } = {}): ChatRequestMessage[] {
  const out: ChatRequestMessage[] = [];
  for (const m of messages) {
    const role: ChatRequestMessage['role'] =
      m.role === vscode.LanguageModelChatMessageRole.Assistant ? 'assistant' : m.role === vscode.LanguageModelChatMessageRole.User ? 'user' : 'system';
    let content = '';
    const images: string[] = [];
    const toolCalls: ChatToolCall[] = [];
    for (const part of m.content) {
      if (isTextPart(part)) content += part.value;
      else if (isDataPart(part) && part.mimeType.startsWith('image/')) images.push(`data:${part.mimeType};base64,${Buffer.from(part.data).toString('base64')}`);
      else if (isDataPart(part) && (part.mimeType.startsWith('text/') || part.mimeType === 'application/json')) content += Buffer.from(part.data).toString('utf8');
      else if (isToolCall(part)) {
        if (options.tools && role === 'assistant') toolCalls.push({ id: part.callId, name: part.name, arguments: JSON.stringify(part.input ?? {}) });
        else content += `\n[tool call ${part.name} ${JSON.stringify(part.input)}]\n`;
      } else if (isToolResult(part)) {
        if (options.tools) out.push({ role: 'tool', toolCallId: part.callId, content: resultText(part.content) });
        else content += `\n[tool result]\n${textOf(part.content)}\n`;
      }
    }
    // A user message that only carried tool results adds nothing more.
    if (options.tools && role === 'user' && content === '' && images.length === 0 && m.content.length > 0 && m.content.every(isToolResult)) continue;
    const msg: ChatRequestMessage = { role, content };
    if (images.length > 0) msg.images = images;
    if (toolCalls.length > 0) msg.toolCalls = toolCalls;
    out.push(msg);
  }
  return out;
}

function modelOption(options: vscode.ProvideLanguageModelChatResponseOptions, ...names: string[]): number | undefined {
  for (const name of names) {
    const v = options.modelOptions?.[name];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
  }
  return undefined;
}

export class LlamaLanguageModels implements vscode.LanguageModelChatProvider<LmModel>, vscode.Disposable {
  private readonly clients = new Map<string, LmClient>();
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly tokenCache = new Map<string, number>();
  readonly onDidChangeLanguageModelChatInformation = this.changed.event;

  constructor(private readonly o: LanguageModelsOptions) {}

  /** The server list or a server changed: VS Code asks for the models again. */
  refresh(): void {
    for (const client of this.clients.values()) client.invalidate?.();
    this.changed.fire();
  }

  private client(url: string): LmClient {
    let client = this.clients.get(url);
    if (!client) {
      client = this.o.createClient(url);
      this.clients.set(url, client);
    }
    return client;
  }

  async provideLanguageModelChatInformation(_options: vscode.PrepareLanguageModelChatModelOptions, token: vscode.CancellationToken): Promise<LmModel[]> {
    const servers = this.o.servers();
    // Clients of servers no longer listed go.
    for (const [url, client] of this.clients) {
      if (!servers.some((s) => s.url === url)) {
        client.dispose();
        this.clients.delete(url);
      }
    }
    const abort = new AbortController();
    const sub = token.onCancellationRequested(() => abort.abort());
    try {
      const lists = await Promise.all(
        servers.map(async (server) => {
          try {
            return await this.modelsOf(server, servers.length > 1, abort.signal);
          } catch (err) {
            this.o.logger.warn(`VS Code chat: no models from ${server.name} (${server.url}): ${errorText(err)}`);
            return [];
          }
        }),
      );
      const models = lists.flat();
      this.o.logger.info(`VS Code chat: ${models.length} model${models.length === 1 ? '' : 's'} from ${servers.length} server${servers.length === 1 ? '' : 's'}`);
      return models;
    } finally {
      sub.dispose();
    }
  }

  private async modelsOf(server: ServerEntry, several: boolean, signal: AbortSignal): Promise<LmModel[]> {
    const client = this.client(server.url);
    const router = client.listRouterModels ? await client.listRouterModels(signal) : undefined;
    if (router !== undefined) {
      let plain: ModelInfo[] = [];
      try {
        plain = await client.listModels(signal);
      } catch {
        // Context sizes of unloaded models are then unknown.
      }
      const out: LmModel[] = [];
      for (const m of router) {
        // /props?model= of an unloaded model would load it: only loaded ones are asked.
        let props: ServerProps | undefined;
        if (m.state === 'loaded') {
          try {
            props = await client.getProps(signal, m.id);
          } catch (err) {
            this.o.logger.debug(`VS Code chat: no /props for ${m.id}: ${errorText(err)}`);
          }
        }
        const nCtx = props?.nCtx ?? plain.find((p) => p.id === m.id)?.nCtx;
        const image = m.inputModalities.includes('image') || props?.modalities?.vision === true;
        out.push(this.info(server, several, m.id, m.id, nCtx, props !== undefined, image, toolsOf(props), props?.buildInfo, m.state));
      }
      return out;
    }
    const props = await client.getProps(signal);
    let name = props.modelAlias;
    if (name === undefined) {
      try {
        name = (await client.listModels(signal))[0]?.id;
      } catch {
        // The server's default model, unnamed.
      }
    }
    return [this.info(server, several, undefined, name ?? DEFAULT_MODEL_NAME, props.nCtx, true, props.modalities?.vision === true, toolsOf(props), props.buildInfo)];
  }

  private info(
    server: ServerEntry,
    several: boolean,
    model: string | undefined,
    name: string,
    nCtx: number | undefined,
    exactContext: boolean,
    imageInput: boolean,
    tools: boolean,
    buildInfo: string | undefined,
    state?: string,
  ): LmModel {
    const ctx = nCtx !== undefined && nCtx > 0 ? nCtx : UNKNOWN_CONTEXT;
    const maxOutputTokens = reserveFor(ctx, this.o.settings().maxTokens);
    const shown = displayModelName(name);
    const detail = [server.name, state && state !== 'loaded' ? vscode.l10n.t('{0}: context size known once loaded', state) : undefined].filter(Boolean).join(' · ');
    return {
      id: `${server.url}#${model ?? ''}`,
      name: several ? `${shown} (${server.name})` : shown,
      family: 'llama-server',
      version: buildInfo ?? 'llama-server',
      tooltip: exactContext
        ? vscode.l10n.t('{0} on {1} ({2}): context {3} tokens', shown, server.name, server.url, ctx.toLocaleString('en-US'))
        : vscode.l10n.t('{0} on {1} ({2}): context {3} tokens (not loaded yet)', shown, server.name, server.url, ctx.toLocaleString('en-US')),
      detail,
      maxInputTokens: Math.max(1, ctx - maxOutputTokens),
      maxOutputTokens,
      // Only where the server's template renders tools and parses calls (an unloaded router model: once loaded).
      capabilities: { imageInput, toolCalling: tools },
      serverUrl: server.url,
      model,
      nCtx: nCtx !== undefined && nCtx > 0 ? nCtx : undefined,
      exactContext,
      tools,
    };
  }

  async provideLanguageModelChatResponse(
    model: LmModel,
    messages: readonly vscode.LanguageModelChatRequestMessage[],
    options: vscode.ProvideLanguageModelChatResponseOptions,
    progress: vscode.Progress<vscode.LanguageModelResponsePart2>,
    token: vscode.CancellationToken,
  ): Promise<void> {
    const settings = this.o.settings();
    const request: ChatRequest = { messages: toRequestMessages(messages, { tools: model.tools }) };
    if (model.tools && options.tools !== undefined && options.tools.length > 0) {
      request.tools = options.tools.map((tool) => ({
        name: tool.name,
        description: tool.description,
        ...(tool.inputSchema !== undefined ? { parameters: tool.inputSchema } : {}),
      }));
      request.toolChoice = options.toolMode === vscode.LanguageModelChatToolMode.Required ? 'required' : 'auto';
    }
    // Other model options are llama-server request fields (top_k, ignore_eos, …): sent as they are.
    const { temperature: _t, max_tokens: _m, maxTokens: _mt, ...extra } = options.modelOptions ?? {};
    if (Object.keys(extra).length > 0) request.extra = extra;
    if (model.model !== undefined) request.model = model.model;
    const temperature = modelOption(options, 'temperature') ?? settings.temperature;
    if (temperature !== undefined) request.temperature = temperature;
    const maxTokens = modelOption(options, 'max_tokens', 'maxTokens') ?? settings.maxTokens;
    if (maxTokens !== undefined) request.maxTokens = maxTokens;
    const abort = new AbortController();
    const sub = token.onCancellationRequested(() => abort.abort());
    if (token.isCancellationRequested) abort.abort();
    const client = this.client(model.serverUrl);
    this.o.logger.info(`VS Code chat: request to ${model.name} (${model.serverUrl}), ${request.messages.length} messages${request.tools ? `, ${request.tools.length} tools (${request.toolChoice})` : ''}`);
    try {
      const result = await runLmRequest({
        streamer: client,
        request,
        staleSeconds: settings.staleSeconds,
        signal: abort.signal,
        ctxMax: model.nCtx,
        tracker: this.o.tracker,
        onText: (text) => progress.report(new vscode.LanguageModelTextPart(text)),
        onToolCall: (call) => progress.report(new vscode.LanguageModelToolCallPart(call.id, call.name, call.input)),
      });
      // The figures VS Code shows in its context ring.
      const DataPart = vscode.LanguageModelDataPart;
      const prompt = result.usage?.promptTokens ?? result.summary.promptTokens;
      const completion = result.usage?.completionTokens ?? result.summary.completionTokens;
      if (DataPart && prompt !== undefined) {
        const cached = result.usage?.cachedTokens ?? result.summary.cachedTokens;
        progress.report(
          DataPart.json(
            {
              prompt_tokens: prompt,
              completion_tokens: completion,
              total_tokens: prompt + completion,
              ...(cached !== undefined ? { prompt_tokens_details: { cached_tokens: cached } } : {}),
            },
            'usage',
          ),
        );
      }
      // A router model just loaded by this request: its real context size can be read now.
      if (!model.exactContext) this.refresh();
    } catch (err) {
      if (err instanceof LmRequestError && err.reason === 'cancelled') {
        this.o.logger.info(`VS Code chat: request to ${model.name} cancelled`);
        throw new vscode.CancellationError();
      }
      const message = errorText(err);
      this.o.logger.warn(`VS Code chat: request to ${model.name} failed: ${message}`);
      throw new Error(vscode.l10n.t('llama-server: {0}', message));
    } finally {
      sub.dispose();
    }
  }

  async provideTokenCount(model: LmModel, text: string | vscode.LanguageModelChatRequestMessage, token: vscode.CancellationToken): Promise<number> {
    let images = 0;
    let content: string;
    if (typeof text === 'string') content = text;
    else {
      const [m] = toRequestMessages([text]);
      content = m.content;
      images = m.images?.length ?? 0;
    }
    const key = `${model.serverUrl}#${model.model ?? ''}#${content}`;
    let tokens = this.tokenCache.get(key);
    if (tokens === undefined) {
      const abort = new AbortController();
      const sub = token.onCancellationRequested(() => abort.abort());
      try {
        const client = this.client(model.serverUrl);
        tokens = (client.tokenCount ? await client.tokenCount(content, abort.signal) : estimateTextTokens(content)).tokens;
      } catch (err) {
        this.o.logger.debug(`VS Code chat: token count from an estimate: ${errorText(err)}`);
        tokens = estimateTextTokens(content).tokens;
      } finally {
        sub.dispose();
      }
      if (this.tokenCache.size >= TOKEN_CACHE_LIMIT) this.tokenCache.delete(this.tokenCache.keys().next().value as string);
      this.tokenCache.set(key, tokens);
    }
    return tokens + images * IMAGE_TOKEN_ESTIMATE;
  }

  dispose(): void {
    for (const client of this.clients.values()) client.dispose();
    this.clients.clear();
    this.changed.dispose();
  }
}

/**
 * Registers the provider where VS Code has the API (1.104+); undefined elsewhere (the webview chat works as before).
 */
export function registerLanguageModels(options: LanguageModelsOptions): (vscode.Disposable & { provider: LlamaLanguageModels }) | undefined {
  // `vscode.lm` itself is missing in hosts older than 1.90 and in stand-ins for VS Code.
  const lm = vscode.lm as typeof vscode.lm | undefined;
  const register = lm?.registerLanguageModelChatProvider;
  if (typeof register !== 'function') {
    options.logger.info('VS Code chat: this VS Code has no Language Model Chat Provider API (1.104+); llama-server models stay in the Llama Chat view');
    return undefined;
  }
  const provider = new LlamaLanguageModels(options);
  const registration = register.call(lm, LM_VENDOR, provider);
  options.logger.info(`VS Code chat: llama-server models offered to VS Code's chat (vendor ${LM_VENDOR})`);
  return {
    provider,
    dispose: () => {
      registration.dispose();
      provider.dispose();
    },
  };
}
