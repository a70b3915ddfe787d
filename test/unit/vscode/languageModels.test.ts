/** The VS Code chat provider over fake servers: the model list, requests, errors, token counts, registration. */
import '../security/fakeVscode';
import { CancellationError, TextPart, ToolCallPart, ToolResultPart, fakeLm } from './fakeLmApi';
import * as assert from 'node:assert/strict';
import type { ModelInfo, PromptCount, RouterModel } from '../../../src/core/server/client';
import type { ServerEntry } from '../../../src/core/server/servers';
import { reserveFor } from '../../../src/core/session/contextBudget';
import { LmStreams } from '../../../src/core/session/lmRequest';
import type { LmClient } from '../../../src/vscode/languageModels';
import { LlamaLanguageModels, registerLanguageModels, toRequestMessages } from '../../../src/vscode/languageModels';
import { FakeStreamer } from '../../support/fakeStreamer';
import { RecordingLogger } from '../../support/recordingLogger';

/** A server: FakeStreamer's stream and props, plus listings and a tokenizer that counts words. */
class FakeServer extends FakeStreamer implements LmClient {
  router: RouterModel[] | undefined;
  models: ModelInfo[] = [];
  tokenCalls = 0;
  disposed = false;
  failing: Error | undefined;
  override health = (): Promise<unknown> => Promise.resolve('ok');
  listModels(): Promise<ModelInfo[]> {
    return this.failing ? Promise.reject(this.failing) : Promise.resolve(this.models);
  }
  listRouterModels(): Promise<RouterModel[] | undefined> {
    return this.failing ? Promise.reject(this.failing) : Promise.resolve(this.router);
  }
  override tokenCount(text: string): Promise<PromptCount> {
    this.tokenCalls++;
    return Promise.resolve({ tokens: text.split(/\s+/).filter(Boolean).length, exact: true });
  }
  dispose(): void {
    this.disposed = true;
  }
}

