import * as assert from 'node:assert/strict';
import type { ComponentChild } from 'preact';
import { act } from 'preact/test-utils';
import type { Chat, ChatMessage } from '../../../src/core/chats/chat';
import { LIMITS } from '../../../src/protocol';
import type { RequestResult, StreamingInfo, ToWebviewMessage, ViewState } from '../../../src/protocol';
import { App } from '../../../webview/components/app';
import { ConnectionBanner, EmptyState, StaleBanner } from '../../../webview/components/banners';
import { Composer } from '../../../webview/components/composer';
import type { ComposerProps } from '../../../webview/components/composer';
import { Header } from '../../../webview/components/header';
import { MessageList } from '../../../webview/components/messageList';
import { byText, click, FakeHost, installDom, key, mount, typeInto, useDom } from './dom';

const view = (vnode: ComponentChild, host = new FakeHost()): ReturnType<typeof mount> => mount(vnode, host);

function message(id: string, role: ChatMessage['role'], content: string, over: Partial<ChatMessage> = {}): ChatMessage {
  return { id, role, content, status: 'complete', createdAt: 1, ...over };
}
/** A linear chat: each message answers the one before it (unless it names its own parent). */
function chatOf(messages: ChatMessage[], id = 'c1', over: Partial<Chat> = {}): Chat {
  const linked = messages.map((m, i) => ('parentId' in m || i === 0 ? m : { ...m, parentId: messages[i - 1].id }));
  return { id, title: 'My chat', createdAt: 1, updatedAt: 2, messageCount: messages.length, messages: linked, ...over };
}
const stream = (over: Partial<StreamingInfo> = {}): StreamingInfo => ({ chatId: 'c1', messageId: 'a1', seq: 0, stale: false, phase: 'generating', ...over });

function composer(over: Partial<ComposerProps> = {}): ComposerProps {
  return { chatId: 'c1', stream: undefined, model: 'tiny.gguf', ctxUsed: 100, ctxMax: 4096, canRegenerate: false, focusRequest: 0, ...over };
}
const textarea = (root: HTMLElement): HTMLTextAreaElement => root.querySelector<HTMLTextAreaElement>('textarea.composer-input')!;
const ok = (requestId: string, chatId = 'c1'): Record<string, RequestResult> => ({ [requestId]: { requestId, ok: true, chatId } });
const refused = (requestId: string, detail: string): Record<string, RequestResult> => ({ [requestId]: { requestId, ok: false, reason: 'busy', detail } });
const REQUEST_ID = /^[A-Za-z0-9_-]+$/;
/** What a component posted besides the composer's `draft` counts. */
const actions = (host: FakeHost): FakeHost['posted'] => host.posted.filter((m) => m.type !== 'draft');

