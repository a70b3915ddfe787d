import * as assert from 'node:assert/strict';
import type { Chat, ChatMessage } from '../../../src/core/chats/chat';
import type { ToWebviewMessage, ViewState } from '../../../src/protocol';
import { activeStream, initialModel, KEPT_ATTACHES, KEPT_RESULTS, pathOf, readOnlyReason, reduce } from '../../../webview/state';
import type { LocalAction, ViewModel } from '../../../webview/state';

function msg(id: string, role: ChatMessage['role'], content: string, status: ChatMessage['status'] = 'complete'): ChatMessage {
  return { id, role, content, status, createdAt: 1 };
}

function chat(id: string, messages: ChatMessage[]): Chat {
  return { id, title: `Chat ${id}`, createdAt: 1, updatedAt: 1, messageCount: messages.length, messages };
}

function snapshot(over: Partial<ViewState> = {}): ToWebviewMessage {
  const c = chat('c1', [msg('u1', 'user', 'hi'), msg('a1', 'assistant', 'Hel', 'streaming')]);
  return {
    type: 'snapshot',
    state: {
      chats: [c],
      activeChatId: 'c1',
      activeChat: c,
      streaming: [{ chatId: 'c1', messageId: 'a1', seq: 3, stale: false, phase: 'generating' }],
      connection: { state: 'connected', url: 'http://127.0.0.1:8080' },
      model: 'tiny',
      ...over,
    },
  };
}

const apply = (model: ViewModel, ...msgs: (ToWebviewMessage | LocalAction)[]): ViewModel => msgs.reduce(reduce, model);
const content = (m: ViewModel, id: string): string | undefined => m.activeChat?.messages.find((x) => x.id === id)?.content;
const delta = (seq: number, text: string, messageId = 'a1', chatId = 'c1'): ToWebviewMessage => ({ type: 'delta', chatId, messageId, seq, text });

