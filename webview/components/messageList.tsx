/**
 * The message log: the active path of the chat's message tree (root to leaf), each message with its version
 * switcher, reasoning, status, footer figures and actions.
 */
import { Fragment } from 'preact';
import type { JSX } from 'preact';
import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { Attachment, Chat, ChatMessage } from '../../src/core/chats/chat';
import type { StreamingInfo } from '../../src/protocol';
import { useElapsed } from '../clock';
import { formatCount, formatElapsed, formatInt, formatMs, formatTps, modelLabel, plural } from '../format';
import { updatePersisted, useHost } from '../hostApi';
import { Markdown } from '../markdown/markdown';
import { tooLongReason, usePendingRequest } from '../requests';
import type { Results } from '../requests';
import { activePath, childrenOf, indexTree, siblingsOf } from '../tree';
import { AttachmentDetails, ChipList } from './attachments';
import { IconButton } from './iconButton';

/** One figure of the footer, with what it means on hover. */
interface Figure {
  text: string;
  title: string;
}

/** The figures users compare models by: speeds, sizes, cache reuse, time to first token, context. */
export function footerFigures(message: ChatMessage): Figure[] {
  const out: Figure[] = [];
  if (message.model) out.push({ text: modelLabel(message.model), title: 'Model' });
  const tps = message.timings?.predictedPerSecond;
  if (tps !== undefined && Number.isFinite(tps)) out.push({ text: formatTps(tps), title: 'Generation speed' });
  const promptTps = message.timings?.promptPerSecond;
  if (promptTps !== undefined && Number.isFinite(promptTps)) out.push({ text: `prompt ${formatTps(promptTps)}`, title: 'Prompt processing speed' });
  if (message.completionTokens !== undefined) out.push({ text: `${formatCount(message.completionTokens)} tokens`, title: 'Tokens generated' });
  const prompt = message.promptTokens;
  if (prompt !== undefined) out.push({ text: `prompt ${formatCount(prompt)}`, title: `Prompt tokens: ${formatInt(prompt)}` });
  const cached = message.cachedTokens;
  if (prompt !== undefined && cached !== undefined && prompt > 0) {
    const pct = Math.round((Math.min(Math.max(cached, 0), prompt) / prompt) * 100);
    out.push({ text: `cache ${pct}%`, title: `Prompt tokens reused from the server's cache: ${formatInt(cached)} of ${formatInt(prompt)}` });
  }
  if (message.timings?.ttftMs !== undefined) out.push({ text: `TTFT ${formatMs(message.timings.ttftMs)}`, title: 'Time to first token' });
  if (message.ctxUsed !== undefined) {
    out.push({
      text: `ctx ${formatCount(message.ctxUsed)}${message.ctxMax !== undefined ? `/${formatCount(message.ctxMax)}` : ''}`,
      title: 'Context used / context size',
    });
  }
  return out;
}

function Footer({ message }: { message: ChatMessage }): JSX.Element | null {
  const figures = footerFigures(message);
  if (!figures.length) return null;
  // Each figure stays whole; the line wraps between them.
  return (
    <div class="message-footer">
      {figures.map((f, i) => (
        <Fragment key={i}>
          {i > 0 ? <span class="footer-sep" aria-hidden="true">{' · '}</span> : null}
          <span class="footer-figure" title={f.title}>
            {f.text}
          </span>
        </Fragment>
      ))}
    </div>
  );
}

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
function needsStatus(stream: StreamingInfo | undefined): boolean {
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

function StreamStatus(props: { stream: StreamingInfo | undefined; message: ChatMessage; ctx: ActionContext; onlyThinking: boolean }): JSX.Element {
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
      text = 'Reconnecting…';
      break;
    case 'stale':
      text = silentMs !== undefined ? `No tokens for ${formatElapsed(silentMs)}` : 'No tokens for a while';
      break;
    case 'queued': {
      const q = stream?.queued;
      text = q ? `Waiting for a free slot (${formatInt(q.busy)} of ${formatInt(q.total)} busy)` : 'Waiting for a free slot';
      break;
    }
    case 'busy':
      // The seconds tick locally; a screen reader hears the state once, not every second.
      text = (
        <>
          Server busy · <span class="status-count" aria-live="off">{formatElapsed(busyMs ?? 0)}</span>
        </>
      );
      break;
    case 'working':
      text = 'Generating…';
      if (stream?.phase === 'waiting') text = 'Waiting for the server…';
      if (stream?.phase === 'prompt') {
        text = stream.promptProgress !== undefined ? `Processing prompt ${Math.round(stream.promptProgress * 100)}%` : 'Processing prompt…';
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
          title="End the reasoning now and let the model answer"
          disabled={skipped}
          onClick={() => {
            if (skipped) return;
            setSkipped(true);
            host.post({ type: 'skipThinking', chatId: ctx.chatId, messageId: message.id });
          }}
        >
          Skip thinking
        </vscode-button>
      ) : null}
    </div>
  );
}

