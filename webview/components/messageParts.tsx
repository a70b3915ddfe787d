/** The pieces of a message row: footer figures, summary block, collapsible question text, delete actions, reasoning. */
import { Fragment } from 'preact';
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatMessage } from '../../src/core/chats/chat';
import { formatCount, formatInt, formatMs, formatTps, modelLabel } from '../format';
import { useHost } from '../hostApi';
import { Markdown } from '../markdown/markdown';
import { IconButton } from './iconButton';
import type { ActionContext } from './messageStatus';
import { t } from '../l10n';

/** One figure of the footer, with what it means on hover. */
interface Figure {
  text: string;
  title: string;
}

/** The figures users compare models by: speeds, sizes, cache reuse, time to first token, context. */
export function footerFigures(message: ChatMessage): Figure[] {
  const out: Figure[] = [];
  if (message.model) out.push({ text: modelLabel(message.model), title: t('Model') });
  const tps = message.timings?.predictedPerSecond;
  if (tps !== undefined && Number.isFinite(tps)) out.push({ text: formatTps(tps), title: t('Generation speed') });
  const promptTps = message.timings?.promptPerSecond;
  if (promptTps !== undefined && Number.isFinite(promptTps)) out.push({ text: t('prompt {0}', formatTps(promptTps)), title: t('Prompt processing speed') });
  if (message.completionTokens !== undefined) out.push({ text: t('{0} tokens', formatCount(message.completionTokens)), title: t('Tokens generated') });
  const prompt = message.promptTokens;
  if (prompt !== undefined) out.push({ text: t('prompt {0}', formatCount(prompt)), title: t('Prompt tokens: {0}', formatInt(prompt)) });
  const cached = message.cachedTokens;
  if (prompt !== undefined && cached !== undefined && prompt > 0) {
    const pct = Math.round((Math.min(Math.max(cached, 0), prompt) / prompt) * 100);
    out.push({ text: t('cache {0}%', pct), title: t("Prompt tokens reused from the server's cache: {0} of {1}", formatInt(cached), formatInt(prompt)) });
  }
  if (message.timings?.ttftMs !== undefined) out.push({ text: t('TTFT {0}', formatMs(message.timings.ttftMs)), title: t('Time to first token') });
  if (message.ctxUsed !== undefined) {
    out.push({
      text: message.ctxMax !== undefined ? t('ctx {0}/{1}', formatCount(message.ctxUsed), formatCount(message.ctxMax)) : t('ctx {0}', formatCount(message.ctxUsed)),
      title: t('Context used / context size'),
    });
  }
  return out;
}

export function Footer({ message }: { message: ChatMessage }): JSX.Element | null {
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

/** The summary a message carries, shown above it: collapsible, editable. */
export function SummaryBlock({ ctx, message, busy }: { ctx: ActionContext; message: ChatMessage; busy: boolean }): JSX.Element | null {
  const host = useHost();
  const [editing, setEditing] = useState(false);
  const area = useRef<HTMLTextAreaElement>(null);
  useEffect(() => {
    if (editing) area.current?.focus();
  }, [editing]);
  useEffect(() => (editing ? ctx.pin?.(message.id) : undefined), [editing]);
  const summary = message.summary;
  if (!summary) return null;
  const title = summary.covers.length === 1 ? t('Summary of 1 earlier message') : t('Summary of {0} earlier messages', formatInt(summary.covers.length));
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
            aria-label={t('Edit summary')}
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
            <vscode-button onClick={save}>{t('Save')}</vscode-button>
            <vscode-button secondary onClick={() => setEditing(false)}>
              {t('Cancel')}
            </vscode-button>
          </div>
        </div>
      ) : (
        <div class="summary-body">
          <div class="summary-text">{summary.text}</div>
          {canEdit ? (
            <vscode-button secondary class="summary-edit-button" onClick={() => setEditing(true)}>
              {t('Edit summary')}
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

export function UserText({ id, text }: { id: string; text: string }): JSX.Element | null {
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
          {expanded ? t('Show less') : t('Show more')}
        </button>
      ) : null}
    </>
  );
}

/** Delete message / Delete branch (when it has replies); the host offers Undo. */
export function DeleteActions({ ctx, message, hasReplies }: { ctx: ActionContext; message: ChatMessage; hasReplies: boolean }): JSX.Element | null {
  const host = useHost();
  if (ctx.readOnly !== undefined || message.status === 'streaming') return null;
  const del = (scope: 'message' | 'branch') => () => host.post({ type: 'deleteMessage', chatId: ctx.chatId, messageId: message.id, scope });
  return (
    <>
      <IconButton icon="trash" label={t('Delete message')} onClick={del('message')} />
      {hasReplies ? <IconButton icon="clear-all" label={t('Delete branch')} onClick={del('branch')} /> : null}
    </>
  );
}

export function Reasoning({ text, streaming, answering }: { text: string; streaming: boolean; answering: boolean }): JSX.Element {
  // Open while the model is only thinking; collapse once the answer starts (the user may reopen it).
  const open = streaming && !answering;
  return (
    <details class="reasoning" open={open}>
      <summary>
        <span class="codicon codicon-chevron-right reasoning-chevron" aria-hidden="true" />
        <span class="codicon codicon-lightbulb" aria-hidden="true" />
        {streaming && !answering ? t('Thinking…') : t('Thoughts')}
      </summary>
      <div class="reasoning-body">
        <Markdown text={text} streaming={streaming} />
      </div>
    </details>
  );
}