describe('webview composer', () => {
  useDom();

  it('Enter sends with a request id and clears once the host takes it; Shift+Enter does not send', () => {
    const m = view(<Composer {...composer()} />);
    const { container, host } = m;
    const area = textarea(container);
    typeInto(area, 'line one');
    const shift = key(area, { key: 'Enter', shiftKey: true });
    assert.equal(shift.defaultPrevented, false, 'Shift+Enter leaves the newline to the textarea');
    assert.equal(host.ofType('send').length, 0);
    typeInto(area, 'line one\nline two');
    const enter = key(area, { key: 'Enter' });
    assert.equal(enter.defaultPrevented, true);
    const [sent] = host.ofType('send');
    assert.match(sent?.requestId ?? '', REQUEST_ID);
    assert.deepEqual(host.ofType('send'), [{ type: 'send', requestId: sent.requestId, chatId: 'c1', text: 'line one\nline two' }]);
    assert.equal(textarea(container).value, 'line one\nline two', 'the draft stays until the result');
    key(textarea(container), { key: 'Enter' });
    assert.equal(host.ofType('send').length, 1, 'no second send while one is pending');
    m.rerender(<Composer {...composer({ results: ok(sent.requestId) })} />);
    assert.equal(textarea(container).value, '');
    assert.equal(host.state?.drafts['c1'], undefined, 'the persisted draft goes too');
    assert.equal(container.querySelector('[role=alert]'), null);
  });

  it('a refused send keeps the draft and shows the reason until the next edit', () => {
    const m = view(<Composer {...composer()} />);
    typeInto(textarea(m.container), 'hello');
    key(textarea(m.container), { key: 'Enter' });
    const id = m.host.ofType('send')[0].requestId;
    m.rerender(<Composer {...composer({ results: refused(id, 'A reply is still being generated.') })} />);
    assert.equal(textarea(m.container).value, 'hello');
    assert.equal(m.host.state?.drafts['c1'], 'hello');
    assert.equal(m.container.querySelector('.composer-refusal[role=alert]')?.textContent?.trim(), 'A reply is still being generated.');
    // No longer pending: the user can send again.
    key(textarea(m.container), { key: 'Enter' });
    assert.equal(m.host.ofType('send').length, 2);
    typeInto(textarea(m.container), 'hello!');
    assert.equal(m.container.querySelector('[role=alert]'), null, 'an edit clears the reason');
  });

  it('an ok result does not clear a draft edited since it was sent', () => {
    const m = view(<Composer {...composer()} />);
    typeInto(textarea(m.container), 'first');
    key(textarea(m.container), { key: 'Enter' });
    typeInto(textarea(m.container), 'first, and more');
    m.rerender(<Composer {...composer({ results: ok(m.host.ofType('send')[0].requestId) })} />);
    assert.equal(textarea(m.container).value, 'first, and more');
  });

  it('refuses a text over the protocol limit itself, keeping the draft', () => {
    const { container, host } = view(<Composer {...composer()} />);
    const huge = 'x'.repeat(LIMITS.maxText + 1);
    typeInto(textarea(container), huge);
    key(textarea(container), { key: 'Enter' });
    assert.equal(host.ofType('send').length, 0);
    assert.equal(textarea(container).value.length, huge.length);
    assert.match(container.querySelector('.composer-refusal[role=alert]')?.textContent ?? '', /too long.*2,000,001.*2,000,000/);
  });

  it('a read-only chat disables the composer and keeps the draft', () => {
    const host = new FakeHost();
    host.state = { drafts: { c1: 'kept draft' }, scroll: {} };
    const { container } = view(<Composer {...composer({ readOnly: 'Made by a newer version', canRegenerate: true })} />, host);
    assert.equal(textarea(container).disabled, true);
    assert.equal(textarea(container).value, 'kept draft');
    assert.equal(container.querySelector('.send-button')?.hasAttribute('disabled'), true);
    assert.equal(byText(container, 'vscode-button', 'Regenerate'), undefined);
    key(textarea(container), { key: 'Enter' });
    assert.equal(host.ofType('send').length, 0);
  });

  it('does not send blank text or while streaming', () => {
    const { container, host } = view(<Composer {...composer({ stream: stream() })} />);
    typeInto(textarea(container), 'hello');
    key(textarea(container), { key: 'Enter' });
    typeInto(textarea(container), '   ');
    key(textarea(container), { key: 'Enter' });
    assert.equal(host.ofType('send').length, 0);
  });

  it('Escape stops the stream; the send button becomes a stop button', () => {
    const { container, host } = view(<Composer {...composer({ stream: stream() })} />);
    assert.equal(container.querySelector('.send-button'), null);
    key(textarea(container), { key: 'Escape' });
    click(container.querySelector('.stop-button'));
    assert.deepEqual(host.ofType('stop'), [
      { type: 'stop', chatId: 'c1', messageId: 'a1' },
      { type: 'stop', chatId: 'c1', messageId: 'a1' },
    ]);
  });

  it('Escape without a stream posts nothing; the send button sends', () => {
    const { container, host } = view(<Composer {...composer()} />);
    key(textarea(container), { key: 'Escape' });
    typeInto(textarea(container), 'via button');
    click(container.querySelector('.send-button'));
    assert.equal(actions(host).length, 1);
    assert.deepEqual(actions(host), [{ type: 'send', requestId: host.ofType('send')[0]?.requestId, chatId: 'c1', text: 'via button' }]);
  });

  it('keeps a draft per chat in the persisted view state', () => {
    const host = new FakeHost();
    host.state = { drafts: { c2: 'draft for c2' }, scroll: {} };
    const m = view(<Composer {...composer()} />, host);
    typeInto(textarea(m.container), 'draft for c1');
    assert.equal(host.state.drafts['c1'], 'draft for c1');
    m.rerender(<Composer {...composer({ chatId: 'c2' })} />);
    assert.equal(textarea(m.container).value, 'draft for c2');
  });

  it('shows the model and a context meter; regenerate and model actions post', () => {
    const { container, host } = view(<Composer {...composer({ canRegenerate: true })} />);
    assert.match(container.querySelector('.model-name')?.textContent ?? '', /tiny\.gguf/);
    const meter = container.querySelector('meter');
    assert.equal(meter?.getAttribute('value'), '100');
    assert.equal(meter?.getAttribute('max'), '4096');
    assert.equal(container.querySelector('.context-text')?.textContent, '100 / 4,096', 'before any count: the last figures');
    click(byText(container, 'vscode-button', 'Regenerate'));
    click(container.querySelector('.model-name'));
    assert.deepEqual(actions(host), [{ type: 'regenerate', chatId: 'c1' }, { type: 'selectModel' }]);
  });

  it('Regenerate targets the answer it is given', () => {
    const { container, host } = view(<Composer {...composer({ canRegenerate: true, regenerateId: 'a7' })} />);
    click(byText(container, 'vscode-button', 'Regenerate'));
    assert.deepEqual(actions(host), [{ type: 'regenerate', chatId: 'c1', messageId: 'a7' }]);
  });
});

