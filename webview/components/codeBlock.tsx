/** A fenced code block: language label, syntax highlighting, Copy and Insert-at-cursor actions. */
import type { JSX } from 'preact';
import { useHost } from '../hostApi';
import { t } from '../l10n';
import { useHighlight } from '../markdown/highlight';
import { IconButton } from './iconButton';

export interface CodeBlockProps {
  code: string;
  lang: string | undefined;
  /** Still streaming (an unclosed fence): shown plain, highlighted once complete. */
  streaming?: boolean;
}

export function CodeBlock({ code, lang, streaming = false }: CodeBlockProps): JSX.Element {
  const host = useHost();
  const language = lang?.trim().split(/\s+/, 1)[0] || undefined;
  const highlighted = useHighlight(code, language, !streaming);
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
        <code>{highlighted}</code>
      </pre>
    </div>
  );
}
