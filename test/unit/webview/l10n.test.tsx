/**
 * Localization, webview side: with a pseudo-locale bundle (what `vscode.l10n.bundle` would be, built from
 * l10n/bundle.l10n.json), every text node and every aria-label / title / placeholder / label / alt the app renders
 * is translated: only the test's own data (chat titles, model names, URLs, file names) stays as given.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { act } from 'preact/test-utils';
import type { Attachment, Chat, ChatMessage } from '../../../src/core/chats/chat';
import type { PromptSize, StreamingInfo, ToWebviewMessage, ViewState } from '../../../src/protocol';
import { App } from '../../../webview/components/app';
import { AttachmentDetails, ChipList } from '../../../webview/components/attachments';
import { NoticeBanner, ReadOnlyBanner, StaleBanner } from '../../../webview/components/banners';
import { CodeBlock } from '../../../webview/components/codeBlock';
import { Composer } from '../../../webview/components/composer';
import { MessageList } from '../../../webview/components/messageList';
import type { ComposerProps } from '../../../webview/components/composer';
import { readBundle, setBundle, t } from '../../../webview/l10n';
import { renderHtml } from '../../../src/vscode/webviewHtml';
import { JSDOM } from 'jsdom';
import { repoRoot } from '../../harness/paths';
import { englishIn, pseudo, pseudoBundle } from '../../support/pseudoLocale';
import { click, drop, FakeHost, mount, paste, typeInto, useDom } from './dom';

/** The test's own data (and setting names), never translated: kept out of the check. Mostly non-Latin so little needs listing. */
const URL = 'http://127.0.0.1:8080';
const DATA = [URL, 'llamaChat.serverUrl', 'llamaChat.maxTokens', 'llama-server -m model.gguf --port 8080', 'https://example.com/a.png', 'https://example.com/b.png', 'https://example.com/'];
const SHOWN_ATTRIBUTES = ['aria-label', 'title', 'placeholder', 'label', 'alt'];

/** Every English word the user would see in `root`, with where it is. */
function untranslated(root: Element): string[] {
  const out: string[] = [];
  const walker = root.ownerDocument.createTreeWalker(root, 4 /* NodeFilter.SHOW_TEXT */);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    for (const w of englishIn(n.textContent ?? '', DATA)) out.push(`text "${n.textContent}" (${w})`);
  }
  for (const el of Array.from(root.querySelectorAll('*'))) {
    for (const attr of SHOWN_ATTRIBUTES) {
      const value = el.getAttribute(attr);
      if (value === null) continue;
      for (const w of englishIn(value, DATA)) out.push(`<${el.tagName.toLowerCase()} ${attr}="${value}"> (${w})`);
    }
  }
  return out;
}

function message(id: string, role: ChatMessage['role'], content: string, over: Partial<ChatMessage> = {}): ChatMessage {
  return { id, role, content, status: 'complete', createdAt: 1, ...over };
}
function chatOf(messages: ChatMessage[], over: Partial<Chat> = {}): Chat {
  const linked = messages.map((m, i) => (i === 0 ? m : { ...m, parentId: messages[i - 1].id }));
  return { id: 'c1', title: 'Чат', createdAt: 1, updatedAt: 2, messageCount: messages.length, messages: linked, ...over };
}
const stream = (over: Partial<StreamingInfo> = {}): StreamingInfo => ({ chatId: 'c1', messageId: 'a1', seq: 0, stale: false, phase: 'generating', ...over });
function composer(over: Partial<ComposerProps> = {}): ComposerProps {
  return { chatId: 'c1', stream: undefined, model: 'модель', ctxUsed: 100, ctxMax: 4096, canRegenerate: true, regenerateId: 'a1', focusRequest: 0, ...over };
}
const SELECTION: Attachment = { kind: 'selection', name: 'файл', text: 'ж', startLine: 3, endLine: 10, tokens: 17 };
const ONE_LINE: Attachment = { kind: 'selection', name: 'файл', text: 'ж', startLine: 3, endLine: 3, tokens: 1 };
const IMAGE: Attachment = { kind: 'image', name: 'картинка', mime: 'image/png', dataUri: 'data:image/png;base64,iVBORw0KGgo=' };

/** Model output with every Markdown piece that carries words of its own: images, task boxes, code, a link. */
const MARKDOWN = ['![картинка](https://example.com/a.png) ![](https://example.com/b.png)', '', '- [x] ж', '- [ ] ж', '', '```', '1 + 2', '```', '', '[ссылка](https://example.com/)'].join('\n');

/**
 * A chat showing every part of the message list: a system message, a long question with an attachment, two
 * versions of an answer with reasoning, figures, a context divider and Markdown, a summary, and answers failed
 * (with and without a message), stopped, interrupted, cut by the context and by the answer limit; the last one
 * streams when `streaming`.
 */