describe('webview banners', () => {
  useDom();

  it('stale banner shows the silence and posts retry / discardStale', () => {
    const { container, host } = view(<StaleBanner stream={stream({ stale: true, silentMs: 60_000 })} />);
    assert.match(container.textContent ?? '', /No tokens for 60 s/);
    const buttons = Array.from(container.querySelectorAll('vscode-button')).map((b) => b.textContent);
    assert.deepEqual(buttons, ['Retry', 'Discard']);
    click(byText(container, 'vscode-button', 'Retry'));
    click(byText(container, 'vscode-button', 'Discard'));
    assert.deepEqual(host.posted, [
      { type: 'retry', chatId: 'c1', messageId: 'a1' },
      { type: 'discardStale', chatId: 'c1', messageId: 'a1' },
    ]);
  });

  it('no stale banner while tokens flow', () => {
    const { container } = view(<StaleBanner stream={stream()} />);
    assert.equal(container.innerHTML, '');
  });

  it('connection error shows message and hint with Retry connection / Open settings', () => {
    const connection = {
      state: 'error' as const,
      url: 'http://127.0.0.1:8080',
      error: { kind: 'unreachable' as const, message: 'Connection refused', hint: 'Start llama-server or check llamaChat.serverUrl.' },
    };
    const { container, host } = view(<ConnectionBanner connection={connection} />);
    assert.match(container.textContent ?? '', /Connection refused/);
    assert.match(container.textContent ?? '', /Start llama-server or check llamaChat\.serverUrl\./);
    click(byText(container, 'vscode-button', 'Retry connection'));
    click(byText(container, 'vscode-button', 'Open settings'));
    assert.deepEqual(host.posted, [{ type: 'retryConnection' }, { type: 'openSettings' }]);
  });

  it('checking shows a quiet spinner; connected shows nothing', () => {
    const checking = view(<ConnectionBanner connection={{ state: 'checking', url: 'http://h:1' }} />);
    assert.ok(checking.container.querySelector('vscode-progress-ring'));
    const ok = view(<ConnectionBanner connection={{ state: 'connected', url: 'http://h:1' }} />);
    assert.equal(ok.container.innerHTML, '');
  });

  it('empty state tells how to start and configure a server', () => {
    const { container } = view(<EmptyState connection={{ state: 'unknown' }} />);
    assert.match(container.textContent ?? '', /llama-server -m model\.gguf --port 8080/);
    assert.match(container.textContent ?? '', /llamaChat\.serverUrl/);
  });
});

