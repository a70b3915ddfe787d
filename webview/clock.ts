/**
 * The webview's clock: what counts seconds up locally (busy time, silence) without any host traffic. Components
 * take it from context, so tests pass a fake clock and advance it by hand.
 */
import { createContext } from 'preact';
import { useContext, useEffect, useMemo, useState } from 'preact/hooks';

export interface Clock {
  now(): number;
  /** Calls `fn` every `ms` until the returned function is called. */
  every(ms: number, fn: () => void): () => void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  every: (ms, fn) => {
    const timer = setInterval(fn, ms);
    return () => clearInterval(timer);
  },
};

export const ClockContext = createContext<Clock>(realClock);

/**
 * `baseMs` (a duration the host measured) plus the time since it arrived, refreshed once per second; undefined
 * while `baseMs` is. A new value starts over from it.
 */
export function useElapsed(baseMs: number | undefined): number | undefined {
  const clock = useContext(ClockContext);
  const receivedAt = useMemo(() => clock.now(), [baseMs, clock]);
  const [, setTick] = useState(0);
  useEffect(() => {
    if (baseMs === undefined) return undefined;
    return clock.every(1000, () => setTick((n) => n + 1));
  }, [baseMs, clock]);
  if (baseMs === undefined) return undefined;
  return baseMs + Math.max(0, clock.now() - receivedAt);
}
