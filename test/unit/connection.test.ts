import * as assert from 'node:assert/strict';
import type { ServerProps } from '../../src/core/server/client';
import { ConnectionMonitor, modelNameOf } from '../../src/core/server/connection';
import type { ConnectionProbe } from '../../src/core/server/connection';
import { LlamaError } from '../../src/core/base/errors';
import type { ConnectionState } from '../../src/protocol';
import { FakeClock } from '../support/fakeClock';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(err: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const PROPS: ServerProps = { nCtx: 2048, modelAlias: 'tiny.gguf', buildInfo: 'b1-de3ff81', totalSlots: 4 };
const UNREACHABLE = new LlamaError({
  kind: 'unreachable',
  message: 'Cannot connect to http://127.0.0.1:9 (connection refused)',
  hint: 'Start llama-server or check the llamaChat.serverUrl setting',
});

/** A probe whose answers the test decides, one queued result per call. */
class ScriptedProbe implements ConnectionProbe {
  healthCalls = 0;
  propsCalls = 0;
  signals: AbortSignal[] = [];
  healthResults: (() => Promise<unknown>)[] = [];
  propsResults: (() => Promise<ServerProps>)[] = [];

  health(signal?: AbortSignal): Promise<unknown> {
    this.healthCalls++;
    if (signal) this.signals.push(signal);
    const next = this.healthResults.shift();
    return next ? next() : Promise.resolve({ status: 'ok' });
  }

  getProps(): Promise<ServerProps> {
    this.propsCalls++;
    const next = this.propsResults.shift();
    return next ? next() : Promise.resolve(PROPS);
  }
}

function setup(retryDelaysMs?: number[]) {
  const clock = new FakeClock();
  const probe = new ScriptedProbe();
  let url = 'http://127.0.0.1:8080';
  const opts = { probe: () => probe, url: () => url, clock, ...(retryDelaysMs ? { retryDelaysMs } : {}) };
  const monitor = new ConnectionMonitor(opts);
  const states: ConnectionState[] = [];
  monitor.onDidChange((s) => states.push(s));
  return { clock, probe, monitor, states, setUrl: (u: string) => (url = u) };
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise<void>((r) => setImmediate(r));

describe('ConnectionMonitor', () => {
  it('reports checking, then connected with model, n_ctx and build from /props', async () => {
    const { monitor, states, probe } = setup();
    assert.deepEqual(monitor.state, { state: 'unknown' });
    const result = await monitor.check();
    assert.deepEqual(result, { state: 'connected', url: 'http://127.0.0.1:8080', model: 'tiny', nCtx: 2048, build: 'b1-de3ff81' });
    assert.deepEqual(
      states.map((s) => s.state),
      ['checking', 'connected'],
    );
    assert.equal(probe.healthCalls, 1);
    assert.equal(probe.propsCalls, 1);
    assert.deepEqual(monitor.props, PROPS);
  });

  it('reports the LlamaError (with its hint) when the server is unreachable, and skips /props', async () => {
    const { monitor, probe } = setup([]);
    probe.healthResults.push(() => Promise.reject(UNREACHABLE));
    const result = await monitor.check();
    assert.equal(result.state, 'error');
    if (result.state !== 'error') return;
    assert.equal(result.error.kind, 'unreachable');
    assert.match(result.error.hint ?? '', /llamaChat\.serverUrl/);
    assert.equal(probe.propsCalls, 0);
    assert.equal(monitor.props, undefined);
  });

  it('reports a server that is still loading its model as an error, and re-checks it', async () => {
    const { monitor, probe, clock } = setup([1_000]);
    probe.healthResults.push(() => Promise.resolve('loading'));
    const result = await monitor.check();
    assert.equal(result.state, 'error');
    if (result.state === 'error') {
      assert.equal(result.error.status, 503);
      assert.match(result.error.message, /loading/);
    }
    assert.equal(probe.propsCalls, 0);
    clock.advance(1_000);
    await settle();
    assert.equal(monitor.state.state, 'connected');
  });

  it('turns a non-LlamaError failure into kind unknown', async () => {
    const { monitor, probe } = setup([]);
    probe.propsResults.push(() => Promise.reject(new Error('bad json')));
    const result = await monitor.check();
    assert.deepEqual(result, { state: 'error', url: 'http://127.0.0.1:8080', error: { kind: 'unknown', message: 'bad json' } });
  });

  it('a newer check supersedes an older one: the old answer never lands', async () => {
    const { monitor, probe, states, setUrl } = setup([]);
    const slow = deferred<unknown>();
    probe.healthResults.push(() => slow.promise);
    const first = monitor.check();
    await settle();
    setUrl('http://127.0.0.1:9090');
    const second = monitor.recheck();
    assert.equal(probe.signals[0].aborted, true, 'the first check was aborted');
    const r2 = await second;
    assert.equal(r2.state, 'connected');
    if (r2.state === 'connected') assert.equal(r2.url, 'http://127.0.0.1:9090');
    // The first check's server answers late with a failure: ignored.
    slow.reject(UNREACHABLE);
    const r1 = await first;
    assert.equal(r1.state, 'connected', 'the superseded check resolves with the newest state');
    assert.equal(monitor.state.state, 'connected');
    assert.ok(!states.some((s) => s.state === 'error'), 'no error state was ever published');
  });

  it('re-checks automatically after failures with growing delays, quietly, until it connects', async () => {
    const { monitor, probe, clock, states } = setup([5_000, 15_000]);
    probe.healthResults.push(
      () => Promise.reject(UNREACHABLE),
      () => Promise.reject(UNREACHABLE),
      () => Promise.reject(UNREACHABLE),
    );
    await monitor.check();
    assert.equal(probe.healthCalls, 1);
    clock.advance(4_999);
    assert.equal(probe.healthCalls, 1);
    clock.advance(1);
    assert.equal(probe.healthCalls, 2);
    await settle();
    clock.advance(14_999);
    assert.equal(probe.healthCalls, 2, 'second delay is longer');
    clock.advance(1);
    assert.equal(probe.healthCalls, 3);
    await settle();
    clock.advance(15_000);
    assert.equal(probe.healthCalls, 4, 'the last delay repeats');
    await settle();
    assert.equal(monitor.state.state, 'connected');
    // checking (first, loud) -> error -> connected: re-checks did not flash "checking" or repeat the error.
    assert.deepEqual(
      states.map((s) => s.state),
      ['checking', 'error', 'connected'],
    );
    clock.advance(600_000);
    assert.equal(probe.healthCalls, 4, 'no more checks once connected');
    assert.equal(clock.pendingTimers, 0);
  });

  it('a manual check cancels the scheduled re-check, and dispose stops everything', async () => {
    const { monitor, probe, clock } = setup([5_000]);
    probe.healthResults.push(() => Promise.reject(UNREACHABLE), () => Promise.reject(UNREACHABLE));
    await monitor.check();
    assert.equal(clock.pendingTimers, 1);
    await monitor.check();
    assert.equal(clock.pendingTimers, 1, 'one timer, not two');
    monitor.dispose();
    assert.equal(clock.pendingTimers, 0);
    clock.advance(60_000);
    assert.equal(probe.healthCalls, 2);
  });

  it('modelNameOf prefers the alias, else the model file name', () => {
    assert.equal(modelNameOf({ nCtx: 1, modelAlias: 'a' }), 'a');
    assert.equal(modelNameOf({ nCtx: 1, modelPath: '/models/qwen/q4.gguf' }), 'q4');
    assert.equal(modelNameOf({ nCtx: 1, modelPath: 'C:\\m\\x.gguf' }), 'x');
    assert.equal(modelNameOf({ nCtx: 1, modelAlias: '/root/.cache/tiny.gguf', modelPath: '/root/.cache/tiny.gguf' }), 'tiny');
    assert.equal(modelNameOf({ nCtx: 1 }), undefined);
  });
});
