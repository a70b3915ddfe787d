/** The composer's small parts: the context meter and the Thinking toggle. */
import type { JSX } from 'preact';
import type { PromptSize } from '../../src/protocol';
import { formatInt } from '../format';
import { t } from '../l10n';

/** The size meter: the host's count of the next request, or the last known context use before it arrives. */
export function ContextMeter({ size, ctxUsed, ctxMax }: { size: PromptSize | undefined; ctxUsed: number | undefined; ctxMax: number | undefined }): JSX.Element | null {
  const used = size ? size.tokens : ctxUsed;
  const max = size?.nCtx ?? ctxMax;
  if (used === undefined || (!size && !max)) return null;
  const approx = size !== undefined && !size.exact;
  const ratio = max ? used / max : undefined;
  const tint = size && !size.fits ? ' context-error' : ratio !== undefined && ratio >= 0.8 ? ' context-warning' : '';
  const figure = `${approx ? '≈' : ''}${formatInt(used)}`;
  const text = max ? `${figure} / ${formatInt(max)}` : t('{0} tokens', figure);
  let title = t('Context used / context size');
  if (size) {
    const tokens = used === 1 ? t('1 token') : t('{0} tokens', formatInt(used));
    const request = approx ? t('about {0}', tokens) : tokens;
    const parts = [max ? t('Next request: {0} of {1}', request, formatInt(max)) : t('Next request: {0}', request)];
    if (size.reserve > 0) parts.push(t('{0} kept for the answer', formatInt(size.reserve)));
    if (size.omitted > 0) {
      parts.push(size.omitted === 1 ? t('1 earlier message will be left out') : t('{0} earlier messages will be left out', formatInt(size.omitted)));
    }
    if (!size.fits) parts.push(t('it does not fit'));
    title = t('{0}.', parts.join(t('; ')));
  }
  return (
    <span class={`context${tint}`} title={title}>
      {max ? (
        <meter class="context-meter" min={0} max={max} value={Math.min(used, max)} high={max * 0.8} optimum={0} aria-label={t('Next request size')} />
      ) : null}
      <span class="context-text">{text}</span>
      {size && size.omitted > 0 ? <span class="context-omitted codicon codicon-fold-up" role="img" aria-label={title} /> : null}
    </span>
  );
}

/** Thinking on / off for this chat's next answers: a toggle button (aria-pressed), labelled "Thinking". */
export function ThinkingToggle({ on, disabled, onToggle }: { on: boolean; disabled: boolean; onToggle: (enabled: boolean) => void }): JSX.Element {
  return (
    <button
      type="button"
      class={`thinking-toggle${on ? ' is-on' : ''}`}
      aria-label={t('Thinking')}
      aria-pressed={on}
      title={on ? t('Thinking is on for this chat: click to answer without reasoning') : t('Thinking is off for this chat: click to let the model reason first')}
      disabled={disabled}
      onClick={() => onToggle(!on)}
    >
      <span class={`codicon ${on ? 'codicon-lightbulb' : 'codicon-lightbulb-empty'}`} aria-hidden="true" />
      <span class="thinking-toggle-text">{t('Thinking')}</span>
    </button>
  );
}
