import * as assert from 'node:assert/strict';
import type { Chat, ChatMessage } from '../../../src/core/chat';
import type { ToWebviewMessage, ViewState } from '../../../src/protocol';
import { activeStream, initialModel, reduce } from '../../../webview/state';
import type { ViewModel } from '../../../webview/state';

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

const apply = (model: ViewModel, ...msgs: ToWebviewMessage[]): ViewModel => msgs.reduce(reduce, model);
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

  it('switching chats clears the old chat until the new one arrives', () => {
    let m = apply(initialModel, snapshot(), { type: 'chats', chats: [], activeChatId: 'c2' });
    assert.equal(m.activeChat, undefined);
    m = reduce(m, { type: 'chat', chat: chat('c2', [msg('u9', 'user', 'yo')]) });
    assert.equal(m.activeChat?.id, 'c2');
    assert.equal(m.activeChatId, 'c2');
  });

  it('prefill and focusInput produce new requests each time', () => {
    const m = apply(initialModel, { type: 'prefill', text: 'a' }, { type: 'prefill', text: 'a' }, { type: 'focusInput' });
    assert.equal(m.prefill?.id, 2);
    assert.equal(m.focusRequest, 1);
  });
});