describe('webview state reducer', () => {
  it('snapshot replaces everything and marks the view loaded', () => {
    const dirty = apply(initialModel, snapshot(), delta(4, 'lo'));
    const fresh = snapshot({ activeChat: chat('c2', []), activeChatId: 'c2', streaming: [], model: 'other' });
    const m = reduce(dirty, fresh);
    assert.equal(m.loaded, true);
    assert.equal(m.activeChat?.id, 'c2');
    assert.equal(m.model, 'other');
    assert.deepEqual(m.streaming, []);
    assert.deepEqual(m.lastSeq, {});
  });

  it('applies deltas in order after the snapshot seq', () => {
    const m = apply(initialModel, snapshot(), delta(4, 'lo'), delta(5, ', '), { type: 'delta', chatId: 'c1', messageId: 'a1', seq: 6, text: 'world', reasoning: 'hm' });
    assert.equal(content(m, 'a1'), 'Hello, world');
    assert.equal(m.activeChat?.messages[1]?.reasoning, 'hm');
    assert.equal(m.lastSeq['a1'], 6);
    assert.equal(activeStream(m)?.phase, 'generating');
  });

  it('drops deltas already included in the snapshot and duplicates', () => {
    const m = apply(initialModel, snapshot(), delta(2, 'XX'), delta(3, 'YY'), delta(4, 'lo'), delta(4, 'lo'), delta(1, 'ZZ'));
    assert.equal(content(m, 'a1'), 'Hello');
  });

  it('drops deltas for unknown messages or other chats', () => {
    const before = apply(initialModel, snapshot());
    const after = apply(before, delta(9, 'nope', 'a-unknown'), delta(9, 'nope', 'a1', 'c-other'));
    assert.equal(after, before);
  });

  it('a new streaming message accepts deltas from seq 0', () => {
    const m = apply(
      initialModel,
      snapshot({ streaming: [] }),
      { type: 'messageAdded', chatId: 'c1', message: msg('a2', 'assistant', '', 'streaming') },
      delta(0, 'A', 'a2'),
      delta(1, 'B', 'a2'),
      delta(1, 'B', 'a2'),
    );
    assert.equal(content(m, 'a2'), 'AB');
    assert.ok(m.streaming.some((s) => s.messageId === 'a2'));
  });

  it('done replaces the message and ends streaming', () => {
    const final = { ...msg('a1', 'assistant', 'Hello, world!'), completionTokens: 4 };
    const m = apply(initialModel, snapshot(), delta(4, 'lo'), { type: 'done', chatId: 'c1', messageId: 'a1', message: final }, delta(5, 'late'));
    assert.equal(content(m, 'a1'), 'Hello, world!');
    assert.equal(m.activeChat?.messages[1]?.status, 'complete');
    assert.equal(activeStream(m), undefined);
    assert.equal(m.lastSeq['a1'], undefined);
  });

  it('done without text keeps the text the deltas built and takes the final fields', () => {
    const final = { ...msg('a1', 'assistant', ''), completionTokens: 4, finishReason: 'stop' as const };
    const done: ToWebviewMessage = { type: 'done', chatId: 'c1', messageId: 'a1', message: final, textLengths: { content: 5, reasoning: 0 } };
    const m = apply(initialModel, snapshot(), delta(4, 'lo'), done);
    assert.equal(content(m, 'a1'), 'Hello');
    const answer = m.activeChat?.messages[1];
    assert.equal(answer?.status, 'complete');
    assert.equal(answer?.completionTokens, 4);
    assert.equal(answer?.finishReason, 'stop');
    assert.equal(activeStream(m), undefined);
    assert.equal(m.resyncRequest, 0);
  });

  it('done without text whose lengths disagree with ours asks for a snapshot', () => {
    const final = msg('a1', 'assistant', '');
    const missed: ToWebviewMessage = { type: 'done', chatId: 'c1', messageId: 'a1', message: final, textLengths: { content: 9, reasoning: 0 } };
    const m = apply(initialModel, snapshot(), delta(4, 'lo'), missed);
    assert.equal(m.resyncRequest, 1);
    assert.equal(activeStream(m), undefined);
    const unknown: ToWebviewMessage = { type: 'done', chatId: 'c1', messageId: 'zz', message: { ...final, id: 'zz' }, textLengths: { content: 0, reasoning: 0 } };
    assert.equal(reduce(m, unknown).resyncRequest, 2, 'a message we never had cannot be completed without its text');
    const reasoning: ToWebviewMessage = { type: 'done', chatId: 'c1', messageId: 'a1', message: final, textLengths: { content: 5, reasoning: 3 } };
    assert.equal(apply(initialModel, snapshot(), delta(4, 'lo'), reasoning).resyncRequest, 1);
  });

  it('a delta carrying usage figures applies them with the text', () => {
    const d: ToWebviewMessage = { type: 'delta', chatId: 'c1', messageId: 'a1', seq: 4, text: 'lo', usage: { completionTokens: 7, tps: 42, ctxMax: 2048 } };
    const m = apply(initialModel, snapshot(), d);
    const answer = m.activeChat?.messages[1];
    assert.equal(answer?.content, 'Hello');
    assert.equal(answer?.completionTokens, 7);
    assert.equal(answer?.ctxMax, 2048);
    assert.equal(answer?.timings?.predictedPerSecond, 42);
  });

  it('status tracks phase, prompt progress and staleness', () => {
    let m = apply(initialModel, snapshot(), {
      type: 'status', chatId: 'c1', messageId: 'a1', status: 'streaming', phase: 'prompt', promptProgress: 0.42,
    });
    assert.equal(activeStream(m)?.phase, 'prompt');
    assert.equal(activeStream(m)?.promptProgress, 0.42);
    m = reduce(m, { type: 'status', chatId: 'c1', messageId: 'a1', status: 'streaming', stale: true, silentMs: 60_000 });
    assert.equal(activeStream(m)?.stale, true);
    assert.equal(activeStream(m)?.silentMs, 60_000);
    m = reduce(m, delta(4, 'lo'));
    assert.equal(activeStream(m)?.stale, false, 'a token clears staleness');
    m = reduce(m, { type: 'status', chatId: 'c1', messageId: 'a1', status: 'stopped' });
    assert.equal(activeStream(m), undefined);
    assert.equal(m.activeChat?.messages[1]?.status, 'stopped');
  });

  it('usage updates the footer figures', () => {
    const m = apply(initialModel, snapshot(), {
      type: 'usage', chatId: 'c1', messageId: 'a1', completionTokens: 12, ctxUsed: 100, ctxMax: 4096, tps: 33.3, ttftMs: 120,
    });
    const a = m.activeChat?.messages[1];
    assert.equal(a?.completionTokens, 12);
    assert.equal(a?.ctxMax, 4096);
    assert.equal(a?.timings?.predictedPerSecond, 33.3);
    assert.equal(a?.timings?.ttftMs, 120);
  });

  it('error for a message marks it failed; a general error becomes a notice', () => {
    const error = { kind: 'truncated' as const, message: 'Stream ended early', hint: 'Retry' };
    let m = apply(initialModel, snapshot(), { type: 'error', chatId: 'c1', messageId: 'a1', error });
    assert.equal(m.activeChat?.messages[1]?.status, 'failed');
    assert.deepEqual(m.activeChat?.messages[1]?.error, error);
    assert.equal(m.notice, undefined);
    m = reduce(m, { type: 'error', error: { kind: 'storage', message: 'disk full' } });
    assert.equal(m.notice?.message, 'disk full');
  });

  it('switching chats clears the old chat until its snapshot arrives', () => {
    let m = apply(initialModel, snapshot(), { type: 'chats', chats: [], activeChatId: 'c2' });
    assert.equal(m.activeChat, undefined);
    const c2 = chat('c2', [msg('u9', 'user', 'yo')]);
    m = reduce(m, snapshot({ chats: [c2], activeChatId: 'c2', activeChat: c2, streaming: [] }));
    assert.equal(m.activeChat?.id, 'c2');
    assert.equal(m.activeChatId, 'c2');
  });

  it('focusInput produces a new request each time', () => {
    const m = apply(initialModel, { type: 'focusInput' }, { type: 'focusInput' });
    assert.equal(m.focusRequest, 2);
  });

  it('a new message becomes the leaf of the active path', () => {
    const m = apply(initialModel, snapshot({ streaming: [] }), {
      type: 'messageAdded', chatId: 'c1', message: { ...msg('u2', 'user', 'again'), parentId: 'u1', createdAt: 2 },
    });
    assert.equal(m.activeChat?.leafId, 'u2');
    assert.deepEqual(pathOf(m.activeChat).map((x) => x.id), ['u1', 'u2'], 'a sibling of a1: a1 is no longer shown');
    assert.equal(m.activeChat?.messageCount, 3);
  });
});

