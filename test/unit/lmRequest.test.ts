import * as assert from 'node:assert/strict';
import { LmRequestError, LmStreams, NATIVE_CHAT_ID, mergeStreamSources, runLmRequest } from '../../src/core/session/lmRequest';
import type { LmRequestResult } from '../../src/core/session/lmRequest';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import type { ActiveStream } from '../../src/core/session/sessionApi';
import { Emitter } from '../../src/core/base/disposable';
import { FakeClock } from '../support/fakeClock';
import { FakeStreamer } from '../support/fakeStreamer';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('runLmRequest (native chat requests)', () => {
  let clock: FakeClock;
  let streamer: FakeStreamer;
  let tracker: LmStreams;
  let events: SessionEvent[];

  beforeEach(() => {
    clock = new FakeClock();
    streamer = new FakeStreamer();
    tracker = new LmStreams();
    events = [];
    tracker.onEvent((e) => events.push(e));
  });

  afterEach(() => tracker.dispose());

  const start = (staleSeconds = 3, signal?: AbortSignal) => {
    const texts: string[] = [];
    const result = runLmRequest({
      streamer,
      request: { messages: [{ role: 'user', content: 'Hi' }], model: 'tiny' },
      staleSeconds,
      signal,
      ctxMax: 2048,
      clock,
      tracker,
      onText: (t) => texts.push(t),
    });
    // Settled either way, so a rejection is never unhandled while a test drives the stream.
    const settled = result.then(
      (r): { ok: true; r: LmRequestResult } => ({ ok: true, r }),
      (e: unknown): { ok: false; e: unknown } => ({ ok: false, e }),
    );
    return { texts, settled };
  };

  it('streams the text in order and ends with the usage, the finish reason and final figures', async () => {
    const { texts, settled } = start();
    await tick();
    const stream = streamer.streams[0];
    assert.ok(stream, 'the request was sent');
    assert.equal(stream.request.model, 'tiny');
    assert.equal(tracker.activeStreams().length, 1, 'the stream is active while it runs');
    assert.equal(tracker.activeStreams()[0].chatId, NATIVE_CHAT_ID);
    stream.content('Hel');
    clock.advance(100);
    stream.content('lo');
    stream.push({ type: 'timings', timings: { predicted_per_second: 42, predicted_n: 2, prompt_n: 5 } });
    stream.finish('stop', { promptTokens: 5, completionTokens: 2, totalTokens: 7 }, { predicted_per_second: 42, predicted_n: 2, prompt_n: 5 });
    const out = await settled;
    assert.ok(out.ok, 'resolved');
    assert.deepEqual(texts, ['Hel', 'lo']);
    assert.equal(out.r.text, 'Hello');
    assert.equal(out.r.finishReason, 'stop');
    assert.deepEqual(out.r.usage, { promptTokens: 5, completionTokens: 2, totalTokens: 7 });
    assert.equal(out.r.summary.ctxMax, 2048);
    assert.equal(out.r.summary.ctxUsed, 7);
    assert.equal(tracker.activeStreams().length, 0, 'nothing is left active');
    const ended = events.filter((e) => e.type === 'streamEnded');
    assert.equal(ended.length, 1);
    assert.ok(ended[0].type === 'streamEnded');
    assert.equal(ended[0].message.status, 'complete');
    assert.equal(ended[0].message.timings?.predictedPerSecond, 42);
    assert.ok(events.some((e) => e.type === 'stats' && e.stats.phase === 'generating'), 'live figures were reported');
  });

  it('fails a stream that sends nothing for staleSeconds, aborting the request (the server frees the slot)', async () => {
    const { texts, settled } = start(3);
    await tick();
    const stream = streamer.streams[0];
    stream.content('partial');
    await tick();
    clock.advance(2_999);
    await tick();
    assert.equal(stream.aborted, false, 'not yet: a slow stream is not stale');
    clock.advance(1);
    const out = await settled;
    assert.ok(!out.ok);
    assert.ok(out.e instanceof LmRequestError);
    assert.equal(out.e.reason, 'stalled');
    assert.match(out.e.message, /sent nothing for 3 s/);
    assert.equal(stream.aborted, true, 'the HTTP request was aborted');
    assert.deepEqual(texts, ['partial']);
    assert.ok(events.some((e) => e.type === 'stale'), 'the status bar learns of the stall');
    const ended = events.find((e) => e.type === 'streamEnded');
    assert.ok(ended?.type === 'streamEnded');
    assert.equal(ended.message.status, 'failed');
    assert.equal(tracker.activeStreams().length, 0);
  });

  it('keeps a silent stream that still sends keep-alive frames', async () => {
    const { settled } = start(3);
    await tick();
    const stream = streamer.streams[0];
    for (let i = 0; i < 10; i++) {
      clock.advance(2_000);
      stream.push({ type: 'alive', ping: true });
      await tick();
    }
    assert.equal(stream.aborted, false);
    stream.content('late').finish();
    const out = await settled;
    assert.ok(out.ok);
    assert.equal(out.r.text, 'late');
  });

  it('cancellation aborts the request and rejects as cancelled', async () => {
    const cancel = new AbortController();
    const { settled } = start(3, cancel.signal);
    await tick();
    const stream = streamer.streams[0];
    stream.content('a');
    await tick();
    cancel.abort();
    const out = await settled;
    assert.ok(!out.ok);
    assert.ok(out.e instanceof LmRequestError);
    assert.equal(out.e.reason, 'cancelled');
    assert.equal(stream.aborted, true);
    const ended = events.find((e) => e.type === 'streamEnded');
    assert.ok(ended?.type === 'streamEnded');
    assert.equal(ended.message.status, 'stopped');
  });

  it("a server error fails with the server's message and the hint", async () => {
    const { settled } = start();
    await tick();
    streamer.streams[0].fail({ kind: 'context_exceeded', message: 'The request does not fit the context.', hint: 'Start a new chat.' });
    const out = await settled;
    assert.ok(!out.ok);
    assert.ok(out.e instanceof LmRequestError);
    assert.equal(out.e.reason, 'failed');
    assert.equal(out.e.message, 'The request does not fit the context. Start a new chat.');
    assert.equal(out.e.info?.kind, 'context_exceeded');
  });

  it('a stream that ends without done is a failure, not an answer', async () => {
    const { settled } = start();
    await tick();
    streamer.streams[0].content('cut').end();
    const out = await settled;
    assert.ok(!out.ok);
    assert.ok(out.e instanceof LmRequestError);
    assert.equal(out.e.reason, 'failed');
  });

  it('a staleSeconds of 0 never ends the request for silence', async () => {
    const { settled } = start(0);
    await tick();
    clock.advance(600_000);
    await tick();
    assert.equal(streamer.streams[0].aborted, false);
    streamer.streams[0].finish();
    assert.ok((await settled).ok);
  });
});