describe('webview message list', () => {
  useDom();

  it('failed message shows its error, hint and a Retry button', () => {
    const chat = chatOf([
      message('u1', 'user', 'hi'),
      message('a1', 'assistant', 'partial', { status: 'failed', error: { kind: 'truncated', message: 'The stream ended early.', hint: 'Retry the request.' } }),
    ]);
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    const failed = container.querySelector('.status-failed');
    assert.match(failed?.textContent ?? '', /The stream ended early\./);
    assert.match(failed?.textContent ?? '', /Retry the request\./);
    click(byText(container, 'vscode-button', 'Retry'));
    assert.deepEqual(host.ofType('retry'), [{ type: 'retry', chatId: 'c1', messageId: 'a1' }]);
  });

  it('interrupted and stopped messages show their status, each with a Retry of itself', () => {
    const chat = chatOf([message('u0', 'user', 'q'), message('a0', 'assistant', 'x', { status: 'stopped' }), message('u1', 'user', 'q2'), message('a1', 'assistant', 'y', { status: 'interrupted' })]);
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    assert.equal(container.querySelector('.status-stopped')?.textContent, 'StoppedRetry');
    click(container.querySelector('.status-interrupted vscode-button'));
    click(container.querySelector('.status-stopped vscode-button'));
    assert.deepEqual(host.ofType('retry'), [
      { type: 'retry', chatId: 'c1', messageId: 'a1' },
      { type: 'retry', chatId: 'c1', messageId: 'a0' },
    ]);
  });

  it('shows prompt progress while the prompt is processed', () => {
    const chat = chatOf([message('u1', 'user', 'hi'), message('a1', 'assistant', '', { status: 'streaming' })]);
    const { container } = view(<MessageList chat={chat} streaming={[stream({ phase: 'prompt', promptProgress: 0.42 })]} />);
    assert.match(container.querySelector('.status-streaming')?.textContent ?? '', /Processing prompt 42%/);
    assert.equal(container.querySelector('[role=log]')?.getAttribute('aria-live'), 'polite');
  });

  it('footer shows model, tok/s, tokens, TTFT and context', () => {
    const chat = chatOf([
      message('a1', 'assistant', 'done', { model: 'qwen', completionTokens: 256, ctxUsed: 1200, ctxMax: 8192, timings: { predictedPerSecond: 41.26, ttftMs: 230 } }),
    ]);
    const { container } = view(<MessageList chat={chat} streaming={[]} />);
    assert.equal(container.querySelector('.message-footer')?.textContent, 'qwen · 41 tok/s · 256 tokens · TTFT 230 ms · ctx 1.2k/8.2k');
  });

  it('reasoning is open while only thinking, collapsed once the answer streams', () => {
    const thinking = chatOf([message('a1', 'assistant', '', { status: 'streaming', reasoning: 'Let me think' })]);
    const m = view(<MessageList chat={thinking} streaming={[stream()]} />);
    const details = (): HTMLDetailsElement => m.container.querySelector<HTMLDetailsElement>('details.reasoning')!;
    assert.equal(details().open, true);
    assert.equal(details().querySelector('summary')?.textContent, 'Thinking…');
    const answering = chatOf([message('a1', 'assistant', 'The answer', { status: 'streaming', reasoning: 'Let me think' })]);
    m.rerender(<MessageList chat={answering} streaming={[stream()]} />);
    assert.equal(details().open, false);
    assert.match(m.container.querySelector('.markdown:not(.reasoning .markdown)')?.textContent ?? '', /The answer/);
  });

  it('edit-and-resend a user message inline: the box closes when the host takes it', () => {
    const chat = chatOf([message('u1', 'user', 'old question'), message('a1', 'assistant', 'answer')]);
    const m = view(<MessageList chat={chat} streaming={[]} />);
    const { container, host } = m;
    click(container.querySelector('[title="Edit and resend"]'));
    const edit = container.querySelector<HTMLTextAreaElement>('textarea.edit-input')!;
    assert.equal(edit.value, 'old question');
    typeInto(edit, 'new question');
    key(edit, { key: 'Enter' });
    key(edit, { key: 'Enter' });
    const [sent] = host.ofType('editResend');
    assert.match(sent?.requestId ?? '', REQUEST_ID);
    assert.deepEqual(host.ofType('editResend'), [{ type: 'editResend', requestId: sent.requestId, chatId: 'c1', messageId: 'u1', text: 'new question' }]);
    assert.ok(container.querySelector('textarea.edit-input'), 'open until the result');
    m.rerender(<MessageList chat={chat} streaming={[]} results={ok(sent.requestId)} />);
    assert.equal(container.querySelector('textarea.edit-input'), null);
  });

  it('a refused edit keeps the box open with the reason; an over-long edit is refused before posting', () => {
    const chat = chatOf([message('u1', 'user', 'old question'), message('a1', 'assistant', 'answer')]);
    const m = view(<MessageList chat={chat} streaming={[]} />);
    click(m.container.querySelector('[title="Edit and resend"]'));
    const edit = (): HTMLTextAreaElement => m.container.querySelector<HTMLTextAreaElement>('textarea.edit-input')!;
    typeInto(edit(), 'new question');
    key(edit(), { key: 'Enter' });
    const id = m.host.ofType('editResend')[0].requestId;
    m.rerender(<MessageList chat={chat} streaming={[]} results={refused(id, 'The chat changed meanwhile.')} />);
    assert.equal(edit().value, 'new question');
    assert.equal(m.container.querySelector('.edit-refusal[role=alert]')?.textContent?.trim(), 'The chat changed meanwhile.');
    typeInto(edit(), 'x'.repeat(LIMITS.maxText + 1));
    assert.equal(m.container.querySelector('.edit-refusal'), null, 'an edit clears the reason');
    key(edit(), { key: 'Enter' });
    assert.equal(m.host.ofType('editResend').length, 1);
    assert.match(m.container.querySelector('.edit-refusal[role=alert]')?.textContent ?? '', /too long/);
    assert.ok(edit());
  });

  it('message actions: fork, copy, regenerate the answer', () => {
    const chat = chatOf([message('u1', 'user', 'q'), message('a1', 'assistant', 'answer')]);
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    click(container.querySelector('.message-user [title="Fork chat from here"]'));
    click(container.querySelector('[title="Copy answer"]'));
    click(container.querySelector('[title="Regenerate answer"]'));
    assert.deepEqual(host.posted, [
      { type: 'forkChat', chatId: 'c1', messageId: 'u1' },
      { type: 'copy', text: 'answer' },
      { type: 'regenerate', chatId: 'c1', messageId: 'a1' },
    ]);
  });
});

