/**
 * Facts about this llama-server's resumable streams and SSE pings that a resuming client builds on, pinned with raw
 * undici requests against the real server (through the fault proxy where a cut is needed).
 *
 * - `X-Conversation-Id: ID` on a chat request: generation goes on after the client disconnects.
 * - `POST /v1/streams/lookup {"conversation_ids":[ID]}` -> `[{conversation_id, is_done, total_bytes, started_at,
 *   completed_at}]`; unknown ids are left out (so `[]`).
 * - `GET /v1/stream?conv_id=ID&from=N` -> the SSE body from byte N (live while the task runs, then to its end);
 *   bytes before a cut + resumed bytes === `from=0` (the whole body), and the text equals an uncut run.
 * - `DELETE /v1/stream?conv_id=ID` -> 204 (also for an unknown id); afterwards lookup `[]`, replay 404.
 * - `"sse_ping_interval": 1` in the body: `:\n\n` comment frames while the stream is silent. The server checks
 *   for silence once per second, and only once the headers are out: they wait for a free slot (a queued request gets
 *   neither headers nor pings), then come with an empty body when the slot starts. So the silence that pings is
 *   prompt processing: the pings are the first body bytes, and the role frame arrives with the first token. Every
 *   generated token is a result (even one held back by a stop string), so generation is never "silent". The suite's
 *   tiny model processes ~1,800 tokens in ~0.1 s, too fast for a ping, so that test starts a second llama-server on
 *   a larger random model (12 layers, 512 wide, ~185 MB, written once and cached) whose ~1,800-token prefill takes
 *   seconds here.
 *   The check is "more than N s since the last result" on each 1 s poll, so with `sse_ping_interval: 1` the first
 *   ping comes at ~1 s or only at ~2 s (a 1.9 s prefill was seen with none): only silences over ~2 s surely ping.
 * - A stream that ran to its end replays byte for byte; its lookup says `is_done` a moment after the client saw
 *   `[DONE]` (poll, do not expect it at once).
 */
import * as assert from 'node:assert/strict';
import { request } from 'undici';
import type { Context } from 'mocha';
import { startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';
import { startLlamaServer } from '../harness/llamaServer';
import type { LlamaServerHandle } from '../harness/llamaServer';
import { DEFAULT_TINY_RECIPE, ensureTinyModel } from '../harness/tinyModel';
import { serverUnderTest } from './hooks';

const CHAT = '/v1/chat/completions';

interface LookupEntry {
  conversation_id: string;
  is_done: boolean;
  total_bytes: number;
  started_at: number;
  completed_at: number;
}

let convSeq = 0;
const newConvId = (): string => `conv-test-${process.pid}-${Date.now()}-${++convSeq}`;

function chatBody(maxTokens: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    messages: [{ role: 'user', content: 'Tell me a story' }],
    max_tokens: maxTokens,
    ignore_eos: true,
    temperature: 0,
    seed: 42,
    cache_prompt: false,
    stream: true,
    stream_options: { include_usage: true },
    ...extra,
  };
}