function token(): { token: { isCancellationRequested: boolean; onCancellationRequested: (fn: () => void) => { dispose(): void } }; cancel(): void } {
  const fns: (() => void)[] = [];
  const t = {
    isCancellationRequested: false,
    onCancellationRequested: (fn: () => void) => {
      fns.push(fn);
      return { dispose: () => undefined };
    },
  };
  return {
    token: t,
    cancel: () => {
      t.isCancellationRequested = true;
      for (const f of fns) f();
    },
  };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('VS Code chat provider (LlamaLanguageModels)', () => {
  let servers: ServerEntry[];
  let fakes: Map<string, FakeServer>;
  let provider: LlamaLanguageModels;
  let tracker: LmStreams;
  let staleSeconds: number;

  beforeEach(() => {
    servers = [{ id: 'http://a:8080', url: 'http://a:8080', name: 'a:8080' }];
    fakes = new Map();
    tracker = new LmStreams();
    staleSeconds = 30;
    provider = new LlamaLanguageModels({
      servers: () => servers,
      createClient: (url) => {
        const f = fakes.get(url) ?? new FakeServer();
        fakes.set(url, f);
        return f;
      },
      tracker,
      logger: new RecordingLogger(),
      settings: () => ({ staleSeconds, temperature: 0.5 }),
    });
  });

  afterEach(() => {
    provider.dispose();
    tracker.dispose();
  });

  const server = (url: string): FakeServer => {
    const f = fakes.get(url) ?? new FakeServer();
    fakes.set(url, f);
    return f;
  };

  it("lists a plain server's model with its n_ctx, vision from the modalities, no tool calling", async () => {
    server('http://a:8080').props = { nCtx: 8192, modelAlias: '/models/qwen.gguf', modalities: { vision: true } };
    const [m, ...rest] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    assert.equal(rest.length, 0);
    assert.equal(m.name, 'qwen', 'a model path is shown by its file name');
    assert.equal(m.maxOutputTokens, reserveFor(8192));
    assert.equal(m.maxInputTokens + m.maxOutputTokens, 8192);
    assert.deepEqual(m.capabilities, { imageInput: true, toolCalling: false });
  });

  it('lists every router model: loaded ones with their /props n_ctx, unloaded ones from /v1/models, each server named', async () => {
    servers.push({ id: 'http://b:8080', url: 'http://b:8080', name: 'router' });
    server('http://a:8080').props = { nCtx: 4096, modelAlias: 'main' };
    const b = server('http://b:8080');
    b.router = [
      { id: 'big', state: 'loaded', inputModalities: ['text', 'image'] },
      { id: 'small', state: 'unloaded', inputModalities: ['text'] },
    ];
    b.models = [{ id: 'small', nCtx: 2048 }];
    b.props = () => Promise.resolve({ nCtx: 16384 });
    const models = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    assert.deepEqual(
      models.map((m) => [m.name, m.maxInputTokens + m.maxOutputTokens, m.capabilities.imageInput]),
      [
        ['main (a:8080)', 4096, false],
        ['big (router)', 16384, true],
        ['small (router)', 2048, false],
      ],
    );
    assert.match(models[2].detail ?? '', /unloaded: context size known once loaded/);
  });

  it('a server that does not answer is left out; the others are listed', async () => {
    servers.push({ id: 'http://b:8080', url: 'http://b:8080', name: 'down' });
    server('http://a:8080').props = { nCtx: 4096, modelAlias: 'main' };
    server('http://b:8080').failing = new Error('connection refused');
    const models = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    assert.deepEqual(models.map((m) => m.name), ['main (a:8080)']);
  });

  it('streams a request through the client with the model, options and messages, then reports usage', async () => {
    server('http://a:8080').props = { nCtx: 4096, modelAlias: 'main' };
    const b = { ...servers[0] };
    servers = [b];
    const [m] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    const parts: unknown[] = [];
    const done = provider.provideLanguageModelChatResponse(
      m,
      [
        { role: 1, content: [new TextPart('Hi '), new TextPart('there')], name: undefined },
        { role: 2, content: [new TextPart('Hello'), new ToolCallPart('c1', 'search', { q: 'x' })], name: undefined },
        { role: 1, content: [new ToolResultPart('c1', [new TextPart('found')])], name: undefined },
      ],
      { modelOptions: { top_k: 5, max_tokens: 10 }, toolMode: 1 },
      { report: (p) => parts.push(p) },
      token().token as never,
    );
    await tick();
    const stream = server('http://a:8080').streams[0];
    assert.equal(stream.request.model, undefined, "a plain server's only model is not named");
    assert.equal(stream.request.temperature, 0.5, 'from llamaChat.temperature');
    assert.equal(stream.request.maxTokens, 10);
    assert.deepEqual(stream.request.extra, { top_k: 5 });
    assert.deepEqual(
      stream.request.messages.map((x) => [x.role, x.content]),
      [
        ['user', 'Hi there'],
        ['assistant', 'Hello\n[tool call search {"q":"x"}]\n'],
        ['user', '\n[tool result]\nfound\n'],
      ],
    );
    stream.content('A').content('B').finish('stop', { promptTokens: 7, completionTokens: 2, totalTokens: 9, cachedTokens: 3 });
    await done;
    const texts = parts.filter((p): p is TextPart => p instanceof TextPart).map((p) => p.value);
    assert.deepEqual(texts, ['A', 'B']);
    const usage = parts.find((p) => (p as { mimeType?: string }).mimeType === 'usage') as { data: Uint8Array } | undefined;
    assert.ok(usage, 'a usage part');
    assert.deepEqual(JSON.parse(new TextDecoder().decode(usage.data)), {
      prompt_tokens: 7,
      completion_tokens: 2,
      total_tokens: 9,
      prompt_tokens_details: { cached_tokens: 3 },
    });
  });

  it('offers tool calling where /props says the template supports tool calls', async () => {
    server('http://a:8080').props = { nCtx: 4096, modelAlias: 'qwen', chatTemplateCaps: { supports_tool_calls: true, supports_system_role: true } };
    const [m] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    assert.deepEqual(m.capabilities, { imageInput: false, toolCalling: true });
    server('http://a:8080').props = { nCtx: 4096, modelAlias: 'phi', chatTemplateCaps: { supports_tool_calls: false } };
    provider.refresh();
    const [n] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    assert.equal(n.capabilities.toolCalling, false);
  });

  it('maps tools both ways on a model with tool calling: tools and history out, tool call parts back', async () => {
    server('http://a:8080').props = { nCtx: 4096, modelAlias: 'qwen', chatTemplateCaps: { supports_tool_calls: true } };
    const [m] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    const parts: unknown[] = [];
    const schema = { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] };
    const done = provider.provideLanguageModelChatResponse(
      m,
      [
        { role: 1, content: [new TextPart('Weather in Paris and Rome?')], name: undefined },
        { role: 2, content: [new ToolCallPart('c1', 'get_weather', { city: 'Paris' })], name: undefined },
        { role: 1, content: [new ToolResultPart('c1', [new TextPart('sunny, '), new TextPart('21 °C')])], name: undefined },
        { role: 2, content: [new TextPart('Now Rome.'), new ToolCallPart('c2', 'get_weather', { city: 'Rome' })], name: undefined },
        { role: 1, content: [new ToolResultPart('c2', [new TextPart('rain')]), new TextPart('Thanks')], name: undefined },
      ],
      { tools: [{ name: 'get_weather', description: 'Weather of a city', inputSchema: schema }, { name: 'now', description: 'The time' }], toolMode: 2 },
      { report: (p) => parts.push(p) },
      token().token as never,
    );
    await tick();
    const stream = server('http://a:8080').streams[0];
    assert.deepEqual(stream.request.tools, [
      { name: 'get_weather', description: 'Weather of a city', parameters: schema },
      { name: 'now', description: 'The time' },
    ]);
    assert.equal(stream.request.toolChoice, 'required', 'LanguageModelChatToolMode.Required');
    assert.deepEqual(stream.request.messages, [
      { role: 'user', content: 'Weather in Paris and Rome?' },
      { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
      { role: 'tool', toolCallId: 'c1', content: 'sunny, 21 °C' },
      { role: 'assistant', content: 'Now Rome.', toolCalls: [{ id: 'c2', name: 'get_weather', arguments: '{"city":"Rome"}' }] },
      { role: 'tool', toolCallId: 'c2', content: 'rain' },
      { role: 'user', content: 'Thanks' },
    ]);
    stream.push({ type: 'toolCall', index: 0, id: 'c3', name: 'get_weather', argumentsDelta: '{"city"' });
    stream.push({ type: 'toolCall', index: 0, argumentsDelta: ':"Oslo"}' });
    stream.finish('tool_calls');
    await done;
    const calls = parts.filter((p): p is ToolCallPart => p instanceof ToolCallPart);
    assert.deepEqual(calls, [new ToolCallPart('c3', 'get_weather', { city: 'Oslo' })]);
  });

  it('toolMode Auto sends tool_choice auto; a model without tool calling gets no tools and tool history as text', async () => {
    server('http://a:8080').props = { nCtx: 4096, modelAlias: 'qwen', chatTemplateCaps: { supports_tool_calls: true } };
    const [m] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    const messages = [{ role: 1, content: [new TextPart('Hi')], name: undefined }];
    const tools = [{ name: 'now', description: 'The time' }];
    void provider.provideLanguageModelChatResponse(m, messages, { tools, toolMode: 1 }, { report: () => undefined }, token().token as never);
    await tick();
    assert.equal(server('http://a:8080').streams[0].request.toolChoice, 'auto');
    server('http://a:8080').streams[0].finish();
    server('http://a:8080').props = { nCtx: 4096, modelAlias: 'phi' };
    provider.refresh();
    const [plain] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    void provider.provideLanguageModelChatResponse(plain, messages, { tools, toolMode: 2 }, { report: () => undefined }, token().token as never);
    await tick();
    const request = server('http://a:8080').streams[1].request;
    assert.equal(request.tools, undefined);
    assert.equal(request.toolChoice, undefined);
    server('http://a:8080').streams[1].finish();
  });

  it('a tool call whose arguments are not JSON fails the request with a clear error', async () => {
    server('http://a:8080').props = { nCtx: 4096, modelAlias: 'qwen', chatTemplateCaps: { supports_tool_calls: true } };
    const [m] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    const parts: unknown[] = [];
    const done = provider.provideLanguageModelChatResponse(
      m,
      [{ role: 1, content: [new TextPart('Hi')], name: undefined }],
      { tools: [{ name: 'now', description: 'The time' }], toolMode: 2 },
      { report: (p) => parts.push(p) },
      token().token as never,
    );
    await tick();
    server('http://a:8080').streams[0].push({ type: 'toolCall', index: 0, id: 'c1', name: 'now', argumentsDelta: '{oops' }).finish('tool_calls');
    await assert.rejects(done, /^Error: llama-server: The model called the tool now with arguments that are not a JSON object: \{oops$/);
    assert.equal(parts.filter((p) => p instanceof ToolCallPart).length, 0);
  });

  it('cancellation becomes a CancellationError and aborts the stream', async () => {
    server('http://a:8080').props = { nCtx: 4096 };
    const [m] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    const t = token();
    const done = provider.provideLanguageModelChatResponse(m, [{ role: 1, content: [new TextPart('Hi')], name: undefined }], { toolMode: 1 }, { report: () => undefined }, t.token as never);
    await tick();
    t.cancel();
    await assert.rejects(done, (err) => err instanceof CancellationError);
    assert.equal(server('http://a:8080').streams[0].aborted, true);
  });

  it("a server error is thrown with llama-server's message", async () => {
    server('http://a:8080').props = { nCtx: 4096 };
    const [m] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    const done = provider.provideLanguageModelChatResponse(m, [{ role: 1, content: [new TextPart('Hi')], name: undefined }], { toolMode: 1 }, { report: () => undefined }, token().token as never);
    await tick();
    server('http://a:8080').streams[0].fail({ kind: 'server_error', message: 'HTTP 500 from llama-server.' });
    await assert.rejects(done, /^Error: llama-server: HTTP 500 from llama-server\.$/);
  });

  it('counts tokens with the server, once per text, plus an estimate per image', async () => {
    server('http://a:8080').props = { nCtx: 4096 };
    const [m] = await provider.provideLanguageModelChatInformation({ silent: true }, token().token as never);
    assert.equal(await provider.provideTokenCount(m, 'one two three', token().token as never), 3);
    assert.equal(await provider.provideTokenCount(m, 'one two three', token().token as never), 3);
    assert.equal(server('http://a:8080').tokenCalls, 1, 'cached');
    const image = { mimeType: 'image/png', data: new Uint8Array([1, 2, 3]) };
    const withImage = await provider.provideTokenCount(m, { role: 1, content: [new TextPart('one two'), image], name: undefined }, token().token as never);
    assert.ok(withImage > 2, 'the image adds to the count');
  });

  it('turns images into data: URIs', () => {
    const [msg] = toRequestMessages([{ role: 1, content: [new TextPart('look'), { mimeType: 'image/png', data: new Uint8Array([104, 105]) }], name: undefined }]);
    assert.deepEqual(msg, { role: 'user', content: 'look', images: ['data:image/png;base64,aGk='] });
  });
});

describe('registerLanguageModels', () => {
  const registered: string[] = [];
  afterEach(() => {
    delete fakeLm.registerLanguageModelChatProvider;
    registered.length = 0;
  });

  const options = () => ({
    servers: () => [],
    createClient: () => new FakeServer(),
    tracker: new LmStreams(),
    logger: new RecordingLogger(),
    settings: () => ({ staleSeconds: 30 }),
  });

  it('registers nothing where VS Code has no provider API', () => {
    assert.equal(registerLanguageModels(options()), undefined);
  });

  it("registers the provider under the vendor 'llama-server' where it does", () => {
    fakeLm.registerLanguageModelChatProvider = (vendor: string) => {
      registered.push(vendor);
      return { dispose: () => registered.push(`disposed ${vendor}`) };
    };
    const registration = registerLanguageModels(options());
    assert.ok(registration);
    assert.deepEqual(registered, ['llama-server']);
    registration.dispose();
    assert.deepEqual(registered, ['llama-server', 'disposed llama-server']);
  });
});
