/** The webview's side of "context that fits": the next-request meter, attachment chips, dividers, summaries, cut answers. */
import * as assert from 'node:assert/strict';
import type { ComponentChild } from 'preact';
import { act } from 'preact/test-utils';
import type { Attachment, Chat, ChatMessage } from '../../../src/core/chats/chat';
import { LIMITS } from '../../../src/protocol';
import type { PromptSize, RequestResult, ToWebviewMessage, ViewState } from '../../../src/protocol';
import { App } from '../../../webview/components/app';
import { Composer } from '../../../webview/components/composer';
import type { ComposerProps } from '../../../webview/components/composer';
import { MessageList } from '../../../webview/components/messageList';
import type { AttachRequest } from '../../../webview/state';
import { byText, click, drop, FakeHost, installDom, key, mount, paste, settle, typeInto, useDom } from './dom';

const view = (vnode: ComponentChild, host = new FakeHost()): ReturnType<typeof mount> => mount(vnode, host);

function message(id: string, role: ChatMessage['role'], content: string, over: Partial<ChatMessage> = {}): ChatMessage {
  return { id, role, content, status: 'complete', createdAt: 1, ...over };
}
function chatOf(messages: ChatMessage[], id = 'c1', over: Partial<Chat> = {}): Chat {
  const linked = messages.map((m, i) => ('parentId' in m || i === 0 ? m : { ...m, parentId: messages[i - 1].id }));
  return { id, title: 'My chat', createdAt: 1, updatedAt: 2, messageCount: messages.length, messages: linked, ...over };
}
function composer(over: Partial<ComposerProps> = {}): ComposerProps {
  return { chatId: 'c1', stream: undefined, model: 'tiny.gguf', ctxUsed: 100, ctxMax: 4096, canRegenerate: false, focusRequest: 0, ...over };
}
const textarea = (root: HTMLElement): HTMLTextAreaElement => root.querySelector<HTMLTextAreaElement>('textarea.composer-input')!;
const meterText = (root: HTMLElement): string | null | undefined => root.querySelector('.context-text')?.textContent;
const meterBox = (root: HTMLElement): HTMLElement => root.querySelector<HTMLElement>('.context')!;
const ok = (requestId: string, chatId = 'c1'): Record<string, RequestResult> => ({ [requestId]: { requestId, ok: true, chatId } });
const chipNames = (root: ParentNode): string[] => Array.from(root.querySelectorAll('.chips .chip')).map((c) => c.textContent ?? '');

function size(draftId: string, over: Partial<PromptSize> = {}): PromptSize {
  return { chatId: 'c1', draftId, tokens: 1234, exact: true, nCtx: 8192, reserve: 512, fits: true, omitted: 0, attachmentTokens: [], ...over };
}
const lastDraftId = (host: FakeHost): string => {
  const drafts = host.ofType('draft');
  const last = drafts[drafts.length - 1];
  if (!last) throw new Error('no draft posted');
  return last.draftId;
};

const FILE: Attachment = { kind: 'file', name: 'src/a.ts', text: 'export const a = 1;\n', language: 'typescript' };
const SELECTION: Attachment = { kind: 'selection', name: 'src/b.ts', text: 'let b = 2;', startLine: 3, endLine: 10, tokens: 17 };
const PNG = 'data:image/png;base64,iVBORw0KGgo=';
const IMAGE: Attachment = { kind: 'image', name: 'shot.png', mime: 'image/png', dataUri: PNG };
const queue = (...attachments: Attachment[]): AttachRequest[] => attachments.map((attachment, i) => ({ seq: i + 1, attachment }));

