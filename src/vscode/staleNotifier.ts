/**
 * Asks the user what to do with a stream that went silent: Retry or Discard. A notification cannot be closed from
 * code, so it stays on screen after the stall is over: the stream recovered, ended, or the user already chose
 * Retry or Discard in the view's banner. Its buttons then change nothing (no second retry, no discarding the new
 * answer) and say why. Only while the same answer is still stalled do they act.
 */
import { Disposable } from '../core/base/disposable';
import { t } from '../core/base/l10n';
import type { Logger } from '../core/base/logger';
import type { ChatSessionApi } from '../core/session/sessionApi';
import type { Notifier } from './notifications';

export interface StaleNotifierOptions {
  session: ChatSessionApi;
  notifier: Notifier;
  logger: Logger;
  chatTitle: (chatId: string) => string | undefined;
}

/** The buttons in English (in another language they read `t('Retry')`, `t('Discard')`). */
export const STALE_RETRY = 'Retry';
export const STALE_DISCARD = 'Discard';

export class StaleNotifier extends Disposable {
  /** Messages with a question on screen: one notification per stall. */
  private readonly asking = new Set<string>();

  constructor(private readonly o: StaleNotifierOptions) {
    super();
    this._register(
      o.session.onEvent((e) => {
        if (e.type === 'stale') void this.ask(e.chatId, e.messageId, e.silentMs, e.diagnosis);
        // A stream that recovers and stalls again deserves a new question.
        else if (e.type === 'streamEnded' || (e.type === 'messageUpdated' && e.patch.status === 'streaming')) this.asking.delete(e.messageId);
      }),
    );
  }

  private async ask(chatId: string, messageId: string, silentMs: number, diagnosis: string | undefined): Promise<void> {
    if (this.asking.has(messageId)) return;
    this.asking.add(messageId);
    try {
      const title = this.o.chatTitle(chatId) ?? t('Chat');
      const seconds = Math.max(1, Math.round(silentMs / 1000));
      const retry = t('Retry');
      const discard = t('Discard');
      const choice = await this.o.notifier.warn(
        diagnosis
          ? t('Llama Chat: “{0}” has had no tokens for {1} s: {2}.', title, seconds, diagnosis)
          : t('Llama Chat: “{0}” has had no tokens for {1} s.', title, seconds),
        retry,
        discard,
      );
      if (choice === undefined || this.isDisposed) return;
      const isRetry = choice === retry;
      const verb = isRetry ? 'retry' : 'discard';
      const finished = (): string => (isRetry ? t('The answer already finished; nothing to retry.') : t('The answer already finished; nothing to discard.'));
      const live = this.o.session.activeStreams().find((s) => s.chatId === chatId);
      if (live?.messageId === messageId && !live.stale) {
        void this.o.notifier.info(
          isRetry ? t('“{0}” is receiving tokens again; nothing to retry.', title) : t('“{0}” is receiving tokens again; nothing to discard.', title),
        );
        return;
      }
      if (live?.messageId !== messageId) {
        // It ended (on its own, or by Retry or Discard in the view): a stale toast must not act a second time.
        this.o.logger.info(`Stalled answer ${messageId}: ${verb} from the notification after it ended; nothing done`);
        void this.o.notifier.info(finished());
        return;
      }
      const outcome = isRetry ? await this.o.session.retry(chatId, messageId) : await this.o.session.discard(chatId, messageId);
      this.o.logger.info(`Stalled answer ${messageId}: ${verb} → ${outcome.ok ? 'done' : outcome.detail}`);
      if (!outcome.ok) {
        void this.o.notifier.info(outcome.reason === 'already-finished' ? finished() : outcome.detail);
      }
    } finally {
      this.asking.delete(messageId);
    }
  }
}
