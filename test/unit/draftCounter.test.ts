import * as assert from 'node:assert/strict';
import { DraftCounter } from '../../src/core/session/draftCounter';
import { FakeClock } from '../support/fakeClock';

interface Call {
  draft: string;
  signal: AbortSignal;
  resolve: (n: number) => void;
  reject: (e: Error) => void;
}

const flush = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup(intervalMs = 300, cacheSize?: number) {
  const clock = new FakeClock();
  const calls: Call[] = [];
  const results: [string, number][] = [];
  const errors: [string, unknown][] = [];
  const counter = new DraftCounter<string, number>({
    clock,
    intervalMs,
    cacheSize,
    key: (d) => d,
    measure: (draft, signal) =>
      new Promise<number>((resolve, reject) => {
        calls.push({ draft, signal, resolve, reject });
        signal.addEventListener('abort', () => reject(new Error('aborted')));
      }),
    onResult: (d, r) => results.push([d, r]),
    onError: (d, e) => errors.push([d, e]),
  });
  return { clock, calls, results, errors, counter };
}

describe('DraftCounter', () => {
  it('measures the first draft right away (leading), then at most once per interval with the latest draft (trailing)', async () => {
    const { clock, calls, results, counter } = setup();
    counter.update('h');
    assert.deepEqual(calls.map((c) => c.draft), ['h'], 'leading call right away');
    calls[0].resolve(1);
    await flush();
    assert.deepEqual(results, [['h', 1]]);

    clock.advance(100);
    counter.update('he');
    counter.update('hel');
    counter.update('hell');
    assert.equal(calls.length, 1, 'no call within the interval');
    clock.advance(199);
    assert.equal(calls.length, 1);
    clock.advance(1);
    assert.deepEqual(calls.map((c) => c.draft), ['h', 'hell'], 'trailing call with the latest draft, 300 ms after the last start');
    calls[1].resolve(4);
    await flush();
    assert.deepEqual(results, [['h', 1], ['hell', 4]]);
    clock.advance(10_000);
    assert.equal(calls.length, 2, 'nothing more when idle');
  });

  it('a newer draft aborts the measure in flight; its late result is dropped', async () => {
    const { clock, calls, results, errors, counter } = setup();
    counter.update('a');
    const first = calls[0];
    clock.advance(50);
    counter.update('ab');
    assert.equal(first.signal.aborted, true);
    first.resolve(99); // too late: already rejected by the abort, and dropped either way
    await flush();
    assert.deepEqual(results, []);
    assert.deepEqual(errors, [], 'an abort is not an error');
    clock.advance(250);
    assert.deepEqual(calls.map((c) => c.draft), ['a', 'ab']);
    calls[1].resolve(2);
    await flush();
    assert.deepEqual(results, [['ab', 2]]);
  });

  it('drops a result that resolves after a newer draft even when measure ignores the signal', async () => {
    const clock = new FakeClock();
    const resolvers: ((n: number) => void)[] = [];
    const results: [string, number][] = [];
    const counter = new DraftCounter<string, number>({
      clock,
      key: (d) => d,
      measure: () => new Promise<number>((resolve) => resolvers.push(resolve)),
      onResult: (d, r) => results.push([d, r]),
    });
    counter.update('x');
    counter.update('xy');
    resolvers[0](1);
    await flush();
    assert.deepEqual(results, []);
    clock.advance(300);
    resolvers[1](2);
    await flush();
    assert.deepEqual(results, [['xy', 2]]);
  });

  it('answers a repeated or idle draft from the cache without a request', async () => {
    const { clock, calls, results, counter } = setup();
    counter.update('one');
    calls[0].resolve(1);
    await flush();
    clock.advance(400);
    counter.update('two');
    calls[1].resolve(2);
    await flush();
    clock.advance(400);
    counter.update('one'); // back to an earlier draft (e.g. undo)
    counter.update('one');
    clock.advance(1000);
    assert.equal(calls.length, 2, 'cached: no new request');
    assert.deepEqual(results, [['one', 1], ['two', 2], ['one', 1], ['one', 1]]);
  });

  it('a cached draft cancels a pending trailing measure and aborts the one in flight', async () => {
    const { clock, calls, results, counter } = setup();
    counter.update('a');
    calls[0].resolve(1);
    await flush();
    counter.update('ab'); // within the interval: trailing scheduled
    counter.update('a'); // cached
    clock.advance(1000);
    assert.equal(calls.length, 1);
    assert.deepEqual(results, [['a', 1], ['a', 1]]);
    assert.equal(counter.pending, false);

    counter.update('abc'); // leading (idle for long enough)
    assert.equal(calls.length, 2);
    counter.update('a');
    assert.equal(calls[1].signal.aborted, true);
    await flush();
    assert.deepEqual(results, [['a', 1], ['a', 1], ['a', 1]]);
  });

  it('does not measure the same draft twice while it is in flight', () => {
    const { calls, counter } = setup();
    counter.update('same');
    counter.update('same');
    assert.equal(calls.length, 1);
    assert.equal(calls[0].signal.aborted, false);
  });

  it('invalidate() forgets the cache and measures the latest draft again', async () => {
    const { clock, calls, results, counter } = setup();
    counter.update('q');
    calls[0].resolve(5);
    await flush();
    counter.invalidate();
    assert.equal(calls.length, 1, 'still within the interval');
    clock.advance(300);
    assert.deepEqual(calls.map((c) => c.draft), ['q', 'q']);
    calls[1].resolve(6);
    await flush();
    assert.deepEqual(results, [['q', 5], ['q', 6]]);
  });

  it('keeps a small LRU cache', async () => {
    const { clock, calls, counter } = setup(0, 2);
    for (const d of ['a', 'b', 'c']) {
      counter.update(d);
      calls[calls.length - 1].resolve(d.length);
      await flush();
      clock.advance(1);
    }
    counter.update('c');
    counter.update('b');
    assert.equal(calls.length, 3, 'b and c are cached');
    counter.update('a');
    assert.equal(calls.length, 4, 'a was the least recently used and is gone');
  });

  it('reports failures of the latest draft through onError, and does not cache them', async () => {
    const { clock, calls, errors, results, counter } = setup();
    counter.update('bad');
    calls[0].reject(new Error('server down'));
    await flush();
    assert.equal(errors.length, 1);
    assert.equal(errors[0][0], 'bad');
    clock.advance(300);
    counter.update('bad');
    assert.equal(calls.length, 2, 'a failure is not cached');
    calls[1].resolve(3);
    await flush();
    assert.deepEqual(results, [['bad', 3]]);
  });

  it('dispose() aborts, cancels the trailing timer and ignores later drafts', async () => {
    const { clock, calls, results, counter } = setup();
    counter.update('a');
    counter.update('ab');
    assert.equal(clock.pendingTimers, 1);
    counter.dispose();
    assert.equal(calls[0].signal.aborted, true);
    assert.equal(clock.pendingTimers, 0);
    counter.update('abc');
    clock.advance(1000);
    await flush();
    assert.equal(calls.length, 1);
    assert.deepEqual(results, []);
  });
});
