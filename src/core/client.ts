/** What the session controller needs from a llama-server client; the undici implementation is LlamaClient. */
import type { StreamEvent } from './events';

export interface ChatRequestMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
  /** Images (data: URIs) sent with this message as `image_url` parts after its text. */
  images?: string[];
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
  /** Extra fields merged into the request body (e.g. top_k). */
  extra?: Record<string, unknown>;
}

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
  /** n_ctx and friends, cached per model by the implementation. */
  getProps(signal?: AbortSignal): Promise<ServerProps>;
  /** Optional: the exact prompt size of `request` (an estimate, `exact: false`, where the server cannot count). */
  countPrompt?(request: ChatRequest, signal?: AbortSignal): Promise<PromptCount>;
  /** Optional: GET /health (rejects when the server does not answer). */
  health?(signal?: AbortSignal): Promise<unknown>;
  /** Optional: GET /slots, to tell a queued or still-running request from a dropped one. */
  getSlots?(signal?: AbortSignal): Promise<SlotInfo[]>;
  /** Optional: the tokens of one text (an attachment's chip). */
  tokenCount?(text: string, signal?: AbortSignal): Promise<PromptCount>;
}