describe('runLmRequest: tool calls', () => {
  let clock: FakeClock;
  let streamer: FakeStreamer;

  beforeEach(() => {
    clock = new FakeClock();
    streamer = new FakeStreamer();
  });

  /** Text and tool calls in the order the request reported them. */
  const start = () => {
    const log: unknown[] = [];
    const result = runLmRequest({
      streamer,
      request: { messages: [{ role: 'user', content: 'Weather?' }], tools: [{ name: 'get_weather' }], toolChoice: 'required' },
      staleSeconds: 3,
      clock,
      onText: (text) => log.push(text),
      onToolCall: (call) => log.push(call),
    });
    const settled = result.then(
      (r): { ok: true; r: LmRequestResult } => ({ ok: true, r }),
      (e: unknown): { ok: false; e: unknown } => ({ ok: false, e }),
    );
    return { log, settled };
  };

  it('joins the fragments per index and reports each call whole when the next starts and at the finish', async () => {
    const { log, settled } = start();
    await tick();
    const stream = streamer.streams[0];
    assert.deepEqual(stream.request.tools, [{ name: 'get_weather' }], 'the tools reach the client');
    stream.content('Let me check. ');
    stream.push({ type: 'toolCall', index: 0, id: 'c1', name: 'get_weather', argumentsDelta: '{"city":' });
    stream.push({ type: 'toolCall', index: 0, argumentsDelta: ' "Paris"}' });
    await tick();
    assert.deepEqual(log, ['Let me check. '], 'a call is not reported while its arguments may still grow');
    stream.push({ type: 'toolCall', index: 1, name: 'now' });
    await tick();
    assert.deepEqual(log[1], { id: 'c1', name: 'get_weather', input: { city: 'Paris' } }, 'the next call started: the first is complete');
    stream.finish('tool_calls');
    const out = await settled;
    assert.ok(out.ok);
    const second = { id: 'call_1', name: 'now', input: {} };
    assert.deepEqual(log, ['Let me check. ', { id: 'c1', name: 'get_weather', input: { city: 'Paris' } }, second], 'no id: call_<index>; no arguments: {}');
    assert.equal(out.r.finishReason, 'tool_calls');
    assert.deepEqual(out.r.toolCalls, [{ id: 'c1', name: 'get_weather', input: { city: 'Paris' } }, second]);
    assert.equal(out.r.text, 'Let me check. ');
  });

  it('arguments that are not a JSON object fail the request with a clear message, and stop the stream', async () => {
    const { log, settled } = start();
    await tick();
    const stream = streamer.streams[0];
    stream.push({ type: 'toolCall', index: 0, id: 'c1', name: 'get_weather', argumentsDelta: '{"city": "Par' });
    stream.push({ type: 'toolCall', index: 1, id: 'c2', name: 'get_weather', argumentsDelta: '{}' });
    const out = await settled;
    assert.ok(!out.ok);
    assert.ok(out.e instanceof LmRequestError);
    assert.equal(out.e.reason, 'failed');
    assert.equal(out.e.message, 'The model called the tool get_weather with arguments that are not a JSON object: {"city": "Par');
    assert.equal(stream.aborted, true, 'the rest of the answer is not generated for nothing');
    assert.deepEqual(log, [], 'no call is reported');
  });

  it('a call cut by the token limit fails the request saying so', async () => {
    const { log, settled } = start();
    await tick();
    streamer.streams[0].push({ type: 'toolCall', index: 0, id: 'c1', name: 'get_weather', argumentsDelta: '{"city": "Pa' });
    streamer.streams[0].finish('length');
    const out = await settled;
    assert.ok(!out.ok && out.e instanceof LmRequestError);
    assert.equal(out.e.message, 'The answer reached its token limit in the middle of a call of the tool get_weather: {"city": "Pa');
    assert.deepEqual(log, []);
  });

  it('a call without a name fails the request; a JSON array is not arguments either', async () => {
    for (const [fragment, message] of [
      [{ argumentsDelta: '{}' }, /without a name/],
      [{ name: 'f', argumentsDelta: '[1]' }, /with arguments that are not a JSON object: \[1\]/],
    ] as const) {
      streamer = new FakeStreamer();
      const { settled } = start();
      await tick();
      streamer.streams[0].push({ type: 'toolCall', index: 0, ...fragment });
      streamer.streams[0].finish('tool_calls');
      const out = await settled;
      assert.ok(!out.ok && out.e instanceof LmRequestError);
      assert.match(out.e.message, message);
    }
  });
});

describe('mergeStreamSources', () => {
  it("gives the status bar the session's streams and the native chat's as one source", () => {
    const a = new Emitter<SessionEvent>();
    const streamA: ActiveStream = { chatId: 'c1', messageId: 'm1', stale: false, stats: { phase: 'generating', completionTokens: 1 } };
    const lm = new LmStreams();
    const merged = mergeStreamSources({ onEvent: a.event, activeStreams: () => [streamA] }, lm);
    const seen: string[] = [];
    const sub = merged.onEvent((e) => seen.push(e.type));
    lm.begin({ phase: 'waiting', completionTokens: 0 });
    a.fire({ type: 'chatsChanged' });
    assert.deepEqual(seen, ['stats', 'chatsChanged']);
    assert.deepEqual(merged.activeStreams().map((s) => s.chatId), ['c1', NATIVE_CHAT_ID]);
    sub.dispose();
    a.fire({ type: 'chatsChanged' });
    assert.equal(seen.length, 2, 'disposing unsubscribes from every source');
    lm.dispose();
  });
});
