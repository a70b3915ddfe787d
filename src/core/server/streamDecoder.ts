/**
 * Decodes llama-server's OpenAI-compatible SSE body into typed StreamEvents. Pure and synchronous: the HTTP client
 * feeds raw bytes, tests and benchmarks feed captured bodies. Never throws; emits exactly one final `done` or `error`,
 * and nothing after it.
 *
 * Every received frame shows up: a frame that yields no other event (an SSE comment such as llama-server's `:`
 * ping, the repeated `{"role":"assistant","content":null}` chunk, a chunk with only an unchanged role) yields
 * `alive` (`ping: true` for a comment), so a consumer can tell a live but quiet stream from a dead one. Frames that
 * yield other events yield no `alive`.
 *
 * Reasoning: `delta.reasoning_content` becomes `reasoning`. For chat templates the server does not parse, a
 * `<think>…</think>` block at the start of `delta.content` is split out by a ThinkParser into `reasoning` and
 * `content` events (tags split across chunks included; held-back text is released on finish, done and error). Once
 * any `reasoning_content` arrives, content passes through untouched from then on.
 *
 * Tool calls: each `delta.tool_calls[]` entry becomes a `toolCall` event (its index, and whichever of id, name and an
 * arguments fragment it carries); joining the fragments is the consumer's business.
 */
import { createParser } from 'eventsource-parser';
import type { EventSourceMessage, EventSourceParser, ParseError } from 'eventsource-parser';
import type { ErrorInfo } from '../base/errors';
import { t } from '../base/l10n';
import { errorText } from '../base/errors';
import type { FinishReason, ServerTimings, StreamEvent, Usage } from '../base/events';
import { excerpt, streamErrorInfo } from './httpErrors';
import { ThinkParser } from './thinkParser';
import type { ThinkKind } from './thinkParser';

export type StreamEventSink = (event: StreamEvent) => void;

export interface ChatStreamDecoderOptions {
  /** Largest event (in UTF-16 characters) buffered before giving up with `malformed`. Default 16 Mi. */
  maxEventChars?: number;
}

const DEFAULT_MAX_EVENT_CHARS = 16 * 1024 * 1024;
const CR = 13;
const LF = 10;
// One shared frozen object each: `alive` must cost no allocation.
const ALIVE_PING: StreamEvent = Object.freeze({ type: 'alive', ping: true } as const);
const ALIVE_DATA: StreamEvent = Object.freeze({ type: 'alive', ping: false } as const);

interface RawChoice {
  delta?: { role?: unknown; content?: unknown; reasoning_content?: unknown; tool_calls?: unknown } | null;
  finish_reason?: unknown;
}

interface RawChunk {
  id?: unknown;
  choices?: RawChoice[] | null;
  timings?: ServerTimings | null;
  usage?: {
    prompt_tokens?: unknown;
    completion_tokens?: unknown;
    total_tokens?: unknown;
    prompt_tokens_details?: { cached_tokens?: unknown } | null;
  } | null;
  prompt_progress?: { total?: unknown; cache?: unknown; processed?: unknown; time_ms?: unknown } | null;
  error?: unknown;
}

/**
 * How many bytes at the end of `bytes` start a UTF-8 sequence that is not complete yet (0 to 3): they wait for the
 * next chunk. Only a lead byte in the last three bytes with too few bytes after it counts; cutting before a lead
 * byte never changes the decoded text (no sequence can continue through one).
 */
function incompleteTail(bytes: Uint8Array): number {
  const n = bytes.length;
  for (let i = n - 1; i >= 0 && i >= n - 3; i--) {
    const b = bytes[i];
    if (b < 0x80) return 0;
    if (b >= 0xc0) {
      const need = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2;
      return n - i < need ? n - i : 0;
    }
  }
  return 0;
}

/** UTF-8 → string with U+FFFD for invalid bytes (as TextDecoder does), through Buffer's faster native decoder. */
function utf8(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
}

