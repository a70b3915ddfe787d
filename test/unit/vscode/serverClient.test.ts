import * as assert from 'node:assert/strict';
import type { ChatRequest, ModelInfo, ServerProps } from '../../../src/core/server/client';
import type { StreamEvent } from '../../../src/core/base/events';
import { ServerClientHolder } from '../../../src/vscode/serverClient';
import type { ServerClient, ServerClientConfig } from '../../../src/vscode/serverClient';

class FakeClient implements ServerClient {
  disposed = false;
  release: (() => void) | undefined;
  constructor(readonly config: ServerClientConfig) {}
  health(): Promise<unknown> {
    return Promise.resolve('ok');
  }
  getProps(): Promise<ServerProps> {
    return Promise.resolve({ nCtx: 1, modelAlias: this.config.baseUrl });
  }
  listModels(): Promise<ModelInfo[]> {
    return Promise.resolve([{ id: this.config.baseUrl }]);
  }
  async *streamChat(_req: ChatRequest): AsyncGenerator<StreamEvent> {
    yield { type: 'content', text: this.config.baseUrl };
    await new Promise<void>((r) => (this.release = r));
    yield { type: 'done' };
  }
  dispose(): void {
    this.disposed = true;
  }
}

function setup() {
  const made: FakeClient[] = [];
  const holder = new ServerClientHolder(
    (config) => {
      const c = new FakeClient(config);
      made.push(c);
      return c;
    },
    { baseUrl: 'http://a', requestTimeoutMs: 30_000 },
  );
  return { holder, made };
}

const REQ: ChatRequest = { messages: [{ role: 'user', content: 'hi' }] };

describe('ServerClientHolder', () => {
  it('keeps the client while the settings are the same', () => {
    const { holder, made } = setup();
    assert.equal(holder.update({ baseUrl: 'http://a', requestTimeoutMs: 30_000 }), false);
    assert.equal(made.length, 1);
  });

  it('swaps the client when URL or timeout change, and disposes an idle old one at once', async () => {
    const { holder, made } = setup();
    assert.equal(holder.update({ baseUrl: 'http://b', requestTimeoutMs: 30_000 }), true);
    assert.equal(made[0].disposed, true);
    assert.equal((await holder.getProps()).modelAlias, 'http://b');
    assert.equal(holder.update({ baseUrl: 'http://b', requestTimeoutMs: 5_000 }), true);
    assert.equal(made.length, 3);
  });

  it('lets a running stream finish on the old client, then disposes it', async () => {
    const { holder, made } = setup();
    const it = holder.streamChat(REQ)[Symbol.asyncIterator]();
    assert.deepEqual((await it.next()).value, { type: 'content', text: 'http://a' });
    const pending = it.next();
    await new Promise((r) => setImmediate(r));
    holder.update({ baseUrl: 'http://b', requestTimeoutMs: 30_000 });
    assert.equal(made[0].disposed, false, 'not while its stream runs');
    made[0].release!();
    assert.deepEqual((await pending).value, { type: 'done' });
    assert.equal((await it.next()).done, true);
    assert.equal(made[0].disposed, true, 'disposed after its last stream');
    assert.equal(made[1].disposed, false);
  });

  it('disposes the old client when a stream is abandoned (return) too', async () => {
    const { holder, made } = setup();
    const it = holder.streamChat(REQ)[Symbol.asyncIterator]();
    await it.next();
    holder.update({ baseUrl: 'http://b', requestTimeoutMs: 30_000 });
    await it.return(undefined);
    assert.equal(made[0].disposed, true);
  });

  it('passes every optional server ability through to the current client (counting, slots, control, resume)', async () => {
    const calls: string[] = [];
    const full: ServerClient = {
      ...new FakeClient({ baseUrl: 'http://b', requestTimeoutMs: 1 }),
      health: () => Promise.resolve('ok'),
      getProps: () => Promise.resolve({ nCtx: 1 }),
      listModels: () => Promise.resolve([]),
      streamChat: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true as const, value: undefined }) }) }),
      dispose: () => undefined,
      countPrompt: () => (calls.push('count'), Promise.resolve({ tokens: 7, exact: true })),
      tokenCount: () => (calls.push('tokens'), Promise.resolve({ tokens: 3, exact: true })),
      getSlots: () => (calls.push('slots'), Promise.resolve([{ id: 0, isProcessing: true }])),
      controlReasoning: (id) => (calls.push(`control ${id}`), Promise.resolve()),
      lookupStreams: (ids) => (calls.push(`lookup ${ids.join()}`), Promise.resolve([{ id: ids[0], done: false, totalBytes: 9 }])),
      resumeStream: async function* (id) {
        calls.push(`resume ${id}`);
        await Promise.resolve();
        yield [{ type: 'content', text: 'again' }];
      },
    };
    const holder = new ServerClientHolder(() => full, { baseUrl: 'http://b', requestTimeoutMs: 1 });
    assert.deepEqual(await holder.countPrompt(REQ), { tokens: 7, exact: true });
    assert.deepEqual(await holder.tokenCount('x'), { tokens: 3, exact: true });
    assert.equal((await holder.getSlots()).length, 1);
    await holder.controlReasoning('chatcmpl-1', 'reasoning_end');
    assert.deepEqual(await holder.lookupStreams(['m1']), [{ id: 'm1', done: false, totalBytes: 9 }]);
    const replayed: StreamEvent[] = [];
    for await (const b of holder.resumeStream('m1')) replayed.push(...b);
    assert.deepEqual(replayed, [{ type: 'content', text: 'again' }]);
    assert.deepEqual(calls, ['count', 'tokens', 'slots', 'control chatcmpl-1', 'lookup m1', 'resume m1']);
  });

  it('a client without those abilities: lookup finds nothing, a resume ends as truncated, counting rejects', async () => {
    const { holder } = setup();
    assert.deepEqual(await holder.lookupStreams(['m1']), []);
    const replayed: StreamEvent[] = [];
    for await (const b of holder.resumeStream('m1')) replayed.push(...b);
    assert.equal(replayed[0]?.type, 'error');
    await assert.rejects(holder.countPrompt(REQ));
  });
});

