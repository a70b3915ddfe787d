import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';
import { getProxyStats, invalidMode, setProxyMode, startFaultProxyControl } from '../harness/faultProxyControl';
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
  });
});
