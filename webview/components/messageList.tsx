/** The message log: user and assistant messages with reasoning, status, footer figures and actions. */
import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Chat, ChatMessage } from '../../src/core/chat';
import type { StreamingInfo } from '../../src/protocol';
import { formatCount, formatMs, formatTps } from '../format';
import { updatePersisted, useHost } from '../hostApi';
import { Markdown } from '../markdown/markdown';
import { IconButton } from './iconButton';

function Footer({ message }: { message: ChatMessage }): JSX.Element | null {
  const parts: string[] = [];
  if (message.model) parts.push(message.model);
  const tps = message.timings?.predictedPerSecond;
  if (tps !== undefined && Number.isFinite(tps)) parts.push(formatTps(tps));
  if (message.completionTokens !== undefined) parts.push(`${formatCount(message.completionTokens)} tokens`);
  if (message.timings?.ttftMs !== undefined) parts.push(`TTFT ${formatMs(message.timings.ttftMs)}`);
  if (message.ctxUsed !== undefined) {
    parts.push(`ctx ${formatCount(message.ctxUsed)}${message.ctxMax !== undefined ? `/${formatCount(message.ctxMax)}` : ''}`);
  }
  if (!parts.length) return null;
  return <div class="message-footer">{parts.join(' · ')}</div>;
}

function StreamStatus({ stream }: { stream: StreamingInfo | undefined }): JSX.Element {
  let text = 'Generating…';
  if (stream?.phase === 'waiting') text = 'Waiting for the server…';
  if (stream?.phase === 'prompt') {
    text = stream.promptProgress !== undefined ? `Processing prompt ${Math.round(stream.promptProgress * 100)}%` : 'Processing prompt…';
  }
  return (
    <div class="message-status status-streaming" role="status">
      <vscode-icon name="loading" spin aria-hidden="true" />
      <span>{text}</span>
    </div>
  );
}

function FinalStatus({ chatId, message }: { chatId: string; message: ChatMessage }): JSX.Element | null {
  const host = useHost();
  const retry = (
    <vscode-button secondary onClick={() => host.post({ type: 'retry', chatId, messageId: message.id })}>
      Retry
    </vscode-button>
  );
  switch (message.status) {
    case 'stopped':
      return (
        <div class="message-status status-stopped">
          <span class="codicon codicon-debug-stop" aria-hidden="true" />
          <span>Stopped</span>
        </div>
      );
    case 'interrupted':
      return (
        <div class="message-status status-interrupted">
          <span class="codicon codicon-warning" aria-hidden="true" />
          <span>Interrupted before the answer finished.</span>
          {retry}
        </div>
      );
    case 'failed':
      return (
        <div class="message-status status-failed" role="alert">
          <div class="error-text">
            <span class="codicon codicon-error" aria-hidden="true" /> {message.error?.message ?? 'The request failed.'}
            {message.error?.hint ? <div class="hint">{message.error.hint}</div> : null}
          </div>
          {retry}
        </div>
      );
    default:
      return null;
  }
}

function Reasoning({ text, streaming, answering }: { text: string; streaming: boolean; answering: boolean }): JSX.Element {
  // Open while the model is only thinking; collapse once the answer starts (the user may reopen it).
  const open = streaming && !answering;
  return (
    <details class="reasoning" open={open}>
      <summary>
        <span class="codicon codicon-chevron-right reasoning-chevron" aria-hidden="true" />
        <span class="codicon codicon-lightbulb" aria-hidden="true" />
        {streaming && !answering ? 'Thinking…' : 'Thoughts'}
      </summary>
      <div class="reasoning-body">
        <Markdown text={text} streaming={streaming} />
      </div>
    </details>
  );
}

