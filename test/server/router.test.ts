/**
 * A real llama-server in router mode (`--models-dir`, no `-m`) with two tiny models of different n_ctx in one folder:
 * chats on each model stream, n_ctx is per model, load/unload shows in the listing.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LlamaClient } from '../../src/core/server/llamaClient';
import type { RouterModel } from '../../src/core/server/client';
import { startLlamaServer } from '../harness/llamaServer';
import type { LlamaServerHandle } from '../harness/llamaServer';
import { DEFAULT_TINY_RECIPE, ensureTinyModel } from '../harness/tinyModel';
import { collect } from './helpers';

const SMALL = 'tiny-2k';
const LARGE = 'tiny-4k';

async function waitForState(client: LlamaClient, id: string, want: string, timeoutMs = 30_000): Promise<RouterModel[]> {
  const until = Date.now() + timeoutMs;
  let models: RouterModel[] | undefined;
  while (Date.now() < until) {
    models = await client.listRouterModels();
    if (models?.find((m) => m.id === id)?.state === want) return models;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`${id} did not become ${want}: ${JSON.stringify(models)}`);
}

describe('llama-server router mode (--models-dir)', function () {
  let server: LlamaServerHandle | undefined;
  let client: LlamaClient;
  let dir: string;

  before(async function () {
    if (process.env.LLAMA_SERVER_URL) this.skip(); // needs its own server
    this.timeout(10 * 60_000);
    const small = await ensureTinyModel({ recipe: DEFAULT_TINY_RECIPE });
    const large = await ensureTinyModel({ recipe: { ...DEFAULT_TINY_RECIPE, nCtx: 4096 } });
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-router-'));
    fs.symlinkSync(small, path.join(dir, `${SMALL}.gguf`));
    fs.symlinkSync(large, path.join(dir, `${LARGE}.gguf`));
    // No -c: each child loads its model's own n_ctx (n_ctx_train).
    server = await startLlamaServer({ modelsDir: dir });
    client = new LlamaClient({ baseUrl: server.url, requestTimeoutMs: 30_000 });
  });

  after(async function () {
    this.timeout(20_000);
    client?.dispose();
    await server?.stop(); // by PID (SIGTERM, then SIGKILL); the router stops its children
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('lists both models, unloaded at first, with text input', async () => {
    const models = await client.listRouterModels();
    assert.ok(models, 'router mode detected');
    assert.deepEqual(models.map((m) => m.id).sort(), [SMALL, LARGE].sort());
    for (const m of models) {
      assert.equal(m.state, 'unloaded');
      assert.deepEqual(m.inputModalities, ['text']);
    }
  });

  it('a chat on each model streams (model loaded on demand)', async () => {
    for (const model of [SMALL, LARGE]) {
      const got = await collect(client.streamChat({ model, messages: [{ role: 'user', content: 'Hi' }], maxTokens: 6, temperature: 0 }));
      assert.equal(got.last?.type, 'done', `${model}: ${JSON.stringify(got.last)}`);
      assert.ok(got.text.length > 0, `${model} streamed text`);
      assert.ok(got.events.some((e) => e.type === 'finish' && e.reason === 'length'), `${model} finished at max_tokens`);
    }
    const models = await client.listRouterModels();
    assert.deepEqual(models?.map((m) => m.state), ['loaded', 'loaded']);
  });

  it('n_ctx per model from /props?model=ID', async () => {
    assert.equal((await client.getProps(undefined, SMALL)).nCtx, 2048);
    assert.equal((await client.getProps(undefined, LARGE)).nCtx, 4096);
  });

  it('unload and load are reflected in listRouterModels', async () => {
    await client.unloadModel(SMALL);
    let models = await waitForState(client, SMALL, 'unloaded');
    assert.equal(models.find((m) => m.id === LARGE)?.state, 'loaded');
    await client.loadModel(SMALL);
    models = await waitForState(client, SMALL, 'loaded');
    assert.equal(models.find((m) => m.id === SMALL)?.state, 'loaded');
    await assert.rejects(client.loadModel('no-such-model'), /not found/i);
  });

  it("the router's own /props says n_ctx 0: getProps() without a model never reports 0 (a model's n_ctx from /v1/models, or contextSize)", async () => {
    const plain = new LlamaClient({ baseUrl: server!.url, contextSize: 1234 });
    try {
      const nCtx = (await plain.getProps()).nCtx;
      assert.ok([2048, 4096, 1234].includes(nCtx), `n_ctx ${nCtx}`);
    } finally {
      plain.dispose();
    }
  });
});
