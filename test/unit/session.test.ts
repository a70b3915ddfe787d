import * as assert from 'node:assert/strict';
import type { ChatMessage } from '../../src/core/chats/chat';
import { activePath } from '../../src/core/chats/chatTree';
import { PROPS_WAIT_MS } from '../../src/core/session/sessionContext';
import type { ActionOutcome } from '../../src/core/session/sessionApi';
import type { MemoryRepository } from '../support/memoryRepository';
import { sessionRig, tick } from '../support/sessionRig';

const setup = sessionRig;

function okId(out: ActionOutcome): string {
  assert.ok(out.ok, `expected ok, got ${JSON.stringify(out)}`);
  assert.ok(out.messageId);
  return out.messageId;
}

function messages(repo: MemoryRepository, chatId: string): ChatMessage[] {
  return repo.peek(chatId)!.messages;
}

/** The contents along the chat's active path. */
function path(repo: MemoryRepository, chatId: string): string[] {
  return activePath(repo.peek(chatId)!).map((m) => m.content);
}

describe('ChatSession', () => {
  it('streams an answer and persists it with its figures (happy path)', async () => {
    const { streamer, repo, session, of, clock } = setup({ systemPrompt: 'Be brief.', temperature: 0.5 });
    const chat = await session.newChat();
    const answerId = okId(await session.send(chat.id, 'Hello there\nsecond line'));
    assert.equal(session.isStreaming(chat.id), true);
    const stream = streamer.last;
    assert.deepEqual(stream.request.messages, [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Hello there\nsecond line' },
    ]);
    assert.equal(stream.request.temperature, 0.5);

    stream.push({ type: 'role', role: 'assistant' });
    clock.advance(120);
    stream.reasoning('thinking');
    stream.content('Hi');
    await stream.drained();
    clock.advance(100);
    stream.content(' you');
    stream.finish(
      'stop',
      { promptTokens: 20, completionTokens: 3, totalTokens: 23, cachedTokens: 0 },
      { prompt_n: 20, cache_n: 0, prompt_ms: 2, prompt_per_second: 10_000, predicted_n: 3, predicted_ms: 1.5, predicted_per_second: 2000 },
    );
    await tick();

    assert.equal(session.isStreaming(chat.id), false);
    const stored = repo.peek(chat.id)!;
    assert.equal(stored.title, 'Hello there');
    assert.equal(stored.messages.length, 2);
    const [user, answer] = stored.messages;
    assert.equal(user.role, 'user');
    assert.equal(user.content, 'Hello there\nsecond line');
    assert.equal(answer.id, answerId);
    assert.equal(answer.status, 'complete');
    assert.equal(answer.content, 'Hi you');
    assert.equal(answer.reasoning, 'thinking');
    assert.equal(answer.finishReason, 'stop');
    assert.equal(answer.model, 'tiny', 'model from /props when settings name none, without .gguf');
    assert.equal(answer.completionTokens, 3);
    assert.equal(answer.promptTokens, 20);
    assert.equal(answer.ctxUsed, 23);
    assert.equal(answer.ctxMax, 2048);
    assert.equal(answer.timings?.ttftMs, 120);
    assert.equal(answer.timings?.predictedPerSecond, 2000);
    assert.equal(answer.finishedAt, clock.now());

    assert.deepEqual(
      of('messageAdded').map((e) => e.message.role),
      ['user', 'assistant'],
    );
    assert.deepEqual(
      of('delta').map((e) => [e.content, e.reasoning]),
      [
        [undefined, 'thinking'],
        ['Hi', undefined],
        [' you', undefined],
      ],
    );
    const ended = of('streamEnded');
    assert.equal(ended.length, 1);
    assert.equal(ended[0].message.content, 'Hi you');
    assert.equal(ended[0].message.status, 'complete');
    assert.equal(ended[0].error, undefined);
    const lastStats = of('stats').at(-1)!;
    assert.equal(lastStats.stats.phase, 'done');
    assert.equal(lastStats.stats.ctxMax, 2048);
    assert.ok(of('chatsChanged').length >= 2);
  });

  it('sends the model from settings and does not retitle a renamed chat', async () => {
    const { streamer, repo, session } = setup({ model: 'my-model', maxTokens: 100 });
    const chat = await session.newChat();
    await session.renameChat(chat.id, 'My title');
    okId(await session.send(chat.id, 'question'));
    assert.equal(streamer.last.request.model, 'my-model');
    assert.equal(streamer.last.request.maxTokens, 100);
    streamer.last.content('a').finish();
    await tick();
    assert.equal(repo.peek(chat.id)!.title, 'My title');
    assert.equal(messages(repo, chat.id)[1].model, 'my-model');
  });

  it('stop() aborts the request and keeps the partial answer as stopped', async () => {
    const { streamer, repo, session, of } = setup();
    const chat = await session.newChat();
    const id = okId(await session.send(chat.id, 'q'));
    const stream = streamer.last;
    stream.content('partial ').content('text');
    await stream.drained();
    const out = await session.stop(chat.id);
    assert.deepEqual(out, { ok: true, chatId: chat.id, messageId: id });
    assert.equal(stream.aborted, true, "the streamer's signal is aborted");
    assert.equal(session.isStreaming(chat.id), false);
    const answer = messages(repo, chat.id)[1];
    assert.equal(answer.status, 'stopped');
    assert.equal(answer.content, 'partial text');
    assert.equal(answer.error, undefined);
    await tick();
    assert.equal(of('streamEnded').length, 1, 'the abort error that follows does not end it twice');
    assert.equal(messages(repo, chat.id)[1].status, 'stopped');

    const again = await session.stop(chat.id);
    assert.equal(again.ok, false);
    assert.equal(!again.ok && again.reason, 'already-finished');
  });

  it('retry() of a stuck stream fails the old answer and streams a new one', async () => {
    const { streamer, repo, session, of, clock } = setup({ staleSeconds: 10 });
    const chat = await session.newChat();
    const oldId = okId(await session.send(chat.id, 'question'));
    const first = streamer.last;
    first.content('stuck half');
    await first.drained();
    clock.advance(10_000);
    assert.equal(of('stale').length, 1);
    assert.equal(of('stale')[0].silentMs, 10_000);
    assert.equal(session.activeStreams()[0].stale, true);

    const out = await session.retry(chat.id);
    const newId = okId(out);
    assert.notEqual(newId, oldId);
    assert.equal(first.aborted, true);
    assert.equal(streamer.streams.length, 2);
    const second = streamer.last;
    assert.deepEqual(second.request.messages, [{ role: 'user', content: 'question' }], 'the failed answer is not sent');

    second.content('good answer').finish();
    await tick();
    const msgs = messages(repo, chat.id);
    assert.deepEqual(
      msgs.map((m) => [m.role, m.status, m.content]),
      [
        ['user', 'complete', 'question'],
        ['assistant', 'failed', 'stuck half'],
        ['assistant', 'complete', 'good answer'],
      ],
    );
    assert.equal(msgs[1].error?.kind, 'aborted');
    assert.match(msgs[1].error.message, /Retried after no activity for 10 s/);
    assert.equal(msgs[2].parentId, msgs[0].id, 'the retry is a version of the same reply');
    assert.equal(msgs[1].parentId, msgs[0].id);
    assert.deepEqual(path(repo, chat.id), ['question', 'good answer']);
    assert.deepEqual(
      of('streamEnded').map((e) => [e.messageId, e.message.status]),
      [
        [oldId, 'failed'],
        [newId, 'complete'],
      ],
    );
  });

  it('discard() fails the answer, keeps its partial text and leaves the chat idle', async () => {
    const { streamer, repo, session, of } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    const stream = streamer.last;
    stream.content('some');
    await stream.drained();
    okId(await session.discard(chat.id));
    assert.equal(stream.aborted, true);
    assert.equal(session.isStreaming(chat.id), false);
    const answer = messages(repo, chat.id)[1];
    assert.equal(answer.status, 'failed');
    assert.equal(answer.content, 'some');
    assert.equal(answer.error?.kind, 'aborted');
    assert.equal(of('streamEnded')[0].error?.kind, 'aborted');
    assert.equal(streamer.streams.length, 1, 'nothing new is streamed');
  });

  it('retry/discard/stop after the stream finished change nothing and say why', async () => {
    const { streamer, repo, session } = setup();
    const chat = await session.newChat();
    const idle = await session.retry(chat.id);
    assert.equal(!idle.ok && idle.reason, 'nothing-to-retry');

    okId(await session.send(chat.id, 'q'));
    streamer.last.content('done answer').finish();
    await tick();
    const before = repo.peek(chat.id);
    for (const action of [() => session.retry(chat.id), () => session.discard(chat.id), () => session.stop(chat.id)]) {
      const out = await action();
      assert.equal(out.ok, false);
      assert.equal(!out.ok && out.reason, 'already-finished');
      assert.ok(!out.ok && out.detail.length > 0);
    }
    await tick();
    assert.deepEqual(repo.peek(chat.id), before);
    assert.equal(streamer.streams.length, 1);
  });

  it('a discard racing with the end of the stream loses cleanly', async () => {
    const { streamer, repo, session, of } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    const stream = streamer.last;
    stream.content('all of it').finish();
    await stream.drained(); // the session has seen `done` but has not finished saving yet
    const out = await session.discard(chat.id);
    assert.equal(!out.ok && out.reason, 'already-finished');
    await tick();
    assert.equal(messages(repo, chat.id)[1].status, 'complete');
    assert.equal(stream.aborted, false);
    assert.equal(of('streamEnded').length, 1);
  });

  it('streams two chats at once, each to its own message', async () => {
    const { streamer, repo, session } = setup();
    const a = await session.newChat();
    const b = await session.newChat();
    okId(await session.send(a.id, 'to A'));
    const sa = streamer.last;
    okId(await session.send(b.id, 'to B'));
    const sb = streamer.last;
    assert.notEqual(sa, sb);
    assert.deepEqual(session.activeStreams().map((s) => s.chatId).sort(), [a.id, b.id].sort());
    sa.content('A1');
    sb.content('B1');
    sa.content('A2');
    sb.content('B2').finish();
    await tick();
    assert.equal(session.isStreaming(a.id), true);
    assert.equal(session.isStreaming(b.id), false);
    sa.finish();
    await tick();
    assert.equal(messages(repo, a.id)[1].content, 'A1A2');
    assert.equal(messages(repo, b.id)[1].content, 'B1B2');
    assert.equal(messages(repo, a.id)[1].status, 'complete');
  });

  it('refuses a second send to a streaming chat as busy, even when both race', async () => {
    const { streamer, repo, session } = setup();
    const chat = await session.newChat();
    const [x, y] = await Promise.all([session.send(chat.id, 'one'), session.send(chat.id, 'two')]);
    assert.equal([x, y].filter((o) => o.ok).length, 1);
    const refused = [x, y].find((o) => !o.ok)!;
    assert.equal(!refused.ok && refused.reason, 'busy');
    const third = await session.send(chat.id, 'three');
    assert.equal(!third.ok && third.reason, 'busy');
    assert.equal(streamer.streams.length, 1);
    assert.equal(messages(repo, chat.id).filter((m) => m.role === 'user').length, 1);
    const unknown = await session.send('nochat', 'hi');
    assert.equal(!unknown.ok && unknown.reason, 'unknown-chat');
  });

  it('an error event fails the answer with its ErrorInfo and keeps the partial text', async () => {
    const { streamer, repo, session, of } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    const error = { kind: 'stream_error' as const, message: 'Server error mid-stream', serverMessage: 'boom' };
    streamer.last.content('half').fail(error);
    await tick();
    const answer = messages(repo, chat.id)[1];
    assert.equal(answer.status, 'failed');
    assert.deepEqual(answer.error, error);
    assert.equal(answer.content, 'half');
    assert.deepEqual(of('streamEnded')[0].error, error);
    assert.equal(session.isStreaming(chat.id), false);
  });

  it('a stream that just ends without finish or done is failed as truncated', async () => {
    const { streamer, repo, session } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    streamer.last.content('cut').end();
    await tick();
    const answer = messages(repo, chat.id)[1];
    assert.equal(answer.status, 'failed');
    assert.equal(answer.error?.kind, 'truncated');
  });

  it('regenerate() replaces the last answer', async () => {
    const { streamer, repo, session, of } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q1'));
    streamer.last.content('a1').finish();
    await tick();
    okId(await session.send(chat.id, 'q2'));
    streamer.last.content('first try').finish();
    await tick();

    const id = okId(await session.regenerate(chat.id));
    assert.deepEqual(streamer.last.request.messages, [
      { role: 'user', content: 'q1' },
      { role: 'assistant', content: 'a1' },
      { role: 'user', content: 'q2' },
    ]);
    streamer.last.content('second try').finish();
    await tick();
    assert.deepEqual(
      messages(repo, chat.id).map((m) => m.content),
      ['q1', 'a1', 'q2', 'first try', 'second try'],
      'the first try is kept',
    );
    assert.deepEqual(path(repo, chat.id), ['q1', 'a1', 'q2', 'second try']);
    assert.equal(messages(repo, chat.id)[4].id, id);
    assert.equal(messages(repo, chat.id)[4].parentId, messages(repo, chat.id)[3].parentId, 'siblings');
    assert.ok(of('chatsChanged').length > 0);

    const empty = await session.newChat();
    const nothing = await session.regenerate(empty.id);
    assert.equal(!nothing.ok && nothing.reason, 'nothing-to-retry');
  });

  it('editAndResend() adds a new version of the question, keeps the old branch and streams a new answer', async () => {
    const { streamer, repo, session } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q1'));
    streamer.last.content('a1').finish();
    await tick();
    okId(await session.send(chat.id, 'q2'));
    streamer.last.content('a2').finish();
    await tick();
    const q1 = messages(repo, chat.id)[0];

    okId(await session.editAndResend(chat.id, q1.id, 'q1 edited'));
    assert.deepEqual(streamer.last.request.messages, [{ role: 'user', content: 'q1 edited' }]);
    streamer.last.content('new a1').finish();
    await tick();
    const msgs = messages(repo, chat.id);
    assert.deepEqual(
      msgs.map((m) => m.content),
      ['q1', 'a1', 'q2', 'a2', 'q1 edited', 'new a1'],
      'nothing is dropped',
    );
    assert.deepEqual(path(repo, chat.id), ['q1 edited', 'new a1']);
    assert.equal(msgs[0].id, q1.id);
    assert.equal(msgs[4].parentId, undefined, 'a root, like q1');

    const bad = await session.editAndResend(chat.id, msgs[1].id, 'not a question');
    assert.equal(!bad.ok && bad.reason, 'invalid');
    assert.equal(streamer.streams.length, 3);
  });

  it('forkChat() copies the messages up to the chosen one into a new chat', async () => {
    const { streamer, repo, session } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q1'));
    streamer.last.content('a1').finish();
    await tick();
    okId(await session.send(chat.id, 'q2'));
    streamer.last.content('a2').finish();
    await tick();
    const original = messages(repo, chat.id);

    const fork = await session.forkChat(chat.id, original[1].id);
    assert.notEqual(fork.id, chat.id);
    assert.equal(fork.title, 'q1 (fork)');
    const forked = messages(repo, fork.id);
    assert.deepEqual(
      forked.map((m) => m.content),
      ['q1', 'a1'],
    );
    assert.ok(forked.every((m, i) => m.id !== original[i].id), 'new ids');
    assert.equal(messages(repo, chat.id).length, 4, 'the original is untouched');
    await assert.rejects(session.forkChat(chat.id, 'missing'));
  });

  it('keeps streaming when the repository throws on append, and reports one storageError', async () => {
    const { streamer, repo, session, of } = setup();
    const chat = await session.newChat();
    repo.failing.add('appendToMessage');
    okId(await session.send(chat.id, 'q'));
    for (let i = 0; i < 50; i++) streamer.last.content(`t${i} `);
    streamer.last.finish();
    await tick();
    const ended = of('streamEnded');
    assert.equal(ended.length, 1);
    assert.equal(ended[0].message.status, 'complete');
    // Tokens queued together arrive as one batch and leave as one delta: the text is what counts.
    assert.equal(of('delta').map((d) => d.content).join(''), Array.from({ length: 50 }, (_, i) => `t${i} `).join(''));
    const errors = of('storageError');
    assert.equal(errors.length, 1);
    assert.equal(errors[0].error.kind, 'storage');
    const answer = messages(repo, chat.id)[1];
    assert.equal(answer.status, 'complete');
    assert.ok(answer.content.startsWith('t0 t1 ') && answer.content.endsWith('t49 '), 'the final save carries the text');
  });

  it('keeps streaming when every repository write fails', async () => {
    const { streamer, repo, session, of } = setup();
    const chat = await session.newChat();
    for (const m of ['addMessage', 'appendToMessage', 'updateMessage', 'renameChat'] as const) repo.failing.add(m);
    okId(await session.send(chat.id, 'q'));
    streamer.last.content('still here').finish();
    await tick();
    assert.equal(of('streamEnded')[0].message.content, 'still here');
    assert.equal(of('streamEnded')[0].message.status, 'complete');
    assert.ok(of('storageError').length >= 1);
    assert.equal(session.isStreaming(chat.id), false);
  });

  it("forwards the repository's own write problems as storageError", async () => {
    const { repo, of } = setup();
    repo.emitProblem({ file: 'x.jsonl', error: { kind: 'storage', message: 'disk full' } });
    await tick();
    assert.deepEqual(of('storageError').map((e) => e.error.message), ['disk full']);
  });

  it('a stale stream recovers when tokens come again, and is watched again', async () => {
    const { streamer, session, of, events, clock } = setup({ staleSeconds: 10 });
    const chat = await session.newChat();
    const id = okId(await session.send(chat.id, 'q'));
    const stream = streamer.last;
    stream.content('a');
    await stream.drained();
    assert.equal(session.activeStreams()[0].silentMs, undefined, 'not stale: no silence to tell');
    clock.advance(10_000);
    assert.equal(of('stale').length, 1);
    assert.equal(session.activeStreams()[0].silentMs, 10_000);
    clock.advance(30_000);
    assert.equal(of('stale').length, 1, 'once per arming');
    assert.equal(session.activeStreams()[0].silentMs, 40_000, 'the silence is counted from the last frame');
    const mark = events.length;
    stream.content('b');
    await stream.drained();
    assert.equal(session.activeStreams()[0].stale, false);
    assert.equal(session.activeStreams()[0].silentMs, undefined);
    const after = events.slice(mark);
    assert.ok(after.some((e) => e.type === 'messageUpdated' && e.messageId === id && e.patch.status === 'streaming'));
    assert.ok(after.some((e) => e.type === 'stats' && e.messageId === id));
    clock.advance(9_999);
    assert.equal(of('stale').length, 1);
    clock.advance(1);
    assert.equal(of('stale').length, 2);
  });

  it('a slow stream is not stale (a token every 5 s, 10 s threshold, 100 s)', async () => {
    const { streamer, session, of, clock } = setup({ staleSeconds: 10 });
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    const stream = streamer.last;
    for (let i = 0; i < 20; i++) {
      clock.advance(5_000);
      stream.content('x');
      await stream.drained();
    }
    assert.equal(of('stale').length, 0);
    // Progress frames during a long prompt count as activity too.
    for (let i = 0; i < 10; i++) {
      clock.advance(6_000);
      stream.push({ type: 'progress', progress: { total: 100, cache: 0, processed: i * 10, timeMs: i * 6000 } });
      await stream.drained();
    }
    assert.equal(of('stale').length, 0);
  });

  it('throttles stats to one per 250 ms of clock time, plus phase changes and the end', async () => {
    const { streamer, session, of, clock } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    const stream = streamer.last;
    await tick();
    const base = of('stats').length; // e.g. when /props arrived
    for (let i = 0; i < 100; i++) stream.content('x');
    await stream.drained();
    assert.equal(of('stats').length - base, 1, 'one for the phase change to generating');
    clock.advance(249);
    stream.content('y');
    await stream.drained();
    assert.equal(of('stats').length - base, 1);
    clock.advance(1);
    stream.content('z');
    await stream.drained();
    assert.equal(of('stats').length - base, 2);
    stream.finish();
    await tick();
    assert.equal(of('stats').at(-1)!.stats.phase, 'done');
    assert.equal(of('stats').at(-1)!.stats.completionTokens, 102);
  });

  it('streams even when /props fails (ctxMax stays unknown)', async () => {
    const { streamer, repo, session } = setup();
    streamer.props = new Error('props unavailable');
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    streamer.last.content('fine').finish();
    await tick();
    const answer = messages(repo, chat.id)[1];
    assert.equal(answer.status, 'complete');
    assert.equal(answer.ctxMax, undefined);
  });

  it('streams even when /props never answers', async () => {
    const { streamer, repo, session, clock } = setup();
    streamer.props = () => new Promise(() => undefined);
    const chat = await session.newChat();
    // The send waits for n_ctx (to fit the request) at most PROPS_WAIT_MS, then goes out unfitted.
    const sending = session.send(chat.id, 'q');
    for (let i = 0; i < 5; i++) await tick();
    clock.advance(PROPS_WAIT_MS);
    okId(await sending);
    streamer.last.content('fine').finish();
    await tick();
    assert.equal(messages(repo, chat.id)[1].status, 'complete');
  });

  it('deleteChat() stops the stream first', async () => {
    const { streamer, repo, session } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    const stream = streamer.last;
    stream.content('x');
    await stream.drained();
    await session.deleteChat(chat.id);
    assert.equal(stream.aborted, true);
    assert.equal(session.isStreaming(chat.id), false);
    assert.equal(repo.peek(chat.id), undefined);
    assert.deepEqual(repo.listChats(), []);
  });

  it('shutdown() aborts every stream, waits for their endings and flushes', async () => {
    const { streamer, repo, session } = setup();
    const a = await session.newChat();
    const b = await session.newChat();
    okId(await session.send(a.id, 'qa'));
    okId(await session.send(b.id, 'qb'));
    streamer.streams[0].content('pa');
    streamer.streams[1].content('pb');
    await tick();
    await session.shutdown();
    assert.ok(streamer.streams.every((s) => s.aborted));
    assert.equal(session.activeStreams().length, 0);
    assert.equal(messages(repo, a.id)[1].status, 'interrupted');
    assert.equal(messages(repo, b.id)[1].content, 'pb');
    assert.equal(repo.calls.flush, 1);
    const after = await session.send(a.id, 'late');
    assert.equal(after.ok, false);
  });

  it('names the model from /props, and follows a swapped model on the next answer', async () => {
    const { streamer, repo, session, of } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q1'));
    streamer.last.content('a').finish();
    await tick();
    okId(await session.send(chat.id, 'q2'));
    const added = of('messageAdded').filter((e) => e.message.role === 'assistant');
    assert.equal(added[1].message.model, 'tiny', 'known at once from the earlier /props');
    streamer.props = { nCtx: 4096, modelAlias: 'other.gguf' };
    streamer.last.content('b');
    await streamer.last.drained();
    okId(await session.stop(chat.id));
    okId(await session.send(chat.id, 'q3'));
    streamer.last.content('c').finish();
    await tick();
    const msgs = messages(repo, chat.id);
    assert.equal(msgs[5].model, 'other');
    assert.equal(msgs[5].ctxMax, 4096);
  });

  it('dispose() aborts streams and leaves their answers interrupted', async () => {
    const { streamer, repo, session } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    streamer.last.content('part');
    await streamer.last.drained();
    session.dispose();
    await tick();
    assert.equal(streamer.last.aborted, true);
    const answer = messages(repo, chat.id)[1];
    assert.equal(answer.status, 'interrupted');
    assert.equal(answer.content, 'part');
  });
});
