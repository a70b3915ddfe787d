import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { emptyFrame, startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';

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
  /** Writes raw bytes (a whole SSE frame of your own, a comment, …). */
  raw(text: string): void;
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
      if (req.method === 'DELETE') {
        res.writeHead(204);
        res.end();
        return;
      }
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
        raw: (text) => res.write(text),
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
  /** Body bytes received so far. */
  bytes(): number;
  /** SSE comment frames (`:`) received so far. */
  pings(): number;
  /** Date.now() at each received chunk, with the text that chunk completed. */
  arrivals: { at: number; text: string }[];
  /** Resolves 'end' on a clean end, 'error' when the connection was destroyed. */
  outcome: Promise<'end' | 'error'>;
  waitForEvents(n: number): Promise<void>;
  abort(): void;
}

function openStream(url: string, body = '{}'): ClientStream {
  let text = '';
  let bytes = 0;
  const arrivals: { at: number; text: string }[] = [];
  const listeners: (() => void)[] = [];
  let resolveStatus: (s: number) => void = () => undefined;
  let resolveOutcome: (o: 'end' | 'error') => void = () => undefined;
  const status = new Promise<number>((r) => (resolveStatus = r));
  const outcome = new Promise<'end' | 'error'>((r) => (resolveOutcome = r));
  const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/json' } }, (res) => {
    resolveStatus(res.statusCode ?? 0);
    const decoder = new TextDecoder();
    res.on('data', (c: Buffer) => {
      bytes += c.length;
      const t = decoder.decode(c, { stream: true });
      text += t;
      arrivals.push({ at: Date.now(), text: t });
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
    bytes: () => bytes,
    pings: () => (text.match(/^:\n\n/gm) ?? []).length,
    arrivals,
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

  it('stall only affects the given endpoint: not another path, not a longer path that starts with it', async () => {
    for (const path of ['/other', '/ss', '/sse/more']) {
      proxy.setMode({ kind: 'stall', path });
      const client = openStream(`${proxy.url}/sse`);
      const up = await upstream.next();
      up.send('x');
      up.end();
      assert.equal(await client.outcome, 'end', `mode path ${path}`);
      assert.deepEqual(client.events(), ['x', '[DONE]']);
    }
  });

  it('a mode path matches its endpoint with a query string too', async () => {
    proxy.setMode({ kind: 'cut', afterEvents: 0, path: '/sse' });
    const client = openStream(`${proxy.url}/sse?conv_id=abc`);
    const up = await upstream.next().catch(() => undefined);
    up?.send('x');
    assert.notEqual(await client.outcome, 'end', 'cut, not passed through');
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

  describe('emptyFrames', () => {
    const chunk = (i: number): string =>
      JSON.stringify({ choices: [{ finish_reason: null, index: 0, delta: { content: `t${i}` } }], created: 1795515708, id: 'chatcmpl-abc', model: 'tiny', system_fingerprint: 'b1-x', object: 'chat.completion.chunk' });
    const EMPTY = emptyFrame({ id: 'chatcmpl-abc', created: 1795515708, model: 'tiny', systemFingerprint: 'b1-x' }).slice('data: '.length, -2);

    it('the inserted frame is byte for byte the shape llama-server sends (test/fixtures/llama-server-frames.txt)', () => {
      const fixture = fs.readFileSync(path.resolve(__dirname, '../../../test/fixtures/llama-server-frames.txt'), 'utf8');
      const real = fixture.split('\n').find((l) => l.startsWith('data: ') && l.includes('"delta":{"role":"assistant","content":null}') && !l.includes('prompt_progress'));
      assert.ok(real, 'the fixture has a frame that decodes to nothing');
      const j = JSON.parse(real.slice(6)) as { id: string; created: number; model: string; system_fingerprint: string };
      assert.equal(emptyFrame({ id: j.id, created: j.created, model: j.model, systemFingerprint: j.system_fingerprint }), `${real}\n\n`);
    });

    it('inserts a frame that decodes to nothing after every N real events, copying the stream\'s id, and none after [DONE]', async () => {
      proxy.setMode({ kind: 'emptyFrames', every: 2 });
      const client = openStream(`${proxy.url}/sse`);
      const up = await upstream.next();
      for (let i = 0; i < 5; i++) up.send(chunk(i));
      up.end();
      assert.equal(await client.outcome, 'end');
      assert.deepEqual(client.events(), [chunk(0), chunk(1), EMPTY, chunk(2), chunk(3), EMPTY, chunk(4), '[DONE]']);
      const inserted = JSON.parse(EMPTY) as { choices: { delta: { role: string; content: null } }[] };
      assert.deepEqual(inserted.choices[0].delta, { role: 'assistant', content: null });
      const s = proxy.stats();
      assert.equal(s.emptyFramesInserted, 2);
      assert.equal(s.forwardedEvents, 6, 'inserted frames are not counted as forwarded events');
      assert.equal(s.bytesForwarded, client.bytes());
    });

    it('every defaults to 1; count and intervalMs make a stretch whose only activity is frames that decode to nothing', async () => {
      proxy.setMode({ kind: 'emptyFrames', count: 3, intervalMs: 120 });
      const client = openStream(`${proxy.url}/sse`);
      const up = await upstream.next();
      const t0 = Date.now();
      up.send(chunk(0));
      up.send(chunk(1));
      await client.waitForEvents(1);
      const firstAt = Date.now();
      up.end();
      assert.equal(await client.outcome, 'end');
      assert.deepEqual(client.events(), [chunk(0), EMPTY, EMPTY, EMPTY, chunk(1), EMPTY, EMPTY, EMPTY, '[DONE]']);
      // chunk(1) was ready at once but waited behind three frames 120 ms apart.
      const second = client.arrivals.find((a) => a.text.includes('"t1"'));
      assert.ok(second && second.at - firstAt >= 3 * 120 - 30, `t1 came ${second ? second.at - firstAt : '?'} ms after t0`);
      const empties = client.arrivals.filter((a) => a.text.includes('"content":null'));
      for (let i = 1; i < empties.length; i++) assert.ok(empties[i].at - empties[i - 1].at >= 100, `gap ${empties[i].at - empties[i - 1].at} ms`);
      assert.ok(Date.now() - t0 >= 6 * 120 - 30);
      assert.equal(proxy.stats().emptyFramesInserted, 6);
    });

    it('switching back to pass stops inserting, and non-SSE bodies are untouched', async () => {
      proxy.setMode({ kind: 'emptyFrames', intervalMs: 50 });
      const json = await fetch(`${proxy.url}/json`, { method: 'POST', body: 'x' });
      assert.deepEqual(await json.json(), { echo: 'x' });
      const client = openStream(`${proxy.url}/sse`);
      const up = await upstream.next();
      up.send(chunk(0));
      await client.waitForEvents(2);
      proxy.setMode({ kind: 'pass' });
      up.send(chunk(1));
      up.end();
      assert.equal(await client.outcome, 'end');
      assert.deepEqual(client.events(), [chunk(0), EMPTY, chunk(1), '[DONE]']);
    });
  });

  describe('pingSilence', () => {
    it('forwards N events, then holds the rest while writing ":" frames every pingMs; pass releases them in order', async () => {
      proxy.setMode({ kind: 'pingSilence', afterEvents: 1, pingMs: 40 });
      const client = openStream(`${proxy.url}/sse`);
      const up = await upstream.next();
      for (const e of ['1', '2', '3']) up.send(e);
      up.end();
      await client.waitForEvents(1);
      await proxy.waitFor((s) => s.pingsWritten >= 4 && s.heldEvents === 3);
      assert.deepEqual(client.events(), ['1'], 'no real event passes while pinging');
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(client.pings() >= 3, `client saw ${client.pings()} pings`);
      assert.ok(client.text().startsWith('data: 1\n\n:\n\n:\n\n'), JSON.stringify(client.text()));
      proxy.setMode({ kind: 'pass' });
      assert.equal(await client.outcome, 'end');
      assert.deepEqual(client.events(), ['1', '2', '3', '[DONE]']);
      const s = proxy.stats();
      assert.equal(client.pings(), s.pingsWritten, 'every ping the proxy wrote reached the client');
      assert.ok(client.text().endsWith('data: 1\n\n'.replace('1', '3') + 'data: [DONE]\n\n'));
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(proxy.stats().pingsWritten, s.pingsWritten, 'no pings after the mode changed');
      assert.equal(s.forwardedEvents, 4, 'pings are not counted as events');
    });

    it('pings from the first byte with afterEvents 0, only on matching paths, and stop when the client goes away', async () => {
      proxy.setMode({ kind: 'pingSilence', pingMs: 30, path: '/sse' });
      const other = await fetch(`${proxy.url}/json`, { method: 'POST', body: 'y' });
      assert.deepEqual(await other.json(), { echo: 'y' });
      const client = openStream(`${proxy.url}/sse`);
      const up = await upstream.next();
      up.send('held');
      assert.equal(await client.status, 200, 'headers are forwarded before the silence');
      await proxy.waitFor((s) => s.pingsWritten >= 2);
      assert.deepEqual(client.events(), []);
      client.abort();
      await up.closedEarly;
      await proxy.waitFor((s) => s.active === 0);
      const after = proxy.stats().pingsWritten;
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(proxy.stats().pingsWritten, after);
    });
  });

  describe('cutResume', () => {
    it('cuts only the first matching request after the mode is set, and reports the bytes it got before the cut', async () => {
      proxy.setMode({ kind: 'cutResume', afterEvents: 2, path: '/v1/chat/completions' });
      // A request on another path does not take the cut.
      const health = await fetch(`${proxy.url}/json`, { method: 'POST', body: 'z' });
      assert.deepEqual(await health.json(), { echo: 'z' });
      const first = openStream(`${proxy.url}/v1/chat/completions`);
      const up1 = await upstream.next();
      up1.send('{"n":1}');
      up1.send('{"n":2}');
      up1.send('{"n":3}');
      assert.equal(await first.outcome, 'error');
      await up1.closedEarly;
      assert.deepEqual(first.events(), ['{"n":1}', '{"n":2}']);
      const s = proxy.stats();
      assert.equal(s.cuts, 1);
      assert.equal(s.cutResumes, 1);
      assert.deepEqual(s.lastCut, { kind: 'cutResume', method: 'POST', path: '/v1/chat/completions', events: 2, bytes: first.bytes() });
      assert.equal(first.bytes(), Buffer.byteLength('data: {"n":1}\n\ndata: {"n":2}\n\n'));

      // The mode is still cutResume, but the next matching request passes untouched.
      assert.equal(proxy.mode().kind, 'cutResume');
      const second = openStream(`${proxy.url}/v1/chat/completions`);
      const up2 = await upstream.next();
      for (const e of ['a', 'b', 'c']) up2.send(e);
      up2.end();
      assert.equal(await second.outcome, 'end');
      assert.deepEqual(second.events(), ['a', 'b', 'c', '[DONE]']);
      assert.equal(proxy.stats().cuts, 1);

      // Setting the mode again arms it again.
      proxy.setMode({ kind: 'cutResume', afterEvents: 0, path: '/v1/chat/completions' });
      const third = openStream(`${proxy.url}/v1/chat/completions`);
      const up3 = await upstream.next();
      up3.send('x');
      assert.equal(await third.outcome, 'error');
      assert.equal(third.bytes(), 0);
      assert.equal(proxy.stats().cutResumes, 2);
      assert.deepEqual(proxy.stats().lastCut, { kind: 'cutResume', method: 'POST', path: '/v1/chat/completions', events: 0, bytes: 0 });
    });

    it('a request already in flight when the mode is set is not the one cut', async () => {
      const running = openStream(`${proxy.url}/sse`);
      const up1 = await upstream.next();
      up1.send('1');
      await running.waitForEvents(1);
      proxy.setMode({ kind: 'cutResume', afterEvents: 1 });
      up1.send('2');
      up1.end();
      assert.equal(await running.outcome, 'end');
      const next = openStream(`${proxy.url}/sse`);
      const up2 = await upstream.next();
      up2.send('only');
      up2.send('lost');
      assert.equal(await next.outcome, 'error');
      assert.deepEqual(next.events(), ['only']);
    });

    it('cut records its byte offset in lastCut too', async () => {
      proxy.setMode({ kind: 'cut', afterEvents: 1 });
      const client = openStream(`${proxy.url}/sse`);
      const up = await upstream.next();
      up.send('héllo');
      up.send('more');
      assert.equal(await client.outcome, 'error');
      assert.deepEqual(proxy.stats().lastCut, { kind: 'cut', method: 'POST', path: '/sse', events: 1, bytes: Buffer.byteLength('data: héllo\n\n') });
      assert.equal(proxy.stats().cutResumes, 0);
    });
  });

  it('stats list every request\'s method, path (with query) and status', async () => {
    await (await fetch(`${proxy.url}/json`, { method: 'POST', body: '' })).text();
    const del = await fetch(`${proxy.url}/v1/stream?conv_id=abc`, { method: 'DELETE' });
    assert.equal(del.status, 204);
    proxy.setMode({ kind: 'status', status: 503, body: '{}' });
    await (await fetch(`${proxy.url}/v1/stream?conv_id=abc&from=12`)).text();
    assert.deepEqual(proxy.stats().requestLog, [
      { method: 'POST', path: '/json', status: 200 },
      { method: 'DELETE', path: '/v1/stream?conv_id=abc', status: 204 },
      { method: 'GET', path: '/v1/stream?conv_id=abc&from=12', status: 503 },
    ]);
    assert.equal(proxy.stats().requests, 3);
  });
});