function num(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

export class ChatStreamDecoder {
  /** The start of a UTF-8 sequence the last chunk ended in: decoded with the next chunk (or as U+FFFD at the end). */
  private carry: Uint8Array | undefined;
  /** A byte-order mark at the very start is dropped (TextDecoder's default); false until the first character. */
  private started = false;
  private readonly parser: EventSourceParser;
  private readonly sink: StreamEventSink;
  private terminal = false;
  private sawFinish = false;
  private sawEvent = false;
  private lastRole: string | undefined;
  /** Events emitted so far: a data frame that adds none is reported as `alive`. */
  private emitted = 0;
  private readonly think: ThinkParser;
  /** Content still goes through the ThinkParser (false once it passes through, or after reasoning_content). */
  private thinkOn = true;
  /** The text fed last ended with CR: the parser holds it until it sees whether LF follows. */
  private pendingCr = false;

  constructor(sink: StreamEventSink, options: ChatStreamDecoderOptions = {}) {
    this.sink = sink;
    this.think = new ThinkParser((kind, text) => this.onThink(kind, text));
    this.parser = createParser({
      onEvent: (message) => this.onMessage(message),
      onError: (error) => this.onParseError(error),
      onComment: () => this.onComment(),
      maxBufferSize: options.maxEventChars ?? DEFAULT_MAX_EVENT_CHARS,
    });
  }

  /** True once `done` or `error` was emitted; later input is ignored. */
  get finished(): boolean {
    return this.terminal;
  }

  /** Feeds one network chunk. Multi-byte characters split across chunks are kept whole. */
  write(chunk: Uint8Array): void {
    if (this.terminal) return;
    let text: string;
    try {
      text = this.decode(chunk);
    } catch (err) {
      this.fail({ kind: 'malformed', message: t('The response could not be decoded: {0}', String(err)) });
      return;
    }
    if (text.length > 0) this.feed(text);
  }

  /**
   * The text of a chunk, like a streaming TextDecoder: the bytes of a character cut at the chunk's end wait for the
   * next chunk. Buffer's decoder replaces invalid bytes exactly as TextDecoder does and is faster.
   */
  private decode(chunk: Uint8Array): string {
    let bytes = chunk;
    const carry = this.carry;
    if (carry !== undefined) {
      bytes = new Uint8Array(carry.length + chunk.length);
      bytes.set(carry);
      bytes.set(chunk, carry.length);
      this.carry = undefined;
    }
    const keep = incompleteTail(bytes);
    if (keep > 0) {
      this.carry = bytes.slice(bytes.length - keep);
      bytes = bytes.subarray(0, bytes.length - keep);
    }
    return bytes.length > 0 ? this.text(utf8(bytes)) : '';
  }

  /** Drops a byte-order mark that is the stream's first character. */
  private text(text: string): string {
    if (this.started || text.length === 0) return text;
    this.started = true;
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  }

  /** End of body: completes a finished stream, or reports `truncated`. */
  end(): void {
    if (this.terminal) return;
    const carry = this.carry;
    this.carry = undefined;
    const rest = carry !== undefined ? this.text(utf8(carry)) : '';
    if (rest.length > 0) this.feed(rest);
    // A final CR ends its line (SSE allows CR alone); the parser would wait for a possible LF forever.
    if (this.pendingCr && !this.terminal) this.feed('\n');
    if (this.terminal) return;
    // An event without its closing blank line is discarded (SSE rules): a half-received JSON is a truncation.
    if (this.sawFinish) {
      this.emitDone();
      return;
    }
    this.fail({
      kind: 'truncated',
      message: this.sawEvent
        ? t('The response ended before the answer was complete.')
        : t('The server closed the response without sending any events.'),
      hint: t('Send the message again; if it keeps happening, check the llama-server log.'),
    });
  }

  /** Ends the stream with an error from outside (abort, dropped connection) unless it already ended. */
  fail(error: ErrorInfo): void {
    if (this.terminal) return;
    this.endThink();
    this.terminal = true;
    this.emit({ type: 'error', error });
  }

  private emitDone(): void {
    this.endThink();
    this.terminal = true;
    this.emit({ type: 'done' });
  }

  private emit(event: StreamEvent): void {
    this.emitted++;
    this.sink(event);
  }

  private onThink(kind: ThinkKind, text: string): void {
    this.emit(kind === 'content' ? { type: 'content', text } : { type: 'reasoning', text });
  }

  /** Releases text the ThinkParser holds back; content passes through untouched from then on. */
  private endThink(): void {
    if (!this.thinkOn) return;
    this.thinkOn = false;
    this.think.end();
  }

  private onToolCalls(calls: readonly unknown[]): void {
    for (let i = 0; i < calls.length; i++) {
      const event = toolCallEvent(calls[i], i);
      if (event !== undefined) this.emit(event);
    }
  }

  private onComment(): void {
    if (this.terminal) return;
    this.emit(ALIVE_PING);
  }

  private feed(text: string): void {
    try {
      // eventsource-parser keeps a trailing CR pending and, if the next chunk has no CR or LF, only appends to it, so
      // the line it ended (a comment, the blank line of an event) would come later or never: the result would depend
      // on where the network split the body. A CR not followed by LF ends a line; CRLF says the same, explicitly.
      if (this.pendingCr && text.charCodeAt(0) !== LF) this.parser.feed('\n');
      this.pendingCr = text.charCodeAt(text.length - 1) === CR;
      this.parser.feed(text);
    } catch (err) {
      // Only reachable if a sink throws or the parser was terminated; keep the "never throws" promise.
      this.fail({ kind: 'unknown', message: t('Decoding the stream failed: {0}', errorText(err)) });
    }
  }

  private onParseError(error: ParseError): void {
    // Unknown fields and bad retry values are ignored per the SSE spec; only runaway buffering is fatal.
    if (error.type === 'max-buffer-size-exceeded') {
      this.fail({
        kind: 'malformed',
        message: t('The server sent an event that is too large to be part of a chat stream.'),
        hint: t('Check that {0} points at llama-server.', 'llamaChat.serverUrl'),
      });
    }
  }

  private onMessage(message: EventSourceMessage): void {
    if (this.terminal) return;
    const data = message.data;
    this.sawEvent = true;
    if (data === '[DONE]') {
      this.emitDone();
      return;
    }
    let chunk: RawChunk;
    try {
      chunk = JSON.parse(data) as RawChunk;
    } catch {
      this.fail({
        kind: 'malformed',
        message: t('The server sent a stream line that is not JSON: {0}', excerpt(data, 80)),
        hint: t('Check that {0} points at llama-server (or an OpenAI-compatible server).', 'llamaChat.serverUrl'),
      });
      return;
    }
    const before = this.emitted;
    if (chunk !== null && typeof chunk === 'object') {
      if (chunk.error !== undefined && chunk.error !== null) {
        this.fail(streamErrorInfo(chunk.error));
        return;
      }
      this.onChunk(chunk);
    }
    if (this.emitted === before && !this.terminal) this.emit(ALIVE_DATA);
  }

  private onChunk(chunk: RawChunk): void {
    const progress = chunk.prompt_progress;
    if (progress != null && typeof progress === 'object') {
      this.emit({
        type: 'progress',
        progress: {
          total: num(progress.total),
          cache: num(progress.cache),
          processed: num(progress.processed),
          timeMs: num(progress.time_ms),
        },
      });
    }
    let finish: FinishReason | undefined;
    const choices = chunk.choices;
    if (Array.isArray(choices) && choices.length > 0) {
      const choice = choices[0];
      if (choice != null && typeof choice === 'object') {
        const delta = choice.delta;
        if (delta != null && typeof delta === 'object') {
          const role = delta.role;
          if (typeof role === 'string' && role !== this.lastRole) {
            this.lastRole = role;
            this.emit(typeof chunk.id === 'string' ? { type: 'role', role, id: chunk.id } : { type: 'role', role });
          }
          const reasoning = delta.reasoning_content;
          if (typeof reasoning === 'string' && reasoning.length > 0) {
            // The server parses reasoning itself: no tags to look for in content.
            this.endThink();
            this.emit({ type: 'reasoning', text: reasoning });
          }
          const content = delta.content;
          if (typeof content === 'string' && content.length > 0) {
            if (!this.thinkOn) {
              this.emit({ type: 'content', text: content });
            } else {
              this.think.write(content);
              if (this.think.passthrough) this.thinkOn = false;
            }
          }
          const toolCalls = delta.tool_calls;
          if (Array.isArray(toolCalls)) this.onToolCalls(toolCalls as unknown[]);
        }
        if (typeof choice.finish_reason === 'string' && !this.sawFinish) {
          finish = choice.finish_reason;
          // The answer is complete: release what the ThinkParser holds before timings and finish.
          this.endThink();
        }
      }
    }
    const timings = chunk.timings;
    const usage = chunk.usage;
    const usageTimings = timings != null && typeof timings === 'object' ? timings : undefined;
    // Timings that ride on the usage chunk belong to the usage event.
    if (usageTimings !== undefined && (usage == null || typeof usage !== 'object')) {
      this.emit({ type: 'timings', timings: usageTimings });
    }
    if (finish !== undefined) {
      this.sawFinish = true;
      this.emit({ type: 'finish', reason: finish });
    }
    if (usage != null && typeof usage === 'object') {
      const u: Usage = {
        promptTokens: num(usage.prompt_tokens),
        completionTokens: num(usage.completion_tokens),
        totalTokens: num(usage.total_tokens),
      };
      const details = usage.prompt_tokens_details;
      if (details != null && typeof details === 'object' && typeof details.cached_tokens === 'number') {
        u.cachedTokens = details.cached_tokens;
      }
      this.emit(usageTimings !== undefined ? { type: 'usage', usage: u, timings: usageTimings } : { type: 'usage', usage: u });
    }
  }
}

/** One `delta.tool_calls` entry: `{index, id?, type?, function: {name?, arguments?}}` (fragments of a call). */
function toolCallEvent(raw: unknown, position: number): StreamEvent | undefined {
  if (raw === null || typeof raw !== 'object') return undefined;
  const call = raw as { index?: unknown; id?: unknown; function?: { name?: unknown; arguments?: unknown } | null };
  // Servers that send one call per chunk may leave out the index: its position in the array then.
  const index = typeof call.index === 'number' && Number.isInteger(call.index) && call.index >= 0 ? call.index : position;
  const event: { type: 'toolCall'; index: number; id?: string; name?: string; argumentsDelta?: string } = { type: 'toolCall', index };
  if (typeof call.id === 'string' && call.id !== '') event.id = call.id;
  const fn = call.function;
  if (fn != null && typeof fn === 'object') {
    if (typeof fn.name === 'string' && fn.name !== '') event.name = fn.name;
    if (typeof fn.arguments === 'string' && fn.arguments !== '') event.argumentsDelta = fn.arguments;
  }
  return event.id === undefined && event.name === undefined && event.argumentsDelta === undefined ? undefined : event;
}

/** Decodes a whole body at once (tests, benchmarks, replay). Always ends with `done` or `error`. */
export function decodeChatStream(chunks: Iterable<Uint8Array>, options?: ChatStreamDecoderOptions): StreamEvent[] {
  const events: StreamEvent[] = [];
  const decoder = new ChatStreamDecoder((e) => events.push(e), options);
  for (const chunk of chunks) {
    decoder.write(chunk);
    if (decoder.finished) break;
  }
  decoder.end();
  return events;
}
