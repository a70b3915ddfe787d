/** Banners: connection state, a stale stream, a read-only chat, errors not tied to a message; and the empty state. */
import type { JSX } from 'preact';
import type { ErrorInfo } from '../../src/core/base/errors';
import type { ConnectionState, StreamingInfo } from '../../src/protocol';
import { useElapsed } from '../clock';
import { formatSeconds, sentence } from '../format';
import { useHost } from '../hostApi';
import { parts, t } from '../l10n';
import { IconButton } from './iconButton';

export function ConnectionBanner({ connection }: { connection: ConnectionState }): JSX.Element | null {
  if (connection.state === 'checking') {
    return (
      <div class="banner banner-quiet" role="status">
        <vscode-progress-ring class="ring-small" aria-label={t('Connecting')} />
        <span>{t('Connecting to {0}…', connection.url)}</span>
      </div>
    );
  }
  if (connection.state !== 'error') return null;
  return (
    <div class="banner banner-error connection-error" role="alert">
      <div class="banner-text">
        <strong>{t('Cannot reach llama-server at {0}.', connection.url)}</strong> {connection.error.message}
        {connection.error.hint ? <div class="hint">{connection.error.hint}</div> : null}
      </div>
      <ConnectionActions />
    </div>
  );
}

/**
 * A stream silent for longer than the stale limit: how long (counting up), what /health and /slots said about it
 * when the host asked them, and Retry / Discard.
 */
export function StaleBanner({ stream }: { stream: StreamingInfo | undefined }): JSX.Element | null {
  const host = useHost();
  const silentMs = useElapsed(stream?.stale ? stream.silentMs : undefined);
  if (!stream?.stale) return null;
  // The seconds tick locally; the alert is announced once, not every second.
  const text =
    silentMs !== undefined
      ? parts(t('No tokens for {0}.'), <span aria-live="off">{formatSeconds(silentMs)}</span>)
      : t('No tokens for a while.');
  const why = stream.diagnosis?.trim() ? sentence(stream.diagnosis) : t('The server may be stuck or the connection lost.');
  return (
    <div class="banner banner-warning stale-banner" role="alert">
      <span class="codicon codicon-warning" aria-hidden="true" />
      <div class="banner-text">
        {text} {why}
      </div>
      <div class="banner-actions">
        <vscode-button onClick={() => host.post({ type: 'retry', chatId: stream.chatId, messageId: stream.messageId })}>{t('Retry')}</vscode-button>
        <vscode-button secondary onClick={() => host.post({ type: 'discardStale', chatId: stream.chatId, messageId: stream.messageId })}>
          {t('Discard')}
        </vscode-button>
      </div>
    </div>
  );
}

/** A chat this build cannot change: why, and that it is read-only (the composer and edit actions are off). */
export function ReadOnlyBanner({ reason }: { reason: string | undefined }): JSX.Element | null {
  if (reason === undefined) return null;
  return (
    <div class="banner banner-warning read-only-banner" role="status">
      <span class="codicon codicon-lock" aria-hidden="true" />
      <div class="banner-text">{reason ? t('{0} — read-only', reason) : t('This chat is read-only')}</div>
    </div>
  );
}

export function NoticeBanner({ notice, onDismiss }: { notice: ErrorInfo | undefined; onDismiss: () => void }): JSX.Element | null {
  if (!notice) return null;
  return (
    <div class="banner banner-error notice" role="alert">
      <div class="banner-text">
        {notice.message}
        {notice.hint ? <div class="hint">{notice.hint}</div> : null}
      </div>
      <IconButton icon="close" label={t('Dismiss')} onClick={onDismiss} />
    </div>
  );
}

export function EmptyState({ connection }: { connection: ConnectionState }): JSX.Element {
  if (connection.state === 'connected') {
    return (
      <div class="empty-state">
        <h2>{t('Chat with llama-server')}</h2>
        <p>
          {connection.model
            ? t('Connected to {0} ({1}). Type a message below to start.', connection.url, connection.model)
            : t('Connected to {0}. Type a message below to start.', connection.url)}
        </p>
      </div>
    );
  }
  return (
    <div class="empty-state">
      <h2>{t('Connect a llama-server')}</h2>
      <p>{t('Start a server with a GGUF model:')}</p>
      <pre class="command">llama-server -m model.gguf --port 8080</pre>
      <p>{parts(t('Then set {0} (default {1}) if it runs elsewhere.'), <code>llamaChat.serverUrl</code>, <code>http://127.0.0.1:8080</code>)}</p>
      {/* On an error the connection banner above already offers them: one pair of buttons on screen. */}
      {connection.state === 'error' ? null : <ConnectionActions />}
    </div>
  );
}

/** "Retry connection" and "Open settings": the next actions whenever the server cannot be used. */
function ConnectionActions(): JSX.Element {
  const host = useHost();
  return (
    <div class="banner-actions">
      <vscode-button onClick={() => host.post({ type: 'retryConnection' })}>{t('Retry connection')}</vscode-button>
      <vscode-button secondary onClick={() => host.post({ type: 'openSettings' })}>
        {t('Open settings')}
      </vscode-button>
    </div>
  );
}
