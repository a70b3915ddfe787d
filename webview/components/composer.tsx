/**
 * The composer: Enter sends, Shift+Enter is a newline, Escape stops the stream. Keeps a draft per chat in the
 * persisted view state, and shows the current model and a context meter. A sent draft stays until the host's
 * `result` says the message was taken; a refusal keeps it and shows why.
 */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { StreamingInfo } from '../../src/protocol';
import { formatCount } from '../format';
import { updatePersisted, useHost } from '../hostApi';
import { tooLongReason, usePendingRequest } from '../requests';
import type { Results } from '../requests';

export interface ComposerProps {
  chatId: string | undefined;
  stream: StreamingInfo | undefined;
  model: string | undefined;
  ctxUsed: number | undefined;
  ctxMax: number | undefined;
  /** The last message of the active path is an assistant answer that can be regenerated. */
  canRegenerate: boolean;
  /** That answer's id (what the Regenerate button targets). */
  regenerateId?: string;
  prefill: { id: number; text: string } | undefined;
  focusRequest: number;
  /** The host's request results (ViewModel.results). */
  results?: Results;
  /** Set when the chat cannot be changed: the composer is disabled, the draft kept. */
  readOnly?: string;
}

const NO_RESULTS: Results = {};

interface SentDraft {
  key: string;
  text: string;
}

const draftKey = (chatId: string | undefined): string => chatId ?? '';

export function Composer(props: ComposerProps): JSX.Element {
  const { chatId, stream, model, ctxUsed, ctxMax, canRegenerate, regenerateId, prefill, focusRequest, readOnly } = props;
  const host = useHost();
  const area = useRef<HTMLTextAreaElement>(null);
  const [text, setText] = useState(() => host.getState()?.drafts[draftKey(chatId)] ?? '');
  /** Why the last send was refused (by us or the host); cleared on the next edit. */
  const [refusal, setRefusal] = useState<string | undefined>(undefined);
  const busy = stream !== undefined;
  const textRef = useRef(text);
  textRef.current = text;
  const keyRef = useRef(draftKey(chatId));
  keyRef.current = draftKey(chatId);

  const request = usePendingRequest<SentDraft>(props.results ?? NO_RESULTS, (result, sent) => {
    if (!result.ok) {
      setRefusal(result.detail);
      return;
    }
    // Taken: the draft goes, unless it was edited since (then it is a new draft).
    const shownKey = keyRef.current;
    if (textRef.current === sent.text && (shownKey === sent.key || shownKey === draftKey(result.chatId))) setDraft('');
    updatePersisted(host, (s) => {
      if (s.drafts[sent.key] === sent.text) delete s.drafts[sent.key];
    });
  });
  const sending = request.pending !== undefined;

  // Switching chats swaps in that chat's draft.
  const shownChat = useRef(chatId);
  useEffect(() => {
    if (shownChat.current === chatId) return;
    shownChat.current = chatId;
    setText(host.getState()?.drafts[draftKey(chatId)] ?? '');
    setRefusal(undefined);
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
    if (busy || sending || readOnly !== undefined || !text.trim()) return;
    const tooLong = tooLongReason(text);
    if (tooLong) {
      setRefusal(tooLong);
      return;
    }
    setRefusal(undefined);
    const requestId = request.start({ key: draftKey(chatId), text });
    host.post(chatId !== undefined ? { type: 'send', requestId, chatId, text } : { type: 'send', requestId, text });
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
        disabled={readOnly !== undefined}
        aria-describedby={refusal !== undefined ? 'composer-refusal' : undefined}
        onInput={(e) => {
          setRefusal(undefined);
          setDraft(e.currentTarget.value);
        }}
        onKeyDown={onKeyDown}
      />
      {refusal !== undefined ? (
        <div id="composer-refusal" class="composer-refusal" role="alert">
          <span class="codicon codicon-error" aria-hidden="true" /> {refusal}
        </div>
      ) : null}
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
          {canRegenerate && !busy && readOnly === undefined && chatId !== undefined ? (
            <vscode-button
              secondary
              icon="refresh"
              title="Regenerate the last answer"
              onClick={() => host.post(regenerateId !== undefined ? { type: 'regenerate', chatId, messageId: regenerateId } : { type: 'regenerate', chatId })}
            >
              Regenerate
            </vscode-button>
          ) : null}
          {busy ? (
            <vscode-button class="stop-button" icon="debug-stop" aria-label="Stop generating (Escape)" onClick={stop}>
              Stop
            </vscode-button>
          ) : (
            <vscode-button
              class="send-button"
              icon="send"
              aria-label="Send (Enter)"
              aria-busy={sending}
              disabled={!text.trim() || sending || readOnly !== undefined}
              onClick={send}
            >
              Send
            </vscode-button>
          )}
        </span>
      </div>
    </div>
  );
}
