/** One row of the message log: a question, an answer or a system message, with its versions and actions. */
import { Component } from 'preact';
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Attachment, ChatMessage } from '../../src/core/chats/chat';
import type { StreamingInfo } from '../../src/protocol';
import { useHost } from '../hostApi';
import { Markdown } from '../markdown/markdown';
import { tooLongReason, usePendingRequest } from '../requests';
import type { Results } from '../requests';
import { AttachmentDetails, ChipList } from './attachments';
import { IconButton } from './iconButton';
import { DeleteActions, Footer, Reasoning, SummaryBlock, UserText } from './messageParts';
import { CutNotice, FinalStatus, needsStatus, StreamStatus } from './messageStatus';
import type { ActionContext } from './messageStatus';
import { VersionSwitcher } from './versionSwitcher';
import type { Refocus } from './versionSwitcher';
import { t } from '../l10n';

/** What every message row needs besides itself. */
export interface RowProps {
  ctx: ActionContext;
  message: ChatMessage;
  /** A message in this chat is streaming. */
  busy: boolean;
  versions: readonly ChatMessage[];
  hasReplies: boolean;
  onSelectVersion: (id: string, direction: Refocus['direction']) => void;
  results: Results;
}

function Versions({ versions, message, busy, onSelectVersion }: RowProps): JSX.Element | null {
  return <VersionSwitcher versions={versions} message={message} disabled={busy} onSelect={onSelectVersion} />;
}

export function UserMessage(props: RowProps): JSX.Element {
  const { ctx, message, busy, hasReplies, results } = props;
  const host = useHost();
  const [editing, setEditing] = useState(false);
  /** Why the last resend was refused; cleared on the next edit. */
  const [refusal, setRefusal] = useState<string | undefined>(undefined);
  /** The chips the new version keeps (the question's own, minus those removed while editing). */
  const [chips, setChips] = useState<readonly Attachment[]>(message.attachments ?? []);
  const area = useRef<HTMLTextAreaElement>(null);
  const request = usePendingRequest<string>(results, (result) => {
    if (result.ok) {
      setEditing(false);
      setRefusal(undefined);
      setChips(message.attachments ?? []);
    } else {
      setRefusal(result.detail);
    }
  });
  const sending = request.pending !== undefined;
  useEffect(() => {
    if (editing) area.current?.focus();
  }, [editing]);
  useEffect(() => (editing ? ctx.pin?.(message.id) : undefined), [editing]);
  const close = (): void => {
    setEditing(false);
    setRefusal(undefined);
    setChips(message.attachments ?? []);
  };
  const resend = (): void => {
    const text = area.current?.value ?? '';
    if (sending || (!text.trim() && chips.length === 0)) return;
    const tooLong = tooLongReason(text);
    if (tooLong) {
      setRefusal(tooLong);
      return;
    }
    setRefusal(undefined);
    const requestId = request.start(text);
    host.post(
      message.attachments?.length
        ? { type: 'editResend', requestId, chatId: ctx.chatId, messageId: message.id, text, attachments: chips.slice() }
        : { type: 'editResend', requestId, chatId: ctx.chatId, messageId: message.id, text },
    );
  };
  const canChange = ctx.readOnly === undefined;
  if (editing && canChange) {
    const refusalId = `edit-refusal-${message.id}`;
    return (
      <div class="message message-user editing">
        <ChipList attachments={chips} onRemove={(i) => setChips(chips.filter((_, j) => j !== i))} />
        <textarea
          ref={area}
          class="edit-input"
          aria-label={t('Edit message')}
          aria-describedby={refusal !== undefined ? refusalId : undefined}
          defaultValue={message.content}
          rows={Math.min(12, message.content.split('\n').length + 1)}
          onInput={() => setRefusal(undefined)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
              e.preventDefault();
              resend();
            } else if (e.key === 'Escape') {
              e.preventDefault();
              close();
            }
          }}
        />
        {refusal !== undefined ? (
          <div id={refusalId} class="edit-refusal" role="alert">
            <span class="codicon codicon-error" aria-hidden="true" /> {refusal}
          </div>
        ) : null}
        <div class="edit-actions">
          <vscode-button aria-busy={sending} disabled={sending} onClick={resend}>
            {t('Send')}
          </vscode-button>
          <vscode-button secondary onClick={close}>
            {t('Cancel')}
          </vscode-button>
        </div>
      </div>
    );
  }
  return (
    <div class="message message-user">
      <div class="user-bubble">
        {message.attachments?.length ? (
          <div class="bubble-attachments">
            {message.attachments.map((a, i) => (
              <AttachmentDetails key={`${i}:${a.name}`} attachment={a} />
            ))}
          </div>
        ) : null}
        <UserText id={message.id} text={message.content} />
      </div>
      <Versions {...props} />
      <div class="message-actions">
        {busy || !canChange ? null : <IconButton icon="edit" label={t('Edit and resend')} onClick={() => setEditing(true)} />}
        <IconButton icon="copy" label={t('Copy message')} onClick={() => host.post({ type: 'copy', text: message.content })} />
        <IconButton icon="repo-forked" label={t('Fork chat from here')} onClick={() => host.post({ type: 'forkChat', chatId: ctx.chatId, messageId: message.id })} />
        <DeleteActions ctx={ctx} message={message} hasReplies={hasReplies} />
      </div>
    </div>
  );
}

