/**
 * The window arithmetic of the message list, with no DOM: given each row's height (measured, or estimated for rows
 * never drawn), the scroll position and the viewport, which rows to render and how tall the spacers standing in for
 * the others must be. The list (useWindow) feeds it measurements; tests feed it numbers.
 */

/** Rows' top offsets: offsets[i] is where row i starts, offsets[n] the total height. */
export function offsetsOf(heights: readonly number[]): number[] {
  const out = new Array<number>(heights.length + 1);
  out[0] = 0;
  for (let i = 0; i < heights.length; i++) out[i + 1] = out[i] + Math.max(0, heights[i] ?? 0);
  return out;
}

/** The row that contains `y` (the last row when y is past the end, 0 when before the start or no rows). */
export function rowAt(offsets: readonly number[], y: number): number {
  const n = offsets.length - 1;
  if (n <= 0 || y <= 0) return 0;
  if (y >= offsets[n]) return n - 1;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Rows [start, end) are rendered. */
export interface Range {
  start: number;
  end: number;
}

/** How far the list is scrolled, clamped to what the content allows (Infinity: at the bottom). */
export function clampScroll(offsets: readonly number[], scrollTop: number, viewport: number): number {
  const max = Math.max(0, offsets[offsets.length - 1] - viewport);
  return Math.min(Math.max(0, scrollTop), max);
}

/**
 * The rows that meet the viewport [scrollTop, scrollTop + viewport] widened by `overscan` pixels each side. At
 * least one row when there are any.
 */
export function rangeFor(offsets: readonly number[], scrollTop: number, viewport: number, overscan: number): Range {
  const n = offsets.length - 1;
  if (n <= 0) return { start: 0, end: 0 };
  const top = clampScroll(offsets, scrollTop, viewport);
  const start = rowAt(offsets, top - overscan);
  const bottom = top + viewport + overscan;
  let end = rowAt(offsets, bottom) + 1;
  // A row that starts exactly at the bottom edge is not needed.
  if (end - 1 > start && offsets[end - 1] >= bottom) end -= 1;
  return { start, end: Math.min(n, Math.max(end, start + 1)) };
}

/**
 * Does the rendered range still cover the viewport with `margin` pixels to spare each side (where there is
 * content)? While it does the list keeps its rows: scrolling within the overscan renders nothing.
 */
export function covers(offsets: readonly number[], range: Range, scrollTop: number, viewport: number, margin: number): boolean {
  const n = offsets.length - 1;
  if (n <= 0) return range.start === 0 && range.end === 0;
  if (range.start < 0 || range.end > n || range.start >= range.end) return false;
  const top = clampScroll(offsets, scrollTop, viewport);
  const total = offsets[n];
  const needTop = Math.max(0, top - margin);
  const needBottom = Math.min(total, top + viewport + margin);
  return offsets[range.start] <= needTop && offsets[range.end] >= needBottom;
}

/** What the list draws, top to bottom: rows by index, and spacers in place of the rows between. */
export type Segment = { kind: 'row'; index: number } | { kind: 'gap'; from: number; to: number; height: number };

/**
 * The range plus the pinned rows (the streaming answer, a row with focus or an edit box open) that must stay
 * mounted wherever they are, with a spacer for every run of rows left out.
 */
export function segmentsFor(offsets: readonly number[], range: Range, pinned: Iterable<number> = []): Segment[] {
  const n = offsets.length - 1;
  const rows = new Set<number>();
  for (let i = Math.max(0, range.start); i < Math.min(n, range.end); i++) rows.add(i);
  for (const i of pinned) if (Number.isInteger(i) && i >= 0 && i < n) rows.add(i);
  const sorted = [...rows].sort((a, b) => a - b);
  const out: Segment[] = [];
  let next = 0;
  for (const i of sorted) {
    if (i > next) out.push({ kind: 'gap', from: next, to: i, height: offsets[i] - offsets[next] });
    out.push({ kind: 'row', index: i });
    next = i + 1;
  }
  if (next < n) out.push({ kind: 'gap', from: next, to: n, height: offsets[n] - offsets[next] });
  return out;
}

/** The height to assume for a row never measured: the mean of the measured ones, else `fallback`. */
export function estimateHeight(measured: Iterable<number>, fallback: number): number {
  let sum = 0;
  let count = 0;
  for (const h of measured) {
    if (h > 0) {
      sum += h;
      count += 1;
    }
  }
  return count > 0 ? sum / count : fallback;
}

/** Each row's height: its measurement by key, else the estimate. */
export function heightsOf(keys: readonly string[], measured: ReadonlyMap<string, number>, estimate: number): number[] {
  return keys.map((k) => measured.get(k) ?? estimate);
}
