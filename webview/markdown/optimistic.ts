/**
 * Optimistic closing for the block still streaming: the inline constructs left open at the end of its source
 * (`**bold`, `*em`, `_em`, `` `code ``, `~~del`, `[link`, `[link](https://partial`) are closed, so the growing text
 * renders as it will once the closing marker arrives instead of showing raw markers for a moment. Only ever
 * applied to the open block's display copy: finished blocks, and every block once the answer is complete, render
 * their real source.
 */

type Opener =
  | { kind: 'code'; run: number }
  | { kind: 'emph'; marker: string }
  | { kind: 'link'; at: number }
  | { kind: 'url'; at: number; depth: number };

const FENCE = /^\s*(`{3,}|~{3,})/;
/** A line that starts a construct of its own (list item, quote, heading, table row): emphasis does not cross it. */
const NEW_SEGMENT = /^\s*(?:[-*+]\s|\d{1,9}[.)]\s|>|#{1,6}\s|\|)/;
const BARE_MARKER = /^ {0,3}(?:[-*+]|\d{1,9}[.)]|>|#{1,6})[ \t]*$/;
const WORD = /[\p{L}\p{N}]/u;
const PUNCT = /[!-/:-@[-`{-~]/;

function isSpace(ch: string | undefined): boolean {
  return ch === undefined || /\s/.test(ch);
}

/** Where the inline content that may still be open starts: after the last fence, blank line or new segment line. */
function lastSegment(source: string): number | undefined {
  let fence: string | undefined;
  let start = 0;
  let pos = 0;
  for (const line of source.split('\n')) {
    const lineStart = pos;
    pos += line.length + 1;
    const f = FENCE.exec(line);
    if (fence !== undefined) {
      if (f && f[1][0] === fence[0] && f[1].length >= fence.length && /^\s*[`~]+\s*$/.test(line)) {
        fence = undefined;
        start = pos;
      }
      continue;
    }
    if (f) {
      fence = f[1];
      continue;
    }
    if (line.trim() === '') start = pos;
    else if (NEW_SEGMENT.test(line)) start = lineStart;
  }
  // Inside a code fence nothing is inline Markdown.
  return fence === undefined ? Math.min(start, source.length) : undefined;
}

/**
 * `source` with its open inline constructs closed (and a marker that only just arrived, with nothing after it yet,
 * left out). The same string when nothing is open.
 */
export function closeOpenInline(source: string): string {
  // A last line that is only a block marker (`-`, `1.`, `>`, `#`) is a list item, quote or heading whose text has
  // not arrived yet: shown raw it is just a stray character, so it waits for its text.
  const trimmed = source.trimEnd();
  const lastLine = trimmed.lastIndexOf('\n') + 1;
  if (BARE_MARKER.test(trimmed.slice(lastLine))) return closeOpenInline(trimmed.slice(0, lastLine));
  const end = source.trimEnd().length;
  const from = lastSegment(source.slice(0, end));
  if (from === undefined) return source;
  if (end <= from) return source;
  const stack: Opener[] = [];
  const tableRow = source[from + (/^\s*/.exec(source.slice(from))?.[0].length ?? 0)] === '|';
  /** Where the displayed text ends (before trailing space, or before a marker that opened at the very end). */
  let cut = end;
  let i = from;
  while (i < end) {
    const ch = source[i];
    const top = stack[stack.length - 1];
    if (top?.kind === 'url') {
      if (ch === '\\') i += 2;
      else {
        if (ch === '(') top.depth++;
        else if (ch === ')' && --top.depth === 0) stack.pop();
        i++;
      }
      continue;
    }
    if (ch === '`') {
      let j = i;
      while (source[j] === '`') j++;
      const run = j - i;
      if (top?.kind === 'code' && top.run === run) stack.pop();
      else if (j >= end && (top?.kind !== 'code' || run < top.run)) {
        cut = i;
        break;
      } else if (top?.kind !== 'code') stack.push({ kind: 'code', run });
      i = j;
      continue;
    }
    if (top?.kind === 'code') {
      i++;
      continue;
    }
    if (ch === '\\' && PUNCT.test(source[i + 1] ?? '')) {
      i += 2;
      continue;
    }
    if (ch === '|' && tableRow) {
      // A table cell ends here: whatever is open in it stays literal.
      stack.length = 0;
      i++;
      continue;
    }
    if (ch === '*' || ch === '_' || ch === '~') {
      let j = i;
      while (source[j] === ch) j++;
      let run = j - i;
      const before = source[i - 1];
      const after = j < end ? source[j] : undefined;
      // Closing: a matching opener on top, and no space before the run.
      if (!isSpace(before) && (ch !== '~' || run === 2)) {
        while (run > 0) {
          const t = stack[stack.length - 1];
          if (t?.kind !== 'emph' || t.marker[0] !== ch || t.marker.length > run) break;
          if (ch === '_' && after !== undefined && WORD.test(after)) break;
          stack.pop();
          run -= t.marker.length;
        }
      }
      if (run > 0 && j >= end) {
        // A marker with nothing after it yet: leave it out until the text it marks arrives.
        cut = j - run;
        break;
      }
      const canOpen = !isSpace(after) && !(ch === '_' && before !== undefined && WORD.test(before));
      if (run > 0 && canOpen) {
        if (ch === '~') {
          if (run === 2) stack.push({ kind: 'emph', marker: '~~' });
        } else {
          for (; run >= 2; run -= 2) stack.push({ kind: 'emph', marker: ch + ch });
          if (run === 1) stack.push({ kind: 'emph', marker: ch });
        }
      }
      i = j;
      continue;
    }
    if (ch === '[' || (ch === '!' && source[i + 1] === '[')) {
      const len = ch === '!' ? 2 : 1;
      if (i + len >= end) {
        cut = i;
        break;
      }
      stack.push({ kind: 'link', at: i + len });
      i += len;
      continue;
    }
    if (ch === ']' && top?.kind === 'link') {
      stack.pop();
      if (source[i + 1] === '(') {
        stack.push({ kind: 'url', at: i + 1, depth: 1 });
        i += 2;
      } else {
        // `[label]` at the very end is likely a link whose target is still coming (not a task box `[ ]`, `[x]`).
        if (i + 1 >= end && !/^[ xX]?$/.test(source.slice(top.at, i))) stack.push({ kind: 'url', at: i + 1, depth: 1 });
        i++;
      }
      continue;
    }
    i++;
  }
  if (stack.length === 0 && cut === end) return source;
  let out = source.slice(0, cut);
  for (let k = stack.length - 1; k >= 0; k--) {
    const o = stack[k];
    if (o.kind === 'url') out = out.slice(0, Math.min(o.at, out.length)).trimEnd() + '()';
    else if (o.kind === 'link') out = out.trimEnd() + ']()';
    else if (o.kind === 'code') out += '`'.repeat(o.run);
    else out = out.trimEnd() + o.marker;
  }
  return out === source ? source : out;
}
