/**
 * The client against servers that are not (plain) llama-server: an OpenAI-only server (vLLM, LM Studio, Ollama's /v1,
 * LiteLLM: /v1/chat/completions and /v1/models, nothing else, no timings) and a router-mode llama-server's model API.
 */
import * as assert from 'node:assert/strict';
import { LlamaClient, parseRouterModels } from '../../src/core/server/llamaClient';
import type { ChatMessage } from '../../src/core/chats/chat';
import { ChatSession } from '../../src/core/session/session';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import { MemoryRepository } from '../support/memoryRepository';
import { RecordingLogger } from '../support/recordingLogger';
import { ScriptedServer, json, routes, sseResponse } from '../support/scriptedServer';
import type { BodyStep, ScriptedResponse } from '../support/scriptedServer';

const WORDS = ['Hello', ' there', ',', ' friend', '.'];

/** An OpenAI chat stream: role chunk, one chunk per word (a little apart), finish, usage, [DONE]. No timings. */
function openAiStream(words: readonly string[] = WORDS, delayMs = 15): BodyStep[] {
  const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
    `data: ${JSON.stringify({ id: 'cmpl-1', object: 'chat.completion.chunk', created: 1, model: 'qwen', choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  const steps: BodyStep[] = [chunk({ role: 'assistant', content: '' })];
  for (const w of words) steps.push({ delayMs }, chunk({ content: w }));
  steps.push(chunk({}, 'stop'));
  steps.push(`data: ${JSON.stringify({ id: 'cmpl-1', object: 'chat.completion.chunk', created: 1, model: 'qwen', choices: [], usage: { prompt_tokens: 9, completion_tokens: words.length, total_tokens: 9 + words.length } })}\n\n`);
  steps.push('data: [DONE]\n\n');
  return steps;
}

/** 404 like most servers answer an unknown route (not llama-server's JSON error). */
const notFound: ScriptedResponse = { status: 404, headers: { 'content-type': 'text/plain' }, body: 'Not Found' };

function openAiServer(models: unknown): Parameters<typeof ScriptedServer.start>[0] {
  const table = routes({
    'GET /v1/models': json(200, models),
    'POST /v1/chat/completions': sseResponse(openAiStream()),
  });
  return (req) => {
    const r = table(req);
    return r instanceof Promise ? r : r.status === 404 ? notFound : r;
  };
}

function problems(logger: RecordingLogger): string[] {
  return logger.lines.filter((l) => l.startsWith('warn') || l.startsWith('error'));
}

async function sendOnce(client: LlamaClient, logger: RecordingLogger, text = 'Hi'): Promise<{ message: ChatMessage; stats: SessionEvent[] }> {
  const session = new ChatSession({ streamer: client, repository: new MemoryRepository(), logger, settings: () => ({ staleSeconds: 30 }) });
  try {
    const chat = await session.newChat();
    const stats: SessionEvent[] = [];
    const ended = new Promise<ChatMessage>((resolve) => {
      session.onEvent((e) => {
        if (e.type === 'stats') stats.push(e);
        if (e.type === 'streamEnded' && e.chatId === chat.id) resolve(e.message);
      });
    });
    const outcome = await session.send(chat.id, text);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const message = await ended;
    // Let the props fetch and any probes settle before looking at the log.
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { message, stats };
  } finally {
    await session.shutdown();
    session.dispose();
  }
}

describe('An OpenAI-compatible server that is not llama-server', () => {
  let server: ScriptedServer | undefined;
  let client: LlamaClient | undefined;
  afterEach(async () => {
    client?.dispose();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  it('a session send completes with the text, a client-clock tok/s, n_ctx from /v1/models (vLLM max_model_len), no warn or error lines', async () => {
    server = await ScriptedServer.start(openAiServer({ object: 'list', data: [{ id: 'qwen', object: 'model', max_model_len: 32768 }] }));
    const logger = new RecordingLogger();
    client = new LlamaClient({ baseUrl: `${server.url}/v1`, logger });
    const { message, stats } = await sendOnce(client, logger);
    assert.equal(message.status, 'complete');
    assert.equal(message.content, WORDS.join(''));
    assert.equal(message.completionTokens, WORDS.length);
    assert.equal(message.ctxMax, 32768);
    const tps = message.timings?.predictedPerSecond;
    assert.ok(tps !== undefined && tps > 0 && Number.isFinite(tps), `tok/s from the client clock: ${JSON.stringify(message.timings)}`);
    // 5 tokens ~15 ms apart: (5 - 1) tokens over >= ~60 ms is at most ~67 tok/s (a generous upper bound for slow CI).
    assert.ok(tps < 200, `plausible tok/s: ${tps}`);
    assert.ok(stats.some((e) => e.type === 'stats' && e.stats.tps !== undefined), 'a live tok/s while streaming');
    assert.deepEqual(problems(logger), [], logger.lines.join('\n'));
    assert.equal(message.content.length > 0, true);
  });

  it('a second send asks for /props, /slots and /health no more (each missing endpoint logged once, at debug)', async () => {
    server = await ScriptedServer.start(openAiServer({ object: 'list', data: [{ id: 'qwen', object: 'model', context_length: 8192 }] }));
    const logger = new RecordingLogger();
    client = new LlamaClient({ baseUrl: server.url, logger });
    await sendOnce(client, logger);
    const before = server.requests.filter((r) => r.path.startsWith('/props') || r.path.startsWith('/slots')).length;
    const { message } = await sendOnce(client, logger, 'Again');
    assert.equal(message.ctxMax, 8192);
    const after = server.requests.filter((r) => r.path.startsWith('/props') || r.path.startsWith('/slots')).length;
    assert.equal(after, before, 'no second /props or /slots request');
    assert.deepEqual(problems(logger), []);
    const propsLines = logger.lines.filter((l) => l.includes('GET /props is not offered'));
    assert.equal(propsLines.length, 1, logger.lines.join('\n'));
    assert.ok(propsLines[0].startsWith('debug'));
  });

  it('no context length anywhere: the contextSize option; without it getProps says so (one clear error)', async () => {
    server = await ScriptedServer.start(openAiServer({ object: 'list', data: [{ id: 'llama3', object: 'model', owned_by: 'library' }] }));
    const logger = new RecordingLogger();
    client = new LlamaClient({ baseUrl: server.url, logger, contextSize: 4096 });
    const { message } = await sendOnce(client, logger);
    assert.equal(message.ctxMax, 4096);
    assert.equal((await client.getProps(undefined, 'llama3')).nCtx, 4096);
    assert.deepEqual(problems(logger), []);

    const bare = new LlamaClient({ baseUrl: server.url, logger: new RecordingLogger() });
    try {
      await assert.rejects(bare.getProps(), /does not say its context size/);
    } finally {
      bare.dispose();
    }
  });

  it('getProps picks the asked model from /v1/models (llama-server meta.n_ctx too) and caches per model', async () => {
    server = await ScriptedServer.start(
      openAiServer({ data: [{ id: 'a', meta: { n_ctx: 1024 } }, { id: 'b', context_length: 2048 }, { id: 'c', max_context_length: 3072 }] }),
    );
    client = new LlamaClient({ baseUrl: server.url });
    assert.equal((await client.getProps()).nCtx, 1024);
    assert.equal((await client.getProps(undefined, 'b')).nCtx, 2048);
    assert.equal((await client.getProps(undefined, 'c')).nCtx, 3072);
    const n = server.requests.length;
    assert.equal((await client.getProps(undefined, 'b')).nCtx, 2048);
    assert.equal(server.requests.length, n, 'cached');
  });

  it('health: /health 404 → /v1/models is the liveness check; a dead server still rejects', async () => {
    server = await ScriptedServer.start(openAiServer({ data: [{ id: 'x' }] }));
    const logger = new RecordingLogger();
    client = new LlamaClient({ baseUrl: server.url, logger });
    assert.equal(await client.health(), 'ok');
    assert.equal(await client.health(), 'ok');
    assert.equal(server.requests.filter((r) => r.path === '/health').length, 1, '/health asked once');
    assert.equal(server.requests.filter((r) => r.path === '/v1/models').length, 2);
    assert.deepEqual(problems(logger), []);
    await server.close();
    server = undefined;
    await assert.rejects(client.health());
  });

  it('getSlots is [] and counting estimates, without warnings', async () => {
    server = await ScriptedServer.start(openAiServer({ data: [{ id: 'x' }] }));
    const logger = new RecordingLogger();
    client = new LlamaClient({ baseUrl: server.url, logger });
    assert.deepEqual(await client.getSlots(), []);
    assert.deepEqual(await client.getSlots(), []);
    assert.equal(server.requests.filter((r) => r.path === '/slots').length, 1);
    const count = await client.countPrompt({ messages: [{ role: 'user', content: 'Hello there, how are you today?' }] });
    assert.equal(count.exact, false);
    assert.ok(count.tokens > 0);
    assert.equal((await client.tokenCount('some text')).exact, false);
    assert.equal(await client.listRouterModels(), undefined);
    assert.deepEqual(problems(logger), [], logger.lines.join('\n'));
  });
});

describe('Router mode (llama-server --models-dir)', () => {
  let server: ScriptedServer | undefined;
  let client: LlamaClient | undefined;
  afterEach(async () => {
    client?.dispose();
    client = undefined;
    await server?.close();
    server = undefined;
  });

  /** A scripted router: GET /models from `state`, load/unload change it, /props?model= per model. */
  function router(state: Record<string, string>, nCtx: Record<string, number>) {
    return routes({
      'GET /models': () =>
        json(200, {
          object: 'list',
          data: Object.entries(state).map(([id, value]) => ({
            id,
            object: 'model',
            status: { value, args: ['llama-server'] },
            architecture: { input_modalities: id === 'vision' ? ['text', 'image'] : ['text'], output_modalities: ['text'] },
          })),
        }),
      'POST /models/load': (req) => {
        const id = (req.json as { model: string }).model;
        if (!(id in state)) return json(400, { error: { code: 400, message: 'model is not found', type: 'invalid_request_error' } });
        state[id] = 'loading';
        return json(200, { success: true });
      },
      'POST /models/unload': (req) => {
        const id = (req.json as { model: string }).model;
        if (!(id in state)) return json(400, { error: { code: 400, message: 'model is not found', type: 'invalid_request_error' } });
        state[id] = 'unloaded';
        return json(200, { success: true });
      },
      'GET /props': (req) => {
        const model = new URL(req.path, 'http://x').searchParams.get('model');
        if (model === null) return json(200, { role: 'router', model_alias: 'llama-server', model_path: 'none', default_generation_settings: { params: null, n_ctx: 0 } });
        state[model] = 'loaded';
        return json(200, { model_alias: model, total_slots: 4, default_generation_settings: { n_ctx: nCtx[model] } });
      },
    });
  }

  it('listRouterModels: ids, states and input modalities', async () => {
    server = await ScriptedServer.start(router({ tiny: 'loaded', vision: 'unloaded', big: 'sleeping' }, {}));
    client = new LlamaClient({ baseUrl: server.url });
    assert.deepEqual(await client.listRouterModels(), [
      { id: 'tiny', state: 'loaded', inputModalities: ['text'] },
      { id: 'vision', state: 'unloaded', inputModalities: ['text', 'image'] },
      { id: 'big', state: 'sleeping', inputModalities: ['text'] },
    ]);
  });

  it('loadModel / unloadModel post the id and the listing follows; an unknown id rejects', async () => {
    const state: Record<string, string> = { a: 'unloaded', b: 'loaded' };
    server = await ScriptedServer.start(router(state, {}));
    const logger = new RecordingLogger();
    client = new LlamaClient({ baseUrl: server.url, logger });
    await client.loadModel('a');
    await client.unloadModel('b');
    const load = server.requests.find((r) => r.path === '/models/load');
    assert.deepEqual(load?.json, { model: 'a' });
    assert.deepEqual(
      (await client.listRouterModels())?.map((m) => [m.id, m.state]),
      [
        ['a', 'loading'],
        ['b', 'unloaded'],
      ],
    );
    await assert.rejects(client.loadModel('nope'), /model is not found/);
  });

  it('a 200 {success: false} is a failure', async () => {
    server = await ScriptedServer.start(routes({ 'POST /models/load': json(200, { success: false, message: 'too many models' }) }));
    client = new LlamaClient({ baseUrl: server.url });
    await assert.rejects(client.loadModel('a'), /could not load a: too many models/);
  });

  it('getProps(undefined, id) reads /props?model=ID, n_ctx per model, cached per model', async () => {
    server = await ScriptedServer.start(router({ small: 'unloaded', large: 'unloaded' }, { small: 2048, large: 4096 }));
    client = new LlamaClient({ baseUrl: server.url });
    assert.equal((await client.getProps(undefined, 'small')).nCtx, 2048);
    assert.equal((await client.getProps(undefined, 'large')).nCtx, 4096);
    assert.equal((await client.getProps(undefined, 'small')).nCtx, 2048);
    const asked = server.requests.filter((r) => r.path.startsWith('/props')).map((r) => r.path);
    assert.deepEqual(asked, ['/props?model=small', '/props?model=large']);
  });

  it("the router's own /props (n_ctx 0) falls back to contextSize rather than claiming a 0 context", async () => {
    server = await ScriptedServer.start(router({ a: 'loaded' }, {}));
    client = new LlamaClient({ baseUrl: server.url, contextSize: 8192 });
    const props = await client.getProps();
    assert.equal(props.nCtx, 8192);
    assert.equal(props.modelAlias, 'llama-server');
  });

  it('not router mode: a plain llama-server answers an Ollama-style list → undefined; 404 → undefined (asked once)', async () => {
    server = await ScriptedServer.start(routes({ 'GET /models': json(200, { models: [{ name: 'tiny', model: 'tiny' }], object: 'list', data: [{ id: 'tiny', object: 'model' }] }) }));
    client = new LlamaClient({ baseUrl: server.url });
    assert.equal(await client.listRouterModels(), undefined);
    client.dispose();
    await server.close();
    server = await ScriptedServer.start(routes({}));
    const logger = new RecordingLogger();
    client = new LlamaClient({ baseUrl: server.url, logger });
    assert.equal(await client.listRouterModels(), undefined);
    assert.equal(await client.listRouterModels(), undefined);
    assert.equal(server.requests.length, 1);
    assert.deepEqual(problems(logger), []);
  });

  it('parseRouterModels tolerates a bare status string and missing architecture', () => {
    assert.deepEqual(parseRouterModels({ data: [{ id: 'm', status: 'loaded' }] }), [{ id: 'm', state: 'loaded', inputModalities: [] }]);
    assert.equal(parseRouterModels({ data: [{ id: 'm' }] }), undefined);
    assert.equal(parseRouterModels([]), undefined);
  });
});
