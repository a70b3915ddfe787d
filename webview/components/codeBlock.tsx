/** A fenced code block: language label, light highlighting, Copy and Insert-at-cursor actions. */
import type { JSX } from 'preact';
import { useMemo } from 'preact/hooks';
import { useHost } from '../hostApi';
import { t } from '../l10n';
import { highlight } from '../markdown/highlight';
import { IconButton } from './iconButton';

export interface CodeBlockProps {
  code: string;
  lang: string | undefined;
}

export function CodeBlock({ code, lang }: CodeBlockProps): JSX.Element {
  const host = useHost();
  const language = lang?.trim().split(/\s+/, 1)[0] || undefined;
  const tokens = useMemo(() => highlight(code, language), [code, language]);
  return (
    <div class="code-block">
      <div class="code-header">
        <span class="code-lang">{language ?? t('text')}</span>
        <span class="code-actions">
          <IconButton icon="copy" label={t('Copy code')} onClick={() => host.post({ type: 'copy', text: code })} />
          <IconButton
            icon="insert"
            label={t('Insert at cursor')}
            onClick={() => host.post(language ? { type: 'insert', text: code, language } : { type: 'insert', text: code })}
          />
        </span>
      </div>
      <pre tabIndex={0}>
        <code>{tokens.map((t) => (t.kind === 'plain' ? t.text : <span class={`tok-${t.kind}`}>{t.text}</span>))}</code>
      </pre>
    </div>
  );
}
