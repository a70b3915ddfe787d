/** What the session controller needs from a llama-server client; the undici implementation is LlamaClient. */
import type { StreamEvent } from '../base/events';

/** A tool call of an earlier answer, sent back as the assistant message's `tool_calls`. */
export interface ChatToolCall {
  id: string;
  name: string;
  /** The arguments as JSON text (OpenAI's `function.arguments`). */
  arguments: string;
}

/** A tool the model may call: OpenAI's `{type: 'function', function: {name, description, parameters}}`. */
export interface ChatTool {
  name: string;
  description?: string;
  /** JSON schema of the arguments. */
  parameters?: object;
}

export interface ChatRequestMessage {
  /** `tool`: the result of the tool call `toolCallId`, sent as `{role: 'tool', tool_call_id, content}`. */
  role: 'system' | 'user' | 'assistant' | 'tool';
  content: string;
  /** An assistant message's tool calls (its content may then be empty). */
  toolCalls?: ChatToolCall[];
  /** A `tool` message: the id of the call it answers. */
  toolCallId?: string;
  /** Images (data: URIs) sent with this message as `image_url` parts after its text. */
  images?: string[];
  /** An earlier answer's reasoning, sent as `reasoning_content` (llamaChat.sendReasoning). */
  reasoning?: string;
}

export interface ChatRequest {
  messages: ChatRequestMessage[];
  model?: string;
  temperature?: number;
  /** Maps to max_tokens; undefined or <= 0 means no limit. */
  maxTokens?: number;
  seed?: number;
  stop?: string[];
  /**
   * Continue the last (assistant) message instead of starting a new one: llama-server's
   * `continue_final_message: true` with `add_generation_prompt: false`.
   */
  continueFinalMessage?: boolean;
  /** Tools the model may call (`tools`); only for a server whose template supports tool calls. */
  tools?: ChatTool[];
  /** `tool_choice`: `required` makes the server constrain the answer to tool calls. */
  toolChoice?: 'auto' | 'required' | 'none';
  /** Extra fields merged into the request body (e.g. top_k). */
  extra?: Record<string, unknown>;
  /**
   * Sent as `X-Conversation-Id`: llama-server keeps generating after a dropped connection and the client resumes
   * the stream from the last complete event (`reconnecting` events); Stop cancels the server-side stream.
   */
  conversationId?: string;
}

/**
 * The abort reason of a request the client leaves running on the server (the window is closing): no cancel is
 * sent for its stream, so the next window can resume it. Any other abort is a Stop.
 */
export const DETACH = 'llama-chat:detach';

/** The exact prompt size of a request, or an estimate where the server cannot count. */
export interface PromptCount {
  tokens: number;
  /** False: an estimate (shown with ≈). */
  exact: boolean;
}

/** Facts from GET /props (and /v1/models), normalised. */
export interface ServerProps {
  nCtx: number;
  totalSlots?: number;
  modelAlias?: string;
  modelPath?: string;
  buildInfo?: string;
  chatTemplate?: string;
  chatTemplateCaps?: Record<string, boolean>;
  modalities?: Record<string, boolean>;
}

export interface ModelInfo {
  id: string;
  nCtx?: number;
  nCtxTrain?: number;
  nParams?: number;
  size?: number;
}

/** One model of a llama-server in router mode (`--models-dir`), from GET /models. */
export interface RouterModel {
  id: string;
  state: 'loaded' | 'unloaded' | 'loading' | 'sleeping' | (string & {});
  /** e.g. ['text', 'image']; [] when the server does not say. */
  inputModalities: string[];
}

export interface SlotInfo {
  id: number;
  nCtx?: number;
  isProcessing: boolean;
}

export interface ChatStreamer {
  /**
   * Streams one chat completion. Never throws: every failure, including abort, arrives as a final
   * `{type: 'error'}` event; a successful stream ends with `finish` (then `usage` when sent) and `done`.
   */
  streamChat(request: ChatRequest, signal?: AbortSignal): AsyncIterable<StreamEvent>;
  /**
   * Optional: the same stream as arrays of events (one per network chunk), so a consumer pays one promise round
   * trip per chunk rather than per event. Same contract as streamChat; batches are never empty.
   */
  streamChatBatches?(request: ChatRequest, signal?: AbortSignal): AsyncIterable<StreamEvent[]>;
  /** n_ctx and friends, cached per model by the implementation (`model`: that model's, on a router server). */
  getProps(signal?: AbortSignal, model?: string): Promise<ServerProps>;
  /** Optional: the exact prompt size of `request` (an estimate, `exact: false`, where the server cannot count). */
  countPrompt?(request: ChatRequest, signal?: AbortSignal): Promise<PromptCount>;
  /** Optional: GET /health (rejects when the server does not answer). */
  health?(signal?: AbortSignal): Promise<unknown>;
  /** Optional: GET /slots, to tell a queued or still-running request from a dropped one. */
  getSlots?(signal?: AbortSignal): Promise<SlotInfo[]>;
  /** Optional: POST /v1/chat/completions/control for a running completion (e.g. end its reasoning). */
  controlReasoning?(completionId: string, action: 'reasoning_end', signal?: AbortSignal): Promise<void>;
  /** Optional: the tokens of one text (an attachment's chip). */
  tokenCount?(text: string, signal?: AbortSignal): Promise<PromptCount>;
  /**
   * Optional: which of these conversation ids the server still holds a stream for ([] when it has no such API):
   * `done` once generation ended (the whole body can still be replayed), `totalBytes` SSE body bytes so far.
   */
  lookupStreams?(ids: string[], signal?: AbortSignal): Promise<{ id: string; done: boolean; totalBytes: number }[]>;
  /**
   * Optional: replays the server's stream for `id` from its first byte through a fresh decoder (the whole answer,
   * then live until it ends). Same contract as streamChatBatches; an error event when the server has no such stream.
   */
  resumeStream?(id: string, signal?: AbortSignal): AsyncIterable<StreamEvent[]>;
  /**
   * Optional: the models of a router-mode llama-server (GET /models); undefined when the server is not in router
   * mode (no such endpoint, or an answer of another shape).
   */
  listRouterModels?(signal?: AbortSignal): Promise<RouterModel[] | undefined>;
  /** Optional: POST /models/load on a router-mode server (resolves once the server accepted it). */
  loadModel?(id: string, signal?: AbortSignal): Promise<void>;
  /** Optional: POST /models/unload on a router-mode server. */
  unloadModel?(id: string, signal?: AbortSignal): Promise<void>;
}