describe('webview header', () => {
  useDom();

  const chats = [
    { id: 'c1', title: 'First', createdAt: 1, updatedAt: 1, messageCount: 2 },
    { id: 'c2', title: 'Second', createdAt: 2, updatedAt: 5, messageCount: 4 },
  ];

  it('new, switch, rename, export and delete', () => {
    const { container, host } = view(<Header chats={chats} activeChatId="c1" />);
    click(container.querySelector('[title="New chat"]'));
    const toggle = container.querySelector('.chat-title')!;
    assert.equal(toggle.getAttribute('aria-expanded'), 'false');
    click(toggle);
    assert.deepEqual(Array.from(container.querySelectorAll('.chat-item-title')).map((e) => e.textContent), ['Second', 'First']);
    click(byText(container, '.chat-item', 'Second4 msgs'));
    assert.equal(container.querySelector('.chat-list'), null, 'list closes after switching');
    click(container.querySelector('[title="Rename chat"]'));
    const input = container.querySelector<HTMLInputElement>('input.rename-input')!;
    input.value = 'Renamed';
    key(input, { key: 'Enter' });
    click(container.querySelector('[title="Export chat"]'));
    click(container.querySelector('[title="Delete chat"]'));
    assert.deepEqual(host.posted, [
      { type: 'newChat' },
      { type: 'switchChat', chatId: 'c2' },
      { type: 'renameChat', chatId: 'c1', title: 'Renamed' },
      { type: 'exportChat', chatId: 'c1' },
      { type: 'deleteChat', chatId: 'c1' },
    ]);
  });
});

describe('webview header keyboard', () => {
  useDom();

  it('opening the list focuses the active chat; arrows move; Escape closes back to the toggle', () => {
    const chats = [
      { id: 'c1', title: 'First', createdAt: 1, updatedAt: 1, messageCount: 2 },
      { id: 'c2', title: 'Second', createdAt: 2, updatedAt: 5, messageCount: 4 },
    ];
    const { container } = view(<Header chats={chats} activeChatId="c1" />);
    const toggle = container.querySelector<HTMLElement>('.chat-title')!;
    click(toggle);
    assert.equal(document.activeElement?.textContent, 'First2 msgs');
    key(document.activeElement, { key: 'ArrowDown' });
    assert.equal(document.activeElement?.textContent, 'Second4 msgs');
    key(document.activeElement, { key: 'Escape' });
    assert.equal(container.querySelector('.chat-list'), null);
    assert.equal(document.activeElement, container.querySelector('.chat-title'));
  });
});

describe('webview app', () => {
  useDom();

  function post(msg: ToWebviewMessage): void {
    void act(() => {
      window.dispatchEvent(new MessageEvent('message', { data: msg }));
    });
  }
  function state(over: Partial<ViewState> = {}): ViewState {
    const chat = chatOf([message('u1', 'user', 'hi'), message('a1', 'assistant', 'Hel', { status: 'streaming' })]);
    return {
      chats: [chat],
      activeChatId: 'c1',
      activeChat: chat,
      streaming: [stream({ seq: 2 })],
      connection: { state: 'connected', url: 'http://127.0.0.1:8080', model: 'tiny', nCtx: 2048 },
      model: 'tiny',
      ...over,
    };
  }

  it('posts ready on start and renders from the snapshot, then applies deltas without doubling', () => {
    installDom();
    const { container, host } = view(<App />);
    assert.deepEqual(host.posted, [{ type: 'ready' }]);
    assert.ok(container.querySelector('.loading'), 'nothing rendered before the snapshot');
    post({ type: 'snapshot', state: state() });
    assert.equal(container.querySelector('.chat-title-text')?.textContent, 'My chat');
    post({ type: 'delta', chatId: 'c1', messageId: 'a1', seq: 2, text: 'Hel' });
    post({ type: 'delta', chatId: 'c1', messageId: 'a1', seq: 3, text: 'lo' });
    assert.equal(container.querySelector('.message-assistant .markdown')?.textContent, 'Hello');
    post({ type: 'status', chatId: 'c1', messageId: 'a1', status: 'streaming', stale: true, silentMs: 61_000 });
    assert.match(container.querySelector('.stale-banner')?.textContent ?? '', /No tokens for 61 s/);
    const area = textarea(container);
    key(area, { key: 'Escape' });
    assert.deepEqual(host.ofType('stop'), [{ type: 'stop', chatId: 'c1', messageId: 'a1' }]);
    post({ type: 'done', chatId: 'c1', messageId: 'a1', message: message('a1', 'assistant', 'Hello!') });
    assert.equal(container.querySelector('.stale-banner'), null);
    assert.ok(container.querySelector('.send-button'));
  });

  it('shows the empty state and a connection error from the snapshot', () => {
    installDom();
    const { container } = view(<App />);
    post({
      type: 'snapshot',
      state: state({
        activeChat: undefined,
        activeChatId: undefined,
        chats: [],
        streaming: [],
        connection: { state: 'error', url: 'http://127.0.0.1:8080', error: { kind: 'unreachable', message: 'Connection refused' } },
      }),
    });
    assert.ok(container.querySelector('.connection-error'));
    assert.match(container.querySelector('.empty-state')?.textContent ?? '', /llama-server -m model\.gguf/);
  });
});