describe('webview composer: next request size', () => {
  useDom();

  it('posts a draft when shown and on every change, each with a fresh id; an identical draft is not posted again', () => {
    const m = view(<Composer {...composer()} />);
    assert.deepEqual(
      m.host.ofType('draft').map(({ draftId: _id, ...d }) => d),
      [{ type: 'draft', chatId: 'c1', text: '' }],
      'once when the chat is shown',
    );
    typeInto(textarea(m.container), 'h');
    typeInto(textarea(m.container), 'hi');
    const drafts = m.host.ofType('draft');
    assert.deepEqual(drafts.map((d) => d.text), ['', 'h', 'hi']);
    assert.equal(new Set(drafts.map((d) => d.draftId)).size, 3, 'fresh ids');
    for (const d of drafts) assert.match(d.draftId, /^[A-Za-z0-9_-]{1,200}$/);
    m.rerender(<Composer {...composer({ model: 'other' })} />);
    assert.equal(m.host.ofType('draft').length, 3, 'nothing changed in the draft');
    m.rerender(<Composer {...composer({ model: 'other', pathRevision: 'answer done' })} />);
    assert.equal(m.host.ofType('draft').length, 4, 'the path changed: counted again');
    m.rerender(<Composer {...composer({ chatId: 'c2', pathRevision: 'answer done' })} />);
    const toC2 = m.host.ofType('draft').slice(4);
    assert.deepEqual(toC2.map(({ draftId: _id, ...d }) => d), [{ type: 'draft', chatId: 'c2', text: '' }], "shown: the other chat's draft, never this one's text");
  });

  it('shows the count of the latest draft: exact, estimated (≈), warning from 80 %, error when it does not fit', () => {
    const m = view(<Composer {...composer()} />);
    const id = lastDraftId(m.host);
    m.rerender(<Composer {...composer({ promptSize: size(id) })} />);
    assert.equal(meterText(m.container), '1,234 / 8,192');
    assert.equal(meterBox(m.container).className, 'context');
    assert.equal(m.container.querySelector('meter')?.getAttribute('max'), '8192');
    m.rerender(<Composer {...composer({ promptSize: size(id, { exact: false }) })} />);
    assert.equal(meterText(m.container), '≈1,234 / 8,192');
    m.rerender(<Composer {...composer({ promptSize: size(id, { tokens: 6554 }) })} />);
    assert.equal(meterBox(m.container).className, 'context context-warning', '80 % of 8,192');
    m.rerender(<Composer {...composer({ promptSize: size(id, { tokens: 6553 }) })} />);
    assert.equal(meterBox(m.container).className, 'context', 'just under 80 %');
    m.rerender(<Composer {...composer({ promptSize: size(id, { tokens: 9000, fits: false }) })} />);
    assert.equal(meterBox(m.container).className, 'context context-error');
    assert.equal(meterText(m.container), '9,000 / 8,192');
    m.rerender(<Composer {...composer({ promptSize: size(id, { tokens: 7000, omitted: 3 }) })} />);
    assert.match(meterBox(m.container).title, /3 earlier messages will be left out/);
    m.rerender(<Composer {...composer({ promptSize: size(id, { omitted: 1 }) })} />);
    assert.match(meterBox(m.container).title, /1 earlier message will be left out/);
  });

  it('ignores a count whose draftId is not the latest, even when it arrives late', () => {
    const m = view(<Composer {...composer()} />);
    typeInto(textarea(m.container), 'a');
    const first = lastDraftId(m.host);
    typeInto(textarea(m.container), 'ab');
    const second = lastDraftId(m.host);
    m.rerender(<Composer {...composer({ promptSize: size(first, { tokens: 50 }) })} />);
    assert.equal(meterText(m.container), '100 / 4,096', 'an older draft: the fallback figures stay');
    m.rerender(<Composer {...composer({ promptSize: size(second, { tokens: 60 }) })} />);
    assert.equal(meterText(m.container), '60 / 8,192');
    m.rerender(<Composer {...composer({ promptSize: size(first, { tokens: 50 }) })} />);
    assert.equal(meterText(m.container), '60 / 8,192', 'a late answer to the older draft changes nothing');
  });

  it('tooLarge is shown under the composer and refuses Send, keeping the draft', () => {
    const m = view(<Composer {...composer()} />);
    typeInto(textarea(m.container), 'a huge question');
    const reason = 'The question alone needs 9,100 tokens; the context holds 8,192 (512 kept for the answer).';
    m.rerender(<Composer {...composer({ promptSize: size(lastDraftId(m.host), { tokens: 9100, fits: false, tooLarge: reason }) })} />);
    assert.equal(m.container.querySelector('.composer [role=alert]')?.textContent?.trim(), reason);
    key(textarea(m.container), { key: 'Enter' });
    click(m.container.querySelector('.send-button'));
    assert.equal(m.host.ofType('send').length, 0);
    assert.equal(textarea(m.container).value, 'a huge question');
    assert.equal(m.host.state?.drafts['c1'], 'a huge question');
    assert.equal(m.container.querySelectorAll('[role=alert]').length, 1, 'one reason, not two');
    assert.equal(m.container.querySelector('[role=alert]')?.textContent?.trim(), reason);
  });
});