interface ActionContext {
  chatId: string;
  /** Why the chat cannot be changed; then no edit, delete, regenerate or retry. */
  readOnly: string | undefined;
  /** The server can end a running answer's reasoning (reasoning_control). */
  canSkipThinking: boolean;
}

function FinalStatus({ ctx, message }: { ctx: ActionContext; message: ChatMessage }): JSX.Element | null {
  const host = useHost();
  const retry =
    ctx.readOnly === undefined ? (
      <vscode-button secondary onClick={() => host.post({ type: 'retry', chatId: ctx.chatId, messageId: message.id })}>
        Retry
      </vscode-button>
    ) : null;
  switch (message.status) {
    case 'stopped':
      return (
        <div class="message-status status-stopped">
          <span class="codicon codicon-debug-stop" aria-hidden="true" />
          <span>Stopped</span>
          {retry}
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

/** An answer cut with finish `length`: why, and how to go on (only on a finished answer). */
function CutNotice({ ctx, message, busy, results }: { ctx: ActionContext; message: ChatMessage; busy: boolean; results: Results }): JSX.Element | null {
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
        <span class="status-cut-text">Stopped: the context is full{n !== undefined ? ` (${formatInt(n)} tokens)` : ''}</span>
        {canAct ? (
          <>
            <vscode-button secondary onClick={() => host.post({ type: 'continueInNewChat', chatId: ctx.chatId, messageId: message.id })}>
              Continue in new chat
            </vscode-button>
            <vscode-button secondary onClick={() => host.post({ type: 'compactChat', chatId: ctx.chatId })}>
              Summarize
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
      <span class="status-cut-text">Stopped at the answer length limit (llamaChat.maxTokens)</span>
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
          Continue
        </vscode-button>
      ) : null}
      {reason}
    </div>
  );
}

/** The summary a message carries, shown above it: collapsible, editable. */
function SummaryBlock({ ctx, message, busy }: { ctx: ActionContext; message: ChatMessage; busy: boolean }): JSX.Element | null {
  const host = useHost();
  const [editing, setEditing] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (editing) area.current?.focus();
  }, [editing]);
  const summary = message.summary;
  if (!summary) return null;
  const title = `Summary of ${plural(summary.covers.length, 'earlier message')}`;
  const canEdit = ctx.readOnly === undefined && !busy;
  const save = (): void => {
    const text = area.current?.value ?? '';
    if (!text.trim()) return;
    host.post({ type: 'editSummary', chatId: ctx.chatId, messageId: message.id, text });
    setEditing(false);
  };
  return (
    <details class="summary-block" open={editing || undefined}>
      <summary>
        <span class="codicon codicon-chevron-right reasoning-chevron" aria-hidden="true" />
        <span class="codicon codicon-note" aria-hidden="true" />
        {title}
      </summary>
      {editing && canEdit ? (
        <div class="summary-edit">
          <textarea
            ref={area}
            class="summary-input"
            aria-label="Edit summary"
            defaultValue={summary.text}
            rows={Math.min(12, summary.text.split('\n').length + 1)}
            onKeyDown={(e) => {
              if (e.key === 'Escape') {
                e.preventDefault();
                setEditing(false);
              }
            }}
          />
          <div class="edit-actions">
            <vscode-button onClick={save}>Save</vscode-button>
            <vscode-button secondary onClick={() => setEditing(false)}>
              Cancel
            </vscode-button>
          </div>
        </div>
      ) : (
        <div class="summary-body">
          <div class="summary-text">{summary.text}</div>
          {canEdit ? (
            <vscode-button secondary class="summary-edit-button" onClick={() => setEditing(true)}>
              Edit summary
            </vscode-button>
          ) : null}
        </div>
      )}
    </details>
  );
}

/** More than this many lines (or characters) of a question collapse behind "Show more". */
const COLLAPSE_LINES = 8;
const COLLAPSE_CHARS = 800;

