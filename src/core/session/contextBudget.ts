/**
 * Fitting a request into the server's context: what to leave out (or summarize) so that the prompt plus the room
 * kept for the answer fits n_ctx. Pure: the prompt counter (normally the server's exact count) is injected, and
 * every count is a server round trip, so cut points are found by binary search.
 */
import type { ChatMessage } from '../chats/chat';
import { buildRequestMessages, pathSummary } from '../chats/chatOps';
import type { ChatRequestMessage, PromptCount } from '../server/client';
import { formatInt } from '../base/format';
import { t } from '../base/l10n';
import type { SessionSettings } from './sessionApi';

export type OverflowPolicy = 'trimOldest' | 'summarize' | 'fail';

export type PromptCounter = (messages: ChatRequestMessage[], signal?: AbortSignal) => Promise<PromptCount>;

/** Tokens kept for the answer: maxTokens when set, else a quarter of the context (at least 256); never above nCtx. */
export function reserveFor(nCtx: number, maxTokens?: number): number {
  const ctx = Math.max(0, Math.floor(nCtx));
  const want = maxTokens !== undefined && maxTokens > 0 ? Math.floor(maxTokens) : Math.max(256, Math.floor(ctx / 4));
  return Math.min(want, ctx);
}

/** Guess for one image where nothing can count it (vision encoders take a few hundred tokens per image). */
export const IMAGE_TOKEN_ESTIMATE = 576;
/** Characters per token of the estimate. */
export const CHARS_PER_TOKEN = 3.5;
/** Template tokens per message (role markers, end of turn) of the estimate. */
export const MESSAGE_OVERHEAD_TOKENS = 4;

/** A rough prompt size where the server cannot count: about 3.5 characters a token, a few per message and image. */
export function estimatePromptTokens(messages: readonly ChatRequestMessage[]): PromptCount {
  let tokens = 3; // BOS and the generation prompt
  for (const m of messages) {
    tokens += MESSAGE_OVERHEAD_TOKENS + Math.ceil(m.content.length / CHARS_PER_TOKEN);
    tokens += (m.images?.length ?? 0) * IMAGE_TOKEN_ESTIMATE;
  }
  return { tokens, exact: false };
}

/** A rough size of one text (no template, no BOS). */
export function estimateTextTokens(text: string): PromptCount {
  return { tokens: Math.ceil(text.length / CHARS_PER_TOKEN), exact: false };
}

export interface FitInput {
  /** Root to the last message to send (the question, or the partial answer with continueFinal). */
  path: readonly ChatMessage[];
  settings: Pick<SessionSettings, 'systemPrompt' | 'maxTokens'>;
  /** Context per slot; undefined: unknown, everything is sent. */
  nCtx: number | undefined;
  policy: OverflowPolicy;
  /** The last path message is a partial answer to continue (it belongs to the last turn). */
  continueFinal?: boolean;
  /**
   * summarize policy: tokens kept free for the summary that will replace the left-out messages (the caller's
   * max_tokens for the summary request). Default min(512, nCtx / 8).
   */
  summaryTokens?: number;
}

export interface FitResult {
  /** What to send (system prompt and summary first). */
  messages: ChatRequestMessage[];
  /** Prompt tokens of `messages`. */
  tokens: number;
  exact: boolean;
  /** Tokens kept for the answer. */
  reserve: number;
  nCtx?: number;
  /** tokens + reserve <= nCtx (always true when nCtx is unknown). */
  fits: boolean;
  /** Path messages before the kept part that were left out (not counting those a summary replaces). */
  omitted: number;
  /** Path messages a summary replaces. */
  summarized: number;
  /**
   * summarize policy, when it does not fit: ids of every path message before the part that fits (those an older
   * summary covers included, so a new summary's `covers` can be this list). `messages` is then the trimOldest
   * fallback, and `summaryTokens` the room kept for the summary.
   */
  toSummarize?: string[];
  summaryTokens?: number;
  /** Even the last turn alone does not fit: why, with the numbers. */
  tooLarge?: string;
}

/** Index of the first message of the last turn: the last user message (a question with its partial answer). */
function lastTurnStart(path: readonly ChatMessage[]): number {
  for (let i = path.length - 1; i >= 0; i--) if (path[i].role === 'user') return i;
  return Math.max(0, path.length - 1);
}