function everyMessage(streaming: boolean): Chat {
  const figures = { model: 'модель', completionTokens: 120, promptTokens: 900, cachedTokens: 600, ctxUsed: 1020, ctxMax: 8192, timings: { predictedPerSecond: 42, promptPerSecond: 1200, ttftMs: 350 } };
  const m = (id: string, parentId: string | undefined, role: ChatMessage['role'], over: Partial<ChatMessage> = {}): ChatMessage => ({
    id,
    ...(parentId !== undefined ? { parentId } : {}),
    role,
    content: 'ж',
    status: 'complete',
    createdAt: 1,
    ...over,
  });
  const messages: ChatMessage[] = [
    m('s1', undefined, 'system'),
    m('u1', 's1', 'user', { content: 'ж\n'.repeat(12), attachments: [SELECTION] }),
    m('a0', 'u1', 'assistant', figures),
    m('a1', 'u1', 'assistant', { ...figures, content: MARKDOWN, reasoning: 'ж', context: { omitted: 1, summarized: 1, nCtx: 4096 } }),
    m('u2', 'a1', 'user', { summary: { text: 'ж', covers: ['u1', 'a1'], createdAt: 1 } }),
    m('a2', 'u2', 'assistant', { status: 'failed', error: { kind: 'unknown', message: 'Ошибка', hint: 'Совет' } }),
    m('u3', 'a2', 'user', { summary: { text: 'ж', covers: ['u1'], createdAt: 1 } }),
    m('a3', 'u3', 'assistant', { status: 'failed' }),
    m('u4', 'a3', 'user'),
    m('a4', 'u4', 'assistant', { status: 'stopped', ctxUsed: 10 }),
    m('u5', 'a4', 'user'),
    m('a5', 'u5', 'assistant', { status: 'interrupted', context: { omitted: 3, nCtx: 4096 } }),
    m('u6', 'a5', 'user'),
    m('a6', 'u6', 'assistant', { finishReason: 'length', limit: 'context', ctxMax: 4096 }),
    m('u7', 'a6', 'user'),
    m('a7', 'u7', 'assistant', { finishReason: 'length', limit: 'context' }),
    m('u8', 'a7', 'user'),
    m('a8', 'u8', 'assistant', { finishReason: 'length', limit: 'maxTokens' }),
    m('u9', 'a8', 'user'),
    m('a9', 'u9', 'assistant', streaming ? { status: 'streaming', content: '', reasoning: 'ж' } : {}),
  ];
  return { id: 'c1', title: 'Чат', createdAt: 1, updatedAt: 2, messageCount: messages.length, messages, leafId: 'a9' };
}