export function AssistantMessage(props: RowProps & { stream: StreamingInfo | undefined }): JSX.Element {
  const { ctx, message, stream, busy, hasReplies, results } = props;
  const host = useHost();
  const streaming = message.status === 'streaming';
  const onlyThinking = streaming && !!message.reasoning && !message.content;
  const flowing = stream?.phase === 'generating' && !!(message.content || message.reasoning);
  const showStatus = streaming && (!flowing || needsStatus(stream) || (onlyThinking && ctx.canSkipThinking && ctx.readOnly === undefined));
  return (
    <div class={`message message-assistant is-${message.status}`} aria-busy={streaming}>
      {message.reasoning ? <Reasoning text={message.reasoning} streaming={streaming} answering={message.content.length > 0} /> : null}
      {message.content ? <Markdown text={message.content} streaming={streaming} /> : null}
      {showStatus ? <StreamStatus stream={stream} message={message} ctx={ctx} onlyThinking={onlyThinking} /> : null}
      <FinalStatus ctx={ctx} message={message} />
      <CutNotice ctx={ctx} message={message} busy={busy} results={results} />
      <div class="message-meta">
        <Versions {...props} />
        <Footer message={message} />
        {streaming ? null : (
          <div class="message-actions">
            <IconButton icon="copy" label={t('Copy answer')} onClick={() => host.post({ type: 'copy', text: message.content })} />
            <IconButton icon="repo-forked" label={t('Fork chat from here')} onClick={() => host.post({ type: 'forkChat', chatId: ctx.chatId, messageId: message.id })} />
            {!busy && ctx.readOnly === undefined ? (
              <IconButton icon="refresh" label={t('Regenerate answer')} onClick={() => host.post({ type: 'regenerate', chatId: ctx.chatId, messageId: message.id })} />
            ) : null}
            <DeleteActions ctx={ctx} message={message} hasReplies={hasReplies} />
          </div>
        )}
      </div>
    </div>
  );
}

export function SystemMessage(props: RowProps): JSX.Element {
  const { ctx, message, hasReplies } = props;
  return (
    <div class="message message-system">
      <span class="system-label">{t('System')}</span> {message.content}
      <Versions {...props} />
      <div class="message-actions">
        <DeleteActions ctx={ctx} message={message} hasReplies={hasReplies} />
      </div>
    </div>
  );
}


export type MessageRowProps = RowProps & { dividers: readonly string[] | undefined; stream: StreamingInfo | undefined; rowRef: (el: HTMLElement | null) => void };

/** A row of the list: the context dividers before the message, its summary, and the message itself. */
function MessageRowBody(props: MessageRowProps): JSX.Element {
  const { ctx, message: m, busy, dividers, stream, rowRef, ...rest } = props;
  const row: RowProps = { ctx, message: m, busy, ...rest };
  return (
    <div ref={rowRef} class="message-row" data-key={m.id}>
      {dividers?.map((text) => (
        <div key={text} class="context-divider">
          <span class="context-divider-text">{text}</span>
        </div>
      ))}
      {m.summary ? <SummaryBlock ctx={ctx} message={m} busy={busy} /> : null}
      {m.role === 'user' ? <UserMessage {...row} /> : m.role === 'assistant' ? <AssistantMessage {...row} stream={stream} /> : <SystemMessage {...row} />}
    </div>
  );
}

/** Same props (versions compared element by element: every delta rebuilds the tree index) render the same row. */
export function sameRow(a: MessageRowProps, b: MessageRowProps): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof MessageRowProps)[]);
  for (const k of keys) {
    if (a[k] === b[k]) continue;
    if (k !== 'versions' || a.versions.length !== b.versions.length || a.versions.some((v, i) => v !== b.versions[i])) return false;
  }
  return true;
}

/**
 * The list re-renders on every delta and every window move; a row whose props did not change is skipped, so a
 * move renders only the rows that came into the window and a delta only the streaming answer.
 */
export class MessageRow extends Component<MessageRowProps> {
  override shouldComponentUpdate(next: MessageRowProps): boolean {
    return !sameRow(this.props, next);
  }

  override render(): JSX.Element {
    return <MessageRowBody {...this.props} />;
  }
}