describe('webview composer: attachments', () => {
  useDom();

  it('chips from the host show name, lines and tokens, can be removed, and never touch the text', () => {
    const m = view(<Composer {...composer()} />);
    typeInto(textarea(m.container), 'explain');
    m.rerender(<Composer {...composer({ attachQueue: queue(FILE, SELECTION) })} />);
    assert.deepEqual(chipNames(m.container), ['src/a.ts', 'src/b.tslines 3–1017 tokens']);
    assert.equal(textarea(m.container).value, 'explain');
    assert.deepEqual(m.host.state?.attachments?.['c1'], [FILE, SELECTION], 'kept with the draft');
    const draft = m.host.ofType('draft').pop();
    assert.deepEqual(draft?.attachments, [FILE, SELECTION]);
    // The host counts this draft: the chip shows the exact count.
    m.rerender(<Composer {...composer({ attachQueue: queue(FILE, SELECTION), promptSize: size(draft.draftId, { attachmentTokens: [1500, 20] }) })} />);
    assert.deepEqual(chipNames(m.container), ['src/a.ts1,500 tokens', 'src/b.tslines 3–1020 tokens']);
    click(m.container.querySelector('[aria-label="Remove attachment src/a.ts"]'));
    assert.deepEqual(chipNames(m.container), ['src/b.tslines 3–1020 tokens'], 'the count stays with its chip');
    assert.deepEqual(m.host.state?.attachments?.['c1'], [SELECTION]);
    assert.equal(textarea(m.container).value, 'explain');
    click(m.container.querySelector('[aria-label="Remove attachment src/b.ts lines 3–10"]'));
    assert.equal(m.container.querySelector('.chips'), null);
    assert.equal(m.host.state?.attachments?.['c1'], undefined);
    assert.deepEqual(m.host.ofType('draft').pop()?.attachments, undefined);
  });

  it('chips are sent with send and cleared with the draft on an ok result; a refusal keeps them', () => {
    const m = view(<Composer {...composer({ attachQueue: queue(FILE) })} />);
    typeInto(textarea(m.container), 'what does it do?');
    key(textarea(m.container), { key: 'Enter' });
    const [sent] = m.host.ofType('send');
    assert.deepEqual(sent, { type: 'send', requestId: sent.requestId, chatId: 'c1', text: 'what does it do?', attachments: [FILE] });
    m.rerender(<Composer {...composer({ attachQueue: queue(FILE), results: { [sent.requestId]: { requestId: sent.requestId, ok: false, reason: 'busy', detail: 'Busy.' } } })} />);
    assert.deepEqual(chipNames(m.container), ['src/a.ts']);
    key(textarea(m.container), { key: 'Enter' });
    const again = m.host.ofType('send')[1];
    m.rerender(<Composer {...composer({ attachQueue: queue(FILE), results: ok(again.requestId) })} />);
    assert.equal(textarea(m.container).value, '');
    assert.equal(m.container.querySelector('.chips'), null);
    assert.equal(m.host.state?.drafts['c1'], undefined);
    assert.equal(m.host.state?.attachments?.['c1'], undefined);
  });

  it('a chip alone can be sent; chips persist per chat across a reload', () => {
    const host = new FakeHost();
    host.state = { drafts: {}, attachments: { c1: [FILE] }, scroll: {} };
    const m = view(<Composer {...composer()} />, host);
    assert.deepEqual(chipNames(m.container), ['src/a.ts']);
    click(m.container.querySelector('.send-button'));
    assert.deepEqual(host.ofType('send')[0]?.attachments, [FILE]);
  });

  it('at most LIMITS.maxAttachments chips; more are refused with a reason', () => {
    const many = Array.from({ length: LIMITS.maxAttachments + 1 }, (_, i): Attachment => ({ kind: 'file', name: `f${i}.ts`, text: '' }));
    const m = view(<Composer {...composer({ attachQueue: queue(...many) })} />);
    assert.equal(m.container.querySelectorAll('.chips .chip').length, LIMITS.maxAttachments);
    assert.match(m.container.querySelector('[role=alert]')?.textContent ?? '', /At most 32 attachments/);
  });

  it('typing @ at the start or after whitespace posts pickFile; the chip replaces the @', () => {
    const m = view(<Composer {...composer()} />);
    typeInto(textarea(m.container), 'mail a@');
    assert.equal(m.host.ofType('pickFile').length, 0, 'not inside a word');
    typeInto(textarea(m.container), '');
    typeInto(textarea(m.container), '@');
    assert.deepEqual(m.host.ofType('pickFile'), [{ type: 'pickFile', chatId: 'c1' }]);
    typeInto(textarea(m.container), '@ and ');
    typeInto(textarea(m.container), '@ and @');
    assert.equal(m.host.ofType('pickFile').length, 2);
    m.rerender(<Composer {...composer({ attachQueue: queue(FILE) })} />);
    assert.equal(textarea(m.container).value, '@ and ', 'the @ that opened the picker goes');
    assert.deepEqual(chipNames(m.container), ['src/a.ts']);
    // Nothing picked (no chip comes): the typed @ simply stays.
    typeInto(textarea(m.container), '@ and @');
    assert.equal(textarea(m.container).value, '@ and @');
  });

  it('a long paste offers Attach as file / Keep as text; a short one pastes as usual', () => {
    const m = view(<Composer {...composer()} />);
    const area = textarea(m.container);
    const short = paste(area, 'x'.repeat(2000));
    assert.equal(short.defaultPrevented, false);
    assert.equal(m.container.querySelector('.paste-offer'), null);
    typeInto(area, 'before after');
    area.setSelectionRange(7, 7);
    const long = 'y'.repeat(2345);
    const ev = paste(area, long);
    assert.equal(ev.defaultPrevented, true);
    const bar = m.container.querySelector('.paste-offer[role=group]');
    assert.match(bar?.textContent ?? '', /2,345 characters/);
    assert.equal(textarea(m.container).value, 'before after', 'nothing inserted yet');
    click(byText(m.container, 'vscode-button', 'Attach as file'));
    assert.deepEqual(chipNames(m.container), ['Pasted text (2,345 chars)']);
    assert.deepEqual(m.host.state?.attachments?.['c1'], [{ kind: 'paste', name: 'Pasted text (2,345 chars)', text: long }]);
    assert.equal(textarea(m.container).value, 'before after');
    assert.equal(m.container.querySelector('.paste-offer'), null);
    textarea(m.container).setSelectionRange(7, 7);
    paste(textarea(m.container), long);
    click(byText(m.container, 'vscode-button', 'Keep as text'));
    assert.equal(textarea(m.container).value, `before ${long}after`, 'inserted where it was pasted');
    assert.equal(m.container.querySelectorAll('.chips .chip').length, 1);
    // Escape on the bar keeps the text too: a paste is never lost.
    paste(textarea(m.container), 'z'.repeat(3000));
    key(m.container.querySelector('.paste-offer'), { key: 'Escape' });
    assert.match(textarea(m.container).value, /z{3000}/);
  });

  it('Send waits for a choice on a pending long paste', () => {
    const m = view(<Composer {...composer()} />);
    typeInto(textarea(m.container), 'question');
    paste(textarea(m.container), 'y'.repeat(2500));
    key(textarea(m.container), { key: 'Enter' });
    assert.equal(m.host.ofType('send').length, 0);
    assert.match(m.container.querySelector('[role=alert]')?.textContent ?? '', /Attach as file/);
  });

  it('an image is refused without vision and added as a chip with a thumbnail with it', async () => {
    const win = installDom() as unknown as { File: typeof File };
    const png = (): File => new win.File([new Uint8Array([137, 80, 78, 71])], 'shot.png', { type: 'image/png' });
    const blind = view(<Composer {...composer({ vision: false })} />);
    const ev = paste(textarea(blind.container), '', [png()]);
    assert.equal(ev.defaultPrevented, true);
    await settle();
    assert.equal(blind.container.querySelector('[role=alert]')?.textContent?.trim(), 'This model has no vision: images cannot be sent');
    assert.equal(blind.container.querySelector('.chips'), null);

    const seeing = view(<Composer {...composer({ vision: true })} />);
    paste(textarea(seeing.container), '', [png()]);
    await settle();
    const thumb = seeing.container.querySelector<HTMLImageElement>('.chips .chip-image img.chip-thumb');
    assert.equal(thumb?.getAttribute('src'), 'data:image/png;base64,iVBORw==');
    assert.deepEqual(chipNames(seeing.container), ['shot.png']);
    assert.deepEqual(seeing.host.state?.attachments?.['c1'], [{ kind: 'image', name: 'shot.png', mime: 'image/png', dataUri: 'data:image/png;base64,iVBORw==' }]);
    // Dropped image files too.
    drop(seeing.container.querySelector('.composer'), [png()]);
    await settle();
    assert.equal(seeing.container.querySelectorAll('.chips .chip').length, 2);
    assert.equal(seeing.container.querySelector('[role=alert]'), null);
  });
});

