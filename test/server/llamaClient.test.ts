/** LlamaClient against a real llama-server (tiny random-weight model): every byte of the protocol is real. */
import * as assert from 'node:assert/strict';
import type { ChatRequest } from '../../src/core/server/client';
import { LlamaClient } from '../../src/core/server/llamaClient';
import { applyTemplate, cancelledTasks, collect, completeNonStreamed, ofType, waitForBusySlot, waitForCancelLogged, waitForIdleSlots } from './helpers';
import { SERVER_ALIAS, SERVER_CTX, SERVER_SLOTS, serverUnderTest } from './hooks';

// cache_prompt off on both sides: a fresh evaluation every time keeps temperature-0 output bit-identical.
const deterministic = (content: string, maxTokens: number): ChatRequest => ({
  messages: [{ role: 'user', content }],
  temperature: 0,
  seed: 42,
  maxTokens,
  extra: { cache_prompt: false },
});

describe('LlamaClient against a real llama-server', () => {
  let client: LlamaClient;

  beforeEach(() => {
    client = new LlamaClient({ baseUrl: serverUnderTest().url, requestTimeoutMs: 10_000 });
  });
  afterEach(() => client.dispose());

  it('reads health, /props (n_ctx 2048), models, slots, tokenize and apply-template', async function () {
    assert.equal(await client.health(), 'ok');
    const props = await client.getProps();
    if (!serverUnderTest().external) {
      assert.equal(props.nCtx, SERVER_CTX);
      assert.equal(props.totalSlots, SERVER_SLOTS);
      assert.equal(props.modelAlias, SERVER_ALIAS);
      const models = await client.listModels();
      assert.equal(models[0]?.id, SERVER_ALIAS);
      assert.equal(models[0]?.nCtx, SERVER_CTX);
      assert.equal((await client.getSlots()).length, SERVER_SLOTS);
    }
    const tokens = await client.tokenize('Hello world');
    assert.ok(tokens.length >= 2 && tokens.every((t) => Number.isInteger(t) && t >= 0), `tokens ${JSON.stringify(tokens)}`);
    const prompt = await applyTemplate(serverUnderTest().url, [{ role: 'user', content: 'Hello' }]);
    assert.match(prompt, /Hello/);
  });

  it('streams the same text as a non-streamed request with the same seed at temperature 0', async () => {
    const req = deterministic('Write a poem about the sea', 24);
    const expected = await completeNonStreamed(serverUnderTest().url, {
      messages: req.messages,
      temperature: 0,
      seed: 42,
      max_tokens: 24,
      cache_prompt: false,
    });
    assert.ok(expected.text.length > 0, 'the reference answer is not empty');
    const got = await collect(client.streamChat(req));
    assert.deepEqual(got.last, { type: 'done' });
    assert.equal(got.text, expected.text);
    assert.equal(ofType(got.events, 'content').length > 1, true, 'arrives in several content events');
  });

  it('delivers role, finish, usage and server timings', async () => {
    const got = await collect(client.streamChat(deterministic('Hello', 16)));
    assert.deepEqual(got.last, { type: 'done' });
    assert.equal(ofType(got.events, 'role')[0]?.role, 'assistant');
    assert.deepEqual(ofType(got.events, 'finish'), [{ type: 'finish', reason: 'length' }]);
    const usage = ofType(got.events, 'usage');
    assert.equal(usage.length, 1);
    assert.equal(usage[0].usage.completionTokens, 16);
    assert.ok(usage[0].usage.promptTokens > 0);
    assert.equal(usage[0].usage.totalTokens, usage[0].usage.promptTokens + 16);
    assert.equal(usage[0].timings?.predicted_n, 16);
    const timings = ofType(got.events, 'timings');
    assert.ok(timings.length > 0, 'timings_per_token gives live timings');
    assert.ok(timings.some((t) => (t.timings.predicted_per_second ?? 0) > 0));
    // The finish comes before usage, and usage before done.
    const order = got.events.map((e) => e.type).filter((t) => t === 'finish' || t === 'usage' || t === 'done');
    assert.deepEqual(order, ['finish', 'usage', 'done']);
  });

  it('reports a prompt longer than the context as context_exceeded with the token counts', async () => {
    const got = await collect(client.streamChat({ messages: [{ role: 'user', content: 'hello '.repeat(3000) }], maxTokens: 4 }));
    assert.equal(got.events.length, 1);
    const e = got.last;
    assert.ok(e?.type === 'error', `expected an error, got ${JSON.stringify(e)}`);
    assert.equal(e.error.kind, 'context_exceeded');
    assert.equal(e.error.status, 400);
    assert.equal(e.error.nCtx, SERVER_CTX);
    assert.ok((e.error.nPromptTokens ?? 0) > SERVER_CTX, `nPromptTokens ${e.error.nPromptTokens}`);
  });

  it('frees the slot soon after an abort mid-stream', async () => {
    const logFile = serverUnderTest().logFile;
    const cancelsBefore = cancelledTasks(logFile);
    const controller = new AbortController();
    // No token limit: generation would run until the context is full (seconds), so only the abort can end it.
    const stream = client.streamChat({ messages: [{ role: 'user', content: 'Tell me a story' }], extra: { ignore_eos: true } }, controller.signal);
    let sawBusy = false;
    const got = await collect(stream, (e, sofar) => {
      if (e.type === 'content' && ofType(sofar.events, 'content').length === 5) {
        void waitForBusySlot(client, 2000).then((busy) => {
          sawBusy = busy;
          controller.abort();
        });
      }
    });
    assert.ok(sawBusy, 'a slot was processing while we streamed');
    assert.ok(got.last?.type === 'error', `ends with an error event, got ${JSON.stringify(got.last)}`);
    assert.equal(got.last.error.kind, 'aborted');
    assert.equal(ofType(got.events, 'done').length, 0);
    assert.ok(await waitForIdleSlots(client, 2000), 'no slot processing within 2 s of the abort');
    assert.ok(await waitForCancelLogged(logFile, cancelsBefore), 'llama-server logged that it cancelled the task');
  });

  it('runs two concurrent streams that complete independently with their own text', async () => {
    const a = deterministic('Write a poem about the sea', 40);
    const b = deterministic('Tell me a story', 40);
    const url = serverUnderTest().url;
    const ref = (r: ChatRequest): Promise<{ text: string }> =>
      completeNonStreamed(url, { messages: r.messages, temperature: 0, seed: 42, max_tokens: 40, cache_prompt: false });
    const [expectA, expectB] = [await ref(a), await ref(b)];
    assert.notEqual(expectA.text, expectB.text, 'the two prompts give different answers');
    let interleaved = false;
    let lastSource = '';
    const tag = (name: string) => (e: { type: string }) => {
      if (e.type !== 'content') return;
      if (lastSource && lastSource !== name) interleaved = true;
      lastSource = name;
    };
    const [gotA, gotB] = await Promise.all([collect(client.streamChat(a), tag('a')), collect(client.streamChat(b), tag('b'))]);
    assert.deepEqual(gotA.last, { type: 'done' });
    assert.deepEqual(gotB.last, { type: 'done' });
    assert.equal(gotA.text, expectA.text);
    assert.equal(gotB.text, expectB.text);
    // Not asserted (scheduling decides), but recorded: with 4 slots both streams normally progress together.
    if (!interleaved) console.error('      (note: the two streams did not interleave this time)');
  });
});