describe('webview state reducer: message tree', () => {
  /** u1 ─┬─ a1 ── u2 ── a2   and   └─ b1 ── v2 */
  function tree(leafId?: string): ToWebviewMessage {
    const messages: ChatMessage[] = [
      { ...msg('u1', 'user', 'q'), createdAt: 1 },
      { ...msg('a1', 'assistant', 'A'), parentId: 'u1', createdAt: 2 },
      { ...msg('u2', 'user', 'q2'), parentId: 'a1', createdAt: 3 },
      { ...msg('a2', 'assistant', 'A2'), parentId: 'u2', createdAt: 4 },
      { ...msg('b1', 'assistant', 'B'), parentId: 'u1', createdAt: 5 },
      { ...msg('v2', 'user', 'r2'), parentId: 'b1', createdAt: 6 },
    ];
    const c: Chat = { ...chat('c1', messages), ...(leafId !== undefined ? { leafId } : {}) };
    return snapshot({ activeChat: c, chats: [c], streaming: [] });
  }
  const ids = (m: ViewModel): string[] => pathOf(m.activeChat).map((x) => x.id);
  const choose = (messageId: string, chatId = 'c1'): LocalAction => ({ type: 'chooseVersion', chatId, messageId });

  it('the path runs to leafId, else to the last message', () => {
    assert.deepEqual(ids(apply(initialModel, tree('a2'))), ['u1', 'a1', 'u2', 'a2']);
    assert.deepEqual(ids(apply(initialModel, tree())), ['u1', 'b1', 'v2']);
  });

  it('leaf sets the leaf; one for another chat is ignored; an unknown one asks for a snapshot', () => {
    let m = apply(initialModel, tree('v2'), { type: 'leaf', chatId: 'c1', leafId: 'a2' });
    assert.deepEqual(ids(m), ['u1', 'a1', 'u2', 'a2']);
    assert.equal(reduce(m, { type: 'leaf', chatId: 'c1', leafId: 'a2' }).activeChat, m.activeChat, 'idempotent');
    assert.equal(reduce(m, { type: 'leaf', chatId: 'other', leafId: 'v2' }), m);
    m = reduce(m, { type: 'leaf', chatId: 'c1', leafId: 'zz' });
    assert.equal(m.resyncRequest, 1);
    assert.deepEqual(ids(m), ['u1', 'a1', 'u2', 'a2']);
  });

  it('chooseVersion shows the latest end of the chosen version at once', () => {
    const m = apply(initialModel, tree('a2'), choose('b1'));
    assert.equal(m.activeChat?.leafId, 'v2');
    assert.deepEqual(ids(m), ['u1', 'b1', 'v2']);
    assert.deepEqual(m.chosenLeaves, ['v2']);
    const back = apply(m, { type: 'leaf', chatId: 'c1', leafId: 'v2' });
    assert.deepEqual(ids(back), ['u1', 'b1', 'v2']);
    assert.deepEqual(back.chosenLeaves, []);
    assert.equal(apply(m, choose('nope')), m, 'an unknown version changes nothing');
    assert.equal(apply(m, choose('a1', 'other')), m);
  });

  it('the confirmation of an older choice does not undo a newer one; a leaf from elsewhere wins', () => {
    let m = apply(initialModel, tree('a2'), choose('b1'), choose('a1'));
    assert.deepEqual(ids(m), ['u1', 'a1', 'u2', 'a2']);
    m = reduce(m, { type: 'leaf', chatId: 'c1', leafId: 'v2' });
    assert.deepEqual(ids(m), ['u1', 'a1', 'u2', 'a2'], 'still the newer choice');
    m = reduce(m, { type: 'leaf', chatId: 'c1', leafId: 'a2' });
    assert.deepEqual(m.chosenLeaves, []);
    m = apply(m, choose('b1'), { type: 'leaf', chatId: 'c1', leafId: 'u2' });
    assert.deepEqual(ids(m), ['u1', 'a1', 'u2'], "the host's own leaf wins over our guess");
    assert.deepEqual(m.chosenLeaves, []);
  });

  it('a snapshot replaces the tree and forgets pending choices', () => {
    const m = apply(initialModel, tree('a2'), choose('b1'), tree('a1'));
    assert.deepEqual(ids(m), ['u1', 'a1']);
    assert.deepEqual(m.chosenLeaves, []);
  });

  it('result records the answer per request id, keeping the latest few', () => {
    let m = apply(initialModel, tree(), { type: 'result', requestId: 'r1-a', ok: true, chatId: 'c1', messageId: 'u9' });
    assert.deepEqual(m.results['r1-a'], { requestId: 'r1-a', ok: true, chatId: 'c1', messageId: 'u9' });
    m = reduce(m, { type: 'result', requestId: 'r2-b', ok: false, reason: 'busy', detail: 'Busy' });
    assert.equal(m.results['r2-b']?.ok, false);
    for (let i = 0; i < KEPT_RESULTS + 5; i++) m = reduce(m, { type: 'result', requestId: `x${i}`, ok: true, chatId: 'c1' });
    assert.equal(Object.keys(m.results).length, KEPT_RESULTS);
    assert.equal(m.results['r1-a'], undefined, 'the oldest went');
    assert.ok(m.results[`x${KEPT_RESULTS + 4}`]);
    assert.ok(apply(m, tree()).results[`x${KEPT_RESULTS + 4}`], 'a snapshot keeps them (requests may still be waiting)');
  });

  it('readOnlyReason reads the chat or its summary', () => {
    const m = apply(initialModel, tree());
    assert.equal(readOnlyReason(m), undefined);
    assert.equal(readOnlyReason({ ...m, activeChat: { ...m.activeChat!, readOnly: 'newer' } }), 'newer');
    assert.equal(readOnlyReason({ ...m, chats: [{ ...m.chats[0], readOnly: 'summary' }] }), 'summary');
    assert.equal(readOnlyReason({ ...m, activeChat: undefined, chats: [{ ...m.chats[0], readOnly: 'summary' }] }), 'summary');
  });

  it('promptSize keeps the latest count without its type; attach queues numbered chips, keeping the latest few', () => {
    let m = apply(initialModel, tree(), { type: 'promptSize', chatId: 'c1', draftId: 'd1-a', tokens: 10, exact: true, reserve: 0, fits: true, omitted: 0, attachmentTokens: [] });
    assert.deepEqual(m.promptSize, { chatId: 'c1', draftId: 'd1-a', tokens: 10, exact: true, reserve: 0, fits: true, omitted: 0, attachmentTokens: [] });
    const file = { kind: 'file' as const, name: 'a.ts', text: 'x' };
    m = apply(m, { type: 'attach', attachment: file }, { type: 'attach', attachment: { ...file, name: 'b.ts' } });
    assert.deepEqual(m.attachQueue.map((r) => [r.seq, r.attachment.name]), [[1, 'a.ts'], [2, 'b.ts']], 'two in one tick both arrive');
    for (let i = 0; i < KEPT_ATTACHES; i++) m = reduce(m, { type: 'attach', attachment: file });
    assert.equal(m.attachQueue.length, KEPT_ATTACHES);
    assert.equal(m.attachQueue[m.attachQueue.length - 1]?.seq, KEPT_ATTACHES + 2, 'numbers keep rising');
    const after = apply(m, tree());
    assert.equal(after.attachQueue, m.attachQueue, 'a snapshot does not replay or drop them');
    assert.equal(after.promptSize, m.promptSize);
  });
});
