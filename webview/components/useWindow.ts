/**
 * Windowing for the message list: long chats render only the rows near the viewport, with spacers sized from
 * measured heights (a ResizeObserver keeps them current) and an estimate for rows never drawn. Pinned rows (the
 * streaming answer, the row holding focus, an open edit box) stay mounted wherever they are. The arithmetic is in
 * ./windowing; this hook only feeds it what the DOM reports and re-renders when the window must move.
 */
import type { RefObject } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { covers, estimateHeight, heightsOf, offsetsOf, rangeFor, segmentsFor } from './windowing';
import type { Range, Segment } from './windowing';

/** Fewer rows than this are all rendered (the window would save nothing). */
export const WINDOW_MIN_ROWS = 40;
/** Height assumed for a row before any row was measured. */
export const DEFAULT_ROW_PX = 120;
/**
 * Rows this many viewports above and below the visible ones are mounted too; the window moves when less than a
 * quarter viewport of them is left on a side. Wide enough that a brisk scroll moves it in few frames.
 */
const OVERSCAN_VIEWPORTS = 1.5;

export interface WindowOptions {
  /** The rows' stable keys (message ids), top to bottom. */
  keys: readonly string[];
  /** The scrolling element. */
  list: RefObject<HTMLElement>;
  /** True while the list follows the bottom (then the window is the last rows whatever scrollTop says). */
  stick: { readonly current: boolean };
  /** Keys that must stay rendered (the streaming answer). */
  pinned: readonly string[];
  /** Changes when another chat is shown: the window starts again from `initialScroll`. */
  resetKey: string;
  /** Where a newly shown chat starts (Infinity: at the bottom). */
  initialScroll: () => number;
}

export interface ListWindow {
  segments: Segment[];
  /** Ref callback for row `key`'s element (measured while mounted). */
  measure: (key: string) => (el: HTMLElement | null) => void;
  /** Call from the list's scroll handler. */
  onScroll: () => void;
  /** Keeps row `key` mounted until the returned function is called (an edit box is open in it). */
  pin: (key: string) => () => void;
}

interface WindowState {
  heights: Map<string, number>;
  elements: Map<string, HTMLElement>;
  observer: ResizeObserver | undefined;
  scrollTop: number;
  viewport: number;
  range: Range | undefined;
  resetKey: string | undefined;
  offsets: number[];
  enabled: boolean;
  pins: Map<string, number>;
  /** The chat was just switched to: its window is only the visible rows until painted. */
  narrow: boolean;
  focused: string | undefined;
  refs: Map<string, (el: HTMLElement | null) => void>;
  /** Stable (rows compare it): keeps `key` mounted until the returned release is called. */
  pin: (key: string) => () => void;
}