/**
 * u1 ─┬─ a1 (failed, v1)
 *     ├─ a1b (v2) ── u3
 *     └─ a1c (v3) ── u2 ── a2
 */
function treeChat(leafId?: string, over: Partial<Chat> = {}): Chat {
  const messages = [
    message('u1', 'user', 'question', { createdAt: 1 }),
    message('a1', 'assistant', 'broken', { parentId: 'u1', createdAt: 2, status: 'failed', error: { kind: 'truncated', message: 'The stream ended early.' } }),
    message('a1b', 'assistant', 'second answer', { parentId: 'u1', createdAt: 3 }),
    message('a1c', 'assistant', 'third answer', { parentId: 'u1', createdAt: 4 }),
    message('u2', 'user', 'follow-up', { parentId: 'a1c', createdAt: 5 }),
    message('a2', 'assistant', 'follow-up answer', { parentId: 'u2', createdAt: 6, ctxUsed: 500, ctxMax: 4096 }),
    message('u3', 'user', 'other follow-up', { parentId: 'a1b', createdAt: 7 }),
  ];
  return { ...chatOf(messages), ...(leafId !== undefined ? { leafId } : {}), ...over };
}

const shownIds = (root: HTMLElement): string[] =>
  Array.from(root.querySelectorAll('.message-user .user-text, .message-assistant > .markdown')).map((e) => e.textContent ?? '');
const switcherOf = (root: ParentNode): HTMLElement | null => root.querySelector<HTMLElement>('.version-switcher');
const prevButton = (root: ParentNode): HTMLButtonElement => root.querySelector<HTMLButtonElement>('[aria-label="Previous version"]')!;
const nextButton = (root: ParentNode): HTMLButtonElement => root.querySelector<HTMLButtonElement>('[aria-label="Next version"]')!;

