/**
 * Splits a `<think>…</think>` block out of streamed answer content. llama-server parses reasoning only for chat
 * templates it recognises (it then sends `delta.reasoning_content`); with other templates the model's tags arrive
 * inside `delta.content`. Streaming-safe: feed content deltas as they come, cut anywhere (`<th` + `ink>`,
 * `</thi` + `nk>`), and the pieces handed to the sink concatenate to the same reasoning and content as the unsplit
 * text would give.
 *
 * Rules:
 * - An opening `<think>` counts only at the very start of the content, or after whitespace only; that leading
 *   whitespace is dropped. Anything else first means there is no think block: all text (tags too) is content.
 * - `</think>` ends the reasoning; whitespace right after it is dropped before the answer.
 * - Only the first block is parsed: after it (or once there can be none) every write passes through as content.
 * - An unclosed `<think>` makes everything after it reasoning.
 * - Held back is only what is still undecided: leading whitespace before a possible `<think>`, and the shortest
 *   tail that may still become a tag. It is released as soon as it cannot, and by `end()`.
 *
 * Pure and synchronous. Once passing through, a write costs one sink call and allocates nothing.
 */

export type ThinkKind = 'reasoning' | 'content';
/** Receives non-empty pieces in stream order. */
export type ThinkSink = (kind: ThinkKind, text: string) => void;

const OPEN = '<think>';
const CLOSE = '</think>';
// The same notion of whitespace as the oracle in the tests and as String.prototype.trim: JavaScript's `\s`.
const NON_WHITESPACE = /\S/;

/** Nothing decided yet: only whitespace and maybe part of `<think>` seen. */
const START = 0;
/** Inside the think block. */
const THINK = 1;
/** Right after `</think>`: dropping whitespace. */
const AFTER = 2;
/** No tags any more: everything is content. */
const PASS = 3;
type Mode = typeof START | typeof THINK | typeof AFTER | typeof PASS;

/** `s` from `at` to its end is a proper, non-empty prefix of `tag`. Allocation-free. */
function partialTagAt(s: string, at: number, tag: string): boolean {
  const n = s.length - at;
  if (n <= 0 || n >= tag.length) return false;
  for (let i = 0; i < n; i++) if (s.charCodeAt(at + i) !== tag.charCodeAt(i)) return false;
  return true;
}

export class ThinkParser {
  private mode: Mode = START;
  /** Undecided text (see the class comment); empty in AFTER and PASS. */
  private held = '';

  constructor(private readonly sink: ThinkSink) {}

  /** True once no tag can follow: every later write goes to the sink unchanged, as content. */
  get passthrough(): boolean {
    return this.mode === PASS;
  }

  /** Length of the text held back right now (for tests and diagnostics). */
  get pending(): number {
    return this.held.length;
  }

  /** Feeds one content delta. */
  write(text: string): void {
    if (text.length === 0) return;
    switch (this.mode) {
      case PASS:
        this.sink('content', text);
        return;
      case START:
        this.start(text);
        return;
      case THINK:
        this.think(text);
        return;
      case AFTER:
        this.after(text);
        return;
    }
  }

  /**
   * Releases held-back text in the kind it was headed for (undecided start: content; inside the block: reasoning,
   * so an unclosed block keeps everything as reasoning) and passes every later write through as content. Call it
   * at the end of the stream, and when the server turns out to parse reasoning itself (`reasoning_content`).
   */
  end(): void {
    const held = this.held;
    const mode = this.mode;
    this.held = '';
    this.mode = PASS;
    if (held.length > 0) this.sink(mode === THINK ? 'reasoning' : 'content', held);
  }

  private start(text: string): void {
    const buf = this.held.length > 0 ? this.held + text : text;
    const at = buf.search(NON_WHITESPACE);
    if (at < 0) {
      // Only whitespace so far: dropped if a block opens, content if not.
      this.held = buf;
      return;
    }
    const seen = buf.length - at;
    for (let i = 0; i < seen && i < OPEN.length; i++) {
      if (buf.charCodeAt(at + i) !== OPEN.charCodeAt(i)) {
        this.held = '';
        this.mode = PASS;
        this.sink('content', buf);
        return;
      }
    }
    if (seen < OPEN.length) {
      this.held = buf;
      return;
    }
    this.held = '';
    this.mode = THINK;
    if (seen > OPEN.length) this.think(buf.slice(at + OPEN.length));
  }

  private think(text: string): void {
    let buf = text;
    if (this.held.length > 0) {
      buf = this.held + text;
      this.held = '';
    }
    const close = buf.indexOf(CLOSE);
    if (close >= 0) {
      if (close > 0) this.sink('reasoning', buf.slice(0, close));
      this.mode = AFTER;
      if (buf.length > close + CLOSE.length) this.after(buf.slice(close + CLOSE.length));
      return;
    }
    // A partial `</think>` holds no other `<`, so the only candidate tail starts at the last one.
    const lt = buf.lastIndexOf('<');
    if (lt >= 0 && partialTagAt(buf, lt, CLOSE)) {
      if (lt > 0) this.sink('reasoning', buf.slice(0, lt));
      this.held = buf.slice(lt);
      return;
    }
    this.sink('reasoning', buf);
  }

  private after(text: string): void {
    const at = text.search(NON_WHITESPACE);
    if (at < 0) return;
    this.mode = PASS;
    this.sink('content', at === 0 ? text : text.slice(at));
  }
}

/** The reasoning and content of a whole text, as a stream of it would give them. */
export function splitThink(text: string): { reasoning: string; content: string } {
  let reasoning = '';
  let content = '';
  const parser = new ThinkParser((kind, piece) => {
    if (kind === 'reasoning') reasoning += piece;
    else content += piece;
  });
  parser.write(text);
  parser.end();
  return { reasoning, content };
}
