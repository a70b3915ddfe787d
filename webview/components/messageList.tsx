/**
 * The message log: the active path of the chat's message tree (root to leaf), each message with its version
 * switcher, reasoning, status, footer figures and actions. Long chats are windowed (./useWindow): only the rows near
 * the viewport are mounted, spacers stand in for the rest, and the streaming answer is always mounted.
 */
import type { JSX } from 'preact';
import { useCallback, useLayoutEffect, useMemo, useRef } from 'preact/hooks';
import type { Chat, ChatMessage } from '../../src/core/chats/chat';
import type { StreamingInfo } from '../../src/protocol';
import { formatInt } from '../format';
import { updatePersisted, useHost } from '../hostApi';
import type { Results } from '../requests';
import { activePath, childrenOf, indexTree, siblingsOf } from '../tree';
import { MessageRow } from './messageItem';
import type { ActionContext } from './messageStatus';
import { useWindow } from './useWindow';
import { switcherFor } from './versionSwitcher';
import type { Refocus } from './versionSwitcher';
import { t } from '../l10n';

export { footerFigures } from './messageParts';

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
  const add = (field: 'omitted' | 'summarized'): void => {
    for (let i = path.length - 1; i >= 0; i--) {
      const m = path[i];
      const n = m?.role === 'assistant' ? m.context?.[field] : undefined;
      if (m?.context === undefined || n === undefined || n <= 0) continue;
      const at = Math.min(n, i);
      const nCtx = formatInt(m.context.nCtx);
      const text =
        field === 'summarized'
          ? n === 1
            ? t('1 earlier message summarized (context {0} tokens)', nCtx)
            : t('{0} earlier messages summarized (context {1} tokens)', formatInt(n), nCtx)
          : n === 1
            ? t('1 earlier message not sent (context {0} tokens)', nCtx)
            : t('{0} earlier messages not sent (context {1} tokens)', formatInt(n), nCtx);
      out.set(at, [...(out.get(at) ?? []), text]);
      return;
    }
  };
  add('summarized');
  add('omitted');
  return out;
}

export function MessageList({ chat, streaming, results = NO_RESULTS, readOnly, onSelectVersion, reasoning }: MessageListProps): JSX.Element {
  const host = useHost();
  const list = useRef<HTMLDivElement>(null);
  const stick = useRef(true);
  const pendingSave = useRef(false);
  /** scrollTop when last seen (a smaller one means the user scrolled up). */
  const lastTop = useRef(0);
  const shownChat = useRef<string | undefined>(undefined);
  const busy = streaming.some((s) => s.chatId === chat.id);
  // Only the active path (root to leaf) is shown; the index gives each message its versions and replies.
  const index = useMemo(() => indexTree(chat.messages), [chat.messages]);
  const path = useMemo(() => activePath(chat, index), [index, chat.leafId]);
  const keys = useMemo(() => path.map((m) => m.id), [path]);
  const dividers = useMemo(() => contextDividers(path), [path]);
  const refocus = useRef<Refocus | undefined>(undefined);
  // Another chat: it starts where it was left (or at the bottom), so the first window is already the right one.
  if (shownChat.current !== chat.id) {
    shownChat.current = chat.id;
    stick.current = host.getState()?.scroll[chat.id] === undefined;
  }
  const pinned = path.filter((m) => m.status === 'streaming' || streaming.some((s) => s.messageId === m.id)).map((m) => m.id);
  const win = useWindow({
    keys,
    list,
    stick,
    pinned,
    resetKey: chat.id,
    initialScroll: () => host.getState()?.scroll[chat.id] ?? Infinity,
  });
  const rowReadOnly = readOnly ?? chat.readOnly;
  const canSkip = reasoning?.canSkip === true;
  // Stable while nothing in it changes, so rows that did not change skip rendering (MessageRow).
  const ctx: ActionContext = useMemo(() => ({ chatId: chat.id, readOnly: rowReadOnly, canSkipThinking: canSkip, pin: win.pin }), [chat.id, rowReadOnly, canSkip, win.pin]);
  const chooseVersion = (messageId: string, direction: Refocus['direction']): void => {
    const turn = index.byId.get(messageId)?.parentId ?? '';
    if (switcherFor(list.current, turn)?.contains(document.activeElement)) {
      refocus.current = { turn, direction };
    }
    host.post({ type: 'selectVersion', chatId: chat.id, messageId });
    onSelectVersion?.(messageId);
  };
  const latestChoose = useRef(chooseVersion);
  latestChoose.current = chooseVersion;
  const selectVersion = useCallback((messageId: string, direction: Refocus['direction']) => latestChoose.current(messageId, direction), []);

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
    lastTop.current = el.scrollTop;
    stick.current = saved === undefined || (el.clientHeight > 0 && el.scrollHeight - saved - el.clientHeight < STICK_PX);
  }, [chat.id]);

  // Follow the stream while the user stays at the bottom.
  useLayoutEffect(() => {
    const el = list.current;
    if (!el || !stick.current) return;
    el.scrollTop = el.scrollHeight;
    lastTop.current = el.scrollTop;
  });

  const onScroll = (): void => {
    const el = list.current;
    if (!el) return;
    // At the bottom: follow. Scrolled up: stop following. Otherwise the content grew under a list that was
    // following (a late layout, rows measured taller than estimated): keep following.
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight < STICK_PX;
    stick.current = atBottom || (stick.current && el.scrollTop >= lastTop.current - 1);
    lastTop.current = el.scrollTop;
    win.onScroll();
    if (pendingSave.current) return;
    pendingSave.current = true;
    // Coalesce scroll saves to one per frame. At the bottom nothing is saved: the chat comes back at its bottom
    // even when rows measured meanwhile changed its height (a pixel offset would no longer be the bottom).
    requestAnimationFrame(() => {
      pendingSave.current = false;
      const top = list.current?.scrollTop;
      if (top === undefined) return;
      const atBottom = stick.current;
      updatePersisted(host, (s) => {
        if (atBottom) delete s.scroll[chat.id];
        else s.scroll[chat.id] = top;
      });
    });
  };

  return (
    <div ref={list} class="messages" role="log" aria-live="polite" aria-label={t('Messages')} aria-busy={busy} tabIndex={0} onScroll={onScroll}>
      {win.segments.map((seg) => {
        if (seg.kind === 'gap') return <div key={`gap-${seg.from}`} class="message-gap" aria-hidden="true" style={{ height: `${seg.height}px` }} />;
        const m = path[seg.index];
        return (
          <MessageRow
            key={m.id}
            rowRef={win.measure(m.id)}
            ctx={ctx}
            message={m}
            busy={busy}
            versions={siblingsOf(index, m.id)}
            hasReplies={childrenOf(index, m.id).length > 0}
            onSelectVersion={selectVersion}
            results={results}
            dividers={dividers.get(seg.index)}
            stream={m.role === 'assistant' ? streaming.find((s) => s.messageId === m.id) : undefined}
          />
        );
      })}
    </div>
  );
}
