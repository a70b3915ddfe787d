import * as assert from 'node:assert/strict';
import type { ComponentChild } from 'preact';
import { act } from 'preact/test-utils';
import type { Chat, ChatMessage } from '../../../src/core/chat';
import type { StreamingInfo, ToWebviewMessage, ViewState } from '../../../src/protocol';
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
function chatOf(messages: ChatMessage[], id = 'c1'): Chat {
  return { id, title: 'My chat', createdAt: 1, updatedAt: 2, messageCount: messages.length, messages };
}
const stream = (over: Partial<StreamingInfo> = {}): StreamingInfo => ({ chatId: 'c1', messageId: 'a1', seq: 0, stale: false, phase: 'generating', ...over });

function composer(over: Partial<ComposerProps> = {}): ComposerProps {
  return { chatId: 'c1', stream: undefined, model: 'tiny.gguf', ctxUsed: 100, ctxMax: 4096, canRegenerate: false, prefill: undefined, focusRequest: 0, ...over };
}
const textarea = (root: HTMLElement): HTMLTextAreaElement => root.querySelector<HTMLTextAreaElement>('textarea.composer-input')!;

describe('webview composer', () => {
  useDom();

  it('Enter sends and clears, Shift+Enter does not send', () => {
    const { container, host } = view(<Composer {...composer()} />);
    const area = textarea(container);
    typeInto(area, 'line one');
    const shift = key(area, { key: 'Enter', shiftKey: true });
    assert.equal(shift.defaultPrevented, false, 'Shift+Enter leaves the newline to the textarea');
    assert.equal(host.ofType('send').length, 0);
    typeInto(area, 'line one\nline two');
    const enter = key(area, { key: 'Enter' });
    assert.equal(enter.defaultPrevented, true);
    assert.deepEqual(host.ofType('send'), [{ type: 'send', chatId: 'c1', text: 'line one\nline two' }]);
    assert.equal(area.value, '');
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
    assert.deepEqual(host.posted, [{ type: 'send', chatId: 'c1', text: 'via button' }]);
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
    assert.equal(container.querySelector('.context-text')?.textContent, '100/4.1k');
    click(byText(container, 'vscode-button', 'Regenerate'));
    click(container.querySelector('.model-name'));
    assert.deepEqual(host.posted, [{ type: 'regenerate', chatId: 'c1' }, { type: 'selectModel' }]);
  });

  it('prefill replaces the draft', () => {
    const m = view(<Composer {...composer()} />);
    m.rerender(<Composer {...composer({ prefill: { id: 1, text: 'explain this' } })} />);
    assert.equal(textarea(m.container).value, 'explain this');
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
      { type: 'discardStale', chatId: 'c1' },
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

  it('interrupted and stopped messages show their status', () => {
    const chat = chatOf([message('a0', 'assistant', 'x', { status: 'stopped' }), message('a1', 'assistant', 'y', { status: 'interrupted' })]);
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    assert.equal(container.querySelector('.status-stopped')?.textContent, 'Stopped');
    click(container.querySelector('.status-interrupted vscode-button'));
    assert.deepEqual(host.ofType('retry'), [{ type: 'retry', chatId: 'c1', messageId: 'a1' }]);
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
    assert.equal(container.querySelector('.message-footer')?.textContent, 'qwen · 41.3 tok/s · 256 tokens · TTFT 230 ms · ctx 1.2k/8.2k');
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

  it('edit-and-resend a user message inline', () => {
    const chat = chatOf([message('u1', 'user', 'old question'), message('a1', 'assistant', 'answer')]);
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    click(container.querySelector('[title="Edit and resend"]'));
    const edit = container.querySelector<HTMLTextAreaElement>('textarea.edit-input')!;
    assert.equal(edit.value, 'old question');
    typeInto(edit, 'new question');
    key(edit, { key: 'Enter' });
    assert.deepEqual(host.ofType('editResend'), [{ type: 'editResend', chatId: 'c1', messageId: 'u1', text: 'new question' }]);
    assert.equal(container.querySelector('textarea.edit-input'), null);
  });

  it('message actions: fork, copy, regenerate the last answer', () => {
    const chat = chatOf([message('u1', 'user', 'q'), message('a1', 'assistant', 'answer')]);
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    click(container.querySelector('.message-user [title="Fork chat from here"]'));
    click(container.querySelector('[title="Copy answer"]'));
    click(container.querySelector('[title="Regenerate answer"]'));
    assert.deepEqual(host.posted, [
      { type: 'forkChat', chatId: 'c1', messageId: 'u1' },
      { type: 'copy', text: 'answer' },
      { type: 'regenerate', chatId: 'c1' },
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