function UserMessage({ chatId, message, busy }: { chatId: string; message: ChatMessage; busy: boolean }): JSX.Element {
  const host = useHost();
  const [editing, setEditing] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (editing) area.current?.focus();
  }, [editing]);
  const resend = (): void => {
    const text = area.current?.value ?? '';
    if (!text.trim()) return;
    host.post({ type: 'editResend', chatId, messageId: message.id, text });
    setEditing(false);
  };
  if (editing) {
    return (
      <div class="message message-user editing">
        <textarea
          ref={area}
          class="edit-input"
          aria-label="Edit message"
          defaultValue={message.content}
          rows={Math.min(12, message.content.split('\n').length + 1)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              resend();
            } else if (e.key === 'Escape') {
              e.preventDefault();
              setEditing(false);
            }
          }}
        />
        <div class="edit-actions">
          <vscode-button onClick={resend}>Send</vscode-button>
          <vscode-button secondary onClick={() => setEditing(false)}>
            Cancel
          </vscode-button>
        </div>
      </div>
    );
  }
  return (
    <div class="message message-user">
      <div class="user-bubble">
        <div class="user-text">{message.content}</div>
      </div>
      <div class="message-actions">
        {busy ? null : <IconButton icon="edit" label="Edit and resend" onClick={() => setEditing(true)} />}
        <IconButton icon="copy" label="Copy message" onClick={() => host.post({ type: 'copy', text: message.content })} />
        <IconButton icon="repo-forked" label="Fork chat from here" onClick={() => host.post({ type: 'forkChat', chatId, messageId: message.id })} />
      </div>
    </div>
  );
}

interface AssistantProps {
  chatId: string;
  message: ChatMessage;
  stream: StreamingInfo | undefined;
  isLast: boolean;
  busy: boolean;
}

function AssistantMessage({ chatId, message, stream, isLast, busy }: AssistantProps): JSX.Element {
  const host = useHost();
  const streaming = message.status === 'streaming';
  return (
    <div class={`message message-assistant is-${message.status}`} aria-busy={streaming}>
      {message.reasoning ? <Reasoning text={message.reasoning} streaming={streaming} answering={message.content.length > 0} /> : null}
      {message.content ? <Markdown text={message.content} streaming={streaming} /> : null}
      {streaming ? (stream?.phase === 'generating' && (message.content || message.reasoning) ? null : <StreamStatus stream={stream} />) : null}
      <FinalStatus chatId={chatId} message={message} />
      <div class="message-meta">
        <Footer message={message} />
        {streaming ? null : (
          <div class="message-actions">
            <IconButton icon="copy" label="Copy answer" onClick={() => host.post({ type: 'copy', text: message.content })} />
            <IconButton icon="repo-forked" label="Fork chat from here" onClick={() => host.post({ type: 'forkChat', chatId, messageId: message.id })} />
            {isLast && !busy ? <IconButton icon="refresh" label="Regenerate answer" onClick={() => host.post({ type: 'regenerate', chatId })} /> : null}
          </div>
        )}
      </div>
    </div>
  );
}

export interface MessageListProps {
  chat: Chat;
  streaming: StreamingInfo[];
}

const STICK_PX = 40;

export function MessageList({ chat, streaming }: MessageListProps): JSX.Element {
  const host = useHost();
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const pendingSave = useRef(false);
  const busy = streaming.some((s) => s.chatId === chat.id);
  const lastId = chat.messages[chat.messages.length - 1]?.id;

  // Restore the saved scroll position when a chat is shown; new chats start at the bottom.
  useLayoutEffect(() => {
    const el = list.current;
    if (!el) return;
    const saved = host.getState()?.scroll[chat.id];
    el.scrollTop = saved ?? el.scrollHeight;
    stick.current = saved === undefined || el.scrollHeight - saved - el.clientHeight < STICK_PX;
  }, [chat.id]);

  // Follow the stream while the user stays at the bottom.
  useLayoutEffect(() => {
    const el = list.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  });

  const onScroll = (): void => {
    const el = list.current;
    if (!el) return;
    stick.current = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
    if (pendingSave.current) return;
    pendingSave.current = true;
    // Coalesce scroll saves to one per frame.
    requestAnimationFrame(() => {
      pendingSave.current = false;
      const top = list.current?.scrollTop;
      if (top !== undefined) updatePersisted(host, (s) => void (s.scroll[chat.id] = top));
    });
  };

  return (
    <div ref={list} class="messages" role="log" aria-live="polite" aria-label="Messages" aria-busy={busy} tabIndex={0} onScroll={onScroll}>
      {chat.messages.map((m) =>
        m.role === 'user' ? (
          <UserMessage key={m.id} chatId={chat.id} message={m} busy={busy} />
        ) : m.role === 'assistant' ? (
          <AssistantMessage
            key={m.id}
            chatId={chat.id}
            message={m}
            stream={streaming.find((s) => s.messageId === m.id)}
            isLast={m.id === lastId}
            busy={busy}
          />
        ) : (
          <div key={m.id} class="message message-system">
            <span class="system-label">System</span> {m.content}
          </div>
        ),
      )}
    </div>
  );
}
