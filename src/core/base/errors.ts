/**
 * Every failure talking to llama-server becomes a LlamaError: a kind the UI can branch on, the server's own
 * message where there is one, and a next action for the user.
 */
export type LlamaErrorKind =
  | 'unreachable' // connection refused / reset before a response
  | 'dns' // host name does not resolve
  | 'timeout' // connect or headers timeout
  | 'tls' // TLS handshake failed (e.g. https URL to a plain HTTP server)
  | 'unauthorized' // 401
  | 'forbidden' // 403
  | 'context_exceeded' // 400 exceed_context_size_error
  | 'bad_request' // other 4xx
  | 'server_error' // 5xx
  | 'not_sse' // 200 but the body is not an event stream (HTML, JSON, ...)
  | 'stream_error' // data: {"error": ...} mid-stream
  | 'malformed' // a data line that is not valid JSON
  | 'truncated' // stream ended without finish or [DONE], or the connection dropped mid-stream
  | 'aborted' // cancelled by us (stop)
  | 'storage' // persisting failed
  | 'unknown';

/** Plain-data form of a LlamaError: persisted with messages and posted to the webview. */
export interface ErrorInfo {
  kind: LlamaErrorKind;
  message: string;
  /** What the user can do next, e.g. "Start llama-server or check llamaChat.serverUrl." */
  hint?: string;
  status?: number;
  serverMessage?: string;
  serverType?: string;
  nPromptTokens?: number;
  nCtx?: number;
}

export class LlamaError extends Error {
  readonly kind: LlamaErrorKind;
  readonly hint: string | undefined;
  readonly status: number | undefined;
  readonly serverMessage: string | undefined;
  readonly serverType: string | undefined;
  readonly nPromptTokens: number | undefined;
  readonly nCtx: number | undefined;

  constructor(info: ErrorInfo, options?: { cause?: unknown }) {
    super(info.message, options);
    this.name = 'LlamaError';
    this.kind = info.kind;
    this.hint = info.hint;
    this.status = info.status;
    this.serverMessage = info.serverMessage;
    this.serverType = info.serverType;
    this.nPromptTokens = info.nPromptTokens;
    this.nCtx = info.nCtx;
  }

  toInfo(): ErrorInfo {
    const info: ErrorInfo = { kind: this.kind, message: this.message };
    if (this.hint !== undefined) info.hint = this.hint;
    if (this.status !== undefined) info.status = this.status;
    if (this.serverMessage !== undefined) info.serverMessage = this.serverMessage;
    if (this.serverType !== undefined) info.serverType = this.serverType;
    if (this.nPromptTokens !== undefined) info.nPromptTokens = this.nPromptTokens;
    if (this.nCtx !== undefined) info.nCtx = this.nCtx;
    return info;
  }

  static is(value: unknown): value is LlamaError {
    return value instanceof LlamaError;
  }
}

/** The message of anything thrown (an Error's message, anything else as a string): the one way errors become text. */
export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
