/** Small statistics and timing helpers shared by every benchmark part. */

export function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** Nearest-rank percentile (p in 0..100) of a non-empty sample. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) throw new Error('percentile of an empty sample');
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function mean(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

/** High-resolution milliseconds (monotonic). */
export function nowMs(): number {
  return performance.now();
}

export interface InterleavedOptions {
  /** Untimed rounds first (JIT warm-up, caches). */
  warmup: number;
  /** Timed rounds; each round runs every variant once, in an order that rotates per round. */
  rounds: number;
  /** Collect garbage before every run (needs node --expose-gc), so one variant's garbage is not timed in the next. */
  gcBetween?: boolean;
}

/** Full GC when node runs with --expose-gc; a no-op otherwise. */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) gc();
}

/**
 * Runs variants side by side: round r runs every variant once (A, B, … then B, …, A on the next round), so a slow
 * phase of the machine hits all of them alike. Each variant returns its own measurement (e.g. ms).
 */
export async function interleaved<K extends string>(
  variants: Record<K, () => Promise<number> | number>,
  options: InterleavedOptions,
): Promise<Record<K, number[]>> {
  const names = Object.keys(variants) as K[];
  const samples = Object.fromEntries(names.map((n) => [n, [] as number[]])) as Record<K, number[]>;
  for (let round = 0; round < options.warmup + options.rounds; round++) {
    const order = round % 2 === 0 ? names : [...names].reverse();
    for (const name of order) {
      if (options.gcBetween) collectGarbage();
      const value = await variants[name]();
      if (round >= options.warmup) samples[name].push(value);
    }
  }
  return samples;
}

/** Rounds to `digits` significant decimals for the report (never to 0 for small non-zero values). */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const decimals = Math.max(0, digits - 1 - magnitude);
  return Number(value.toFixed(Math.min(decimals, 12)));
}
