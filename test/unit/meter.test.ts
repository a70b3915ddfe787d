import * as assert from 'node:assert/strict';
import type { StreamEvent } from '../../src/core/base/events';
import { ThroughputMeter } from '../../src/core/session/meter';
import { FakeClock } from '../support/fakeClock';

const token: StreamEvent = { type: 'content', text: 'x' };

describe('ThroughputMeter', () => {
  let clock: FakeClock;

  beforeEach(() => {
    clock = new FakeClock();
  });

  it('goes waiting -> prompt -> generating -> done', () => {
    const m = new ThroughputMeter(clock);
    assert.equal(m.stats().phase, 'waiting');
    m.onEvent({ type: 'role', role: 'assistant' });
    assert.equal(m.stats().phase, 'waiting');
    m.onEvent({ type: 'progress', progress: { total: 100, cache: 0, processed: 50, timeMs: 10 } });
    assert.equal(m.stats().phase, 'prompt');
    assert.equal(m.stats().promptProgress, 0.5);
    m.onEvent(token);
    assert.equal(m.stats().phase, 'generating');
    m.onEvent({ type: 'finish', reason: 'stop' });
    assert.equal(m.stats().phase, 'done');
  });

  it('measures tok/s over a sliding window from event counts when the server sends no timings', () => {
    const m = new ThroughputMeter(clock, { windowMs: 2000 });
    // 10 tok/s for 3 s
    for (let i = 0; i < 30; i++) {
      m.onEvent(token);
      clock.advance(100);
    }
    const slow = m.stats().tps!;
    assert.ok(Math.abs(slow - 10) < 0.6, `~10 tok/s, got ${slow}`);
    // then 50 tok/s for 3 s: the window forgets the slow part
    for (let i = 0; i < 150; i++) {
      m.onEvent(token);
      clock.advance(20);
    }
    const fast = m.stats().tps!;
    assert.ok(Math.abs(fast - 50) < 3, `~50 tok/s, got ${fast}`);
    assert.equal(m.stats().completionTokens, 180);
  });

  it('falls when tokens stop coming', () => {
    const m = new ThroughputMeter(clock, { windowMs: 2000 });
    for (let i = 0; i < 20; i++) {
      m.onEvent(token);
      clock.advance(50);
    }
    const live = m.stats().tps!;
    clock.advance(10_000);
    assert.ok(m.stats().tps! < live / 5, 'tok/s decays during silence');
  });

  it('counts reasoning events as tokens too', () => {
    const m = new ThroughputMeter(clock);
    m.onEvent({ type: 'reasoning', text: 'hmm' });
    m.onEvent({ type: 'reasoning', text: 'ok' });
    m.onEvent(token);
    assert.equal(m.stats().completionTokens, 3);
  });

  it("prefers the server's per-token timings over its own window", () => {
    const m = new ThroughputMeter(clock);
    for (let i = 1; i <= 10; i++) {
      m.onEvent(token);
      m.onEvent({ type: 'timings', timings: { predicted_n: i, predicted_per_second: 1234.5, prompt_n: 7, cache_n: 3 } });
      clock.advance(100); // the client clock says 10 tok/s
    }
    const s = m.stats();
    assert.equal(s.tps, 1234.5);
    assert.equal(s.completionTokens, 10);
    assert.equal(s.promptTokens, 10);
    assert.equal(s.cachedTokens, 3);
    assert.equal(s.ctxUsed, 20);
  });

  it('merges timings frames: the latest value of each field wins, fields a later frame omits are kept, the frames are not aliased', () => {
    const m = new ThroughputMeter(clock);
    const first = { prompt_n: 7, cache_n: 3, prompt_ms: 2, prompt_per_second: 3500, predicted_n: 1, predicted_ms: 1, predicted_per_second: 900 };
    m.onEvent(token);
    m.onEvent({ type: 'timings', timings: first });
    m.onEvent(token);
    // A frame with only the generation figures (as some servers send after the first one).
    m.onEvent({ type: 'timings', timings: { predicted_n: 2, predicted_ms: 2.5, predicted_per_second: 800 } });
    first.prompt_n = 99;
    first.cache_n = 99;
    const s = m.stats();
    assert.equal(s.tps, 800);
    assert.equal(s.completionTokens, 2);
    assert.equal(s.promptTokens, 10, 'prompt_n + cache_n of the first frame, unchanged by the later edit of that object');
    assert.equal(s.cachedTokens, 3);
    assert.equal(s.promptPerSecond, 3500);
    m.end();
    assert.deepEqual(m.summary().timings, { ttftMs: 0, promptMs: 2, promptPerSecond: 3500, predictedMs: 2.5, predictedPerSecond: 800 });
  });

  it('lets the final usage/timings override live estimates', () => {
    const m = new ThroughputMeter(clock, { ctxMax: 2048 });
    for (let i = 0; i < 5; i++) {
      m.onEvent(token);
      clock.advance(100);
    }
    m.onEvent({ type: 'finish', reason: 'length' });
    m.onEvent({
      type: 'usage',
      usage: { promptTokens: 20, completionTokens: 12, totalTokens: 32, cachedTokens: 4 },
      timings: { prompt_n: 16, cache_n: 4, prompt_ms: 1.9, prompt_per_second: 1053, predicted_n: 12, predicted_ms: 4.1, predicted_per_second: 2900 },
    });
    const s = m.stats();
    assert.equal(s.phase, 'done');
    assert.equal(s.completionTokens, 12);
    assert.equal(s.promptTokens, 20);
    assert.equal(s.cachedTokens, 4);
    assert.equal(s.ctxUsed, 32);
    assert.equal(s.ctxMax, 2048);
    assert.equal(s.tps, 2900);
    assert.equal(s.promptPerSecond, 1053);
    const sum = m.summary();
    assert.deepEqual(sum.timings, { ttftMs: 0, promptMs: 1.9, promptPerSecond: 1053, predictedMs: 4.1, predictedPerSecond: 2900 });
    assert.equal(sum.ctxUsed, 32);
  });

  it('takes prompt tokens from progress frames until the server says more', () => {
    const m = new ThroughputMeter(clock);
    m.setCtxMax(4096);
    m.onEvent({ type: 'progress', progress: { total: 1000, cache: 200, processed: 600, timeMs: 100 } });
    let s = m.stats();
    assert.equal(s.promptTokens, 1000);
    assert.equal(s.cachedTokens, 200);
    assert.equal(s.promptProgress, 0.5);
    assert.equal(s.promptPerSecond, 4000);
    assert.equal(s.ctxMax, 4096);
    m.onEvent(token);
    m.onEvent(token);
    s = m.stats();
    assert.equal(s.ctxUsed, 1002);
    assert.equal(s.promptProgress, 1);
  });

  it('measures time to first token from the request start', () => {
    const m = new ThroughputMeter(clock);
    clock.advance(300);
    m.onEvent({ type: 'role', role: 'assistant' });
    m.onEvent({ type: 'progress', progress: { total: 10, cache: 0, processed: 10, timeMs: 5 } });
    clock.advance(450);
    assert.equal(m.stats().ttftMs, undefined);
    m.onEvent({ type: 'reasoning', text: 'a' });
    clock.advance(1000);
    m.onEvent(token);
    assert.equal(m.stats().ttftMs, 750);
    assert.equal(m.summary().timings.ttftMs, 750);
  });

  it('without server timings, the final tok/s is the average over the answer', () => {
    const m = new ThroughputMeter(clock);
    for (let i = 0; i < 11; i++) {
      m.onEvent(token);
      if (i < 10) clock.advance(200);
    }
    m.onEvent({ type: 'finish', reason: 'stop' });
    m.end();
    clock.advance(5000);
    assert.equal(m.stats().tps, 5);
    assert.equal(m.summary().timings.predictedPerSecond, 5);
    assert.equal(m.summary().timings.predictedMs, 2000);
    assert.equal(m.summary().ctxUsed, undefined, 'no prompt count known');
  });

  it('leaves tps undefined until it can be measured', () => {
    const m = new ThroughputMeter(clock);
    assert.equal(m.stats().tps, undefined);
    m.onEvent(token);
    assert.equal(m.stats().tps, undefined);
  });
});
