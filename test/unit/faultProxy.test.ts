import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startFaultProxy } from '../../test/harness/faultProxy';
import type { FaultProxy } from '../../test/harness/faultProxy';

/** An upstream whose SSE responses the test writes event by event. */
interface ScriptedUpstream {
  url: string;
  requests: number;
  /** The response currently open, once a request has arrived. */
  next(): Promise<UpstreamResponse>;
  close(): Promise<void>;
}

interface UpstreamResponse {
  send(data: string): void;
  end(): void;
  /** Resolves when the proxy closed the connection before we ended it. */
  closedEarly: Promise<void>;
  body: string;
}

async function startUpstream(): Promise<ScriptedUpstream> {
  const waiting: ((r: UpstreamResponse) => void)[] = [];
  const ready: UpstreamResponse[] = [];
  let requests = 0;
  const server = http.createServer((req, res) => {
    requests++;
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      if (req.url === '/json') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ echo: body }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.flushHeaders();
      let ended = false;
      const response: UpstreamResponse = {
        body,
        send: (data) => res.write(`data: ${data}\n\n`),
        end: () => {
          ended = true;
          res.end('data: [DONE]\n\n');
        },
        closedEarly: new Promise((resolve) => res.on('close', () => !ended && resolve())),
      };
      const w = waiting.shift();
      if (w) w(response);
      else ready.push(response);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return requests;
    },
    next: () => {
      const r = ready.shift();
      return r ? Promise.resolve(r) : new Promise((resolve) => waiting.push(resolve));
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** A client that records what it receives. */
interface ClientStream {
  status: Promise<number>;
  text(): string;
  /** `data:` payloads received so far. */
  events(): string[];
  /** Resolves 'end' on a clean end, 'error' when the connection was destroyed. */
  outcome: Promise<'end' | 'error'>;
  waitForEvents(n: number): Promise<void>;
  abort(): void;
}

function openStream(url: string, body = '{}'): ClientStream {
  let text = '';
  const listeners: (() => void)[] = [];
  let resolveStatus: (s: number) => void = () => undefined;
  let resolveOutcome: (o: 'end' | 'error') => void = () => undefined;
  const status = new Promise<number>((r) => (resolveStatus = r));
  const outcome = new Promise<'end' | 'error'>((r) => (resolveOutcome = r));
  const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
    resolveStatus(res.statusCode ?? 0);
    res.setEncoding('utf8');
    res.on('data', (c: string) => {
      text += c;
      for (const l of listeners.splice(0)) l();
    });
    res.on('end', () => resolveOutcome('end'));
    res.on('error', () => resolveOutcome('error'));
    res.on('aborted', () => resolveOutcome('error'));
  });
  req.on('error', () => resolveOutcome('error'));
  req.end(body);
  const events = (): string[] => [...text.matchAll(/^data: (.*)$/gm)].map((m) => m[1]);
  return {
    status,
    text: () => text,
    events,
    outcome,
    waitForEvents: async (n) => {
      while (events().length < n) await new Promise<void>((r) => listeners.push(r));
    },
    abort: () => req.destroy(),
  };
}

describe('fault proxy', () => {
  let upstream: ScriptedUpstream;
  let proxy: FaultProxy;

  beforeEach(async () => {
    upstream = await startUpstream();
    proxy = await startFaultProxy({ target: upstream.url });
  });
  afterEach(async () => {
    await proxy.stop();
    await upstream.close();
  });

  it('passes requests and SSE events through unchanged', async () => {
    const client = openStream(`${proxy.url}/sse`, '{"x":1}');
    const up = await upstream.next();
    assert.equal(up.body, '{"x":1}');
    up.send('a');
    up.send('b');
    up.end();
    assert.equal(await client.outcome, 'end');
    assert.equal(await client.status, 200);
    assert.equal(client.text(), 'data: a\n\ndata: b\n\ndata: [DONE]\n\n');
  });

  it('stall holds events (and the end) after N events until the mode changes back to pass', async () => {
    proxy.setMode({ kind: 'stall', afterEvents: 1 });
    const client = openStream(`${proxy.url}/sse`);
    const up = await upstream.next();
    for (const e of ['1', '2', '3']) up.send(e);
    up.end();
    await client.waitForEvents(1);
    await proxy.waitFor((s) => s.heldEvents === 3); // 2, 3 and [DONE] reached the proxy but not the client
    assert.deepEqual(client.events(), ['1']);
    proxy.setMode({ kind: 'pass' });
    assert.equal(await client.outcome, 'end');
    assert.deepEqual(client.events(), ['1', '2', '3', '[DONE]']);
  });

  it('stall only affects paths with the given prefix', async () => {
    proxy.setMode({ kind: 'stall', path: '/other' });
    const client = openStream(`${proxy.url}/sse`);
    const up = await upstream.next();
    up.send('x');
    up.end();
    assert.equal(await client.outcome, 'end');
    assert.deepEqual(client.events(), ['x', '[DONE]']);
  });

  it('cut destroys the client connection after N events and closes the upstream request', async () => {
    proxy.setMode({ kind: 'cut', afterEvents: 2 });
    const client = openStream(`${proxy.url}/sse`);
    const up = await upstream.next();
    up.send('1');
    up.send('2');
    assert.equal(await client.outcome, 'error');
    await up.closedEarly;
    assert.deepEqual(client.events(), ['1', '2']);
    assert.equal(proxy.stats().cuts, 1);
  });

  it('closing the client closes the upstream request', async () => {
    const client = openStream(`${proxy.url}/sse`);
    const up = await upstream.next();
    up.send('1');
    await client.waitForEvents(1);
    client.abort();
    await up.closedEarly;
    await proxy.waitFor((s) => s.active === 0 && s.upstreamClosed === 1);
  });

  it('a stalled stream whose client goes away closes the upstream too', async () => {
    proxy.setMode({ kind: 'stall' });
    const client = openStream(`${proxy.url}/sse`);
    const up = await upstream.next();
    up.send('1');
    await proxy.waitFor((s) => s.heldEvents === 1);
    assert.equal(await client.status, 200, 'headers are forwarded before the stall');
    client.abort();
    await up.closedEarly;
  });

  it('status answers without contacting the upstream', async () => {
    proxy.setMode({ kind: 'status', status: 401, body: '{"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}}' });
    const res = await fetch(`${proxy.url}/v1/chat/completions`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.equal(((await res.json()) as { error: { code: number } }).error.code, 401);
    proxy.setMode({ kind: 'status', status: 500, body: '<html>oops</html>' });
    const html = await fetch(`${proxy.url}/x`);
    assert.equal(html.status, 500);
    assert.match(html.headers.get('content-type') ?? '', /text\/html/);
    assert.equal(await html.text(), '<html>oops</html>');
    assert.equal(upstream.requests, 0);
  });

  it('slow mode delivers every event in order', async () => {
    proxy.setMode({ kind: 'slow', eventsPerSecond: 200 });
    const client = openStream(`${proxy.url}/sse`);
    const up = await upstream.next();
    const sent = Array.from({ length: 5 }, (_, i) => `e${i}`);
    for (const e of sent) up.send(e);
    up.end();
    assert.equal(await client.outcome, 'end');
    assert.deepEqual(client.events(), [...sent, '[DONE]']);
  });

  it('forwards non-SSE bodies and reports an unreachable upstream as 502', async () => {
    const res = await fetch(`${proxy.url}/json`, { method: 'POST', body: 'hi' });
    assert.deepEqual(await res.json(), { echo: 'hi' });
    await upstream.close();
    const dead = await fetch(`${proxy.url}/json`);
    assert.equal(dead.status, 502);
  });
});
