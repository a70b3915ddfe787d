/**
 * The client's resumable streams against the real llama-server: a stream cut by the fault proxy (`cutResume`: the
 * first chat request only) resumes to exactly the text of an uncut run with the same seed; Stop sends DELETE and
 * the slot goes idle although X-Conversation-Id keeps generation going after a disconnect.
 */
import * as assert from 'node:assert/strict';
import { LlamaClient } from '../../src/core/server/llamaClient';
import type { ChatRequest } from '../../src/core/server/client';
import type { StreamEvent } from '../../src/core/base/events';
import { startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';
import { serverUnderTest } from './hooks';
import { collect, waitForBusySlot, waitForIdleSlots } from './helpers';

const CHAT = '/v1/chat/completions';
let seq = 0;
const newId = (): string => `resume-test-${process.pid}-${Date.now()}-${++seq}`;

function request(maxTokens: number, conversationId?: string): ChatRequest {
  return {
    messages: [{ role: 'user', content: 'Tell me a story' }],
    seed: 42,
    temperature: 0,
    maxTokens,
    extra: { ignore_eos: true, cache_prompt: false },
    ...(conversationId !== undefined ? { conversationId } : {}),
  };
}

describe('resumable streams through LlamaClient (real llama-server)', () => {
  let proxy: FaultProxy;
  let client: LlamaClient;
  let direct: LlamaClient;

  beforeEach(async () => {
    proxy = await startFaultProxy({ target: serverUnderTest().url });
    client = new LlamaClient({ baseUrl: proxy.url });
    direct = new LlamaClient({ baseUrl: serverUnderTest().url });
  });
  afterEach(async () => {
    client.dispose();
    direct.dispose();
    await proxy.stop();
  });

  it('a stream cut mid-way resumes to exactly the text of an uncut run (same seed), one seamless stream', async () => {
    const uncut = await collect(direct.streamChat(request(600)));
    assert.equal(uncut.last?.type, 'done');
    assert.ok(uncut.text.length > 0);

    const id = newId();
    proxy.setMode({ kind: 'cutResume', afterEvents: 40, path: CHAT });
    const resumed = await collect(client.streamChat(request(600, id)));
    assert.equal(resumed.last?.type, 'done', JSON.stringify(resumed.last));
    const cut = proxy.stats().lastCut;
    assert.equal(cut?.kind, 'cutResume', 'the proxy cut the first request');
    assert.equal(resumed.text, uncut.text, 'no text lost or doubled');
    const reconnecting = resumed.events.filter((e): e is Extract<StreamEvent, { type: 'reconnecting' }> => e.type === 'reconnecting');
    assert.deepEqual(reconnecting, [{ type: 'reconnecting', attempt: 1 }]);
    // The probe on v0.5.0: the newer spelling is an unknown route (404), the older one resumes from the cut's byte.
    const log = proxy.stats().requestLog.map((r) => `${r.method} ${r.path} ${r.status ?? ''}`);
    assert.deepEqual(log, [
      `POST ${CHAT} 200`,
      `GET /v1/stream/${id}?from=${cut?.bytes} 404`,
      `GET /v1/stream?conv_id=${id}&from=${cut?.bytes} 200`,
    ]);
    const usage = resumed.events.find((e) => e.type === 'usage');
    assert.equal(usage?.type === 'usage' ? usage.usage.completionTokens : -1, 600);
    assert.equal(client.resumableStreams, 'yes');
    // A completed stream stays on the server (the session decides when to drop it); lookup sees it.
    const deadline = Date.now() + 5000;
    let entry = (await client.lookupStreams([id]))[0];
    while (!entry?.done && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      entry = (await client.lookupStreams([id]))[0];
    }
    assert.equal(entry?.done, true);
    // resumeStream replays the whole answer through a fresh decoder.
    const replay = await collect(
      (async function* () {
        for await (const batch of client.resumeStream(id)) yield* batch;
      })(),
    );
    assert.equal(replay.last?.type, 'done');
    assert.equal(replay.text, uncut.text);
  });

  it('Stop (abort) sends DELETE: the server stops generating and the slot goes idle', async () => {
    const id = newId();
    const controller = new AbortController();
    let contents = 0;
    const stopped = await collect(client.streamChat(request(1900, id), controller.signal), (e) => {
      if (e.type === 'content' && ++contents === 20) controller.abort();
    });
    assert.equal(stopped.last?.type, 'error');
    assert.ok(stopped.last?.type === 'error' && stopped.last.error.kind === 'aborted');
    assert.equal(stopped.events.filter((e) => e.type === 'reconnecting').length, 0, 'never resume after a Stop');
    assert.ok(await waitForIdleSlots(direct, 3000), 'the slot went idle');
    const deadline = Date.now() + 3000;
    while (!proxy.stats().requestLog.some((r) => r.method === 'DELETE' && r.status === 204) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 25));
    }
    const deletes = proxy.stats().requestLog.filter((r) => r.method === 'DELETE').map((r) => `${r.path} ${r.status ?? ''}`);
    assert.deepEqual(deletes, [`/v1/stream/${id} 404`, `/v1/stream?conv_id=${id} 204`]);
    // A stream that ran to its end stays listed (is_done); only the DELETE removes it.
    assert.deepEqual(await direct.lookupStreams([id]), [], 'the server dropped the stream');
  });

  it('control: with X-Conversation-Id and no DELETE the server keeps generating after a cut (why Stop must DELETE)', async () => {
    const id = newId();
    proxy.setMode({ kind: 'cutResume', afterEvents: 10, path: CHAT });
    // A plain request with the header (the client would resume or DELETE).
    const res = await fetch(`${proxy.url}${CHAT}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-conversation-id': id },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'Tell me a story' }], max_tokens: 1900, ignore_eos: true, stream: true }),
    });
    await res.text().catch(() => undefined);
    assert.ok(await waitForBusySlot(direct, 1000), 'a slot still processes the disconnected request');
    const [entry] = await direct.lookupStreams([id]);
    assert.equal(entry?.id, id);
    // Clean up like Stop would.
    await fetch(`${serverUnderTest().url}/v1/stream?conv_id=${encodeURIComponent(id)}`, { method: 'DELETE' });
    assert.ok(await waitForIdleSlots(direct, 3000));
  });
});
