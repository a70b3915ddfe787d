/** Small display formatters for the message footer and the context meter. */
import { t } from './l10n';
import { formatInt, formatTps as formatTpsNumber } from '../src/core/base/format';

export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 10_000) return `${(n / 1000).toFixed(1)}k`;
  if (n < 1_000_000) return `${Math.round(n / 1000)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return t('{0} ms', Math.round(ms));
  return t('{0} s', (ms / 1000).toFixed(ms < 10_000 ? 1 : 0));
}

/** "41 tok/s", "3.4 tok/s": the host's formatter (the status bar's numbers), with the unit. */
export function formatTps(tps: number): string {
  return t('{0} tok/s', formatTpsNumber(tps));
}

export function formatSeconds(ms: number): string {
  return t('{0} s', Math.max(1, Math.round(ms / 1000)));
}

/** A whole number with en-US grouping: 8192 → "8,192" (the host's formatter). */
export { formatInt };

/** "1 earlier message" / "3 earlier messages". English only: messages go through t() with the count instead. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatInt(n)} ${n === 1 ? one : many}`;
}

/** Whole seconds, counting up: 45_900 → "45 s". */
export function formatElapsed(ms: number): string {
  return t('{0} s', formatInt(Math.floor(Math.max(0, ms) / 1000)));
}

/** A model name for display: the host's alias as is; a path-like name only by its file name, without `.gguf`. */
export function modelLabel(model: string): string {
  if (!/[\\/]/.test(model)) return model;
  const base = model.split(/[\\/]/).filter((p) => p.length > 0).pop() ?? model;
  return base.replace(/\.gguf$/i, '');
}

/** A sentence from a host phrase: ends with a full stop unless it already ends with punctuation. */
export function sentence(text: string): string {
  const t = text.trim();
  return /[.!?…]$/.test(t) ? t : `${t}.`;
}
