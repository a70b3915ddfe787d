/** "2/3" between Previous and Next version buttons, for a message whose turn has several versions. */
import type { JSX } from 'preact';
import type { ChatMessage } from '../../src/core/chats/chat';
import { t } from '../l10n';

/** Which turn's switcher had focus when a version was chosen (the row is replaced, so focus must be put back). */
export interface Refocus {
  turn: string;
  direction: 'prev' | 'next';
}

export function VersionSwitcher(props: {
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
    <span class="version-switcher" role="group" aria-label={t('Versions')} data-turn={message.parentId ?? ''}>
      <button type="button" class="version-button version-prev" aria-label={t('Previous version')} title={t('Previous version')} disabled={disabled || !prev} onClick={() => !disabled && prev && onSelect(prev.id, 'prev')}>
        <span class="codicon codicon-chevron-left" aria-hidden="true" />
      </button>
      <span class="version-count">
        {index + 1}/{versions.length}
      </span>
      <button type="button" class="version-button version-next" aria-label={t('Next version')} title={t('Next version')} disabled={disabled || !next} onClick={() => !disabled && next && onSelect(next.id, 'next')}>
        <span class="codicon codicon-chevron-right" aria-hidden="true" />
      </button>
    </span>
  );
}

/** The switcher of a turn (by its parent's id) in the list, if that turn's row is rendered. */
export function switcherFor(root: HTMLElement | null, turn: string): HTMLElement | undefined {
  return Array.from(root?.querySelectorAll<HTMLElement>('.version-switcher') ?? []).find((el) => el.dataset.turn === turn);
}

