/**
 * Liveness and reasoning in the chat view: busy (counting up locally), waiting for a slot, stale with the
 * server's diagnosis, reconnecting; the thinking toggle and Skip thinking; the footer's comparison figures.
 */
import * as assert from 'node:assert/strict';
import type { ComponentChild } from 'preact';
import { act } from 'preact/test-utils';
import type { Chat, ChatMessage } from '../../../src/core/chats/chat';
import type { StreamingInfo, ToWebviewMessage, ViewState } from '../../../src/protocol';
import { App } from '../../../webview/components/app';
import { StaleBanner } from '../../../webview/components/banners';
import { Composer } from '../../../webview/components/composer';
import type { ComposerProps } from '../../../webview/components/composer';
import { footerFigures, MessageList } from '../../../webview/components/messageList';
import type { MessageListProps } from '../../../webview/components/messageList';
import { ClockContext } from '../../../webview/clock';
import { modelLabel } from '../../../webview/format';
import { activeStream, initialModel, reasoningOf, reduce } from '../../../webview/state';
import type { ViewModel } from '../../../webview/state';
import { byText, click, FakeClock, installDom, mount, useDom } from './dom';

function message(id: string, role: ChatMessage['role'], content: string, over: Partial<ChatMessage> = {}): ChatMessage {
  return { id, role, content, status: 'complete', createdAt: 1, ...over };
}
function chatOf(messages: ChatMessage[], over: Partial<Chat> = {}): Chat {
  const linked = messages.map((m, i) => (i === 0 ? m : { ...m, parentId: messages[i - 1].id }));
  return { id: 'c1', title: 'My chat', createdAt: 1, updatedAt: 2, messageCount: messages.length, messages: linked, ...over };
}
const stream = (over: Partial<StreamingInfo> = {}): StreamingInfo => ({ chatId: 'c1', messageId: 'a1', seq: 0, stale: false, phase: 'generating', ...over });
/** A question and a streaming answer with `answer`'s fields. */
const streamingChat = (answer: Partial<ChatMessage> = {}): Chat =>
  chatOf([message('u1', 'user', 'hi'), message('a1', 'assistant', '', { status: 'streaming', ...answer })]);

function withClock(vnode: ComponentChild, clock: FakeClock): ComponentChild {
  return <ClockContext.Provider value={clock}>{vnode}</ClockContext.Provider>;
}
function list(props: Partial<MessageListProps> & { clock?: FakeClock } = {}): ReturnType<typeof mount> {
  const { clock = new FakeClock(), ...rest } = props;
  return mount(withClock(<MessageList chat={streamingChat()} streaming={[stream()]} {...rest} />, clock));
}
const statusText = (root: HTMLElement): string => root.querySelector('.status-streaming')?.textContent?.trim() ?? '';

