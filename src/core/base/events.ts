/** Typed events decoded from llama-server's OpenAI-compatible SSE stream. */
import type { ErrorInfo } from './errors';

/** llama-server's `timings` object (all optional: older servers and early chunks omit fields). */
export interface ServerTimings {
  cache_n?: number;
  prompt_n?: number;
  prompt_ms?: number;
  prompt_per_token_ms?: number;
  prompt_per_second?: number;
  predicted_n?: number;
  predicted_ms?: number;
  predicted_per_token_ms?: number;
  predicted_per_second?: number;
}

export interface Usage {
  promptTokens: number;
  completionTokens: number;
  totalTokens: number;
  cachedTokens?: number;
}

export interface PromptProgress {
  total: number;
  cache: number;
  processed: number;
  timeMs: number;
}

export type FinishReason = 'stop' | 'length' | 'tool_calls' | 'content_filter' | (string & {});

export type StreamEvent =
  /** The first chunk's role; `id` is the completion id (`chatcmpl-…`), which the control endpoint needs. */
  | { type: 'role'; role: string; id?: string }
  | { type: 'content'; text: string }
  | { type: 'reasoning'; text: string }
  /**
   * A fragment of a tool call (`delta.tool_calls[]`): `index` says which call of the answer it belongs to; `id`,
   * `name` come once (on the call's first fragment), `argumentsDelta` is the next piece of the arguments' JSON text.
   * A consumer joins the fragments per index; the answer then ends with `finish` reason `tool_calls`.
   */
  | { type: 'toolCall'; index: number; id?: string; name?: string; argumentsDelta?: string }
  | { type: 'progress'; progress: PromptProgress }
  | { type: 'timings'; timings: ServerTimings }
  | { type: 'finish'; reason: FinishReason }
  | { type: 'usage'; usage: Usage; timings?: ServerTimings }
  /**
   * A frame arrived that produced no other event: proof that the stream lives, nothing to show. `ping`: an SSE
   * comment (llama-server writes `:` every `sse_ping_interval` seconds while silent); otherwise a data frame that
   * decodes to nothing (the repeated `{"role":"assistant","content":null}` chunk before the first token, a chunk with
   * only an unchanged role, content held back while a `<think>` tag may still be forming). Never after `done`/`error`.
   * The decoder reuses one frozen object for each value of `ping`: do not mutate it.
   */
  | { type: 'alive'; ping: boolean }
  /**
   * The connection dropped before the answer was complete and the client is re-attaching to the server's stream
   * (llama-server's resumable streams, `X-Conversation-Id`): attempt 1, 2, 3. What follows continues the same
   * answer seamlessly (no text lost or doubled), or ends with the original `truncated` error when resuming failed.
   */
  | { type: 'reconnecting'; attempt: number }
  | { type: 'done' }
  | { type: 'error'; error: ErrorInfo };

export type StreamEventType = StreamEvent['type'];