describe('webview message list: context', () => {
  useDom();

  it('user bubbles show their attachments as chips that open to the text or the image', () => {
    const chat = chatOf([message('u1', 'user', 'look', { attachments: [SELECTION, IMAGE] }), message('a1', 'assistant', 'ok')]);
    const { container } = view(<MessageList chat={chat} streaming={[]} />);
    const details = Array.from(container.querySelectorAll<HTMLDetailsElement>('.user-bubble details.attachment'));
    assert.equal(details.length, 2);
    assert.equal(details[0].querySelector('summary')?.textContent, 'src/b.tslines 3–1017 tokens');
    assert.equal(details[0].open, false);
    details[0].open = true;
    assert.equal(details[0].querySelector('pre')?.textContent, 'let b = 2;');
    assert.equal(details[1].querySelector('summary')?.textContent, 'shot.png');
    assert.equal(details[1].querySelector('img.attachment-image')?.getAttribute('src'), PNG);
    assert.equal(container.querySelector('.user-text')?.textContent, 'look');
  });

  it('a long user message collapses with Show more / Show less', () => {
    const long = Array.from({ length: 20 }, (_, i) => `line ${i}`).join('\n');
    const chat = chatOf([message('u1', 'user', long), message('u2', 'user', 'short', { parentId: 'u1' })]);
    const { container } = view(<MessageList chat={chat} streaming={[]} />);
    const [first, second] = Array.from(container.querySelectorAll('.user-text'));
    assert.equal(first.className, 'user-text user-text-collapsed');
    assert.equal(second.className, 'user-text', 'a short one does not collapse');
    assert.equal(container.querySelectorAll('.show-more').length, 1);
    const toggle = container.querySelector<HTMLButtonElement>('button.show-more')!;
    assert.equal(toggle.textContent, 'Show more');
    assert.equal(toggle.getAttribute('aria-expanded'), 'false');
    click(toggle);
    assert.equal(container.querySelector('.user-text')?.className, 'user-text');
    assert.equal(container.querySelector('button.show-more')?.textContent, 'Show less');
    assert.equal(container.querySelector('button.show-more')?.getAttribute('aria-expanded'), 'true');
    click(container.querySelector('button.show-more'));
    assert.equal(container.querySelector('.user-text')?.className, 'user-text user-text-collapsed');
    assert.equal(container.querySelector('[style]'), null, 'no inline styles');
  });

  it('edit and resend keeps the question’s attachments (minus the removed ones)', () => {
    const chat = chatOf([message('u1', 'user', 'look', { attachments: [FILE, SELECTION] }), message('a1', 'assistant', 'ok')]);
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    click(container.querySelector('[title="Edit and resend"]'));
    click(container.querySelector('.editing [aria-label="Remove attachment src/a.ts"]'));
    key(container.querySelector('textarea.edit-input'), { key: 'Enter' });
    const [sent] = host.ofType('editResend');
    assert.deepEqual(sent, { type: 'editResend', requestId: sent.requestId, chatId: 'c1', messageId: 'u1', text: 'look', attachments: [SELECTION] });
  });

  function longChat(last: Partial<ChatMessage>): Chat {
    return chatOf([
      message('u1', 'user', 'q1'),
      message('a1', 'assistant', 'r1'),
      message('u2', 'user', 'q2'),
      message('a2', 'assistant', 'r2'),
      message('u3', 'user', 'q3'),
      message('a3', 'assistant', 'r3', last),
    ]);
  }
  const rowsAndDividers = (root: HTMLElement): string[] =>
    Array.from(root.querySelectorAll('.context-divider, .message-user .user-text, .message-assistant > .markdown')).map((e) =>
      e.classList.contains('context-divider') ? `— ${e.textContent} —` : (e.textContent ?? ''),
    );

  it('a divider after the messages the last answer left out', () => {
    const { container } = view(<MessageList chat={longChat({ context: { omitted: 3, nCtx: 8192 } })} streaming={[]} />);
    assert.deepEqual(rowsAndDividers(container), ['q1', 'r1', 'q2', '— 3 earlier messages not sent (context 8,192 tokens) —', 'r2', 'q3', 'r3']);
    const one = view(<MessageList chat={longChat({ context: { omitted: 1, nCtx: 4096 } })} streaming={[]} />);
    assert.deepEqual(rowsAndDividers(one.container).slice(0, 2), ['q1', '— 1 earlier message not sent (context 4,096 tokens) —']);
    const none = view(<MessageList chat={longChat({ context: { omitted: 0, nCtx: 8192 } })} streaming={[]} />);
    assert.equal(none.container.querySelector('.context-divider'), null);
  });

  it('only the last answer that left messages out places the divider; summarized messages have their own', () => {
    const chat = longChat({ context: { omitted: 0, summarized: 2, nCtx: 8192 } });
    chat.messages = chat.messages.map((m) => (m.id === 'a2' ? { ...m, context: { omitted: 1, nCtx: 2048 } } : m));
    const { container } = view(<MessageList chat={chat} streaming={[]} />);
    assert.deepEqual(rowsAndDividers(container), [
      'q1',
      '— 1 earlier message not sent (context 2,048 tokens) —',
      'r1',
      '— 2 earlier messages summarized (context 8,192 tokens) —',
      'q2',
      'r2',
      'q3',
      'r3',
    ]);
  });

  it('a summary shows above its message, collapsible, and Edit summary posts editSummary', () => {
    const summary = { text: 'We talked about A and B.', covers: ['u1', 'a1'], createdAt: 5 };
    const chat = longChat({});
    chat.messages = chat.messages.map((m) => (m.id === 'u2' ? { ...m, summary } : m));
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    const block = container.querySelector<HTMLDetailsElement>('details.summary-block')!;
    assert.equal(block.querySelector('summary')?.textContent, 'Summary of 2 earlier messages');
    assert.equal(block.open, false);
    assert.equal(block.nextElementSibling?.querySelector('.user-text')?.textContent, 'q2', 'right above the message carrying it');
    assert.equal(block.querySelector('.summary-text')?.textContent, summary.text);
    click(byText(block, 'vscode-button', 'Edit summary'));
    const input = container.querySelector<HTMLTextAreaElement>('textarea.summary-input')!;
    assert.equal(input.value, summary.text);
    assert.equal(container.querySelector<HTMLDetailsElement>('details.summary-block')?.open, true);
    click(byText(container, '.summary-block vscode-button', 'Cancel'));
    assert.equal(container.querySelector('textarea.summary-input'), null);
    assert.equal(host.ofType('editSummary').length, 0);
    click(byText(container, '.summary-block vscode-button', 'Edit summary'));
    typeInto(container.querySelector<HTMLTextAreaElement>('textarea.summary-input')!, 'A, B and C.');
    click(byText(container, '.summary-block vscode-button', 'Save'));
    assert.deepEqual(host.ofType('editSummary'), [{ type: 'editSummary', chatId: 'c1', messageId: 'u2', text: 'A, B and C.' }]);
    assert.equal(container.querySelector('textarea.summary-input'), null);
  });

  it('an answer cut by the full context offers Continue in new chat and Summarize', () => {
    const chat = longChat({ finishReason: 'length', limit: 'context', ctxMax: 8192 });
    const { container, host } = view(<MessageList chat={chat} streaming={[]} />);
    const note = container.querySelector('.status-cut');
    assert.match(note?.textContent ?? '', /^Stopped: the context is full \(8,192 tokens\)/);
    click(byText(container, '.status-cut vscode-button', 'Continue in new chat'));
    click(byText(container, '.status-cut vscode-button', 'Summarize'));
    assert.deepEqual(
      host.posted.filter((m) => m.type === 'continueInNewChat' || m.type === 'compactChat'),
      [
        { type: 'continueInNewChat', chatId: 'c1', messageId: 'a3' },
        { type: 'compactChat', chatId: 'c1' },
      ],
    );
  });

  it('an answer cut by llamaChat.maxTokens offers Continue (a request with an id); a refusal says why', () => {
    const chat = longChat({ finishReason: 'length', limit: 'maxTokens' });
    const m = view(<MessageList chat={chat} streaming={[]} />);
    assert.match(m.container.querySelector('.status-cut')?.textContent ?? '', /^Stopped at the answer length limit \(llamaChat\.maxTokens\)/);
    click(byText(m.container, '.status-cut vscode-button', 'Continue'));
    click(byText(m.container, '.status-cut vscode-button', 'Continue'));
    const sent = m.host.ofType('continueAnswer');
    assert.equal(sent.length, 1, 'one request at a time');
    assert.deepEqual(sent, [{ type: 'continueAnswer', requestId: sent[0].requestId, chatId: 'c1', messageId: 'a3' }]);
    assert.match(sent[0].requestId ?? '', /^[A-Za-z0-9_-]+$/);
    const id = sent[0].requestId!;
    m.rerender(<MessageList chat={chat} streaming={[]} results={{ [id]: { requestId: id, ok: false, reason: 'busy', detail: 'Another answer is streaming.' } }} />);
    assert.equal(m.container.querySelector('.status-cut [role=alert]')?.textContent, 'Another answer is streaming.');
  });

  it('no cut actions while the chat streams, none on a streaming answer, none without a limit', () => {
    const chat = longChat({ finishReason: 'length', limit: 'maxTokens' });
    chat.messages.push(message('u4', 'user', 'q4', { parentId: 'a3' }), message('a4', 'assistant', '', { parentId: 'u4', status: 'streaming' }));
    const busy = view(<MessageList chat={chat} streaming={[{ chatId: 'c1', messageId: 'a4', seq: 0, stale: false, phase: 'waiting' }]} />);
    assert.ok(busy.container.querySelector('.status-cut'), 'the reason stays');
    assert.equal(busy.container.querySelector('.status-cut vscode-button'), null);
    const live = view(<MessageList chat={longChat({ finishReason: 'length', limit: 'context', status: 'streaming' })} streaming={[]} />);
    assert.equal(live.container.querySelector('.status-cut'), null);
    const plain = view(<MessageList chat={longChat({ finishReason: 'length' })} streaming={[]} />);
    assert.equal(plain.container.querySelector('.status-cut'), null);
    const readOnly = view(<MessageList chat={longChat({ finishReason: 'length', limit: 'context' })} streaming={[]} readOnly="Newer version" />);
    assert.equal(readOnly.container.querySelector('.status-cut vscode-button'), null);
  });
});

