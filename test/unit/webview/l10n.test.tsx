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
import type { ComposerProps } from '../../../webview/components/composer';
import { readBundle, setBundle, t } from '../../../webview/l10n';
import { renderHtml } from '../../../src/vscode/webviewHtml';
import { JSDOM } from 'jsdom';
import { repoRoot } from '../../harness/paths';
import { englishIn, pseudo, pseudoBundle } from '../../support/pseudoLocale';
import { click, drop, FakeHost, mount, paste, typeInto, useDom } from './dom';

/**
 * Rendered by files another change is restructuring in this wave (their strings move to t() in a second pass,
 * which deletes this list): the message list (webview/components/messageList.tsx, with webview/markdown/**) is
 * left out of the check by its root element.
 */
const SECOND_PASS_SUBTREES = ['.messages[role=log]'];

/** The test's own data, never translated: kept out of the check. Mostly non-Latin so little needs listing. */
const URL = 'http://127.0.0.1:8080';
const DATA = [URL, 'llamaChat.serverUrl', 'llama-server -m model.gguf --port 8080'];
const SHOWN_ATTRIBUTES = ['aria-label', 'title', 'placeholder', 'label', 'alt'];

/** Every English word the user would see in `root`, with where it is. */
function untranslated(root: Element): string[] {
  const skip = (node: Node): boolean => {
    const el = node instanceof Element ? node : node.parentElement;
    return SECOND_PASS_SUBTREES.some((s) => el?.closest(s) !== null && el?.closest(s) !== undefined);
  };
  const out: string[] = [];
  const walker = root.ownerDocument.createTreeWalker(root, 4 /* NodeFilter.SHOW_TEXT */);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    if (skip(n)) continue;
    for (const w of englishIn(n.textContent ?? '', DATA)) out.push(`text "${n.textContent}" (${w})`);
  }
  for (const el of Array.from(root.querySelectorAll('*'))) {
    if (skip(el)) continue;
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