function UserText({ id, text }: { id: string; text: string }): JSX.Element | null {
  const [expanded, setExpanded] = useState(false);
  if (!text) return null;
  const long = text.length > COLLAPSE_CHARS || text.split('\n').length > COLLAPSE_LINES;
  const textId = `user-text-${id}`;
  return (
    <>
      <div id={textId} class={`user-text${long && !expanded ? ' user-text-collapsed' : ''}`}>
        {text}
      </div>
      {long ? (
        <button type="button" class="show-more" aria-expanded={expanded} aria-controls={textId} onClick={() => setExpanded(!expanded)}>
          {expanded ? 'Show less' : 'Show more'}
        </button>
      ) : null}
    </>
  );
}

/** "2/3" between Previous and Next version buttons, for a message whose turn has several versions. */
/** Which turn's switcher had focus when a version was chosen (the row is replaced, so focus must be put back). */
interface Refocus {
  turn: string;
  direction: 'prev' | 'next';
}

function VersionSwitcher(props: {
  versions: readonly ChatMessage[];
  message: ChatMessage;
  disabled: boolean;
  onSelect: (id: string, direction: Refocus['direction']) => void;
}): JSX.Element | null {
  const { versions, message, disabled, onSelect } = props;
  if (versions.length < 2) return null;
  const index = versions.findIndex((v) => v.id === message.id);
  const prev = index > 0 ? versions[index - 1] : undefined;
  const next = index >= 0 && index < versions.length - 1 ? versions[index + 1] : undefined;
  return (
    <span class="version-switcher" role="group" aria-label="Versions" data-turn={message.parentId ?? ''}>
      <button type="button" class="version-button version-prev" aria-label="Previous version" title="Previous version" disabled={disabled || !prev} onClick={() => !disabled && prev && onSelect(prev.id, 'prev')}>
        <span class="codicon codicon-chevron-left" aria-hidden="true" />
      </button>
      <span class="version-count">
        {index + 1}/{versions.length}
      </span>
      <button type="button" class="version-button version-next" aria-label="Next version" title="Next version" disabled={disabled || !next} onClick={() => !disabled && next && onSelect(next.id, 'next')}>
        <span class="codicon codicon-chevron-right" aria-hidden="true" />
      </button>
    </span>
  );
}

/** Delete message / Delete branch (when it has replies); the host offers Undo. */
function DeleteActions({ ctx, message, hasReplies }: { ctx: ActionContext; message: ChatMessage; hasReplies: boolean }): JSX.Element | null {
  const host = useHost();
  if (ctx.readOnly !== undefined || message.status === 'streaming') return null;
  const del = (scope: 'message' | 'branch') => () => host.post({ type: 'deleteMessage', chatId: ctx.chatId, messageId: message.id, scope });
  return (
    <>
      <IconButton icon="trash" label="Delete message" onClick={del('message')} />
      {hasReplies ? <IconButton icon="clear-all" label="Delete branch" onClick={del('branch')} /> : null}
    </>
  );
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

/** What every message row needs besides itself. */
interface RowProps {
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

function UserMessage(props: RowProps): JSX.Element {
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
          aria-label="Edit message"
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
            Send
          </vscode-button>
          <vscode-button secondary onClick={close}>
            Cancel
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
        {busy || !canChange ? null : <IconButton icon="edit" label="Edit and resend" onClick={() => setEditing(true)} />}
        <IconButton icon="copy" label="Copy message" onClick={() => host.post({ type: 'copy', text: message.content })} />
        <IconButton icon="repo-forked" label="Fork chat from here" onClick={() => host.post({ type: 'forkChat', chatId: ctx.chatId, messageId: message.id })} />
        <DeleteActions ctx={ctx} message={message} hasReplies={hasReplies} />
      </div>
    </div>
  );
}

function AssistantMessage(props: RowProps & { stream: StreamingInfo | undefined }): JSX.Element {
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
            <IconButton icon="copy" label="Copy answer" onClick={() => host.post({ type: 'copy', text: message.content })} />
            <IconButton icon="repo-forked" label="Fork chat from here" onClick={() => host.post({ type: 'forkChat', chatId: ctx.chatId, messageId: message.id })} />
            {!busy && ctx.readOnly === undefined ? (
              <IconButton icon="refresh" label="Regenerate answer" onClick={() => host.post({ type: 'regenerate', chatId: ctx.chatId, messageId: message.id })} />
            ) : null}
            <DeleteActions ctx={ctx} message={message} hasReplies={hasReplies} />
          </div>
        )}
      </div>
    </div>
  );
}

function SystemMessage(props: RowProps): JSX.Element {
  const { ctx, message, hasReplies } = props;
  return (
    <div class="message message-system">
      <span class="system-label">System</span> {message.content}
      <Versions {...props} />
      <div class="message-actions">
        <DeleteActions ctx={ctx} message={message} hasReplies={hasReplies} />
      </div>
    </div>
  );
}