describe('webview message tree', () => {
  useDom();

  it('renders only the active path, with a version switcher where a turn has versions', () => {
    const { container } = view(<MessageList chat={treeChat('a2')} streaming={[]} />);
    assert.deepEqual(shownIds(container), ['question', 'third answer', 'follow-up', 'follow-up answer']);
    const switchers = container.querySelectorAll('.version-switcher');
    assert.equal(switchers.length, 1, 'only the answer to u1 has versions');
    const row = switchers[0].closest('.message');
    assert.match(row?.textContent ?? '', /third answer/);
    assert.equal(switchers[0].querySelector('.version-count')?.textContent, '3/3');
    assert.equal(prevButton(container).tagName, 'BUTTON', 'real buttons: Tab reaches them');
    assert.equal(prevButton(container).disabled, false);
    assert.equal(nextButton(container).disabled, true, 'no next version after the last');
  });

  it('the leaf picks the path: version 2/3 with its own replies; the default leaf is the last message', () => {
    const middle = view(<MessageList chat={treeChat('u3')} streaming={[]} />);
    assert.deepEqual(shownIds(middle.container), ['question', 'second answer', 'other follow-up']);
    assert.equal(switcherOf(middle.container)?.textContent, '2/3');
    assert.equal(prevButton(middle.container).disabled, false);
    assert.equal(nextButton(middle.container).disabled, false);
    const fallback = view(<MessageList chat={treeChat()} streaming={[]} />);
    assert.deepEqual(shownIds(fallback.container), ['question', 'second answer', 'other follow-up']);
  });

  it('a failed version shows its error box and Retry only while it is the shown version', () => {
    const shown = view(<MessageList chat={treeChat('a1')} streaming={[]} />);
    assert.equal(switcherOf(shown.container)?.textContent, '1/3');
    assert.equal(prevButton(shown.container).disabled, true);
    assert.match(shown.container.querySelector('.status-failed')?.textContent ?? '', /The stream ended early\./);
    click(byText(shown.container, 'vscode-button', 'Retry'));
    assert.deepEqual(shown.host.ofType('retry'), [{ type: 'retry', chatId: 'c1', messageId: 'a1' }]);
    const hidden = view(<MessageList chat={treeChat('a2')} streaming={[]} />);
    assert.equal(hidden.container.querySelector('.status-failed'), null);
    assert.equal(byText(hidden.container, 'vscode-button', 'Retry'), undefined);
  });

  it('Retry on an older failed answer (not the last) posts that answer', () => {
    const chat = chatOf([
      message('u1', 'user', 'q1'),
      message('a1', 'assistant', '', { status: 'failed', error: { kind: 'server_error', message: 'HTTP 500' } }),
      message('u2', 'user', 'q2'),
      message('a2', 'assistant', 'fine'),
    ]);
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    click(container.querySelector('.status-failed vscode-button'));
    assert.deepEqual(host.ofType('retry'), [{ type: 'retry', chatId: 'c1', messageId: 'a1' }]);
  });

  it('Regenerate on any answer posts that answer', () => {
    const { container, host } = view(<MessageList chat={treeChat('a2')} streaming={[]} />);
    const buttons = container.querySelectorAll('[title="Regenerate answer"]');
    assert.equal(buttons.length, 2);
    click(buttons[0]);
    assert.deepEqual(host.ofType('regenerate'), [{ type: 'regenerate', chatId: 'c1', messageId: 'a1c' }]);
  });

  it('clicking a version posts selectVersion and tells the app', () => {
    const chosen: string[] = [];
    const { container, host } = view(<MessageList chat={treeChat('a2')} streaming={[]} onSelectVersion={(id) => chosen.push(id)} />);
    click(prevButton(container));
    assert.deepEqual(host.ofType('selectVersion'), [{ type: 'selectVersion', chatId: 'c1', messageId: 'a1b' }]);
    assert.deepEqual(chosen, ['a1b']);
  });

  it('no version switching while the chat streams', () => {
    const chat = treeChat('a2');
    chat.messages = chat.messages.map((m) => (m.id === 'a2' ? { ...m, status: 'streaming' as const } : m));
    const { container, host } = view(<MessageList chat={chat} streaming={[stream({ messageId: 'a2' })]} />);
    assert.equal(prevButton(container).disabled, true);
    click(prevButton(container));
    assert.equal(host.ofType('selectVersion').length, 0);
  });

  it('Delete message on every message, Delete branch only with replies, none while streaming', () => {
    const chat = treeChat('a2');
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    assert.equal(container.querySelectorAll('[title="Delete message"]').length, 4);
    const rows = Array.from(container.querySelectorAll('.message'));
    const leafRow = rows[rows.length - 1];
    assert.equal(leafRow.querySelector('[title="Delete branch"]'), null, 'the leaf has no replies');
    click(rows[2].querySelector('[title="Delete branch"]'));
    click(leafRow.querySelector('[title="Delete message"]'));
    assert.deepEqual(host.ofType('deleteMessage'), [
      { type: 'deleteMessage', chatId: 'c1', messageId: 'u2', scope: 'branch' },
      { type: 'deleteMessage', chatId: 'c1', messageId: 'a2', scope: 'message' },
    ]);
    const live = treeChat('a2');
    live.messages = live.messages.map((m) => (m.id === 'a2' ? { ...m, status: 'streaming' as const } : m));
    const streaming = view(<MessageList chat={live} streaming={[stream({ messageId: 'a2' })]} />);
    const streamingRows = streaming.container.querySelectorAll('.message');
    assert.equal(streamingRows[streamingRows.length - 1].querySelector('[title="Delete message"]'), null);
  });

  it('a read-only chat has no edit, delete, regenerate or retry, but versions can be viewed', () => {
    const { container, host } = view(<MessageList chat={treeChat('a1', { readOnly: 'Made by a newer version of Llama Server Chat' })} streaming={[]} />);
    for (const title of ['Edit and resend', 'Delete message', 'Delete branch', 'Regenerate answer']) {
      assert.equal(container.querySelector(`[title="${title}"]`), null, title);
    }
    assert.equal(byText(container, 'vscode-button', 'Retry'), undefined);
    assert.ok(container.querySelector('[title="Copy message"]'));
    click(nextButton(container));
    assert.deepEqual(host.ofType('selectVersion'), [{ type: 'selectVersion', chatId: 'c1', messageId: 'a1b' }]);
  });
});

