import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';
import { getProxyMode, getProxyStats, invalidMode, setProxyMode, startFaultProxyControl } from '../harness/faultProxyControl';
import type { FaultProxyControl } from '../harness/faultProxyControl';

describe('fault proxy control port', () => {
  let upstream: http.Server;
  let proxy: FaultProxy;
  let control: FaultProxyControl;

  before(async () => {
    upstream = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"status":"ok"}');
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    proxy = await startFaultProxy({ target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}` });
    control = await startFaultProxyControl(proxy);
  });

  after(async () => {
    await control.stop();
    await proxy.stop();
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  it('switches the proxy to a status reply and back to pass', async () => {
    assert.equal((await fetch(`${proxy.url}/health`)).status, 200);
    const set = await setProxyMode(control.url, { kind: 'status', status: 503, body: '{"error":"down"}' });
    assert.equal(set.kind, 'status');
    assert.equal(proxy.mode().kind, 'status');
    const down = await fetch(`${proxy.url}/health`);
    assert.equal(down.status, 503);
    assert.equal(await down.text(), '{"error":"down"}');
    await setProxyMode(control.url, { kind: 'pass' });
    assert.equal((await fetch(`${proxy.url}/health`)).status, 200);
  });

  it('reports the current mode and the proxy stats', async () => {
    await setProxyMode(control.url, { kind: 'slow', eventsPerSecond: 20 });
    const mode = (await (await fetch(`${control.url}/mode`)).json()) as { kind: string; eventsPerSecond: number };
    assert.deepEqual(mode, { kind: 'slow', eventsPerSecond: 20 });
    const stats = await getProxyStats(control.url);
    assert.equal(stats.statusReplies, 1);
    assert.ok(stats.requests >= 3);
    await setProxyMode(control.url, { kind: 'pass' });
  });

  it('rejects a malformed mode and leaves the current one', async () => {
    await assert.rejects(setProxyMode(control.url, { kind: 'slow', eventsPerSecond: 0 }), /HTTP 400/);
    const res = await fetch(`${control.url}/mode`, { method: 'POST', body: 'not json' });
    assert.equal(res.status, 400);
    assert.equal(proxy.mode().kind, 'pass');
    assert.equal((await fetch(`${control.url}/nope`)).status, 404);
  });

  it('validates modes', () => {
    assert.equal(invalidMode({ kind: 'stall', afterEvents: 2 }), undefined);
    assert.equal(invalidMode({ kind: 'cut' }), undefined);
    assert.match(invalidMode({ kind: 'explode' }) ?? '', /unknown kind/);
    assert.match(invalidMode({ kind: 'status', status: 42 }) ?? '', /status/);
    assert.match(invalidMode(null) ?? '', /object/);
    assert.match(invalidMode({ kind: 'pass', path: 3 }) ?? '', /path/);
    assert.equal(invalidMode({ kind: 'emptyFrames' }), undefined);
    assert.equal(invalidMode({ kind: 'emptyFrames', every: 3, count: 2, intervalMs: 0, path: '/v1/chat/completions' }), undefined);
    assert.match(invalidMode({ kind: 'emptyFrames', every: 0 }) ?? '', /every/);
    assert.match(invalidMode({ kind: 'emptyFrames', count: 1.5 }) ?? '', /count/);
    assert.match(invalidMode({ kind: 'emptyFrames', intervalMs: -1 }) ?? '', /intervalMs/);
    assert.equal(invalidMode({ kind: 'pingSilence', pingMs: 100, afterEvents: 2 }), undefined);
    assert.match(invalidMode({ kind: 'pingSilence' }) ?? '', /pingMs/);
    assert.match(invalidMode({ kind: 'pingSilence', pingMs: 0 }) ?? '', /pingMs/);
    assert.equal(invalidMode({ kind: 'cutResume', afterEvents: 0 }), undefined);
    assert.match(invalidMode({ kind: 'cutResume' }) ?? '', /afterEvents/);
    assert.match(invalidMode({ kind: 'cutResume', afterEvents: -1 }) ?? '', /afterEvents/);
  });

  it('sets the new modes from another process and reports their counters and the request log', async () => {
    for (const mode of [
      { kind: 'emptyFrames', every: 2, count: 3, intervalMs: 10, path: '/v1/chat/completions' },
      { kind: 'pingSilence', afterEvents: 1, pingMs: 50 },
      { kind: 'cutResume', afterEvents: 4, path: '/v1/chat/completions' },
    ] as const) {
      assert.deepEqual(await setProxyMode(control.url, mode), mode);
      assert.deepEqual(await getProxyMode(control.url), mode);
    }
    // cutResume with a path: a request elsewhere passes and is logged.
    assert.equal((await fetch(`${proxy.url}/v1/stream?conv_id=c1&from=0`)).status, 200);
    await setProxyMode(control.url, { kind: 'pass' });
    const stats = await getProxyStats(control.url);
    for (const key of ['emptyFramesInserted', 'pingsWritten', 'cutResumes', 'bytesForwarded'] as const) assert.equal(typeof stats[key], 'number', key);
    assert.equal(stats.lastCut, null);
    assert.deepEqual(stats.requestLog.at(-1), { method: 'GET', path: '/v1/stream?conv_id=c1&from=0', status: 200 });
  });
});
