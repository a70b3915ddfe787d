/** The chat view: wires host messages into the reducer and lays out header, banners, log and composer. */
import type { JSX } from 'preact';
import { useEffect, useMemo, useReducer } from 'preact/hooks';
import type { ChatMessage } from '../../src/core/chats/chat';
import type { ToWebviewMessage } from '../../src/protocol';
import { useHost } from '../hostApi';
import { t } from '../l10n';
import { activeStream, initialModel, pathOf, readOnlyReason, reasoningOf, reduce } from '../state';
import type { ViewModel } from '../state';
import { ConnectionBanner, EmptyState, NoticeBanner, ReadOnlyBanner, StaleBanner } from './banners';
import { Composer } from './composer';
import { Header } from './header';
import { MessageList } from './messageList';

function isToWebview(data: unknown): data is ToWebviewMessage {
  return typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string';
}

/** The context meter shows the latest figures we have: the last answer's on the active path, else the server's n_ctx. */
function contextFigures(model: ViewModel, messages: readonly ChatMessage[]): { used: number | undefined; max: number | undefined } {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if (m && m.ctxMax !== undefined) return { used: m.ctxUsed, max: m.ctxMax };
  }
  const nCtx = model.connection.state === 'connected' ? model.connection.nCtx : undefined;
  return { used: nCtx !== undefined ? 0 : undefined, max: nCtx };
}

/**
 * Changes whenever the request a draft would send changes without the draft: another path, an answer done, a
 * summary edited. The composer then posts its draft again to be counted.
 */
function pathRevision(chatId: string | undefined, path: readonly ChatMessage[]): string {
  const last = path[path.length - 1];
  let summaries = 0;
  for (const m of path) if (m.summary) summaries += m.summary.text.length + 1;
  return `${chatId ?? ''}:${path.length}:${last?.id ?? ''}:${last?.status ?? ''}:${summaries}`;
}

export function App(): JSX.Element {
  const host = useHost();
  const [model, dispatch] = useReducer(reduce, initialModel);
  const path = useMemo(() => pathOf(model.activeChat), [model.activeChat?.messages, model.activeChat?.leafId]);

  useEffect(() => {
    const onMessage = (event: MessageEvent): void => {
      if (isToWebview(event.data)) dispatch(event.data);
    };
    window.addEventListener('message', onMessage);
    // Handshake: the host answers with a full snapshot; nothing renders from guesses or timers.
    host.post({ type: 'ready' });
    return () => window.removeEventListener('message', onMessage);
  }, []);

  // Our copy of an answer disagreed with the host's `done`: a second `ready` gets a fresh snapshot.
  useEffect(() => {
    if (model.resyncRequest > 0) host.post({ type: 'ready' });
  }, [model.resyncRequest]);

  if (!model.loaded) {
    return (
      <div class="app loading" aria-busy="true">
        <vscode-progress-ring aria-label={t('Loading')} />
      </div>
    );
  }

  const chat = model.activeChat;
  const stream = activeStream(model);
  const last = path[path.length - 1];
  const ctx = contextFigures(model, path);
  const readOnly = readOnlyReason(model);
  const connectedModel = model.connection.state === 'connected' ? model.connection.model : undefined;
  const vision = model.connection.state === 'connected' && model.connection.vision === true;
  const reasoning = reasoningOf(model);

  return (
    <div class="app">
      <Header chats={model.chats} activeChatId={model.activeChatId} server={model.server} />
      <ConnectionBanner connection={model.connection} />
      <NoticeBanner notice={model.notice} onDismiss={() => dispatch({ type: 'dismissNotice' })} />
      {chat && chat.messages.length > 0 ? (
        <MessageList
          chat={chat}
          streaming={model.streaming}
          results={model.results}
          readOnly={readOnly}
          onSelectVersion={(messageId) => dispatch({ type: 'chooseVersion', chatId: chat.id, messageId })}
          reasoning={reasoning}
        />
      ) : (
        <div class="messages messages-empty">
          <EmptyState connection={model.connection} />
        </div>
      )}
      <StaleBanner stream={stream} />
      <ReadOnlyBanner reason={readOnly} />
      <Composer
        chatId={model.activeChatId}
        stream={stream}
        model={model.model ?? connectedModel}
        ctxUsed={ctx.used}
        ctxMax={ctx.max}
        canRegenerate={last?.role === 'assistant' && last.status !== 'streaming'}
        regenerateId={last?.role === 'assistant' ? last.id : undefined}
        focusRequest={model.focusRequest}
        results={model.results}
        readOnly={readOnly}
        promptSize={model.promptSize}
        attachQueue={model.attachQueue}
        vision={vision}
        pathRevision={pathRevision(chat?.id, path)}
        canToggleThinking={reasoning?.canToggle === true}
        thinking={chat?.thinking !== false}
        onThinking={(enabled) => {
          if (model.activeChatId !== undefined) dispatch({ type: 'chooseThinking', chatId: model.activeChatId, enabled });
        }}
      />
    </div>
  );
}
