/** Watching the chats folder for another window's writes: node's fs.watch, debounced; absent where it throws. */
import { errorText } from '../base/errors';
import * as fs from 'node:fs';
import type { Clock, TimerHandle } from '../base/clock';
import type { IDisposable } from '../base/disposable';
import type { Logger } from '../base/logger';

/** Starts watching dir; onChange gets a file name when the platform tells one (else undefined: rescan everything). */
export type WatchFactory = (dir: string, onChange: (name: string | undefined) => void) => IDisposable;

export const nodeWatch: WatchFactory = (dir, onChange) => {
  const w = fs.watch(dir, { persistent: false }, (_event, name) => onChange(name === null ? undefined : String(name)));
  // An error after start (the folder was deleted, too many watches): stop quietly, writes still merge under the lock.
  w.on('error', () => w.close());
  return { dispose: () => w.close() };
};

/** Collects changed names for debounceMs, then hands them over at once (`all` when a name was not given). */
export class DebouncedWatcher implements IDisposable {
  private readonly names = new Set<string>();
  private all = false;
  private timer: TimerHandle | undefined;
  private handle: IDisposable | undefined;
  private disposed = false;

  constructor(
    dir: string,
    factory: WatchFactory,
    private readonly clock: Clock,
    private readonly debounceMs: number,
    private readonly onBatch: (names: string[] | 'all') => void,
    logger: Logger,
  ) {
    try {
      this.handle = factory(dir, (name) => this.note(name));
    } catch (err) {
      logger.info(`ChatStore: cannot watch ${dir} (${errorText(err)}); other windows' changes are merged on the next write only`);
    }
  }

  get active(): boolean {
    return this.handle !== undefined && !this.disposed;
  }

  private note(name: string | undefined): void {
    if (this.disposed) return;
    if (name === undefined) this.all = true;
    else this.names.add(name);
    if (this.timer !== undefined) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      const batch: string[] | 'all' = this.all ? 'all' : [...this.names];
      this.names.clear();
      this.all = false;
      if (!this.disposed) this.onBatch(batch);
    }, this.debounceMs);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.handle?.dispose();
  }
}