describe('webview liveness: the streaming status line', () => {
  useDom();

  it('busy shows "Server busy · 45 s" with a calm icon and counts up once per second without the host', () => {
    const clock = new FakeClock();
    const m = list({ clock, chat: streamingChat({ content: 'partial answer' }), streaming: [stream({ busyMs: 45_000 })] });
    assert.equal(statusText(m.container), 'Server busy · 45 s', 'shown even while text has come');
    const line = m.container.querySelector('.status-streaming')!;
    assert.ok(line.classList.contains('status-busy'));
    assert.equal(line.querySelector('vscode-icon')?.getAttribute('name'), 'watch');
    assert.equal(line.querySelector('.codicon-error, .codicon-warning'), null, 'no error or warning look');
    clock.advance(999);
    assert.equal(statusText(m.container), 'Server busy · 45 s');
    clock.advance(1);
    assert.equal(statusText(m.container), 'Server busy · 46 s');
    clock.advance(14_000);
    assert.equal(statusText(m.container), 'Server busy · 60 s');
    assert.equal(m.host.posted.length, 0, 'no host traffic for the count');
  });

  it('a new busy time from the host starts the count over from it; the timer stops when busy ends', () => {
    const clock = new FakeClock();
    const chat = streamingChat({ content: 'x' });
    const m = list({ clock, chat, streaming: [stream({ busyMs: 5_000 })] });
    clock.advance(3_000);
    assert.equal(statusText(m.container), 'Server busy · 8 s');
    m.rerender(withClock(<MessageList chat={chat} streaming={[stream()]} />, clock));
    assert.equal(m.container.querySelector('.status-streaming'), null, 'tokens flowing again: no status line');
    assert.equal(clock.running, 0);
    m.rerender(withClock(<MessageList chat={chat} streaming={[stream({ busyMs: 5_000 })]} />, clock));
    assert.equal(statusText(m.container), 'Server busy · 5 s');
  });

  it('queued shows "Waiting for a free slot (4 of 4 busy)" before busy', () => {
    const m = list({ streaming: [stream({ phase: 'waiting', queued: { busy: 4, total: 4 }, busyMs: 7_000 })] });
    assert.equal(statusText(m.container), 'Waiting for a free slot (4 of 4 busy)');
    assert.ok(m.container.querySelector('.status-queued vscode-icon[name=watch]'));
  });

  it('reconnecting shows "Reconnecting…" over every other state', () => {
    const m = list({ chat: streamingChat({ content: 'so far' }), streaming: [stream({ reconnecting: true, busyMs: 3_000, stale: true, silentMs: 20_000 })] });
    assert.equal(statusText(m.container), 'Reconnecting…');
    assert.ok(m.container.querySelector('.status-reconnecting'));
  });

  it('stale shows the silence in the status line with the warning look', () => {
    const m = list({ chat: streamingChat({ content: 'so far' }), streaming: [stream({ stale: true, silentMs: 12_000 })] });
    assert.equal(statusText(m.container), 'No tokens for 12 s');
    assert.ok(m.container.querySelector('.status-stale vscode-icon[name=warning]'));
  });

  it('generating and prompt progress read as before', () => {
    const m = list({ streaming: [stream({ phase: 'prompt', promptProgress: 0.42 })] });
    assert.equal(statusText(m.container), 'Processing prompt 42%');
    assert.ok(m.container.querySelector('.status-working vscode-icon[name=loading]'));
  });
});

describe('webview liveness: the stale banner', () => {
  useDom();

  it('says what the server reported, with Retry and Discard', () => {
    const diagnosis = 'llama-server is still processing this request (slot 2)';
    const m = mount(withClock(<StaleBanner stream={stream({ stale: true, silentMs: 12_000, diagnosis })} />, new FakeClock()));
    assert.equal(m.container.querySelector('.banner-text')?.textContent, 'No tokens for 12 s. llama-server is still processing this request (slot 2).');
    click(byText(m.container, 'vscode-button', 'Retry'));
    click(byText(m.container, 'vscode-button', 'Discard'));
    assert.deepEqual(m.host.posted, [
      { type: 'retry', chatId: 'c1', messageId: 'a1' },
      { type: 'discardStale', chatId: 'c1', messageId: 'a1' },
    ]);
  });

  it('without a diagnosis keeps the old text; the silence counts up', () => {
    const clock = new FakeClock();
    const m = mount(withClock(<StaleBanner stream={stream({ stale: true, silentMs: 12_000 })} />, clock));
    assert.equal(m.container.querySelector('.banner-text')?.textContent, 'No tokens for 12 s. The server may be stuck or the connection lost.');
    clock.advance(2_000);
    assert.match(m.container.querySelector('.banner-text')?.textContent ?? '', /^No tokens for 14 s\./);
  });

  it('a diagnosis that already ends a sentence gets no second full stop', () => {
    const m = mount(withClock(<StaleBanner stream={stream({ stale: true, silentMs: 60_000, diagnosis: 'llama-server is not responding.' })} />, new FakeClock()));
    assert.equal(m.container.querySelector('.banner-text')?.textContent, 'No tokens for 60 s. llama-server is not responding.');
  });
});