/** POSTs a streamed chat and reads the body until it ends or the connection is cut; never throws on a cut. */
async function streamChat(baseUrl: string, body: Record<string, unknown>, convId?: string): Promise<{ status: number; bytes: Buffer; cut: boolean }> {
  const res = await request(`${baseUrl}${CHAT}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(convId ? { 'x-conversation-id': convId } : {}) },
    body: JSON.stringify(body),
  });
  const chunks: Buffer[] = [];
  let cut = false;
  try {
    for await (const c of res.body) chunks.push(c as Buffer);
  } catch {
    cut = true;
  }
  return { status: res.statusCode, bytes: Buffer.concat(chunks), cut };
}

async function lookup(baseUrl: string, ids: string[]): Promise<LookupEntry[]> {
  const res = await request(`${baseUrl}/v1/streams/lookup`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ conversation_ids: ids }),
  });
  assert.equal(res.statusCode, 200);
  return (await res.body.json()) as LookupEntry[];
}

async function replay(baseUrl: string, id: string, from: number): Promise<{ status: number; contentType: string; bytes: Buffer }> {
  const res = await request(`${baseUrl}/v1/stream?conv_id=${encodeURIComponent(id)}&from=${from}`);
  const bytes = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, contentType: String(res.headers['content-type'] ?? ''), bytes };
}

async function waitDone(baseUrl: string, id: string, timeoutMs = 30_000): Promise<LookupEntry> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [entry] = await lookup(baseUrl, [id]);
    if (entry?.is_done) return entry;
    if (Date.now() > deadline) throw new Error(`stream ${id} not done after ${timeoutMs} ms: ${JSON.stringify(entry)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function slotsBusy(baseUrl: string): Promise<boolean> {
  const res = await request(`${baseUrl}/slots`);
  const slots = (await res.body.json()) as { is_processing: boolean }[];
  return slots.some((s) => s.is_processing);
}

/** The SSE events of a body (split on blank lines), comments included. */
function events(bytes: Buffer): string[] {
  return bytes
    .toString('utf8')
    .split('\n\n')
    .filter((e) => e.length > 0);
}

/** The answer text of an SSE body: every `delta.content`, in order. */
function contentOf(bytes: Buffer): string {
  let text = '';
  for (const e of events(bytes)) {
    if (!e.startsWith('data: ') || e === 'data: [DONE]') continue;
    const chunk = JSON.parse(e.slice(6)) as { choices?: { delta?: { content?: string | null } }[] };
    text += chunk.choices?.[0]?.delta?.content ?? '';
  }
  return text;
}

function usageOf(bytes: Buffer): { completion_tokens: number } | undefined {
  for (const e of events(bytes).reverse()) {
    if (!e.startsWith('data: {')) continue;
    const chunk = JSON.parse(e.slice(6)) as { usage?: { completion_tokens: number } };
    if (chunk.usage) return chunk.usage;
  }
  return undefined;
}

describe('resumable streams and SSE pings (real llama-server)', () => {
  let proxy: FaultProxy;
  let server: string;

  beforeEach(async () => {
    server = serverUnderTest().url;
    proxy = await startFaultProxy({ target: server });
  });
  afterEach(async () => {
    await proxy.stop();
  });

  it('with X-Conversation-Id the server keeps generating after the client is cut; lookup reports is_done and total_bytes', async () => {
    const id = newConvId();
    proxy.setMode({ kind: 'cutResume', afterEvents: 10, path: CHAT });
    const cut = await streamChat(proxy.url, chatBody(1500), id);
    assert.equal(cut.status, 200);
    assert.ok(cut.cut, 'the proxy cut the connection');
    const lastCut = proxy.stats().lastCut;
    assert.equal(lastCut?.kind, 'cutResume');
    assert.equal(lastCut?.bytes, cut.bytes.length, 'the proxy counts exactly the bytes the client got');
    assert.ok(cut.bytes.toString('utf8').endsWith('\n\n'), 'the cut falls between whole events');
    assert.equal(events(cut.bytes).length, 10);

    // Right after the cut nobody reads the stream, yet the task runs on.
    const [early] = await lookup(server, [id, 'no-such-conversation']);
    assert.equal(early.conversation_id, id);
    assert.equal(early.is_done, false, `1500 tokens take longer than the cut: ${JSON.stringify(early)}`);
    assert.ok(early.total_bytes >= cut.bytes.length);
    assert.ok(await slotsBusy(server), 'a slot is still processing the disconnected request');

    const done = await waitDone(server, id);
    assert.ok(done.total_bytes > cut.bytes.length * 10, `it generated on: ${done.total_bytes} bytes vs ${cut.bytes.length} at the cut`);
    assert.ok(done.started_at > 0 && done.completed_at >= done.started_at, JSON.stringify(done));
    assert.deepEqual(await lookup(server, ['no-such-conversation']), [], 'unknown ids are left out');

    const whole = await replay(server, id, 0);
    assert.equal(whole.status, 200);
    assert.match(whole.contentType, /text\/event-stream/);
    assert.equal(whole.bytes.length, done.total_bytes, 'total_bytes counts SSE body bytes');
    assert.ok(whole.bytes.subarray(0, cut.bytes.length).equals(cut.bytes), 'the replay starts with what the client got');
    assert.ok(whole.bytes.toString('utf8').endsWith('data: [DONE]\n\n'));
    assert.equal(usageOf(whole.bytes)?.completion_tokens, 1500, 'the whole answer was generated with nobody reading');
    await request(`${server}/v1/stream?conv_id=${id}`, { method: 'DELETE' }).then((r) => r.body.dump());
  });

  it('GET /v1/stream from the bytes received resumes a live stream; cut + resumed bytes === from=0, and the text equals an uncut run', async () => {
    const body = chatBody(1200);
    const uncut = await streamChat(server, body);
    assert.equal(uncut.status, 200);
    const expected = contentOf(uncut.bytes);
    assert.ok(expected.length > 0);

    const id = newConvId();
    proxy.setMode({ kind: 'cutResume', afterEvents: 25, path: CHAT });
    const cut = await streamChat(proxy.url, body, id);
    assert.ok(cut.cut);
    const from = proxy.stats().lastCut?.bytes ?? -1;
    assert.equal(from, cut.bytes.length);
    // Resume through the proxy: cutResume only cut the first request, this one passes.
    const [before] = await lookup(server, [id]);
    const resumed = await replay(proxy.url, id, from);
    assert.equal(resumed.status, 200);
    assert.match(resumed.contentType, /text\/event-stream/);
    assert.ok(resumed.bytes.toString('utf8').endsWith('data: [DONE]\n\n'), 'the resumed stream runs to the end');
    assert.ok(resumed.bytes.toString('utf8').startsWith('data: {'), 'it starts on an event boundary');
    assert.deepEqual(
      proxy.stats().requestLog.map((r) => `${r.method} ${r.path} ${r.status ?? ''}`),
      [`POST ${CHAT} 200`, `GET /v1/stream?conv_id=${id}&from=${from} 200`],
    );

    const done = await waitDone(server, id);
    const whole = await replay(server, id, 0);
    assert.equal(cut.bytes.length + resumed.bytes.length, done.total_bytes);
    assert.ok(Buffer.concat([cut.bytes, resumed.bytes]).equals(whole.bytes), 'bytes before the cut + resumed bytes === the whole body');
    assert.equal(contentOf(Buffer.concat([cut.bytes, resumed.bytes])), expected, 'the resumed text equals an uncut run');
    assert.equal(usageOf(whole.bytes)?.completion_tokens, 1200);
    // Informational: whether the resume attached while the task was still running.
    if (before && !before.is_done) assert.ok(before.total_bytes < done.total_bytes);

    // A replay from the end (or past it) is an empty 200 SSE body; a malformed offset is a 400.
    const atEnd = await replay(server, id, done.total_bytes);
    assert.equal(atEnd.status, 200);
    assert.equal(atEnd.bytes.length, 0);
    const bad = await request(`${server}/v1/stream?conv_id=${id}&from=abc`);
    assert.equal(bad.statusCode, 400);
    await bad.body.dump();
    await request(`${server}/v1/stream?conv_id=${id}`, { method: 'DELETE' }).then((r) => r.body.dump());
  });

  it('DELETE /v1/stream answers 204 and cancels: lookup is empty, replay is 404, the slot is freed', async () => {
    const id = newConvId();
    proxy.setMode({ kind: 'cutResume', afterEvents: 5, path: CHAT });
    const cut = await streamChat(proxy.url, chatBody(1500), id);
    assert.ok(cut.cut);
    const del = await request(`${proxy.url}/v1/stream?conv_id=${encodeURIComponent(id)}`, { method: 'DELETE' });
    assert.equal(del.statusCode, 204);
    assert.equal((await del.body.text()).length, 0);
    assert.ok(proxy.stats().requestLog.some((r) => r.method === 'DELETE' && r.path === `/v1/stream?conv_id=${id}` && r.status === 204), 'the DELETE went through the proxy');

    assert.deepEqual(await lookup(server, [id]), []);
    const gone = await replay(server, id, 0);
    assert.equal(gone.status, 404);
    assert.match(gone.bytes.toString('utf8'), /not_found_error/);
    const deadline = Date.now() + 3000;
    while ((await slotsBusy(server)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
    assert.equal(await slotsBusy(server), false, 'the cancelled task freed its slot');

    // Deleting again, or an id the server never saw, is also 204.
    for (const again of [id, 'never-seen']) {
      const r = await request(`${server}/v1/stream?conv_id=${again}`, { method: 'DELETE' });
      assert.equal(r.statusCode, 204);
      await r.body.dump();
    }
  });

  it('a finished stream stays until DELETE, which then removes it from lookup and replay', async () => {
    const id = newConvId();
    const full = await streamChat(server, chatBody(20), id);
    assert.equal(full.cut, false);
    // is_done can still be false right after the client read [DONE]: the server marks it a moment later.
    const entry = await waitDone(server, id, 5000);
    assert.equal(entry.total_bytes, full.bytes.length);
    const again = await replay(server, id, 0);
    assert.ok(again.bytes.equals(full.bytes), 'an uninterrupted stream replays byte for byte');
    const del = await request(`${server}/v1/stream?conv_id=${id}`, { method: 'DELETE' });
    assert.equal(del.statusCode, 204);
    await del.body.dump();
    assert.deepEqual(await lookup(server, [id]), []);
    assert.equal((await replay(server, id, 0)).status, 404);
  });

  it('on the suite\'s tiny model a ~1,800-token prompt is processed too fast for any ping', async () => {
    const long = Array.from({ length: 650 }, (_, i) => `w${i % 50}`).join(' ');
    const res = await streamChat(server, { messages: [{ role: 'user', content: long }], max_tokens: 2, stream: true, sse_ping_interval: 1, cache_prompt: false });
    assert.equal(res.status, 200);
    const finish = events(res.bytes).find((e) => e.includes('"timings"'));
    const promptMs = finish ? (JSON.parse(finish.slice(6)) as { timings: { prompt_ms: number; prompt_n: number } }).timings : undefined;
    assert.ok(promptMs && promptMs.prompt_n > 1500, JSON.stringify(promptMs));
    // The server looks for silence once per second: a prefill well under that cannot produce a ping.
    if (promptMs.prompt_ms < 800) assert.equal(events(res.bytes).filter((e) => e === ':').length, 0);
  });

  describe('sse_ping_interval on a model whose prefill takes seconds', () => {
    let slow: LlamaServerHandle | undefined;

    before(async function (this: Context) {
      if (serverUnderTest().external) this.skip(); // needs a server of our own on the larger model
      this.timeout(120_000);
      const model = await ensureTinyModel({
        recipe: { ...DEFAULT_TINY_RECIPE, name: 'llama-server-chat prefill', nLayer: 12, nEmbd: 512, nHead: 8, nHeadKv: 4, nFf: 1536 },
      });
      slow = await startLlamaServer({ model, ctx: 2048, parallel: 1, alias: 'prefill' });
    });
    after(async function (this: Context) {
      this.timeout(15_000);
      await slow?.stop();
      slow = undefined;
    });

    const longPrompt = Array.from({ length: 650 }, (_, i) => `w${i % 50}`).join(' ');

    it('"sse_ping_interval": 1 writes ":" frames while the prompt is processed: after the headers, before the first data frame', async function (this: Context) {
      this.timeout(60_000);
      const url = (slow as LlamaServerHandle).url;
      const res = await request(`${url}${CHAT}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: longPrompt }], max_tokens: 3, stream: true, cache_prompt: false, sse_ping_interval: 1 }),
      });
      assert.equal(res.statusCode, 200);
      const arrivals: { at: number; text: string }[] = [];
      const decoder = new TextDecoder();
      const t0 = Date.now();
      for await (const c of res.body) arrivals.push({ at: Date.now() - t0, text: decoder.decode(c as Buffer, { stream: true }) });
      const body = Buffer.from(arrivals.map((a) => a.text).join(''));
      const all = events(body);
      const pings = all.filter((e) => e === ':');
      const finish = all.find((e) => e.includes('"timings"'));
      const timings = finish ? (JSON.parse(finish.slice(6)) as { timings: { prompt_ms: number } }).timings : undefined;
      assert.ok(timings && timings.prompt_ms > 2200, `prefill took ${timings?.prompt_ms} ms`);
      // At most one ping per second of prefill (the server polls once a second), at least one in over 2 s.
      assert.ok(pings.length >= 1 && pings.length <= Math.ceil(timings.prompt_ms / 1000) + 1, `${pings.length} pings for ${timings.prompt_ms} ms of prefill`);
      // Order: the headers come when the slot starts, with no frame; then only pings while the prompt is processed;
      // the role frame (`delta: {role, content: null}`) arrives together with the first token, not before the pings.
      const firstData = all.findIndex((e) => e.startsWith('data: '));
      assert.ok(firstData >= 1, `pings before any data frame: ${JSON.stringify(all.slice(0, 4).map((e) => e.slice(0, 80)))}`);
      assert.deepEqual(all.slice(0, firstData), pings, 'every ping precedes the first data frame');
      assert.match(all[firstData], /"delta":\{"role":"assistant","content":null\}/);
      assert.match(all[firstData + 1], /"delta":\{"content":/);
      assert.ok(arrivals[0].text.startsWith(':'), 'the first body bytes are a ping');
      assert.equal(all.at(-1), 'data: [DONE]');
      // The pings came while the stream was otherwise silent, about a second apart.
      const pingTimes = arrivals.filter((a) => a.text.includes(':\n\n') && !a.text.includes('data:')).map((a) => a.at);
      for (let i = 1; i < pingTimes.length; i++) assert.ok(pingTimes[i] - pingTimes[i - 1] >= 800, `pings at ${pingTimes.join(', ')} ms`);
    });

    it('a request waiting for the busy slot gets no headers (so no pings) until the slot frees', async function (this: Context) {
      this.timeout(60_000);
      const url = (slow as LlamaServerHandle).url;
      const t0 = Date.now();
      const first = streamChat(url, { messages: [{ role: 'user', content: `${longPrompt} busy` }], max_tokens: 3, stream: true, cache_prompt: false }).then((r) => ({ ...r, endedAt: Date.now() - t0 }));
      await new Promise((r) => setTimeout(r, 200));
      const res = await request(`${url}${CHAT}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 3, stream: true, sse_ping_interval: 1 }),
      });
      const headersAt = Date.now() - t0;
      const body = Buffer.from(await res.body.arrayBuffer());
      const busy = await first;
      assert.equal(res.statusCode, 200);
      assert.ok(headersAt >= busy.endedAt - 100, `headers at ${headersAt} ms, the busy request ended at ${busy.endedAt} ms`);
      assert.ok(headersAt > 1200, `it waited ${headersAt} ms for the slot`);
      assert.equal(events(body).filter((e) => e === ':').length, 0, 'no pings while queued');
    });

    it('without the field (server default 30 s) the same silence has no pings', async function (this: Context) {
      this.timeout(60_000);
      const url = (slow as LlamaServerHandle).url;
      const res = await streamChat(url, { messages: [{ role: 'user', content: `${longPrompt} again` }], max_tokens: 3, stream: true, cache_prompt: false });
      assert.equal(res.status, 200);
      const all = events(res.bytes);
      const finish = all.find((e) => e.includes('"timings"'));
      assert.ok(finish && (JSON.parse(finish.slice(6)) as { timings: { prompt_ms: number } }).timings.prompt_ms > 1200);
      assert.equal(all.filter((e) => e === ':').length, 0);
    });
  });
});
