import * as assert from 'node:assert/strict';
import type { ChatRequest } from '../../src/core/server/client';
import type { StreamEvent } from '../../src/core/base/events';
import { LlamaClient } from '../../src/core/server/llamaClient';
import { findFrame, parseFrames } from '../support/frames';
import { ScriptedServer } from '../support/scriptedServer';
import type { BodyStep } from '../support/scriptedServer';

const CHAT: ChatRequest = { messages: [{ role: 'user', content: 'Hi' }] };
const frame = findFrame(parseFrames(), 'POST /v1/chat/completions stream=true include_usage');

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

describe('LlamaClient.streamChatBatches', () => {
  let server: ScriptedServer;
  let client: LlamaClient;

  function serve(body: BodyStep[], status = 200): void {
    server.setHandler({ status, headers: { 'content-type': status === 200 ? 'text/event-stream' : 'application/json' }, body });
  }

  beforeEach(async () => {
    server = await ScriptedServer.start({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: [frame.body] });
    client = new LlamaClient({ baseUrl: server.url });
  });

  afterEach(async () => {
    client.dispose();
    await server.close();
  });

  it('yields the same events as streamChat, several per batch when a chunk holds several', async () => {
    serve([frame.body]);
    const single = await collect(client.streamChat(CHAT));
    serve([frame.body]);
    const batches = await collect(client.streamChatBatches(CHAT));
    assert.ok(batches.every((b) => b.length > 0), 'no empty batch');
    assert.ok(batches.length < single.length, `one body write gives few batches (${batches.length} for ${single.length} events)`);
    assert.deepEqual(batches.flat(), single);
    assert.equal(single[single.length - 1].type, 'done');
  });

  it('gives small network chunks as more, smaller batches with the same events', async () => {
    const steps: BodyStep[] = [];
    for (let i = 0; i < frame.body.length; i += 7) steps.push(frame.body.subarray(i, i + 7));
    serve(steps);
    const batches = await collect(client.streamChatBatches(CHAT));
    serve([frame.body]);
    const whole = (await collect(client.streamChatBatches(CHAT))).flat();
    assert.deepEqual(batches.flat(), whole);
    assert.ok(batches.every((b) => b.length > 0));
  });

  it('ends with a one-event error batch when the server refuses', async () => {
    serve([Buffer.from('{"error":{"code":500,"message":"boom","type":"server_error"}}')], 500);
    const batches = await collect(client.streamChatBatches(CHAT));
    assert.equal(batches.length, 1);
    const [only] = batches[0] as [StreamEvent];
    assert.equal(only.type, 'error');
    assert.equal(only.type === 'error' && only.error.kind, 'server_error');
  });
});
