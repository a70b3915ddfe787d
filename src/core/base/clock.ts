/** Time source injected into everything that measures or waits, so tests can drive it. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

export interface TimerHandle {
  readonly __timer: unique symbol;
}

export const systemClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    // Never keep the process alive for a watchdog or a flush timer.
    if (typeof t === 'object' && t !== null && 'unref' in t) (t as { unref(): void }).unref();
    return t as unknown as TimerHandle;
  },
  clearTimeout: (h) => clearTimeout(h as unknown as ReturnType<typeof setTimeout>),
};