describe('webview app: context', () => {
  useDom();

  function post(msg: ToWebviewMessage): void {
    void act(() => {
      window.dispatchEvent(new MessageEvent('message', { data: msg }));
    });
  }
  function start(over: Partial<ViewState> = {}): ReturnType<typeof mount> {
    installDom();
    const chat = chatOf([message('u1', 'user', 'hi'), message('a1', 'assistant', 'hello', { ctxUsed: 300, ctxMax: 2048 })]);
    const m = view(<App />);
    post({
      type: 'snapshot',
      state: {
        chats: [chat],
        activeChatId: 'c1',
        activeChat: chat,
        streaming: [],
        connection: { state: 'connected', url: 'http://127.0.0.1:8080', model: 'tiny', nCtx: 2048 },
        model: 'tiny',
        ...over,
      },
    });
    return m;
  }

  it('posts a draft when the chat is shown; promptSize answers it; a stale one is ignored', () => {
    const { container, host } = start();
    assert.equal(meterText(container), '300 / 2,048', 'the last answer’s figures until the count arrives');
    const shown = host.ofType('draft');
    assert.equal(shown.length, 1);
    post({ type: 'promptSize', ...size(shown[0].draftId, { tokens: 321, nCtx: 2048 }) });
    assert.equal(meterText(container), '321 / 2,048');
    typeInto(textarea(container), 'next');
    post({ type: 'promptSize', ...size(shown[0].draftId, { tokens: 999, nCtx: 2048 }) });
    assert.equal(meterText(container), '321 / 2,048');
    post({ type: 'promptSize', ...size(lastDraftId(host), { tokens: 330, nCtx: 2048, exact: false }) });
    assert.equal(meterText(container), '≈330 / 2,048');
  });

  it('an attach from the host adds a chip; an answer finishing posts the draft again', () => {
    const { container, host } = start();
    post({ type: 'attach', attachment: SELECTION });
    post({ type: 'attach', attachment: FILE });
    assert.deepEqual(chipNames(container), ['src/b.tslines 3–1017 tokens', 'src/a.ts']);
    const before = host.ofType('draft').length;
    post({ type: 'messageAdded', chatId: 'c1', message: message('u2', 'user', 'q', { parentId: 'a1', createdAt: 3 }) });
    assert.equal(host.ofType('draft').length, before + 1);
    assert.deepEqual(host.ofType('draft').pop()?.attachments, [SELECTION, FILE]);
  });

  it('vision comes from the connection', async () => {
    const win = installDom() as unknown as { File: typeof File };
    const { container } = start({ connection: { state: 'connected', url: 'http://h', nCtx: 2048, vision: true } });
    paste(textarea(container), '', [new win.File([new Uint8Array([1])], 'a.png', { type: 'image/png' })]);
    await settle();
    assert.deepEqual(chipNames(container), ['a.png']);
  });
});