export function useWindow(options: WindowOptions): ListWindow {
  const { keys, list, stick, pinned, resetKey } = options;
  const [, setTick] = useState(0);
  const rerender = (): void => setTick((n) => n + 1);
  const s = useRef<WindowState>({
    heights: new Map(),
    elements: new Map(),
    observer: undefined,
    scrollTop: 0,
    viewport: 0,
    range: undefined,
    resetKey: undefined,
    offsets: [0],
    enabled: false,
    pins: new Map(),
    narrow: true,
    focused: undefined,
    refs: new Map(),
    pin: (key) => {
      const pins = s.pins;
      pins.set(key, (pins.get(key) ?? 0) + 1);
      return () => {
        const n = (pins.get(key) ?? 1) - 1;
        if (n > 0) pins.set(key, n);
        else pins.delete(key);
      };
    },
  }).current;

  if (s.resetKey !== resetKey) {
    s.resetKey = resetKey;
    s.scrollTop = options.initialScroll();
    s.range = undefined;
    // The first frame of a chat mounts only what is visible; the overscan follows once it is painted.
    s.narrow = true;
  }

  // Before the first measurement the list cannot be taller than the window: a first render of a long chat is
  // already windowed.
  if (s.viewport === 0 && typeof window !== 'undefined' && window.innerHeight > 0) s.viewport = window.innerHeight;
  const estimate = estimateHeight(s.heights.values(), DEFAULT_ROW_PX);
  const offsets = offsetsOf(heightsOf(keys, s.heights, estimate));
  s.offsets = offsets;
  s.enabled = keys.length >= WINDOW_MIN_ROWS && s.viewport > 0;
  const top = (): number => (stick.current ? Infinity : s.scrollTop);
  const overscan = (): number => (s.narrow ? 0 : s.viewport * OVERSCAN_VIEWPORTS);
  const margin = (): number => (s.narrow ? 0 : s.viewport / 4);
  let range: Range = { start: 0, end: keys.length };
  if (s.enabled) {
    if (!s.range || !covers(offsets, s.range, top(), s.viewport, margin())) {
      s.range = rangeFor(offsets, top(), s.viewport, overscan());
    }
    range = s.range;
  } else {
    s.range = undefined;
  }
  const pinnedRows: number[] = [];
  const wanted = new Set([...pinned, ...s.pins.keys(), ...(s.focused !== undefined ? [s.focused] : [])]);
  if (wanted.size) keys.forEach((k, i) => wanted.has(k) && pinnedRows.push(i));
  const segments = segmentsFor(offsets, range, pinnedRows);

  /** The window no longer covers the viewport: render again (which computes a new range). */
  const check = (): void => {
    if (!s.enabled) {
      if (keys.length >= WINDOW_MIN_ROWS && s.viewport > 0) rerender();
      return;
    }
    if (!s.range || !covers(s.offsets, s.range, top(), s.viewport, margin())) rerender();
  };

  useLayoutEffect(() => {
    const el = list.current;
    if (!el || typeof ResizeObserver === 'undefined') return;
    const observer = new ResizeObserver((entries) => {
      let changed = false;
      for (const entry of entries) {
        const target = entry.target as HTMLElement;
        if (target === el) {
          const h = el.clientHeight;
          if (h !== s.viewport) {
            s.viewport = h;
            changed = true;
          }
          continue;
        }
        const key = target.dataset.key;
        if (key === undefined || s.elements.get(key) !== target) continue;
        const h = entry.borderBoxSize?.[0]?.blockSize ?? target.getBoundingClientRect().height;
        if (Math.abs((s.heights.get(key) ?? -1) - h) > 0.5) {
          s.heights.set(key, h);
          changed = true;
        }
      }
      if (changed) rerender();
    });
    s.observer = observer;
    if (el.clientHeight > 0) s.viewport = el.clientHeight;
    observer.observe(el);
    for (const row of s.elements.values()) observer.observe(row);
    // Focus inside a row keeps that row mounted (keyboard users never lose their place).
    const onFocusIn = (e: FocusEvent): void => {
      s.focused = (e.target as HTMLElement | null)?.closest<HTMLElement>('[data-key]')?.dataset.key;
    };
    const onFocusOut = (e: FocusEvent): void => {
      if (!(e.relatedTarget instanceof Node) || !el.contains(e.relatedTarget)) s.focused = undefined;
    };
    el.addEventListener('focusin', onFocusIn);
    el.addEventListener('focusout', onFocusOut);
    return () => {
      observer.disconnect();
      s.observer = undefined;
      el.removeEventListener('focusin', onFocusIn);
      el.removeEventListener('focusout', onFocusOut);
    };
  }, []);

  // After the first paint of a chat (effects run after it), widen its window to the full overscan.
  useEffect(() => {
    if (!s.narrow) return;
    s.narrow = false;
    if (s.enabled) {
      s.range = undefined;
      rerender();
    }
  });

  const measure = (key: string): ((el: HTMLElement | null) => void) => {
    let ref = s.refs.get(key);
    if (!ref) {
      ref = (el) => {
        const old = s.elements.get(key);
        if (old && old !== el) {
          s.observer?.unobserve(old);
          s.elements.delete(key);
        }
        if (el) {
          s.elements.set(key, el);
          s.observer?.observe(el);
        } else {
          s.refs.delete(key);
        }
      };
      s.refs.set(key, ref);
    }
    return ref;
  };

  const onScroll = (): void => {
    const el = list.current;
    if (!el) return;
    s.scrollTop = el.scrollTop;
    if (el.clientHeight !== s.viewport) s.viewport = el.clientHeight;
    check();
  };

  return { segments, measure, onScroll, pin: s.pin };
}