describe('webview liveness: the reducer', () => {
  const chat = streamingChat({ content: 'Hel' });
  const snap = (streaming: StreamingInfo[], over: Partial<ViewState> = {}): ToWebviewMessage => ({
    type: 'snapshot',
    state: { chats: [chat], activeChatId: 'c1', activeChat: chat, streaming, connection: { state: 'unknown' }, model: undefined, ...over },
  });
  type Status = Extract<ToWebviewMessage, { type: 'status' }>;
  const status = (over: Partial<Status>): Status => ({ type: 'status', chatId: 'c1', messageId: 'a1', status: 'streaming', ...over });
  const apply = (...msgs: ToWebviewMessage[]): ViewModel => msgs.reduce(reduce, initialModel);

  it('busy and queued apply from status; null clears them, absent leaves them', () => {
    let m = apply(snap([stream({ seq: 1 })]), status({ busyMs: 5_000, queued: { busy: 4, total: 4 } }));
    assert.equal(activeStream(m)?.busyMs, 5_000);
    assert.deepEqual(activeStream(m)?.queued, { busy: 4, total: 4 });
    m = reduce(m, status({ phase: 'prompt' }));
    assert.equal(activeStream(m)?.busyMs, 5_000, 'absent: unchanged');
    assert.deepEqual(activeStream(m)?.queued, { busy: 4, total: 4 });
    m = reduce(m, status({ busyMs: null }));
    assert.equal(activeStream(m)?.busyMs, undefined, 'null: no longer busy');
    assert.equal('busyMs' in (activeStream(m) ?? {}), false);
    assert.deepEqual(activeStream(m)?.queued, { busy: 4, total: 4 });
    m = reduce(m, status({ queued: null }));
    assert.equal(activeStream(m)?.queued, undefined);
  });

  it('the diagnosis comes with staleness and goes with it; reconnecting is set and cleared', () => {
    let m = apply(snap([stream({ seq: 1 })]), status({ stale: true, silentMs: 12_000, diagnosis: 'llama-server is not responding' }));
    assert.equal(activeStream(m)?.diagnosis, 'llama-server is not responding');
    m = reduce(m, status({ reconnecting: true }));
    assert.equal(activeStream(m)?.reconnecting, true);
    assert.equal(activeStream(m)?.diagnosis, 'llama-server is not responding', 'kept while still stale');
    m = reduce(m, status({ stale: false }));
    assert.equal(activeStream(m)?.diagnosis, undefined);
    assert.equal(activeStream(m)?.reconnecting, true);
    m = reduce(m, status({ reconnecting: false }));
    assert.equal(activeStream(m)?.reconnecting, undefined);
  });

  it('text flowing again clears busy, queued, reconnecting and the diagnosis; an empty frame only staleness', () => {
    const busy = stream({ seq: 1, busyMs: 9_000, queued: { busy: 1, total: 1 }, reconnecting: true, stale: true, silentMs: 1, diagnosis: 'x' });
    let m = apply(snap([busy]), { type: 'delta', chatId: 'c1', messageId: 'a1', seq: 2, text: '', usage: { completionTokens: 3 } });
    assert.equal(activeStream(m)?.stale, false);
    assert.equal(activeStream(m)?.diagnosis, undefined);
    assert.equal(activeStream(m)?.busyMs, 9_000, 'a frame without text is no progress');
    m = reduce(m, { type: 'delta', chatId: 'c1', messageId: 'a1', seq: 3, text: 'lo' });
    const s = activeStream(m);
    assert.deepEqual([s?.busyMs, s?.queued, s?.reconnecting], [undefined, undefined, undefined]);
  });

  it('snapshot carries the stream fields and the reasoning capabilities', () => {
    const m = apply(snap([stream({ seq: 1, busyMs: 4_000, queued: { busy: 2, total: 2 }, reconnecting: true })], { reasoning: { canToggle: true, canSkip: false } }));
    assert.deepEqual(m.reasoning, { canToggle: true, canSkip: false });
    assert.equal(activeStream(m)?.busyMs, 4_000);
    assert.equal(activeStream(m)?.reconnecting, true);
    const again = reduce(m, snap([]));
    assert.equal(again.reasoning, undefined, 'a later snapshot without it: nothing to offer');
  });

  it('the capabilities of the live connection win over the snapshot', () => {
    let m = apply(snap([], { reasoning: { canToggle: true, canSkip: true } }));
    assert.deepEqual(reasoningOf(m), { canToggle: true, canSkip: true });
    m = reduce(m, { type: 'connection', connection: { state: 'connected', url: 'http://h:1', reasoning: { canToggle: false, canSkip: false } } });
    assert.deepEqual(reasoningOf(m), { canToggle: false, canSkip: false });
    m = reduce(m, { type: 'connection', connection: { state: 'connected', url: 'http://h:1' } });
    assert.deepEqual(reasoningOf(m), { canToggle: true, canSkip: true }, 'a connection without the figure: the snapshot\'s');
  });

  it('chooseThinking shows the choice at once on the active chat only', () => {
    let m = apply(snap([]));
    m = reduce(m, { type: 'chooseThinking', chatId: 'c1', enabled: false });
    assert.equal(m.activeChat?.thinking, false);
    const other = reduce(m, { type: 'chooseThinking', chatId: 'c2', enabled: true });
    assert.equal(other, m);
  });
});

