/**
 * Whether a live stream is moving: busy (frames but no progress), waiting for a free slot, stale (no frame at all)
 * and what the server says about a stale one. Every change is announced as `stats` (and `stale`) events.
 */
import type { SessionCore, StreamState } from './sessionCore';
import type { SessionEvent } from './sessionEvents';
import { t } from '../base/l10n';

/** The free-slot check runs before the request is sent, so it gets much less than the stale diagnosis. */
const SLOT_CHECK_MS = 300;

export class StreamLiveness {
  constructor(
    private readonly core: SessionCore,
    private readonly emitStats: (state: StreamState, now: number) => void,
  ) {}

  /** Tokens, reasoning or prompt progress: the stream is moving (not busy, not waiting for a slot). */
  onProgress(state: StreamState, now: number): void {
    state.progressWatch.touch(now);
    if (state.busySince === undefined && state.queued === undefined && !state.reconnecting) return;
    state.busySince = undefined;
    state.queued = undefined;
    state.reconnecting = false;
    if (!state.progressWatch.armed) state.progressWatch.rearm();
    this.emitStats(state, now);
  }

  onBusy(state: StreamState, silentMs: number): void {
    if (state.finalizing || state.terminal) return;
    const { clock } = this.core;
    state.busySince = clock.now() - silentMs;
    this.core.logger.info(`No progress for ${Math.round(silentMs / 1000)} s on answer ${state.message.id}; the connection is alive`);
    this.emitStats(state, clock.now());
  }

  /** Before sending: every slot busy means the request will wait in the server's queue; say so. */
  async checkSlots(state: StreamState): Promise<void> {
    const { streamer } = this.core;
    if (!streamer.getSlots) return;
    const slots = await this.core.probe((signal) => streamer.getSlots?.(signal), SLOT_CHECK_MS);
    if (!slots || slots.length === 0) return;
    const busy = slots.filter((s) => s.isProcessing).length;
    if (busy >= slots.length) {
      state.queued = { busy, total: slots.length };
      this.emitStats(state, this.core.clock.now());
    }
  }

  onStale(state: StreamState, silentMs: number): void {
    if (state.finalizing || state.stale) return;
    state.stale = true;
    state.busySince = undefined;
    this.core.logger.warn(`No activity for ${Math.round(silentMs / 1000)} s on answer ${state.message.id}`);
    const announce = (diagnosis: string | undefined): void => {
      if (state.finalizing || !state.stale) return;
      if (diagnosis) this.core.logger.info(`Stalled answer ${state.message.id}: ${diagnosis}`);
      state.staleAnnounced = diagnosis ? { diagnosis } : {};
      const e: SessionEvent = { type: 'stale', chatId: state.chatId, messageId: state.message.id, silentMs: state.watchdog.silentMs() };
      if (diagnosis) e.diagnosis = diagnosis;
      this.core.fire(e);
    };
    // Ask the server what became of it before telling the user, so a dead, a busy and a dropped stream read apart.
    const { streamer } = this.core;
    if (streamer.health || streamer.getSlots) void this.diagnose().then(announce);
    else announce(undefined);
  }

  /** Activity after a stale warning: drop the warning and watch again. */
  clearStale(state: StreamState): void {
    state.stale = false;
    state.staleAnnounced = undefined;
    state.watchdog.rearm();
    this.core.fire({ type: 'messageUpdated', chatId: state.chatId, messageId: state.message.id, patch: { status: 'streaming' } });
    this.emitStats(state, this.core.clock.now());
  }

  /** What /health and /slots say about a silent stream, in words for the notification and the banner. */
  private async diagnose(): Promise<string | undefined> {
    const { streamer } = this.core;
    if (!streamer.health && !streamer.getSlots) return undefined;
    const [health, slots] = await Promise.all([
      this.core.probe(async (signal) => {
        if (!streamer.health) return 'unknown';
        await streamer.health(signal);
        return 'ok';
      }),
      this.core.probe((signal) => streamer.getSlots?.(signal)),
    ]);
    if (health === undefined && slots === undefined) return t('llama-server is not responding');
    if (!slots) return undefined;
    const processing = slots.filter((s) => s.isProcessing).map((s) => s.id);
    if (processing.length === 0) return t('llama-server has no request running: the answer was dropped');
    const which = processing.length === 1 ? t('slot {0}', processing[0]) : t('slots {0}', processing.join(', '));
    return t('llama-server is still processing this request ({0})', which);
  }
}