describe('l10n: webview under a pseudo-locale', () => {
  useDom();
  const english = JSON.parse(fs.readFileSync(path.join(repoRoot(), 'l10n', 'bundle.l10n.json'), 'utf8')) as Record<string, string>;
  before(() => setBundle(pseudoBundle(english)));
  after(() => setBundle(undefined));

  function post(msg: ToWebviewMessage): void {
    void act(() => {
      window.dispatchEvent(new MessageEvent('message', { data: msg }));
    });
  }
  function state(over: Partial<ViewState> = {}): ViewState {
    const chat = chatOf([message('u1', 'user', 'привет'), message('a1', 'assistant', 'ответ', { status: 'streaming' })]);
    return {
      chats: [chat, { id: 'c2', title: 'Другой', createdAt: 1, updatedAt: 1, messageCount: 1 }, { id: 'c3', title: 'Старый', createdAt: 1, updatedAt: 0, messageCount: 4, readOnly: '' }],
      activeChatId: 'c1',
      activeChat: chat,
      streaming: [stream({ seq: 2 })],
      connection: { state: 'connected', url: URL, model: 'модель', nCtx: 2048 },
      model: 'модель',
      reasoning: { canToggle: true, canSkip: true },
      server: { name: 'сервер', url: URL },
      ...over,
    };
  }

  it('t() reads the bundle and fills placeholders; without one it is English', () => {
    assert.equal(t('Send'), pseudo('Send'));
    assert.equal(t('Connecting to {0}…', URL), `${pseudo('Connecting to ')}${URL}…`);
    setBundle(undefined);
    try {
      assert.equal(t('Connecting to {0}…', URL), `Connecting to ${URL}…`);
      assert.equal(t('Not in the bundle {0}', 1), 'Not in the bundle 1');
    } finally {
      setBundle(pseudoBundle(english));
    }
  });

  it('the page carries the host bundle on #root, which the webview reads back (and English pages carry none)', () => {
    const bundle = { Send: 'Senden', 'Quote " & <tag>': '„x" & <y>' };
    const html = (l10n?: { bundle?: Record<string, string>; lang?: string }): string =>
      renderHtml({ cspSource: 'https://x', nonce: 'n', scriptUri: 's', styleUri: 'c', codiconUri: 'i', ...(l10n ? { l10n } : {}) });
    const doc = new JSDOM(html({ bundle, lang: 'de' })).window.document;
    assert.deepEqual(readBundle(doc.getElementById('root')), bundle);
    assert.equal(doc.documentElement.lang, 'de');
    assert.equal(doc.querySelectorAll('script').length, 1, 'no script added for the strings');
    const plain = new JSDOM(html()).window.document;
    assert.equal(plain.getElementById('root')?.hasAttribute('data-l10n'), false);
    assert.equal(plain.documentElement.lang, 'en');
    assert.equal(readBundle(plain.getElementById('root')), undefined);
  });

  it('the check sees English: a hard-coded label fails it', () => {
    const m = mount(
      <div>
        <button title="Send">{t('Send')}</button>
        <span>{pseudo('Stop')}</span>
      </div>,
    );
    assert.deepEqual(untranslated(m.container), ['<button title="Send"> (Send)']);
  });

  it('loading, the chat with a stalled stream, the header and its chat list', () => {
    const { container } = mount(<App />);
    assert.deepEqual(untranslated(container), [], 'loading');
    post({ type: 'snapshot', state: state() });
    post({ type: 'status', chatId: 'c1', messageId: 'a1', status: 'streaming', stale: true, silentMs: 61_000 });
    assert.ok(container.querySelector('.stale-banner'), 'the stale banner is shown');
    click(container.querySelector('.chat-title'));
    assert.ok(container.querySelector('.chat-list'), 'the chat list is open');
    assert.deepEqual(untranslated(container), []);
  });

  it('empty states: connecting, connected without messages, the connection error', () => {
    const { container } = mount(<App />);
    const empty = { activeChat: undefined, activeChatId: undefined, streaming: [] };
    post({ type: 'snapshot', state: state({ ...empty, chats: [], connection: { state: 'checking', url: URL } }) });
    assert.ok(container.querySelector('.empty-state'));
    assert.deepEqual(untranslated(container), [], 'connecting');
    post({ type: 'snapshot', state: state({ ...empty, connection: { state: 'connected', url: URL, model: 'модель' } }) });
    assert.deepEqual(untranslated(container), [], 'connected');
    post({ type: 'snapshot', state: state({ ...empty, connection: { state: 'connected', url: URL } }) });
    assert.deepEqual(untranslated(container), [], 'connected, no model name');
    // The error's message and hint come from the host, already translated there.
    post({ type: 'snapshot', state: state({ ...empty, connection: { state: 'error', url: URL, error: { kind: 'unreachable', message: 'Ошибка', hint: 'Совет' } } }) });
    assert.ok(container.querySelector('.connection-error'));
    assert.deepEqual(untranslated(container), [], 'error');
  });

  it('the composer: idle, streaming, thinking on and off, read-only, without a model', () => {
    for (const over of [
      {},
      { stream: stream() },
      { canToggleThinking: true, thinking: true },
      { canToggleThinking: true, thinking: false },
      { readOnly: '' },
      { model: undefined },
      { ctxMax: undefined },
    ] satisfies Partial<ComposerProps>[]) {
      const m = mount(<Composer {...composer(over)} />);
      assert.deepEqual(untranslated(m.container), [], JSON.stringify(over));
      m.unmount();
    }
  });

  it('the composer: the next request size, chips, a long paste, refusals', async () => {
    const m = mount(<Composer {...composer({ attachQueue: [{ seq: 1, attachment: SELECTION }] })} />);
    typeInto(m.container.querySelector('textarea')!, 'вопрос');
    const draftId = m.host.ofType('draft').pop()!.draftId;
    const size = (over: Partial<PromptSize>): PromptSize => ({ chatId: 'c1', draftId, tokens: 3000, exact: false, nCtx: 4096, reserve: 512, fits: false, omitted: 3, attachmentTokens: [17], ...over });
    for (const over of [{}, { omitted: 1, tokens: 1, exact: true, fits: true }, { nCtx: undefined }]) {
      m.rerender(<Composer {...composer({ attachQueue: [{ seq: 1, attachment: SELECTION }], promptSize: size(over) })} />);
      assert.ok(m.container.querySelector('.context'), 'the meter is shown');
      assert.deepEqual(untranslated(m.container), [], JSON.stringify(over));
    }
    paste(m.container.querySelector('textarea'), 'ж'.repeat(3_000));
    assert.ok(m.container.querySelector('.paste-offer'));
    assert.deepEqual(untranslated(m.container), [], 'paste offer');
    // Sending with the offer open is refused with a reason.
    const area = m.container.querySelector('textarea')!;
    void act(() => {
      area.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
    });
    assert.ok(m.container.querySelector('.composer-refusal'));
    assert.deepEqual(untranslated(m.container), [], 'refusal');
    // Dropping a file that is not an image; an image on a model without vision.
    const plain = mount(<Composer {...composer()} />);
    drop(plain.container.querySelector('.composer'), [new File(['x'], 'ж.txt', { type: 'text/plain' })]);
    assert.ok(plain.container.querySelector('.composer-refusal'));
    assert.deepEqual(untranslated(plain.container), [], 'drop');
    drop(plain.container.querySelector('.composer'), [new File(['x'], 'ж.png', { type: 'image/png' })]);
    await new Promise((resolve) => setTimeout(resolve, 0));
    assert.deepEqual(untranslated(plain.container), [], 'no vision');
  });

  it('the message list: versions, reasoning, figures, dividers, summaries, Markdown, every final status and cut', () => {
    const m = mount(<MessageList chat={everyMessage(false)} streaming={[]} reasoning={{ canToggle: true, canSkip: true }} />);
    const c = m.container;
    for (const selector of ['.version-switcher', '.reasoning', '.message-footer', '.context-divider', '.summary-block', '.status-failed', '.status-stopped', '.status-interrupted', '.cut-context', '.cut-max-tokens', '.show-more', '.md-link', 'input[type=checkbox]', '.system-label']) {
      assert.ok(c.querySelector(selector), `${selector} is rendered`);
    }
    assert.equal(c.querySelectorAll('.context-divider').length, 2, 'summarized and not sent');
    assert.deepEqual(untranslated(c), [], 'the whole list');
    click(c.querySelector('.show-more'));
    assert.deepEqual(untranslated(c), [], 'a question shown in full');
    click(c.querySelector('.summary-edit-button'));
    assert.ok(c.querySelector('.summary-input'), 'the summary is being edited');
    assert.deepEqual(untranslated(c), [], 'editing a summary');
    click(c.querySelector('.message-user .icon-button[name=edit]'));
    assert.ok(c.querySelector('.edit-input'), 'a question is being edited');
    assert.deepEqual(untranslated(c), [], 'editing a question');
  });

  it('the message list while an answer streams: every status line, Skip thinking, the reasoning open', () => {
    const chat = everyMessage(true);
    const streams: Partial<StreamingInfo>[] = [
      { phase: 'waiting' },
      { phase: 'prompt' },
      { phase: 'prompt', promptProgress: 0.4 },
      { phase: 'generating' },
      { reconnecting: true },
      { stale: true },
      { stale: true, silentMs: 61_000, diagnosis: 'Диагноз' },
      { queued: { busy: 4, total: 4 } },
      { busyMs: 12_000 },
    ];
    const m = mount(<MessageList chat={chat} streaming={[]} reasoning={{ canToggle: true, canSkip: true }} />);
    for (const over of streams) {
      m.rerender(<MessageList chat={chat} streaming={[stream({ messageId: 'a9', ...over })]} reasoning={{ canToggle: true, canSkip: true }} />);
      assert.ok(m.container.querySelector('.status-streaming'), `a status line: ${JSON.stringify(over)}`);
      assert.deepEqual(untranslated(m.container), [], JSON.stringify(over));
    }
    m.rerender(<MessageList chat={chat} streaming={[stream({ messageId: 'a9', phase: 'generating' })]} reasoning={{ canToggle: true, canSkip: true }} />);
    assert.ok(m.container.querySelector('.skip-thinking'), 'Skip thinking is offered');
    assert.ok(m.container.querySelector('.reasoning[open]'), 'the reasoning is open while the model only thinks');
    assert.deepEqual(untranslated(m.container), [], 'thinking');
  });

  it('chips, attachment details, code blocks and banners', () => {
    const host = new FakeHost();
    const m = mount(
      <div>
        <ChipList attachments={[SELECTION, ONE_LINE, IMAGE]} tokens={() => 5} onRemove={() => undefined} />
        <AttachmentDetails attachment={SELECTION} />
        <AttachmentDetails attachment={IMAGE} />
        <CodeBlock code="1 + 2" lang={undefined} />
        <CodeBlock code="1 + 2" lang="ж" />
        <NoticeBanner notice={{ kind: 'unknown', message: 'Сообщение', hint: 'Совет' }} onDismiss={() => undefined} />
        <ReadOnlyBanner reason="" />
        <ReadOnlyBanner reason="Причина" />
        <StaleBanner stream={stream({ stale: true })} />
        <StaleBanner stream={stream({ stale: true, silentMs: 5_000, diagnosis: 'Диагноз' })} />
      </div>,
      host,
    );
    assert.equal(m.container.querySelectorAll('.stale-banner').length, 2);
    assert.deepEqual(untranslated(m.container), []);
  });
});