describe('webview app message tree', () => {
  useDom();

  function post(msg: ToWebviewMessage): void {
    void act(() => {
      window.dispatchEvent(new MessageEvent('message', { data: msg }));
    });
  }
  function start(chat: Chat, over: Partial<ViewState> = {}): ReturnType<typeof mount> {
    installDom();
    const m = view(<App />);
    post({
      type: 'snapshot',
      state: {
        chats: [chat],
        activeChatId: chat.id,
        activeChat: chat,
        streaming: [],
        connection: { state: 'connected', url: 'http://127.0.0.1:8080', model: 'tiny', nCtx: 2048 },
        model: 'tiny',
        ...over,
      },
    });
    return m;
  }

  it('Previous version posts selectVersion and shows the other version at once; the host leaf changes nothing', () => {
    const { container, host } = start(treeChat('a2'));
    assert.equal(switcherOf(container)?.textContent, '3/3');
    click(prevButton(container));
    assert.deepEqual(host.ofType('selectVersion'), [{ type: 'selectVersion', chatId: 'c1', messageId: 'a1b' }]);
    assert.deepEqual(shownIds(container), ['question', 'second answer', 'other follow-up'], 'switched before the host answered');
    assert.equal(switcherOf(container)?.textContent, '2/3');
    post({ type: 'leaf', chatId: 'c1', leafId: 'u3' });
    assert.deepEqual(shownIds(container), ['question', 'second answer', 'other follow-up']);
    click(prevButton(container));
    assert.equal(switcherOf(container)?.textContent, '1/3');
    assert.match(container.querySelector('.status-failed')?.textContent ?? '', /The stream ended early\./);
    click(nextButton(container));
    click(nextButton(container));
    assert.deepEqual(shownIds(container), ['question', 'third answer', 'follow-up', 'follow-up answer']);
  });

  it('keyboard: focus stays on the switcher when the row is replaced, moving over at the end', () => {
    const { container } = start(treeChat('u3'));
    nextButton(container).focus();
    click(nextButton(container));
    assert.equal(switcherOf(container)?.textContent, '3/3');
    assert.equal(document.activeElement, prevButton(container), 'Next is disabled at the end: focus moves to Previous');
    click(prevButton(container));
    assert.equal(switcherOf(container)?.textContent, '2/3');
    assert.equal(document.activeElement, prevButton(container));
  });

  it('a new message extends the active path, even on a branch that was not the latest', () => {
    const { container } = start(treeChat('u3'));
    post({ type: 'messageAdded', chatId: 'c1', message: message('a3', 'assistant', '', { parentId: 'u3', createdAt: 8, status: 'streaming' }) });
    post({ type: 'delta', chatId: 'c1', messageId: 'a3', seq: 0, text: 'new answer' });
    assert.deepEqual(shownIds(container), ['question', 'second answer', 'other follow-up', 'new answer']);
  });

  it('the context meter and Regenerate follow the active path, not the list order', () => {
    // The raw list ends with u3 (a question on another branch): the path ends with the answer a2.
    const { container, host } = start(treeChat('a2'));
    assert.equal(container.querySelector('.context-text')?.textContent, '500 / 4,096');
    click(byText(container, 'vscode-button', 'Regenerate'));
    assert.deepEqual(host.ofType('regenerate'), [{ type: 'regenerate', chatId: 'c1', messageId: 'a2' }]);
    // Another branch whose last answer carries other figures.
    post({ type: 'messageAdded', chatId: 'c1', message: message('a3', 'assistant', 'x', { parentId: 'u3', createdAt: 8, ctxUsed: 900, ctxMax: 4096 }) });
    assert.equal(container.querySelector('.context-text')?.textContent, '900 / 4,096');
    post({ type: 'leaf', chatId: 'c1', leafId: 'a2' });
    assert.equal(container.querySelector('.context-text')?.textContent, '500 / 4,096');
  });

  it('a send result from the host clears the composer; a refusal keeps it', () => {
    const { container, host } = start(treeChat('a2'));
    typeInto(textarea(container), 'next question');
    key(textarea(container), { key: 'Enter' });
    const first = host.ofType('send')[0];
    post({ type: 'result', requestId: first.requestId, ok: false, reason: 'busy', detail: 'Busy: a reply is being generated.' });
    assert.equal(textarea(container).value, 'next question');
    assert.match(container.querySelector('.composer [role=alert]')?.textContent ?? '', /Busy: a reply is being generated\./);
    key(textarea(container), { key: 'Enter' });
    const second = host.ofType('send')[1];
    assert.notEqual(second.requestId, first.requestId);
    post({ type: 'result', requestId: second.requestId, ok: true, chatId: 'c1' });
    assert.equal(textarea(container).value, '');
  });

  it('a read-only chat shows why, disables the composer and offers no changes', () => {
    const reason = 'Made by a newer version of Llama Server Chat';
    const chat = treeChat('a2', { readOnly: reason });
    const { container } = start(chat, { chats: [{ id: 'c1', title: 'My chat', createdAt: 1, updatedAt: 2, messageCount: 7, readOnly: reason }] });
    assert.equal(container.querySelector('.read-only-banner')?.textContent, `${reason} — read-only`);
    assert.equal(textarea(container).disabled, true);
    assert.equal(byText(container, 'vscode-button', 'Regenerate'), undefined);
    assert.equal(container.querySelector('[title="Delete message"]'), null);
    click(container.querySelector('.chat-title'));
    assert.match(container.querySelector('.chat-item')?.textContent ?? '', /read-only/);
  });

  it('a summary marked read-only is enough', () => {
    const chat = treeChat('a2');
    const { container } = start(chat, { chats: [{ id: 'c1', title: 'My chat', createdAt: 1, updatedAt: 2, messageCount: 7, readOnly: 'Damaged file' }] });
    assert.equal(container.querySelector('.read-only-banner')?.textContent, 'Damaged file — read-only');
    assert.equal(textarea(container).disabled, true);
  });
});