export function tooLargeText(tokens: number, exact: boolean, nCtx: number, reserve: number): string {
  return exact
    ? t('The message needs {0} tokens, but the context holds {1} and {2} are kept for the answer.', formatInt(tokens), formatInt(nCtx), formatInt(reserve))
    : t('The message needs about {0} tokens, but the context holds {1} and {2} are kept for the answer.', formatInt(tokens), formatInt(nCtx), formatInt(reserve));
}

/**
 * Fits `input.path` into the context by its policy (see OverflowPolicy). Counts: one when everything fits or
 * nCtx is unknown, two when even the last turn is too large, else about 2 + log2(turns).
 */
export async function fitRequest(input: FitInput, count: PromptCounter, signal?: AbortSignal): Promise<FitResult> {
  const { path, settings, nCtx, policy } = input;
  const options = { continueFinal: input.continueFinal === true };
  const summary = pathSummary(path);
  const summarized = summary ? summary.covered.size : 0;
  // The first message after what a summary replaces: no cut goes before it.
  let first = 0;
  if (summary) {
    first = summary.index;
    for (let i = 0; i < summary.index; i++) {
      if (!summary.covered.has(path[i].id)) {
        first = i;
        break;
      }
    }
  }
  const last = Math.max(first, lastTurnStart(path));
  // Cut points, oldest first: none, then each user message up to the last turn's.
  const cuts: number[] = [first];
  for (let i = first + 1; i <= last; i++) if (path[i].role === 'user') cuts.push(i);
  if (cuts[cuts.length - 1] !== last) cuts.push(last);

  const omittedAt = (cut: number): number => {
    let n = 0;
    for (let i = 0; i < cut; i++) if (!summary?.covered.has(path[i].id)) n++;
    return n;
  };
  const measured = new Map<number, { messages: ChatRequestMessage[]; count: PromptCount }>();
  const measure = async (cut: number): Promise<{ messages: ChatRequestMessage[]; count: PromptCount }> => {
    const known = measured.get(cut);
    if (known) return known;
    signal?.throwIfAborted();
    const messages = buildRequestMessages(path, settings, { ...options, startAt: cut });
    const result = { messages, count: await count(messages, signal) };
    measured.set(cut, result);
    return result;
  };
  const result = (cut: number, m: { messages: ChatRequestMessage[]; count: PromptCount }, reserve: number, fits: boolean): FitResult => {
    const out: FitResult = {
      messages: m.messages,
      tokens: m.count.tokens,
      exact: m.count.exact,
      reserve,
      fits,
      omitted: omittedAt(cut),
      summarized,
    };
    if (nCtx !== undefined) out.nCtx = nCtx;
    return out;
  };

  const whole = await measure(first);
  if (nCtx === undefined) {
    const reserve = settings.maxTokens !== undefined && settings.maxTokens > 0 ? Math.floor(settings.maxTokens) : 0;
    return result(first, whole, reserve, true);
  }
  const reserve = reserveFor(nCtx, settings.maxTokens);
  const fitsIn = (tokens: number, room: number): boolean => tokens + reserve <= room;
  if (fitsIn(whole.count.tokens, nCtx)) return result(first, whole, reserve, true);

  const lastCut = cuts[cuts.length - 1];
  const alone = await measure(lastCut);
  if (!fitsIn(alone.count.tokens, nCtx)) {
    const out = result(policy === 'fail' ? first : lastCut, policy === 'fail' ? whole : alone, reserve, false);
    out.tooLarge = tooLargeText(alone.count.tokens, alone.count.exact, nCtx, reserve);
    return out;
  }
  if (policy === 'fail') return result(first, whole, reserve, false);

  // Summarize: keep room for the summary that will stand in for what is left out.
  const summaryTokens =
    policy === 'summarize' ? Math.max(0, Math.floor(input.summaryTokens ?? Math.min(512, Math.floor(nCtx / 8)))) : 0;
  const room = nCtx - summaryTokens;
  // Binary search for the oldest cut that fits: cuts[lo] does not fit, cuts[hi] does.
  let lo = 0;
  let hi = cuts.length - 1;
  if (!fitsIn(alone.count.tokens, room)) lo = hi; // no room for a summary: trim to the last turn
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (fitsIn((await measure(cuts[mid])).count.tokens, room)) hi = mid;
    else lo = mid;
  }
  const cut = cuts[hi];
  const kept = await measure(cut);
  if (policy === 'trimOldest') return result(cut, kept, reserve, true);
  const out = result(cut, kept, reserve, false);
  out.toSummarize = path.slice(0, cut).map((m) => m.id);
  out.summaryTokens = summaryTokens;
  return out;
}
