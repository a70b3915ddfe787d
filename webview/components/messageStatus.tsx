/** The status lines of an answer: while it streams (working, queued, busy, stale, reconnecting), once it ended, or cut. */
import type { JSX } from 'preact';
import { useState } from 'preact/hooks';
import type { ChatMessage } from '../../src/core/chats/chat';
import type { StreamingInfo } from '../../src/protocol';
import { useElapsed } from '../clock';
import { formatElapsed, formatInt } from '../format';
import { useHost } from '../hostApi';
import { usePendingRequest } from '../requests';
import type { Results } from '../requests';
import { parts, t } from '../l10n';

/** What the streaming answer's status line says, most urgent first. */
type StreamKind = 'reconnecting' | 'stale' | 'queued' | 'busy' | 'working' | 'thinking';

function streamKind(stream: StreamingInfo | undefined): StreamKind {
  if (stream?.reconnecting) return 'reconnecting';
  if (stream?.stale) return 'stale';
  if (stream?.queued) return 'queued';
  if (stream?.busyMs !== undefined) return 'busy';
  return 'working';
}

/** The status line needs showing even while text flows: the server is busy, queued, silent or reconnecting. */
export function needsStatus(stream: StreamingInfo | undefined): boolean {
  return streamKind(stream) !== 'working';
}

const STREAM_ICONS: Record<StreamKind, { name: string; spin: boolean } | undefined> = {
  reconnecting: { name: 'sync', spin: true },
  stale: { name: 'warning', spin: false },
  queued: { name: 'watch', spin: false },
  busy: { name: 'watch', spin: false },
  working: { name: 'loading', spin: true },
  thinking: undefined,
};

export function StreamStatus(props: { stream: StreamingInfo | undefined; message: ChatMessage; ctx: ActionContext; onlyThinking: boolean }): JSX.Element {
  const { stream, message, ctx, onlyThinking } = props;
  const host = useHost();
  const [skipped, setSkipped] = useState(false);
  const busyMs = useElapsed(stream?.busyMs);
  const silentMs = useElapsed(stream?.stale ? stream.silentMs : undefined);
  let kind = streamKind(stream);
  // Text flows and only the Skip thinking button is due: no words, no spinner.
  if (kind === 'working' && onlyThinking && stream?.phase === 'generating') kind = 'thinking';
  let text: JSX.Element | string | null = null;
  switch (kind) {
    case 'reconnecting':
      text = t('Reconnecting…');
      break;
    case 'stale':
      text = silentMs !== undefined ? t('No tokens for {0}', formatElapsed(silentMs)) : t('No tokens for a while');
      break;
    case 'queued': {
      const q = stream?.queued;
      text = q ? t('Waiting for a free slot ({0} of {1} busy)', formatInt(q.busy), formatInt(q.total)) : t('Waiting for a free slot');
      break;
    }
    case 'busy':
      // The seconds tick locally; a screen reader hears the state once, not every second.
      text = (
        <>
          {parts(
            t('Server busy · {0}'),
            <span class="status-count" aria-live="off">
              {formatElapsed(busyMs ?? 0)}
            </span>,
          )}
        </>
      );
      break;
    case 'working':
      text = t('Generating…');
      if (stream?.phase === 'waiting') text = t('Waiting for the server…');
      if (stream?.phase === 'prompt') {
        text = stream.promptProgress !== undefined ? t('Processing prompt {0}%', Math.round(stream.promptProgress * 100)) : t('Processing prompt…');
      }
      break;
    case 'thinking':
      break;
  }
  const icon = STREAM_ICONS[kind];
  const canSkip = onlyThinking && ctx.canSkipThinking && ctx.readOnly === undefined;
  return (
    <div class={`message-status status-streaming status-${kind}`} role="status">
      {icon ? <vscode-icon class="status-icon" name={icon.name} spin={icon.spin} aria-hidden="true" /> : null}
      {text !== null ? <span class="status-text">{text}</span> : null}
      {canSkip ? (
        <vscode-button
          secondary
          class="skip-thinking"
          title={t('End the reasoning now and let the model answer')}
          disabled={skipped}
          onClick={() => {
            if (skipped) return;
            setSkipped(true);
            host.post({ type: 'skipThinking', chatId: ctx.chatId, messageId: message.id });
          }}
        >
          {t('Skip thinking')}
        </vscode-button>
      ) : null}
    </div>
  );
}