export interface MessageListProps {
  chat: Chat;
  streaming: StreamingInfo[];
  /** The host's request results (ViewModel.results), watched by the inline edit box. */
  results?: Results;
  /** Why the chat cannot be changed (the chat's own `readOnly` counts too). */
  readOnly?: string;
  /** Apply a version choice locally at once (the app's reducer); the list posts `selectVersion` itself. */
  onSelectVersion?: (messageId: string) => void;
  /** What the server's template can do with reasoning (ViewState.reasoning). */
  reasoning?: { canToggle: boolean; canSkip: boolean };
}

const NO_RESULTS: Results = {};

const STICK_PX = 40;

/**
 * The dividers of the active path: after the first `omitted` (or `summarized`) messages before the last answer
 * that left messages out (or summarized them), by the index of the message they precede.
 */
export function contextDividers(path: readonly ChatMessage[]): Map<number, string[]> {
  const out = new Map<number, string[]>();
  const add = (field: 'omitted' | 'summarized', what: string): void => {
    for (let i = path.length - 1; i >= 0; i--) {
      const m = path[i];
      const n = m?.role === 'assistant' ? m.context?.[field] : undefined;
      if (m?.context === undefined || n === undefined || n <= 0) continue;
      const at = Math.min(n, i);
      const text = `${plural(n, 'earlier message')} ${what} (context ${formatInt(m.context.nCtx)} tokens)`;
      out.set(at, [...(out.get(at) ?? []), text]);
      return;
    }
  };
  add('summarized', 'summarized');
  add('omitted', 'not sent');
  return out;
}

function switcherFor(root: HTMLElement | null, turn: string): HTMLElement | undefined {
  return Array.from(root?.querySelectorAll<HTMLElement>('.version-switcher') ?? []).find((el) => el.dataset.turn === turn);
}

export function MessageList({ chat, streaming, results = NO_RESULTS, readOnly, onSelectVersion, reasoning }: MessageListProps): JSX.Element {
  const host = useHost();
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const pendingSave = useRef(false);
  const busy = streaming.some((s) => s.chatId === chat.id);
  // Only the active path (root to leaf) is shown; the index gives each message its versions and replies.
  const index = useMemo(() => indexTree(chat.messages), [chat.messages]);
  const path = useMemo(() => activePath(chat, index), [index, chat.leafId]);
  const dividers = useMemo(() => contextDividers(path), [path]);
  const ctx: ActionContext = { chatId: chat.id, readOnly: readOnly ?? chat.readOnly, canSkipThinking: reasoning?.canSkip === true };
  const refocus = useRef<Refocus | undefined>(undefined);
  const selectVersion = (messageId: string, direction: Refocus['direction']): void => {
    const turn = index.byId.get(messageId)?.parentId ?? '';
    if (switcherFor(list.current, turn)?.contains(document.activeElement)) {
      refocus.current = { turn, direction };
    }
    host.post({ type: 'selectVersion', chatId: chat.id, messageId });
    onSelectVersion?.(messageId);
  };

  // The chosen version's row replaces the old one: keyboard focus goes back to the same turn's switcher (the
  // other button when this one is now disabled at the end).
  useLayoutEffect(() => {
    const want = refocus.current;
    if (!want) return;
    refocus.current = undefined;
    const switcher = switcherFor(list.current, want.turn);
    const same = switcher?.querySelector<HTMLButtonElement>(want.direction === 'prev' ? '.version-prev' : '.version-next');
    const other = switcher?.querySelector<HTMLButtonElement>(want.direction === 'prev' ? '.version-next' : '.version-prev');
    (same && !same.disabled ? same : other)?.focus();
  });

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
      {path.map((m, i) => {
        const row: RowProps = {
          ctx,
          message: m,
          busy,
          versions: siblingsOf(index, m.id),
          hasReplies: childrenOf(index, m.id).length > 0,
          onSelectVersion: selectVersion,
          results,
        };
        const before = dividers.get(i);
        return (
          <Fragment key={m.id}>
            {before?.map((text) => (
              <div key={text} class="context-divider">
                <span class="context-divider-text">{text}</span>
              </div>
            ))}
            {m.summary ? <SummaryBlock ctx={ctx} message={m} busy={busy} /> : null}
            {m.role === 'user' ? (
              <UserMessage {...row} />
            ) : m.role === 'assistant' ? (
              <AssistantMessage {...row} stream={streaming.find((s) => s.messageId === m.id)} />
            ) : (
              <SystemMessage {...row} />
            )}
          </Fragment>
        );
      })}
    </div>
  );
}
