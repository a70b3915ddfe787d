/**
 * Knows whether llama-server answers: GET /health then /props, on activation, on demand and after a failure with a
 * growing delay (so starting the server after VS Code heals the view without a click). A newer check supersedes an
 * older one, whose result is dropped: the state never goes back to an old URL's answer.
 */
import type { ServerProps } from './client';
import { displayModelName, reasoningCaps } from '../base/format';
import type { Clock, TimerHandle } from '../base/clock';
import { systemClock } from '../base/clock';
import { Disposable, Emitter } from '../base/disposable';
import type { IDisposable } from '../base/disposable';
import type { ErrorInfo } from '../base/errors';
import { LlamaError, errorText } from '../base/errors';
import type { Logger } from '../base/logger';
import { nullLogger } from '../base/logger';
import { t } from '../base/l10n';

/** What the extension knows of the configured server's reachability (shown in the view and the status bar). */
export type ConnectionState =
  | { state: 'unknown' }
  | { state: 'checking'; url: string }
  | {
      state: 'connected';
      url: string;
      model?: string;
      nCtx?: number;
      build?: string;
      /** The model takes images. */
      vision?: boolean;
      /** What the chat template can do with reasoning. */
      reasoning?: { canToggle: boolean; canSkip: boolean };
    }
  | { state: 'error'; url: string; error: ErrorInfo };

/** What a check needs from the llama-server client. */
export interface ConnectionProbe {
  /** Resolves when the server answers ('loading' while it loads its model); rejects (ideally with a LlamaError) otherwise. */
  health(signal?: AbortSignal): Promise<unknown>;
  getProps(signal?: AbortSignal): Promise<ServerProps>;
}

export interface ConnectionMonitorOptions {
  /** The current client; read at every check, so a recreated client is used at once. */
  probe: () => ConnectionProbe;
  /** The configured server URL (shown in the state). */
  url: () => string;
  clock?: Clock;
  logger?: Logger;
  /** Delays of automatic re-checks after a failure; the last repeats. Empty: never. Default 5 s, 15 s, 60 s. */
  retryDelaysMs?: readonly number[];
}

const DEFAULT_RETRY_DELAYS_MS = [5_000, 15_000, 60_000] as const;

function errorInfo(err: unknown): ErrorInfo {
  if (LlamaError.is(err)) return err.toInfo();
  return { kind: 'unknown', message: errorText(err) };
}

/**
 * The model name to show for a server: its alias, else the file name of its model path. Without `--alias`
 * llama-server reports the whole path as the alias; only its file name is shown then.
 */
export function modelNameOf(props: ServerProps): string | undefined {
  const name = props.modelAlias || props.modelPath;
  return name ? displayModelName(name) : undefined;
}

export class ConnectionMonitor extends Disposable {
  private readonly options: ConnectionMonitorOptions;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly retryDelaysMs: readonly number[];
  private readonly changed = this._register(new Emitter<ConnectionState>());
  private current: ConnectionState = { state: 'unknown' };
  private lastProps: ServerProps | undefined;
  private generation = 0;
  private inFlight: { controller: AbortController; promise: Promise<ConnectionState> } | undefined;
  private retryTimer: TimerHandle | undefined;
  private failures = 0;

  readonly onDidChange: (listener: (state: ConnectionState) => void) => IDisposable = this.changed.event;

  constructor(options: ConnectionMonitorOptions) {
    super();
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? nullLogger;
    this.retryDelaysMs = options.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  }

  get state(): ConnectionState {
    return this.current;
  }

  /** /props of the last successful check. */
  get props(): ServerProps | undefined {
    return this.current.state === 'connected' ? this.lastProps : undefined;
  }

  /**
   * Checks now, superseding any check under way. Resolves with the state of the newest check. A quiet check (the
   * automatic re-checks) keeps showing the old state instead of "checking".
   */
  check(options: { quiet?: boolean } = {}): Promise<ConnectionState> {
    if (this.isDisposed) return Promise.resolve(this.current);
    this.cancelRetry();
    this.inFlight?.controller.abort();
    const generation = ++this.generation;
    const controller = new AbortController();
    const url = this.options.url();
    if (!options.quiet || this.current.state === 'unknown') this.set({ state: 'checking', url });
    const promise = this.run(generation, url, controller.signal).then((state) => {
      // Superseded: answer with the newer check instead of an outdated state.
      if (generation !== this.generation && this.inFlight) return this.inFlight.promise;
      return state;
    });
    this.inFlight = { controller, promise };
    return promise;
  }

  /** The client or URL changed: forget the old answer and check again. */
  recheck(): Promise<ConnectionState> {
    this.failures = 0;
    this.lastProps = undefined;
    return this.check();
  }

  override dispose(): void {
    this.cancelRetry();
    this.inFlight?.controller.abort();
    this.generation++;
    super.dispose();
  }

  private async run(generation: number, url: string, signal: AbortSignal): Promise<ConnectionState> {
    let next: ConnectionState;
    try {
      const probe = this.options.probe();
      const health = await probe.health(signal);
      if (health === 'loading') {
        throw new LlamaError({
          kind: 'server_error',
          status: 503,
          message: t('llama-server at {0} is still loading its model.', url),
          hint: t('Wait a moment: Llama Chat checks again by itself.'),
        });
      }
      const props = await probe.getProps(signal);
      if (generation !== this.generation) return this.current;
      this.lastProps = props;
      const connected: ConnectionState = { state: 'connected', url, nCtx: props.nCtx };
      if (props.modalities?.vision === true) connected.vision = true;
      const reasoning = reasoningCaps(props.chatTemplate);
      if (reasoning) connected.reasoning = reasoning;
      const model = modelNameOf(props);
      if (model !== undefined) connected.model = model;
      if (props.buildInfo !== undefined) connected.build = props.buildInfo;
      next = connected;
    } catch (err) {
      if (generation !== this.generation) return this.current;
      next = { state: 'error', url, error: errorInfo(err) };
    }
    this.inFlight = undefined;
    if (next.state === 'connected') {
      if (this.current.state !== 'connected' || this.failures > 0) {
        this.logger.info(`Connected to ${url}: model ${next.model ?? '(unnamed)'}, n_ctx ${next.nCtx ?? '?'}, build ${next.build ?? '?'}`);
      }
      this.failures = 0;
    } else if (next.state === 'error') {
      // Log the first failure of a series loudly, the automatic re-checks quietly.
      if (this.failures === 0) this.logger.warn(`Cannot reach ${url}: ${next.error.message}`);
      else this.logger.debug(`Still cannot reach ${url}: ${next.error.message}`);
      this.failures++;
      this.scheduleRetry();
    }
    this.set(next);
    return next;
  }

  private scheduleRetry(): void {
    if (this.retryDelaysMs.length === 0 || this.isDisposed) return;
    const delay = this.retryDelaysMs[Math.min(this.failures - 1, this.retryDelaysMs.length - 1)];
    this.retryTimer = this.clock.setTimeout(() => {
      this.retryTimer = undefined;
      void this.check({ quiet: true });
    }, delay);
  }

  private cancelRetry(): void {
    if (this.retryTimer !== undefined) {
      this.clock.clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
  }

  private set(state: ConnectionState): void {
    // Repeated identical answers (automatic re-checks of a down server) are not news.
    if (JSON.stringify(state) === JSON.stringify(this.current)) return;
    this.current = state;
    this.changed.fire(state);
  }
}
