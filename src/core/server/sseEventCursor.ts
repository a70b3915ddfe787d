/** Where SSE events end in a raw body: what a resumed stream can continue from without a torn event. */

const LF = 10;
const CR = 13;
/** Bytes of one incomplete event held back from the decoder; past this it is fed as it comes (no clean resume). */
const HOLD_LIMIT = 1024 * 1024;

/**
 * Follows SSE event boundaries (blank lines: LF LF, CRLF CRLF, CR CR, mixed) in the raw body bytes and feeds the
 * decoder only whole events, holding an incomplete tail back until its blank line arrives. `offset` is the byte
 * count of the body through the last complete event: where a resumed stream (`from=offset`) continues.
 * llama-server writes whole events ending in "\n\n", so the usual chunk costs a two-byte check and no allocation.
 */
export class SseEventCursor {
  /** Body bytes through the end of the last complete event. */
  offset = 0;
  private received = 0;
  private readonly held: Uint8Array[] = [];
  private heldBytes = 0;
  /** Part of an event reached the decoder (it exceeded HOLD_LIMIT): a cut before its end cannot be resumed. */
  private dirty = false;
  /** Line terminators at the end of the bytes so far (0: the last byte was none), and whether it was CR. */
  private tailTerms = 0;
  private tailCr = false;

  /** Whether the decoder saw whole events only (a cut here can be resumed from `offset`). */
  get clean(): boolean {
    return !this.dirty;
  }

  /** Feeds the whole events in `chunk` (and what was held before them); true when at least one event completed. */
  push(chunk: Uint8Array, sink: { write(bytes: Uint8Array): void }): boolean {
    const n = chunk.length;
    this.received += n;
    const end = this.lastBoundary(chunk);
    if (this.dirty) {
      sink.write(chunk);
      if (end < 0) return false;
      this.offset = this.received - n + end;
      this.dirty = end < n;
      return true;
    }
    if (end < 0) {
      if (n === 0) return false;
      this.held.push(chunk);
      this.heldBytes += n;
      if (this.heldBytes > HOLD_LIMIT) {
        this.flush(sink);
        this.dirty = true;
      }
      return false;
    }
    if (this.heldBytes > 0) this.flush(sink);
    if (end === n) sink.write(chunk);
    else {
      if (end > 0) sink.write(chunk.subarray(0, end));
      this.held.push(chunk.subarray(end));
      this.heldBytes = n - end;
    }
    this.offset = this.received - n + end;
    return true;
  }

  /** Hands the held (incomplete) bytes to the decoder: the body ended for good. */
  flush(sink: { write(bytes: Uint8Array): void }): void {
    for (const bytes of this.held) sink.write(bytes);
    this.held.length = 0;
    this.heldBytes = 0;
  }

  /** A continuation starts at `offset`: the held tail is dropped (the continuation sends it again, whole). */
  restart(): void {
    this.held.length = 0;
    this.heldBytes = 0;
    this.received = this.offset;
    this.tailTerms = 0;
    this.tailCr = false;
    this.dirty = false;
  }

  /** Index in `chunk` just past its last blank line (with the bytes before it), or -1; updates the tail state. */
  private lastBoundary(chunk: Uint8Array): number {
    const n = chunk.length;
    if (n === 0) return -1;
    if (chunk[n - 1] === LF && n > 1 && chunk[n - 2] === LF) {
      this.tailTerms = 2;
      this.tailCr = false;
      return n;
    }
    const last = chunk[n - 1];
    const endsInRun = last === LF || last === CR;
    const prevTerms = this.tailTerms;
    const prevCr = this.tailCr;
    if (!endsInRun) {
      this.tailTerms = 0;
      this.tailCr = false;
    }
    let i = n - 1;
    let trailing = true;
    while (i >= 0) {
      while (i >= 0 && chunk[i] !== LF && chunk[i] !== CR) i--;
      if (i < 0) break;
      const runEnd = i;
      while (i >= 0 && (chunk[i] === LF || chunk[i] === CR)) i--;
      const runStart = i + 1;
      let terms = runStart === 0 ? prevTerms : 0;
      let cr = runStart === 0 ? prevCr : false;
      for (let k = runStart; k <= runEnd; k++) {
        const c = chunk[k];
        if (c === LF && cr) cr = false; // the LF of a CRLF: the same line end
        else {
          terms++;
          cr = c === CR;
        }
      }
      if (trailing && runEnd === n - 1) {
        this.tailTerms = terms;
        this.tailCr = last === CR;
      }
      trailing = false;
      // Two line ends in a row: the first ends a line, the second is the blank line that completes an event.
      if (terms >= 2) return runEnd + 1;
    }
    return -1;
  }
}
