/**
 * Splits Markdown into top-level blocks incrementally, so a streaming answer costs O(last block) per delta:
 * blocks followed by another block are final (their tokens never change again); only the tail from the start of
 * the last (open) block is lexed again when text is appended.
 */
import { Lexer } from 'marked';
import type { Token } from 'marked';

export interface Block {
  /** Offset of the block's source in the whole text: stable, so it keys the rendered block. */
  offset: number;
  raw: string;
  token: Token;
}

/** Finished blocks are kept in groups of this many, so a render touches O(groups + GROUP_SIZE) vnodes, not O(blocks). */
export const GROUP_SIZE = 64;

export interface BlockState {
  /** The source covered by the finished blocks. */
  doneText: string;
  /**
   * The finished blocks in groups of GROUP_SIZE, in order. Every group but the last is full and is the same array
   * object in every later state, so its rendering can be skipped by identity.
   */
  groups: readonly (readonly Block[])[];
  /** The blocks of the tail after `doneText`; the last non-space one is still open. */
  open: Block[];
  text: string;
}

export const emptyBlocks: BlockState = { doneText: '', groups: [], open: [], text: '' };

export const LEX_OPTIONS = { gfm: true, breaks: false } as const;

export function normalizeNewlines(text: string): string {
  return text.indexOf('\r') < 0 ? text : text.replace(/\r\n?/g, '\n');
}

function lexChunk(source: string, base: number): Block[] | undefined {
  const tokens = new Lexer(LEX_OPTIONS).lex(source);
  const blocks: Block[] = [];
  let offset = base;
  for (const token of tokens) {
    blocks.push({ offset, raw: token.raw, token });
    offset += token.raw.length;
  }
  // The raws must tile the source exactly, otherwise offsets are meaningless and nothing may be frozen.
  return offset - base === source.length ? blocks : undefined;
}

/** `groups` with `blocks` appended: the full groups stay the same arrays, a partial last group is copied. */
function appendDone(groups: BlockState['groups'], blocks: readonly Block[]): BlockState['groups'] {
  if (blocks.length === 0) return groups;
  const out = groups.slice();
  let i = 0;
  const last = out[out.length - 1];
  if (last !== undefined && last.length < GROUP_SIZE) {
    i = GROUP_SIZE - last.length;
    out[out.length - 1] = last.concat(blocks.slice(0, i));
  }
  for (; i < blocks.length; i += GROUP_SIZE) out.push(blocks.slice(i, i + GROUP_SIZE));
  return out;
}

/**
 * Advances `prev` to `text`. Reuses the finished blocks (same objects) when `text` extends the previous text;
 * otherwise starts over. `final` marks the text complete: every block is then done.
 */
export function updateBlocks(prev: BlockState, rawText: string, final = false): BlockState {
  const text = normalizeNewlines(rawText);
  if (text === prev.text && (!final || prev.open.length === 0)) return prev;
  const base = text.startsWith(prev.doneText) ? prev : emptyBlocks;
  const tailStart = base.doneText.length;
  const tail = lexChunk(text.slice(tailStart), tailStart);
  if (!tail) {
    // Could not tile: render the whole text as one open chunk (correct, just not incremental).
    const whole = new Lexer(LEX_OPTIONS).lex(text);
    return { doneText: '', groups: [], open: whole.map((token, i) => ({ offset: -1 - i, raw: token.raw, token })), text };
  }
  if (final) return { doneText: text, groups: appendDone(base.groups, tail), open: [], text };
  // Everything before the last non-space block is final.
  let lastReal = tail.length - 1;
  while (lastReal >= 0 && tail[lastReal].token.type === 'space') lastReal--;
  if (lastReal <= 0) return { doneText: base.doneText, groups: base.groups, open: tail, text };
  const frozen = tail.slice(0, lastReal);
  const openStart = tail[lastReal].offset;
  return {
    doneText: text.slice(0, openStart),
    groups: appendDone(base.groups, frozen),
    open: tail.slice(lastReal),
    text,
  };
}

/** The finished blocks as one array (tests, tools; rendering uses the groups). */
export function doneBlocks(state: BlockState): Block[] {
  return state.groups.flat();
}

export function allBlocks(state: BlockState): Block[] {
  return [...doneBlocks(state), ...state.open];
}