describe('webview reasoning controls', () => {
  useDom();

  function composer(over: Partial<ComposerProps> = {}): ComposerProps {
    return { chatId: 'c1', stream: undefined, model: 'tiny', ctxUsed: 0, ctxMax: 4096, canRegenerate: false, focusRequest: 0, ...over };
  }
  const toggle = (root: HTMLElement): HTMLButtonElement | null => root.querySelector<HTMLButtonElement>('[aria-label="Thinking"]');

  it('the thinking toggle is hidden unless the template can toggle', () => {
    assert.equal(toggle(mount(<Composer {...composer()} />).container), null);
    assert.equal(toggle(mount(<Composer {...composer({ canToggleThinking: false, thinking: true })} />).container), null);
    assert.ok(toggle(mount(<Composer {...composer({ canToggleThinking: true })} />).container));
  });

  it('shows the chat\'s choice pressed or not and posts setThinking with the other', () => {
    const chosen: boolean[] = [];
    const m = mount(<Composer {...composer({ canToggleThinking: true, thinking: true, onThinking: (on) => chosen.push(on) })} />);
    const button = toggle(m.container)!;
    assert.equal(button.tagName, 'BUTTON', 'a real, keyboard-reachable button');
    assert.equal(button.getAttribute('aria-pressed'), 'true');
    click(button);
    assert.deepEqual(m.host.ofType('setThinking'), [{ type: 'setThinking', chatId: 'c1', enabled: false }]);
    assert.deepEqual(chosen, [false]);
    m.rerender(<Composer {...composer({ canToggleThinking: true, thinking: false })} />);
    assert.equal(toggle(m.container)?.getAttribute('aria-pressed'), 'false');
    click(toggle(m.container));
    assert.deepEqual(m.host.ofType('setThinking')[1], { type: 'setThinking', chatId: 'c1', enabled: true });
  });

  it('in the app: follows chat.thinking and ViewState.reasoning, and flips at once when clicked', () => {
    installDom();
    const m = mount(<App />);
    const post = (msg: ToWebviewMessage): void => {
      void act(() => {
        window.dispatchEvent(new MessageEvent('message', { data: msg }));
      });
    };
    const chat = chatOf([message('u1', 'user', 'hi'), message('a1', 'assistant', 'yes')], { thinking: false });
    const state: ViewState = { chats: [chat], activeChatId: 'c1', activeChat: chat, streaming: [], connection: { state: 'unknown' }, model: 'tiny' };
    post({ type: 'snapshot', state });
    assert.equal(toggle(m.container), null, 'no reasoning capabilities: no toggle');
    post({ type: 'snapshot', state: { ...state, reasoning: { canToggle: true, canSkip: true } } });
    assert.equal(toggle(m.container)?.getAttribute('aria-pressed'), 'false', 'chat.thinking false: off');
    click(toggle(m.container));
    assert.deepEqual(m.host.ofType('setThinking'), [{ type: 'setThinking', chatId: 'c1', enabled: true }]);
    assert.equal(toggle(m.container)?.getAttribute('aria-pressed'), 'true');
  });

  const skip = (root: HTMLElement): HTMLElement | undefined => byText(root, 'vscode-button', 'Skip thinking');

  it('Skip thinking shows while the answer only reasons and posts skipThinking for it', () => {
    const m = list({ chat: streamingChat({ reasoning: 'Let me think' }), reasoning: { canToggle: false, canSkip: true } });
    const button = skip(m.container);
    assert.ok(button, 'shown while reasoning without content');
    click(button);
    assert.deepEqual(m.host.ofType('skipThinking'), [{ type: 'skipThinking', chatId: 'c1', messageId: 'a1' }]);
    click(skip(m.container));
    assert.equal(m.host.ofType('skipThinking').length, 1, 'posted once');
  });

  it('no Skip thinking once content comes, without reasoning, without canSkip, or in a read-only chat', () => {
    const caps = { canToggle: true, canSkip: true };
    assert.equal(skip(list({ chat: streamingChat({ reasoning: 'hm', content: 'Answer' }), reasoning: caps }).container), undefined);
    assert.equal(skip(list({ chat: streamingChat({ content: '' }), streaming: [stream({ phase: 'prompt' })], reasoning: caps }).container), undefined);
    assert.equal(skip(list({ chat: streamingChat({ reasoning: 'hm' }), reasoning: { canToggle: true, canSkip: false } }).container), undefined);
    assert.equal(skip(list({ chat: streamingChat({ reasoning: 'hm' }) }).container), undefined);
    assert.equal(skip(list({ chat: streamingChat({ reasoning: 'hm' }), reasoning: caps, readOnly: 'Made by a newer version' }).container), undefined);
    const done = chatOf([message('u1', 'user', 'hi'), message('a1', 'assistant', '', { reasoning: 'hm' })]);
    assert.equal(skip(list({ chat: done, streaming: [], reasoning: caps }).container), undefined);
  });

  it('Skip thinking sits beside the busy text when the server stalls mid-thought', () => {
    const m = list({ chat: streamingChat({ reasoning: 'hm' }), streaming: [stream({ busyMs: 6_000 })], reasoning: { canToggle: false, canSkip: true } });
    assert.match(statusText(m.container), /^Server busy · 6 s/);
    assert.ok(skip(m.container));
  });
});

