/** LlamaClient through the fault proxy in front of the real llama-server: stalls, cuts, error statuses, empty frames, pings. */
import * as assert from 'node:assert/strict';
import { request } from 'undici';
import type { ChatRequest } from '../../src/core/server/client';
import { LlamaClient } from '../../src/core/server/llamaClient';
import { startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';
import { cancelledTasks, collect, completeNonStreamed, ofType, waitForCancelLogged, waitForIdleSlots } from './helpers';
import { serverUnderTest } from './hooks';

const CHAT = '/v1/chat/completions';

describe('LlamaClient through the fault proxy (real llama-server behind it)', () => {
  let proxy: FaultProxy;
  let client: LlamaClient;
  let direct: LlamaClient;

  beforeEach(async () => {
    proxy = await startFaultProxy({ target: serverUnderTest().url });
    client = new LlamaClient({ baseUrl: proxy.url, requestTimeoutMs: 10_000 });
    direct = new LlamaClient({ baseUrl: serverUnderTest().url, requestTimeoutMs: 10_000 });
  });
  afterEach(async () => {
    client.dispose();
    direct.dispose();
    await proxy.stop();
  });

  it('stall: the stream goes silent mid-answer, and resumes intact when the proxy passes again', async () => {
    const req: ChatRequest = {
      messages: [{ role: 'user', content: 'Write a poem about the sea' }],
      temperature: 0,
      seed: 42,
      maxTokens: 30,
      extra: { cache_prompt: false },
    };
    const expected = await completeNonStreamed(serverUnderTest().url, { messages: req.messages, temperature: 0, seed: 42, max_tokens: 30, cache_prompt: false });
    proxy.setMode({ kind: 'stall', afterEvents: 3, path: CHAT });
    const whileRunning: string[] = [];
    let partial = '';
    const running = collect(client.streamChat(req), (e) => {
      whileRunning.push(e.type);
      if (e.type === 'content') partial += e.text;
    });
    // The server has produced the whole answer (30 tokens, finish, usage, [DONE]) but the proxy holds it back.
    await proxy.waitFor((s) => s.heldEvents >= 30);
    const silent = [...whileRunning];
    const heldText = partial;
    assert.ok(!silent.includes('finish') && !silent.includes('done') && !silent.includes('error'), `while stalled: ${silent.join(',')}`);
    assert.ok(heldText.length < expected.text.length, 'only the start of the answer arrived before the stall');
    proxy.setMode({ kind: 'pass' });
    const got = await running;
    assert.deepEqual(got.last, { type: 'done' });
    assert.equal(got.text, expected.text, 'nothing was lost or duplicated across the stall');
    assert.equal(ofType(got.events, 'usage')[0]?.usage.completionTokens, 30);
  });

  it('cut: a dropped connection mid-stream ends as truncated, and the server stops generating', async () => {
    const logFile = serverUnderTest().logFile;
    const cancelsBefore = cancelledTasks(logFile);
    proxy.setMode({ kind: 'cut', afterEvents: 8, path: CHAT });
    // No token limit: only the cut can end this generation early.
    const got = await collect(client.streamChat({ messages: [{ role: 'user', content: 'Tell me a story' }], extra: { ignore_eos: true } }));
    assert.ok(got.last?.type === 'error', `ends with an error, got ${JSON.stringify(got.last)}`);
    assert.equal(got.last.error.kind, 'truncated');
    assert.equal(ofType(got.events, 'done').length, 0);
    assert.equal(proxy.stats().cuts, 1);
    assert.ok(await waitForIdleSlots(direct, 2000), 'the slot is free again');
    assert.ok(await waitForCancelLogged(logFile, cancelsBefore), 'llama-server cancelled the task');
  });

  it('status: a 401 JSON reply is unauthorized, a 500 HTML page is server_error', async () => {
    proxy.setMode({ kind: 'status', status: 401, body: '{"error":{"code":401,"message":"Invalid API Key","type":"authentication_error"}}', path: CHAT });
    const unauthorized = await collect(client.streamChat({ messages: [{ role: 'user', content: 'Hi' }], maxTokens: 2 }));
    assert.ok(unauthorized.last?.type === 'error');
    assert.equal(unauthorized.last.error.kind, 'unauthorized');
    assert.equal(unauthorized.last.error.status, 401);
    proxy.setMode({ kind: 'status', status: 500, body: '<html><body><h1>Internal Server Error</h1></body></html>', path: CHAT });
    const broken = await collect(client.streamChat({ messages: [{ role: 'user', content: 'Hi' }], maxTokens: 2 }));
    assert.ok(broken.last?.type === 'error');
    assert.equal(broken.last.error.kind, 'server_error');
    // Other paths still reach the real server.
    assert.equal((await client.getProps()).nCtx > 0, true);
    proxy.setMode({ kind: 'pass' });
    const ok = await collect(client.streamChat({ messages: [{ role: 'user', content: 'Hi' }], maxTokens: 2 }));
    assert.deepEqual(ok.last, { type: 'done' });
  });

  const seeded = (maxTokens: number): ChatRequest => ({
    messages: [{ role: 'user', content: 'Write a poem about the sea' }],
    temperature: 0,
    seed: 42,
    maxTokens,
    extra: { cache_prompt: false },
  });
  const reference = (maxTokens: number): Promise<{ text: string }> =>
    completeNonStreamed(serverUnderTest().url, { messages: seeded(maxTokens).messages, temperature: 0, seed: 42, max_tokens: maxTokens, cache_prompt: false });

  it('emptyFrames: llama-server-shaped frames that decode to nothing change nothing in the answer', async () => {
    const expected = await reference(20);
    proxy.setMode({ kind: 'emptyFrames', every: 1, count: 2, intervalMs: 5, path: CHAT });
    const got = await collect(client.streamChat(seeded(20)));
    assert.deepEqual(got.last, { type: 'done' });
    assert.equal(got.text, expected.text);
    const s = proxy.stats();
    // 20 tokens + role, finish and usage chunks, each followed by two inserted frames ([DONE] is not).
    assert.ok(s.emptyFramesInserted >= 2 * 20, `inserted ${s.emptyFramesInserted}`);
    assert.equal(s.emptyFramesInserted % 2, 0);
  });

  it('emptyFrames: the inserted frames carry the real stream\'s id and model', async () => {
    proxy.setMode({ kind: 'emptyFrames', every: 3, path: CHAT });
    const res = await request(`${proxy.url}${CHAT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Hi' }], max_tokens: 6, stream: true }),
    });
    const frames = (await res.body.text()).split('\n\n').filter((e) => e.startsWith('data: {'));
    const chunks = frames.map((f) => JSON.parse(f.slice(6)) as { id: string; model: string; object: string; choices: { delta?: { content?: string | null } }[] });
    assert.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id across real and inserted frames');
    assert.ok(chunks.every((c) => c.model === chunks[0].model && c.object === 'chat.completion.chunk'));
    assert.ok(proxy.stats().emptyFramesInserted >= 2);
  });

  it('pingSilence: ":" frames while the real answer is held; the client neither fails nor finishes, then gets it all', async () => {
    const expected = await reference(30);
    proxy.setMode({ kind: 'pingSilence', afterEvents: 3, pingMs: 50, path: CHAT });
    const seen: string[] = [];
    const running = collect(client.streamChat(seeded(30)), (e) => seen.push(e.type));
    await proxy.waitFor((s) => s.heldEvents >= 30 && s.pingsWritten >= 5);
    assert.ok(!seen.includes('finish') && !seen.includes('done') && !seen.includes('error'), `while pinging: ${seen.join(',')}`);
    proxy.setMode({ kind: 'pass' });
    const got = await running;
    assert.deepEqual(got.last, { type: 'done' });
    assert.equal(got.text, expected.text);
    const pings = proxy.stats().pingsWritten;
    await new Promise((r) => setTimeout(r, 120));
    assert.equal(proxy.stats().pingsWritten, pings, 'pings stop with the mode');
  });

  it('cutResume: only the first chat request is cut (with its byte offset); the next one passes', async () => {
    proxy.setMode({ kind: 'cutResume', afterEvents: 6, path: CHAT });
    const first = await collect(client.streamChat({ messages: [{ role: 'user', content: 'Tell me a story' }], extra: { ignore_eos: true } }));
    assert.ok(first.last?.type === 'error');
    assert.equal(first.last.error.kind, 'truncated');
    const cut = proxy.stats().lastCut;
    assert.equal(cut?.kind, 'cutResume');
    assert.equal(cut?.events, 6);
    assert.ok((cut?.bytes ?? 0) > 6 * 100, `cut after ${cut?.bytes} bytes`);
    const second = await collect(client.streamChat({ messages: [{ role: 'user', content: 'Hi' }], maxTokens: 5 }));
    assert.deepEqual(second.last, { type: 'done' });
    const s = proxy.stats();
    assert.equal(s.cuts, 1);
    assert.equal(s.cutResumes, 1);
    assert.deepEqual(s.requestLog.filter((r) => r.path === CHAT).map((r) => `${r.method} ${r.status ?? ''}`), ['POST 200', 'POST 200']);
    assert.ok(await waitForIdleSlots(direct, 2000), 'without X-Conversation-Id the cut request was cancelled');
  });
});
