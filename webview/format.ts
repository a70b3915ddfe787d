/** Small display formatters for the message footer and the context meter. */

export function formatCount(n: number): string {
  if (n < 1000) return String(n);
  if (n < 10_000) return `${(n / 1000).toFixed(1)}k`;
  if (n < 1_000_000) return `${Math.round(n / 1000)}k`;
  return `${(n / 1_000_000).toFixed(1)}M`;
}

export function formatMs(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

export function formatTps(tps: number): string {
  return `${tps.toFixed(tps < 100 ? 1 : 0)} tok/s`;
}

export function formatSeconds(ms: number): string {
  return `${Math.max(1, Math.round(ms / 1000))} s`;
}

/** A whole number with en-US grouping: 8192 → "8,192". */
export function formatInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** "1 earlier message" / "3 earlier messages". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${formatInt(n)} ${n === 1 ? one : many}`;
}
