/**
 * Attachment chips: removable ones above the composer's box, and expandable ones (details/summary) in a user
 * bubble showing the attached text or image.
 */
import type { JSX } from 'preact';
import type { Attachment } from '../../src/core/chats/chat';
import { attachmentLabel, codiconFor, lineRange, tokensText } from '../attachments';
import { t } from '../l10n';

function ChipLabel({ attachment: a, tokens }: { attachment: Attachment; tokens: number | undefined }): JSX.Element {
  const range = lineRange(a);
  const count = tokensText(tokens);
  return (
    <>
      {a.kind === 'image' ? (
        <img class="chip-thumb" src={a.dataUri} alt="" />
      ) : (
        <span class={`codicon codicon-${codiconFor(a)}`} aria-hidden="true" />
      )}
      <span class="chip-name">{a.name}</span>
      {range ? <span class="chip-range">{range}</span> : null}
      {count ? <span class="chip-tokens">{count}</span> : null}
    </>
  );
}

/** The exact token count of a chip: the host's count for this draft, else the one stored with the attachment. */
function tokensOf(a: Attachment, counted: number | undefined): number | undefined {
  return counted ?? (a.kind === 'image' ? undefined : a.tokens);
}

export interface ChipListProps {
  attachments: readonly Attachment[];
  /** Tokens the host counted for each chip (same order), when known. */
  tokens?: (a: Attachment, index: number) => number | undefined;
  onRemove: (index: number) => void;
  disabled?: boolean;
}

/** Chips above a text box; each with a remove button. */
export function ChipList({ attachments, tokens, onRemove, disabled }: ChipListProps): JSX.Element | null {
  if (attachments.length === 0) return null;
  return (
    <ul class="chips" aria-label={t('Attachments')}>
      {attachments.map((a, i) => {
        const label = attachmentLabel(a);
        return (
          <li key={`${i}:${a.name}`} class={`chip chip-${a.kind}`} title={label}>
            <ChipLabel attachment={a} tokens={tokensOf(a, tokens?.(a, i))} />
            <button
              type="button"
              class="chip-remove"
              aria-label={t('Remove attachment {0}', label)}
              title={t('Remove attachment {0}', label)}
              disabled={disabled}
              onClick={() => onRemove(i)}
            >
              <span class="codicon codicon-close" aria-hidden="true" />
            </button>
          </li>
        );
      })}
    </ul>
  );
}

/** A sent attachment in a user bubble: a chip that opens to show what was attached. */
export function AttachmentDetails({ attachment: a }: { attachment: Attachment }): JSX.Element {
  return (
    <details class={`attachment attachment-${a.kind}`}>
      <summary class="chip" title={attachmentLabel(a)}>
        <ChipLabel attachment={a} tokens={tokensOf(a, undefined)} />
      </summary>
      {a.kind === 'image' ? (
        <img class="attachment-image" src={a.dataUri} alt={a.name} />
      ) : (
        <pre class="attachment-text">
          <code>{a.text}</code>
        </pre>
      )}
    </details>
  );
}