describe('webview footer figures', () => {
  useDom();

  const answer = (over: Partial<ChatMessage>): ChatMessage => message('a1', 'assistant', 'done', over);
  const footer = (m: ChatMessage): string => mount(<MessageList chat={chatOf([m])} streaming={[]} />).container.querySelector('.message-footer')?.textContent ?? '';

  it('adds prompt tokens, cache reuse and prompt tok/s beside generation tok/s and TTFT', () => {
    const m = answer({
      model: 'qwen',
      completionTokens: 256,
      promptTokens: 1200,
      cachedTokens: 900,
      ctxUsed: 1456,
      ctxMax: 8192,
      timings: { predictedPerSecond: 41.26, promptPerSecond: 812.4, ttftMs: 230 },
    });
    assert.equal(footer(m), 'qwen · 41 tok/s · prompt 812 tok/s · 256 tokens · prompt 1.2k · cache 75% · TTFT 230 ms · ctx 1.5k/8.2k');
  });

  it('each figure is a nowrap unit with what it means on hover', () => {
    const el = mount(<MessageList chat={chatOf([answer({ promptTokens: 100, cachedTokens: 0 })])} streaming={[]} />).container;
    const figures = Array.from(el.querySelectorAll('.message-footer .footer-figure')).map((f) => [f.textContent, f.getAttribute('title')]);
    assert.deepEqual(figures, [
      ['prompt 100', 'Prompt tokens: 100'],
      ['cache 0%', "Prompt tokens reused from the server's cache: 0 of 100"],
    ]);
  });

  it('cache % only with both figures and a non-empty prompt', () => {
    assert.doesNotMatch(footer(answer({ promptTokens: 100 })), /cache/);
    assert.doesNotMatch(footer(answer({ cachedTokens: 50, completionTokens: 1 })), /cache/);
    assert.doesNotMatch(footer(answer({ promptTokens: 0, cachedTokens: 0 })), /cache/);
    assert.match(footer(answer({ promptTokens: 3, cachedTokens: 1 })), /cache 33%/);
  });

  it('a path-like model shows its base name without .gguf; an alias as is', () => {
    assert.match(footer(answer({ model: '/models/Qwen3-0.6B-Q8_0.gguf' })), /^Qwen3-0\.6B-Q8_0$/);
    assert.match(footer(answer({ model: 'C:\\models\\tiny.GGUF' })), /^tiny$/);
    assert.equal(modelLabel('qwen3:0.6b'), 'qwen3:0.6b');
    assert.equal(modelLabel('org/repo/'), 'repo');
    assert.equal(footerFigures(answer({ model: 'models/x.gguf' }))[0]?.text, 'x');
  });

  it('the composer shows the base name of a path-like model too', () => {
    const el = mount(<Composer chatId="c1" stream={undefined} model="/srv/models/tiny.gguf" ctxUsed={0} ctxMax={1} canRegenerate={false} focusRequest={0} />).container;
    assert.equal(el.querySelector('.model-name-text')?.textContent, 'tiny');
    assert.doesNotMatch(el.querySelector('.model-name')?.getAttribute('title') ?? '', /srv/);
  });
});
