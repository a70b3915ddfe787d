/**
 * A live answer's status line in the chat view, as `status` messages: the phase (waiting, prompt with its percent,
 * generating), busy / queued / reconnecting, and stale with its silence and diagnosis. Each change is posted once:
 * the tracker remembers what it last said per message, so frequent `stats` and `progress` events cost nothing
 * when nothing the view shows changed. The view counts the seconds of busy and stale itself.
 */
import type { ChatMessage, MessagePatch } from '../core/chats/chat';
import type { PromptProgress } from '../core/base/events';
import type { LiveStats } from '../core/session/sessionEvents';
import type { StreamingInfo, ToWebviewMessage, UsagePayload } from '../protocol';

type Status = Extract<ToWebviewMessage, { type: 'status' }>;

export class StreamStatusTracker {
  private readonly lastPhase = new Map<string, StreamingInfo['phase']>();
  /** Whole percents of prompt progress last posted. */
  private readonly lastProgressPct = new Map<string, number>();
  /** The busy / queued / reconnecting state last posted. */
  private readonly lastLiveness = new Map<string, string>();
  /** Messages the view was told are stale (and not told since that they recovered). */
  private readonly staleShown = new Set<string>();

  onMessageAdded(message: ChatMessage): void {
    if (message.role === 'assistant' && message.status === 'streaming') this.lastPhase.set(message.id, 'waiting');
  }

  /** A stale stream that moves again is `streaming` once more: the banner goes, the phase it had comes back. */
  onMessageUpdated(chatId: string, messageId: string, patch: MessagePatch): Status | undefined {
    if (patch.status !== 'streaming' || !this.staleShown.delete(messageId)) return undefined;
    return { type: 'status', chatId, messageId, status: 'streaming', stale: false, phase: this.lastPhase.get(messageId) ?? 'generating' };
  }

  /** Prompt processing: posted when the whole percent changes. */
  onProgress(chatId: string, messageId: string, progress: PromptProgress): Status | undefined {
    const { total, processed } = progress;
    if (total <= 0) return undefined;
    const fraction = Math.min(1, processed / total);
    const pct = Math.floor(fraction * 100);
    if (this.lastProgressPct.get(messageId) === pct) return undefined;
    this.lastProgressPct.set(messageId, pct);
    this.lastPhase.set(messageId, 'prompt');
    return { type: 'status', chatId, messageId, status: 'streaming', phase: 'prompt', promptProgress: fraction };
  }

  /** What changed in the figures that the status line shows: busy/queued/reconnecting, then the phase. */
  onStats(chatId: string, messageId: string, stats: LiveStats): Status[] {
    const out: Status[] = [];
    // Busy and queued change rarely: the view gets them when they start and end, and counts the seconds itself.
    const liveness = `${stats.busyMs !== undefined ? 'busy' : ''}|${stats.queued ? `${stats.queued.busy}/${stats.queued.total}` : ''}|${stats.reconnecting ? 'r' : ''}`;
    if (liveness !== (this.lastLiveness.get(messageId) ?? '||')) {
      this.lastLiveness.set(messageId, liveness);
      out.push({
        type: 'status',
        chatId,
        messageId,
        status: 'streaming',
        busyMs: stats.busyMs ?? null,
        queued: stats.queued ?? null,
        reconnecting: stats.reconnecting === true,
      });
    }
    if (stats.phase !== 'done' && stats.phase !== this.lastPhase.get(messageId)) {
      this.lastPhase.set(messageId, stats.phase);
      const status: Status = { type: 'status', chatId, messageId, status: 'streaming', phase: stats.phase };
      if (stats.promptProgress !== undefined) status.promptProgress = stats.promptProgress;
      out.push(status);
    }
    return out;
  }

  /** The figures for the usage line (tok/s, context). */
  usage(chatId: string, messageId: string, stats: LiveStats): UsagePayload {
    const usage: UsagePayload = { chatId, messageId, completionTokens: stats.completionTokens };
    if (stats.ctxUsed !== undefined) usage.ctxUsed = stats.ctxUsed;
    if (stats.ctxMax !== undefined) usage.ctxMax = stats.ctxMax;
    if (stats.tps !== undefined) usage.tps = stats.tps;
    if (stats.promptTokens !== undefined) usage.promptTokens = stats.promptTokens;
    if (stats.ttftMs !== undefined) usage.ttftMs = stats.ttftMs;
    return usage;
  }

  onStale(chatId: string, messageId: string, silentMs: number, diagnosis: string | undefined): Status {
    this.staleShown.add(messageId);
    const status: Status = { type: 'status', chatId, messageId, status: 'streaming', stale: true, silentMs };
    if (diagnosis) status.diagnosis = diagnosis;
    return status;
  }

  onEnded(messageId: string): void {
    this.staleShown.delete(messageId);
    this.lastLiveness.delete(messageId);
    this.lastPhase.delete(messageId);
    this.lastProgressPct.delete(messageId);
  }
}