export interface ActionContext {
  chatId: string;
  /** Why the chat cannot be changed; then no edit, delete, regenerate or retry. */
  readOnly: string | undefined;
  /** The server can end a running answer's reasoning (reasoning_control). */
  canSkipThinking: boolean;
  /** Keeps a message's row mounted while an edit box is open in it (the list is windowed); returns the release. */
  pin?: (messageId: string) => () => void;
}

export function FinalStatus({ ctx, message }: { ctx: ActionContext; message: ChatMessage }): JSX.Element | null {
  const host = useHost();
  const retry =
    ctx.readOnly === undefined ? (
      <vscode-button secondary onClick={() => host.post({ type: 'retry', chatId: ctx.chatId, messageId: message.id })}>
        {t('Retry')}
      </vscode-button>
    ) : null;
  switch (message.status) {
    case 'stopped':
      return (
        <div class="message-status status-stopped">
          <span class="codicon codicon-debug-stop" aria-hidden="true" />
          <span>{t('Stopped')}</span>
          {retry}
        </div>
      );
    case 'interrupted':
      return (
        <div class="message-status status-interrupted">
          <span class="codicon codicon-warning" aria-hidden="true" />
          <span>{t('Interrupted before the answer finished.')}</span>
          {retry}
        </div>
      );
    case 'failed':
      return (
        <div class="message-status status-failed" role="alert">
          <div class="error-text">
            <span class="codicon codicon-error" aria-hidden="true" /> {message.error?.message ?? t('The request failed.')}
            {message.error?.hint ? <div class="hint">{message.error.hint}</div> : null}
          </div>
          {retry}
        </div>
      );
    default:
      return null;
  }
}

/** An answer cut with finish `length`: why, and how to go on (only on a finished answer). */
export function CutNotice({ ctx, message, busy, results }: { ctx: ActionContext; message: ChatMessage; busy: boolean; results: Results }): JSX.Element | null {
  const host = useHost();
  const [refusal, setRefusal] = useState<string | undefined>(undefined);
  const request = usePendingRequest<string>(results, (result) => setRefusal(result.ok ? undefined : result.detail));
  if (message.status === 'streaming' || message.finishReason !== 'length' || message.limit === undefined) return null;
  const canAct = !busy && ctx.readOnly === undefined;
  const reason = refusal !== undefined ? <div class="cut-refusal" role="alert">{refusal}</div> : null;
  if (message.limit === 'context') {
    const n = message.ctxMax ?? message.context?.nCtx;
    return (
      <div class="message-status status-cut cut-context">
        <span class="codicon codicon-warning" aria-hidden="true" />
        <span class="status-cut-text">{n !== undefined ? t('Stopped: the context is full ({0} tokens)', formatInt(n)) : t('Stopped: the context is full')}</span>
        {canAct ? (
          <>
            <vscode-button secondary onClick={() => host.post({ type: 'continueInNewChat', chatId: ctx.chatId, messageId: message.id })}>
              {t('Continue in new chat')}
            </vscode-button>
            <vscode-button secondary onClick={() => host.post({ type: 'compactChat', chatId: ctx.chatId })}>
              {t('Summarize')}
            </vscode-button>
          </>
        ) : null}
      </div>
    );
  }
  const sending = request.pending !== undefined;
  return (
    <div class="message-status status-cut cut-max-tokens">
      <span class="codicon codicon-warning" aria-hidden="true" />
      <span class="status-cut-text">{t('Stopped at the answer length limit ({0})', 'llamaChat.maxTokens')}</span>
      {canAct ? (
        <vscode-button
          secondary
          aria-busy={sending}
          disabled={sending}
          onClick={() => {
            if (request.pending !== undefined) return;
            setRefusal(undefined);
            const requestId = request.start(message.id);
            host.post({ type: 'continueAnswer', requestId, chatId: ctx.chatId, messageId: message.id });
          }}
        >
          {t('Continue')}
        </vscode-button>
      ) : null}
      {reason}
    </div>
  );
}

