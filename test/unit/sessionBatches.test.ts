import * as assert from 'node:assert/strict';
import type { ChatStreamer, ServerProps } from '../../src/core/server/client';
import type { StreamEvent } from '../../src/core/base/events';
import { ChatSession } from '../../src/core/session/session';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import { FakeClock } from '../support/fakeClock';
import { MemoryRepository } from '../support/memoryRepository';

/** A streamer that only offers the batched path (streamChat must not be used when batches exist). */
class BatchStreamer implements ChatStreamer {
  singleCalls = 0;
  constructor(private readonly batches: StreamEvent[][]) {}

  async *streamChat(): AsyncGenerator<StreamEvent, void, undefined> {
    this.singleCalls++;
    await Promise.resolve();
    yield* [];
  }

  async *streamChatBatches(): AsyncGenerator<StreamEvent[], void, undefined> {
    for (const batch of this.batches) {
      await Promise.resolve();
      yield batch;
    }
  }

  getProps(): Promise<ServerProps> {
    return Promise.resolve({ nCtx: 2048, modelAlias: 'tiny.gguf' });
  }
}

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

async function run(batches: StreamEvent[][]) {
  const clock = new FakeClock();
  const repo = new MemoryRepository(clock);
  const streamer = new BatchStreamer(batches);
  const session = new ChatSession({ streamer, repository: repo, clock, settings: () => ({ staleSeconds: 10 }) });
  const events: SessionEvent[] = [];
  session.onEvent((e) => events.push(e));
  const chat = await session.newChat();
  const out = await session.send(chat.id, 'Hello');
  assert.ok(out.ok);
  for (let i = 0; i < 10 && session.isStreaming(chat.id); i++) await tick();
  assert.equal(session.isStreaming(chat.id), false);
  const answer = repo.peek(chat.id)!.messages[1];
  const deltas = events.flatMap((e) => (e.type === 'delta' ? [{ content: e.content, reasoning: e.reasoning }] : []));
  return { streamer, answer, deltas, events, repo };
}

describe('ChatSession with a batching streamer', () => {
  it('turns each run of same-kind text in a batch into one delta (timings frames do not end a run), in order, and counts every token', async () => {
    const { streamer, answer, deltas } = await run([
      [{ type: 'role', role: 'assistant' }, { type: 'reasoning', text: 'a' }, { type: 'reasoning', text: 'b' }, { type: 'content', text: 'H' }],
      [{ type: 'content', text: 'i' }, { type: 'timings', timings: {} }, { type: 'content', text: '!' }, { type: 'content', text: '?' }],
      [{ type: 'finish', reason: 'stop' }, { type: 'done' }],
    ]);
    assert.equal(streamer.singleCalls, 0);
    assert.deepEqual(deltas, [
      { content: undefined, reasoning: 'ab' },
      { content: 'H', reasoning: undefined },
      { content: 'i!?', reasoning: undefined },
    ]);
    assert.equal(answer.status, 'complete');
    assert.equal(answer.content, 'Hi!?');
    assert.equal(answer.reasoning, 'ab');
    assert.equal(answer.finishReason, 'stop');
    assert.equal(answer.completionTokens, 6, 'no server count: every token event counted by the meter');
  });

  it('takes a batch of content + timings pairs as one append and one delta, with the text and meter figures of one event at a time', async () => {
    // llama-server with timings_per_token: every token is followed by its timings frame.
    const pairs = (from: number, n: number): StreamEvent[] =>
      Array.from({ length: n }, (_, k): StreamEvent[] => {
        const i = from + k;
        return [
          { type: 'content', text: `t${i} ` },
          { type: 'timings', timings: { prompt_n: 7, prompt_ms: 14, predicted_n: i + 1, predicted_ms: (i + 1) * 2, predicted_per_second: 500 + i } },
        ];
      }).flat();
    const batches: StreamEvent[][] = [
      [{ type: 'role', role: 'assistant' }, ...pairs(0, 40)],
      pairs(40, 25),
      [...pairs(65, 10), { type: 'finish', reason: 'stop' }, { type: 'done' }],
    ];
    const batched = await run(batches);
    const single = await run(batches.flat().map((e) => [e]));

    const text = Array.from({ length: 75 }, (_, i) => `t${i} `).join('');
    assert.deepEqual(
      batched.deltas.map((d) => d.content),
      [pairs(0, 40), pairs(40, 25), pairs(65, 10)].map((b) => b.flatMap((e) => (e.type === 'content' ? [e.text] : [])).join('')),
      'one delta per batch',
    );
    assert.equal(batched.repo.calls.appendToMessage, 3, 'one append per batch');
    assert.equal(single.deltas.length, 75);
    assert.equal(single.repo.calls.appendToMessage, 75);
    assert.equal(batched.answer.content, text);
    assert.equal(single.answer.content, text);
    for (const field of ['status', 'completionTokens', 'promptTokens', 'timings', 'finishReason', 'ctxUsed', 'ctxMax'] as const) {
      assert.deepEqual(batched.answer[field], single.answer[field], field);
    }
    assert.equal(batched.answer.completionTokens, 75, "the server's predicted_n");
    assert.equal(batched.answer.timings?.predictedPerSecond, 574, 'the last timings frame counted');
    const lastStats = (r: Awaited<ReturnType<typeof run>>) => r.events.flatMap((e) => (e.type === 'stats' ? [e.stats] : [])).at(-1);
    assert.deepEqual(lastStats(batched), lastStats(single));
    // Listeners still see text before the stream's end, and the end once, last.
    const order = (r: Awaited<ReturnType<typeof run>>) => r.events.map((e) => e.type).filter((t) => t === 'delta' || t === 'streamEnded');
    assert.deepEqual(order(batched), ['delta', 'delta', 'delta', 'streamEnded']);
  });

  it('ignores whatever follows a terminal event in the same batch', async () => {
    const { answer, deltas } = await run([
      [{ type: 'content', text: 'x' }, { type: 'error', error: { kind: 'truncated', message: 'cut' } }, { type: 'content', text: 'y' }],
    ]);
    assert.deepEqual(deltas, [{ content: 'x', reasoning: undefined }]);
    assert.equal(answer.content, 'x');
    assert.equal(answer.status, 'failed');
  });
});
