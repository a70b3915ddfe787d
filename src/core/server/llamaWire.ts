/**
 * llama-server's JSON on the wire, both ways: the bodies the client sends (chat, prompt count) and the parsers of
 * what it answers (/props, /v1/models, router /models, /slots). Pure: no I/O, unit-tested directly.
 */
import { t } from '../base/l10n';
import { LlamaError } from '../base/errors';
import type { ChatRequest, ChatRequestMessage, ModelInfo, RouterModel, ServerProps, SlotInfo } from './client';

/** Strips trailing slashes and a trailing /v1 (users paste OpenAI-style base URLs). */
export function normalizeBaseUrl(baseUrl: string): string {
  let url = baseUrl.trim();
  while (url.endsWith('/')) url = url.slice(0, -1);
  if (/\/v1$/i.test(url)) url = url.slice(0, -3);
  while (url.endsWith('/')) url = url.slice(0, -1);
  return url;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

export function optNumber(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function optString(value: unknown): string | undefined {
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
  if (!isObject(json)) throw new LlamaError({ kind: 'unknown', message: t('{0} returned something other than an object.', 'GET /props') });
  const settings = isObject(json.default_generation_settings) ? json.default_generation_settings : {};
  const nCtx = optNumber(settings.n_ctx) ?? optNumber(json.n_ctx);
  if (nCtx === undefined) {
    throw new LlamaError({
      kind: 'unknown',
      message: t('{0} has no {1}: is this llama-server?', 'GET /props', 'default_generation_settings.n_ctx'),
      hint: t('Check that {0} points at llama-server', 'llamaChat.serverUrl'),
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
type WireToolCall = { id: string; type: 'function'; function: { name: string; arguments: string } };
type WireMessage = {
  role: ChatRequestMessage['role'];
  content: string | WirePart[] | null;
  reasoning_content?: string;
  tool_calls?: WireToolCall[];
  tool_call_id?: string;
};
type WireTool = { type: 'function'; function: { name: string; description?: string; parameters?: object } };

/**
 * Request messages as the OpenAI-compatible API takes them: a message with images becomes text + image_url parts;
 * an assistant message's tool calls become `tool_calls` (its content null when it has no text); a tool result
 * becomes `{role: 'tool', tool_call_id, content}`.
 */
export function toWireMessages(messages: readonly ChatRequestMessage[]): WireMessage[] {
  return messages.map((m) => {
    let wire: WireMessage;
    if (m.role === 'tool') {
      wire = { role: 'tool', tool_call_id: m.toolCallId ?? '', content: m.content };
    } else if (m.toolCalls !== undefined && m.toolCalls.length > 0) {
      wire = {
        role: m.role,
        content: m.content === '' ? null : m.content,
        tool_calls: m.toolCalls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
      };
    } else if (m.images === undefined || m.images.length === 0) {
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
  if (req.tools !== undefined && req.tools.length > 0) {
    body.tools = req.tools.map((tool): WireTool => {
      const fn: WireTool['function'] = { name: tool.name };
      if (tool.description !== undefined) fn.description = tool.description;
      if (tool.parameters !== undefined) fn.parameters = tool.parameters;
      return { type: 'function', function: fn };
    });
    if (req.toolChoice !== undefined) body.tool_choice = req.toolChoice;
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
