/**
 * The composer: Enter sends, Shift+Enter is a newline, Escape stops the stream. Keeps a draft per chat in the
 * persisted view state, and shows the current model and a context meter.
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { StreamingInfo } from '../../src/protocol';
import { formatCount } from '../format';
import { updatePersisted, useHost } from '../hostApi';

export interface ComposerProps {
  chatId: string | undefined;
  stream: StreamingInfo | undefined;
  model: string | undefined;
  ctxUsed: number | undefined;
  ctxMax: number | undefined;
  /** The last message is an assistant answer that can be regenerated. */
  canRegenerate: boolean;
  prefill: { id: number; text: string } | undefined;
  focusRequest: number;
}

const draftKey = (chatId: string | undefined): string => chatId ?? '';

export function Composer(props: ComposerProps): JSX.Element {
  const { chatId, stream, model, ctxUsed, ctxMax, canRegenerate, prefill, focusRequest } = props;
  const host = useHost();
  const area = useRef<HTMLTextAreaElement>(null);
  const [text, setText] = useState(() => host.getState()?.drafts[draftKey(chatId)] ?? '');
  const busy = stream !== undefined;

  // Switching chats swaps in that chat's draft.
  const shownChat = useRef(chatId);
  useEffect(() => {
    if (shownChat.current === chatId) return;
    shownChat.current = chatId;
    setText(host.getState()?.drafts[draftKey(chatId)] ?? '');
  }, [chatId]);

  useEffect(() => {
    if (!prefill) return;
    setDraft(prefill.text);
    area.current?.focus();
  }, [prefill?.id]);

  useEffect(() => {
    if (focusRequest > 0) area.current?.focus();
  }, [focusRequest]);

  function setDraft(value: string): void {
    setText(value);
    updatePersisted(host, (s) => {
      if (value) s.drafts[draftKey(chatId)] = value;
      else delete s.drafts[draftKey(chatId)];
    });
  }

  const send = (): void => {
    if (busy || !text.trim()) return;
    host.post(chatId !== undefined ? { type: 'send', chatId, text } : { type: 'send', text });
    setDraft('');
  };

  const stop = (): void => {
    if (stream) host.post({ type: 'stop', chatId: stream.chatId, messageId: stream.messageId });
  };

  const onKeyDown = (e: KeyboardEvent): void => {
    if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      send();
    } else if (e.key === 'Escape' && busy) {
      e.preventDefault();
      stop();
    }
  };

  const ratio = ctxUsed !== undefined && ctxMax ? ctxUsed / ctxMax : undefined;

  return (
    <div class="composer">
      <textarea
        ref={area}
        class="composer-input"
        aria-label="Message"
        placeholder="Ask llama-server… (Enter to send, Shift+Enter for a new line)"
        rows={3}
        value={text}
        onInput={(e) => setDraft(e.currentTarget.value)}
        onKeyDown={onKeyDown}
      />
      <div class="composer-bar">
        <button type="button" class="model-name" title={model ? `${model}: select model` : 'Select model'} onClick={() => host.post({ type: 'selectModel' })}>
          <span class="codicon codicon-hubot" aria-hidden="true" />
          <span class="model-name-text">{model ?? 'No model'}</span>
        </button>
        {ctxMax ? (
          <span class={`context${ratio !== undefined && ratio > 0.9 ? ' context-full' : ''}`} title="Context used / context size">
            <meter class="context-meter" min={0} max={ctxMax} value={ctxUsed ?? 0} high={ctxMax * 0.8} optimum={0} aria-label="Context used" />
            <span class="context-text">
              {formatCount(ctxUsed ?? 0)}/{formatCount(ctxMax)}
            </span>
          </span>
        ) : null}
        <span class="composer-actions">
          {canRegenerate && !busy && chatId !== undefined ? (
            <vscode-button secondary icon="refresh" title="Regenerate the last answer" onClick={() => host.post({ type: 'regenerate', chatId })}>
              Regenerate
            </vscode-button>
          ) : null}
          {busy ? (
            <vscode-button class="stop-button" icon="debug-stop" aria-label="Stop generating (Escape)" onClick={stop}>
              Stop
            </vscode-button>
          ) : (
            <vscode-button class="send-button" icon="send" aria-label="Send (Enter)" disabled={!text.trim()} onClick={send}>
              Send
            </vscode-button>
          )}
        </span>
      </div>
    </div>
  );
}
