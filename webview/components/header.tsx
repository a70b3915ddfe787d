/** The header: the active chat's title opens the chat list; new, rename, export and delete actions. */
import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import type { ChatSummary } from '../../src/core/chats/chat';
import { useHost } from '../hostApi';
import { t } from '../l10n';
import { IconButton } from './iconButton';

export interface HeaderProps {
  chats: ChatSummary[];
  activeChatId: string | undefined;
  /** The active server (Select Server); clicking it picks another. */
  server?: { name: string; url: string };
}

function RenameField({ chat, onDone }: { chat: ChatSummary; onDone: () => void }): JSX.Element {
  const host = useHost();
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => {
    input.current?.focus();
    input.current?.select();
  }, []);
  const commit = (): void => {
    const title = input.current?.value.trim() ?? '';
    if (title && title !== chat.title) host.post({ type: 'renameChat', chatId: chat.id, title });
    onDone();
  };
  return (
    <input
      ref={input}
      class="rename-input"
      aria-label={t('Chat title')}
      defaultValue={chat.title}
      maxLength={500}
      onKeyDown={(e) => {
        if (e.key === 'Enter') {
          e.preventDefault();
          commit();
        } else if (e.key === 'Escape') {
          e.preventDefault();
          onDone();
        }
      }}
      onBlur={onDone}
    />
  );
}

export function Header({ chats, activeChatId, server }: HeaderProps): JSX.Element {
  const host = useHost();
  const [listOpen, setListOpen] = useState(false);
  const [renaming, setRenaming] = useState(false);
  const toggle = useRef<HTMLButtonElement>(null);
  const listRef = useRef<HTMLUListElement>(null);
  const active = chats.find((c) => c.id === activeChatId);
  const sorted = chats.slice().sort((a, b) => b.updatedAt - a.updatedAt);

  const closeList = (): void => {
    setListOpen(false);
    toggle.current?.focus();
  };

  // Keyboard-first: opening the list focuses the active chat; arrows move between chats.
  useEffect(() => {
    if (!listOpen) return;
    const list = listRef.current;
    (list?.querySelector<HTMLElement>('.chat-item.active') ?? list?.querySelector<HTMLElement>('.chat-item'))?.focus();
  }, [listOpen]);

  const moveFocus = (delta: number): void => {
    const items = Array.from(listRef.current?.querySelectorAll<HTMLElement>('.chat-item') ?? []);
    if (!items.length) return;
    const index = items.indexOf(document.activeElement as HTMLElement);
    items[(index + delta + items.length) % items.length]?.focus();
  };

  return (
    <header class="header">
      <div class="header-row">
        {renaming && active ? (
          <RenameField chat={active} onDone={() => setRenaming(false)} />
        ) : (
          <button
            ref={toggle}
            type="button"
            class="chat-title"
            aria-haspopup="listbox"
            aria-expanded={listOpen}
            title={t('Switch chat')}
            onClick={() => setListOpen(!listOpen)}
          >
            <span class="chat-title-text">{active?.title ?? t('New chat')}</span>
            <span class={`codicon codicon-chevron-${listOpen ? 'up' : 'down'}`} aria-hidden="true" />
          </button>
        )}
        {server ? (
          <button type="button" class="server-name" title={t('Server: {0} (Select Server)', server.url)} onClick={() => host.post({ type: 'selectServer' })}>
            <span class="codicon codicon-server" aria-hidden="true" />
            <span class="server-name-text">{server.name}</span>
          </button>
        ) : null}
        <span class="header-actions">
          <IconButton icon="add" label={t('New chat')} onClick={() => host.post({ type: 'newChat' })} />
          {active ? (
            <>
              <IconButton icon="edit" label={t('Rename chat')} onClick={() => setRenaming(true)} />
              <IconButton icon="export" label={t('Export chat')} onClick={() => host.post({ type: 'exportChat', chatId: active.id })} />
              <IconButton icon="trash" label={t('Delete chat')} onClick={() => host.post({ type: 'deleteChat', chatId: active.id })} />
            </>
          ) : null}
        </span>
      </div>
      {listOpen ? (
        <ul
          ref={listRef}
          class="chat-list"
          role="listbox"
          aria-label={t('Chats')}
          onKeyDown={(e) => {
            if (e.key === 'Escape') {
              e.preventDefault();
              closeList();
            } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
              e.preventDefault();
              moveFocus(e.key === 'ArrowDown' ? 1 : -1);
            }
          }}
        >
          {sorted.length === 0 ? <li class="chat-list-empty">{t('No chats yet')}</li> : null}
          {sorted.map((c) => (
            <li key={c.id} role="option" aria-selected={c.id === activeChatId}>
              <button
                type="button"
                class={c.id === activeChatId ? 'chat-item active' : 'chat-item'}
                onClick={() => {
                  if (c.id !== activeChatId) host.post({ type: 'switchChat', chatId: c.id });
                  closeList();
                }}
              >
                <span class="chat-item-title">{c.title}</span>
                {c.readOnly !== undefined ? (
                  <span class="chat-item-read-only" title={c.readOnly || t('Read-only')}>
                    <span class="codicon codicon-lock" aria-hidden="true" />
                    {t('read-only')}
                  </span>
                ) : null}
                <span class="chat-item-meta">{t('{0} msgs', c.messageCount)}</span>
              </button>
            </li>
          ))}
        </ul>
      ) : null}
    </header>
  );
}
