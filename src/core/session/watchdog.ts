/**
 * Notices a stream that went silent. A slow stream is not stale: any frame resets the silence, and only
 * `timeoutMs` without a single frame fires the callback, once per arming.
 */
import type { Clock, TimerHandle } from '../base/clock';
import type { IDisposable } from '../base/disposable';

export class StaleWatchdog implements IDisposable {
  private timeoutMs = 0;
  private lastActivity: number;
  private timer: TimerHandle | undefined;
  private _fired = false;
  private _armed = false;

  constructor(
    private readonly clock: Clock,
    private readonly onStale: (silentMs: number) => void,
  ) {
    this.lastActivity = clock.now();
  }

  /** Watching and not yet fired. */
  get armed(): boolean {
    return this._armed;
  }

  /** Fired since the last arm()/rearm(). */
  get fired(): boolean {
    return this._fired;
  }

  /** Starts watching from now. A timeout <= 0 (or not finite) disables the watchdog. */
  arm(timeoutMs: number): void {
    this.cancel();
    this.timeoutMs = timeoutMs;
    this.lastActivity = this.clock.now();
    this._fired = false;
    if (!(timeoutMs > 0) || !Number.isFinite(timeoutMs)) return;
    this._armed = true;
    this.timer = this.clock.setTimeout(this.check, timeoutMs);
  }

  /** Watches again with the same timeout, e.g. after the user chose to keep waiting or a token arrived. */
  rearm(): void {
    this.arm(this.timeoutMs);
  }

  /**
   * Records activity. On the hot path (every token): it only stores the time; the timer notices it when it
   * fires and re-schedules itself for the remaining time.
   */
  touch(now: number = this.clock.now()): void {
    this.lastActivity = now;
  }

  cancel(): void {
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this._armed = false;
  }

  /** Time since the last activity (or the arming). */
  silentMs(now: number = this.clock.now()): number {
    return Math.max(0, now - this.lastActivity);
  }

  dispose(): void {
    this.cancel();
  }

  private readonly check = (): void => {
    this.timer = undefined;
    if (!this._armed) return;
    const silent = this.silentMs();
    if (silent < this.timeoutMs) {
      this.timer = this.clock.setTimeout(this.check, this.timeoutMs - silent);
      return;
    }
    this._armed = false;
    this._fired = true;
    this.onStale(silent);
  };
}
