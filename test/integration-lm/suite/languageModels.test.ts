/**
 * VS Code's own chat API against the real llama-server, as another extension would use it:
 * `vscode.lm.selectChatModels({ vendor: 'llama-server' })` and `model.sendRequest(...)`. The extension's settings
 * point at the fault proxy in front of the server (runLmTests.ts), with llamaChat.staleSeconds 3.
 */
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { setProxyMode } from '../../harness/faultProxyControl';
import { formatInt } from '../../../src/core/base/format';
import { reserveFor } from '../../../src/core/session/contextBudget';
import { activateExtension, env, getSetting, setSetting, useServer, waitFor } from '../../integration/suite/support';

const SERVER = env('LLAMA_CHAT_TEST_SERVER_URL');
const PROXY = env('LLAMA_CHAT_TEST_PROXY_URL');
const CONTROL = env('LLAMA_CHAT_TEST_PROXY_CONTROL');
const ROUTER = env('LLAMA_CHAT_TEST_ROUTER_URL');
/** A server on the tiny Qwen3-template model, whose template supports tool calls. */
const TOOLS = env('LLAMA_CHAT_TEST_TOOLS_URL');

async function getJson<T>(url: string, init?: RequestInit): Promise<T> {
  const res = await fetch(url, init);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

async function serverContext(): Promise<number> {
  const props = await getJson<{ default_generation_settings: { n_ctx: number } }>(`${SERVER}/props`);
  return props.default_generation_settings.n_ctx;
}

async function busySlots(): Promise<number> {
  const slots = await getJson<{ is_processing: boolean }[]>(`${SERVER}/slots`);
  return slots.filter((s) => s.is_processing).length;
}

/** llama-server's count of generated tokens so far (`--metrics`). */
async function tokensPredicted(): Promise<number> {
  const text = await (await fetch(`${SERVER}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('llamacpp:tokens_predicted_total'));
  if (!line) throw new Error('/metrics has no llamacpp:tokens_predicted_total');
  return Number(line.split(/\s+/)[1]);
}

async function llamaModels(): Promise<vscode.LanguageModelChat[]> {
  return waitFor('llama-server models in vscode.lm', async () => {
    const models = await vscode.lm.selectChatModels({ vendor: 'llama-server' });
    return models.length > 0 ? models : undefined;
  });
}

describe("VS Code's own chat (vscode.lm, vendor llama-server)", function () {
  this.timeout(60_000);

  before(async function () {
    if (!SERVER || !PROXY || !CONTROL) throw new Error('LLAMA_CHAT_TEST_SERVER_URL / _PROXY_URL / _PROXY_CONTROL are not set: run this suite through runLmTests');
    assert.equal(typeof vscode.lm.registerLanguageModelChatProvider, 'function', 'this VS Code has the Language Model Chat Provider API');
    const { api } = await activateExtension();
    assert.equal(api.nativeChatRegistered(), true, 'the provider was registered');
    await setProxyMode(CONTROL, { kind: 'pass' });
    // The web workbench keeps user settings in the browser: set here, through the API.
    await setSetting('staleSeconds', 3);
    await useServer(api, PROXY);
  });

  afterEach(async () => {
    if (CONTROL) await setProxyMode(CONTROL, { kind: 'pass' });
  });

  it("lists the server's model with its real context size", async () => {
    const models = await llamaModels();
    assert.equal(models.length, 1, 'one server with one model');
    const [model] = models;
    assert.equal(model.vendor, 'llama-server');
    assert.equal(model.name, 'tiny-llama');
    const nCtx = await serverContext();
    assert.equal(model.maxInputTokens, nCtx - reserveFor(nCtx), `maxInputTokens is n_ctx ${nCtx} less the answer's room`);
  });

  it('streams an answer with its usage part, and the status bar shows its tok/s and context', async () => {
    const { api } = await activateExtension();
    const [model] = await llamaModels();
    const nCtx = await serverContext();
    const seen = new Set<string>();
    const watch = setInterval(() => {
      const text = api.statusBarText();
      if (text) seen.add(text);
    }, 20);
    let answer = '';
    const usage: unknown[] = [];
    try {
      const response = await model.sendRequest([vscode.LanguageModelChatMessage.User('Count from one to twenty.')], {
        modelOptions: { max_tokens: 64, ignore_eos: true },
      });
      for await (const part of response.stream) {
        if (part instanceof vscode.LanguageModelTextPart) answer += part.value;
        else usage.push(part);
      }
      const last = api.statusBarText();
      if (last) seen.add(last);
    } finally {
      clearInterval(watch);
    }
    assert.ok(answer.length > 0, 'text streamed back');
    // The usage part VS Code reads for its context ring, with the server's own counts.
    const usageParts = usage.filter((p): p is { mimeType: string; data: Uint8Array } => (p as { mimeType?: unknown }).mimeType === 'usage');
    assert.equal(usageParts.length, 1, `one usage part (parts: ${JSON.stringify(usage)})`);
    const figures = JSON.parse(Buffer.from(usageParts[0].data).toString('utf8')) as { prompt_tokens: number; completion_tokens: number; total_tokens: number };
    assert.equal(figures.completion_tokens, 64, 'max_tokens 64 with ignore_eos: 64 tokens');
    assert.ok(figures.prompt_tokens > 0);
    assert.equal(figures.total_tokens, figures.prompt_tokens + figures.completion_tokens);
    const withFigures = [...seen].filter((t) => new RegExp(`[\\d.,]+ tok/s · [\\d,]+/${formatInt(nCtx)}$`).test(t));
    assert.ok(withFigures.length > 0, `the status bar showed tok/s and the context (seen: ${JSON.stringify([...seen])})`);
  });

  it("counts tokens exactly, as the server's /tokenize does", async () => {
    const [model] = await llamaModels();
    const text = 'The quick brown fox jumps over the lazy dog, twice.';
    const tokens = await getJson<{ tokens: number[] }>(`${SERVER}/tokenize`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ content: text, add_special: false }),
    });
    assert.equal(await model.countTokens(text), tokens.tokens.length);
  });

  it('cancellation stops the generation and frees the slot', async () => {
    const [model] = await llamaModels();
    const nCtx = await serverContext();
    const maxTokens = nCtx - 64;
    const before = await tokensPredicted();
    const cts = new vscode.CancellationTokenSource();
    const response = await model.sendRequest(
      [vscode.LanguageModelChatMessage.User('Write a very long story.')],
      { modelOptions: { max_tokens: maxTokens, ignore_eos: true } },
      cts.token,
    );
    let ended: unknown;
    const consumed = (async () => {
      try {
        for await (const _chunk of response.text) {
          // Read until the cancellation ends the stream.
        }
      } catch (err) {
        ended = err;
      }
    })();
    // Cancelled as soon as the server works on it (its text reaches this extension host later, through the window).
    await waitFor('the server generating', async () => (await busySlots()) > 0, 10_000);
    cts.cancel();
    await consumed;
    await waitFor('every slot idle', async () => (await busySlots()) === 0);
    const generated = (await tokensPredicted()) - before;
    assert.ok(generated < maxTokens, `the server stopped early (${generated} of ${maxTokens} tokens; ended with ${String(ended)})`);
  });

  it('a stalled stream fails with a clear error after llamaChat.staleSeconds instead of hanging', async () => {
    const { api } = await activateExtension();
    const [model] = await llamaModels();
    const staleSeconds = getSetting<number>('staleSeconds');
    assert.equal(staleSeconds, 3);
    await setProxyMode(CONTROL!, { kind: 'stall', afterEvents: 2, path: '/v1/chat/completions' });
    const response = await model.sendRequest([vscode.LanguageModelChatMessage.User('Say hello.')], { modelOptions: { max_tokens: 32 } });
    let error: unknown;
    try {
      for await (const _chunk of response.text) {
        // Whatever came before the stall.
      }
    } catch (err) {
      error = err;
    }
    assert.ok(error instanceof Error, 'the request failed rather than ending quietly');
    assert.match(error.message, /sent nothing for 3 s \(llamaChat\.staleSeconds\)/);
    await setProxyMode(CONTROL!, { kind: 'pass' });
    await waitFor('every slot idle', async () => (await busySlots()) === 0);
    assert.equal(api.contextKeys()['llamaChat.stale'], false, "the view's stale state is not touched by VS Code chat requests");
  });

  describe('with a second server in router mode', () => {
    after(async () => {
      await setSetting('servers', undefined);
    });

    async function routerContext(model: string): Promise<number> {
      const props = await getJson<{ default_generation_settings: { n_ctx: number } }>(`${ROUTER}/props?model=${encodeURIComponent(model)}`);
      return props.default_generation_settings.n_ctx;
    }

    async function modelsWith(count: number): Promise<vscode.LanguageModelChat[]> {
      return waitFor(`${count} llama-server models`, async () => {
        const models = await vscode.lm.selectChatModels({ vendor: 'llama-server' });
        return models.length === count ? models : undefined;
      });
    }

    it("lists every model of every server, a loaded router model with its own n_ctx, and sizes another once a request loaded it", async () => {
      if (!ROUTER) throw new Error('LLAMA_CHAT_TEST_ROUTER_URL is not set');
      // tiny-4k is loaded before the list is read; tiny-2k stays unloaded until a request needs it.
      await getJson(`${ROUTER}/models/load`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny-4k' }) });
      await waitFor('tiny-4k loaded', async () => {
        const list = await getJson<{ data: { id: string; status: { value: string } }[] }>(`${ROUTER}/models`);
        return list.data.find((m) => m.id === 'tiny-4k')?.status.value === 'loaded';
      }, 30_000);
      await setSetting('servers', [
        { name: 'main', url: PROXY },
        { name: 'router', url: ROUTER },
      ]);
      const models = await modelsWith(3);
      const byModel = (id: string): vscode.LanguageModelChat | undefined => models.find((m) => m.id.endsWith(`#${id}`));
      assert.equal(byModel('tiny-llama') ?? models.find((m) => m.name.startsWith('tiny-llama')) !== undefined, true, 'the main server is still listed');
      const large = byModel('tiny-4k');
      const small = byModel('tiny-2k');
      assert.ok(large && small, `both router models are listed: ${JSON.stringify(models.map((m) => m.id))}`);
      assert.equal(large.name, 'tiny-4k (router)');
      const largeCtx = await routerContext('tiny-4k');
      assert.equal(large.maxInputTokens, largeCtx - reserveFor(largeCtx));

      // A request to the unloaded model loads it; VS Code then hears of its real context size.
      const response = await small.sendRequest([vscode.LanguageModelChatMessage.User('Hello')], { modelOptions: { max_tokens: 8 } });
      let text = '';
      for await (const chunk of response.text) text += chunk;
      assert.ok(text.length > 0, 'the router model answered');
      const smallCtx = await routerContext('tiny-2k');
      await waitFor('tiny-2k listed with its real n_ctx', async () => {
        const again = (await vscode.lm.selectChatModels({ vendor: 'llama-server' })).find((m) => m.id.endsWith('#tiny-2k'));
        return again?.maxInputTokens === smallCtx - reserveFor(smallCtx);
      });
    });
  });

  describe('with a server whose chat template supports tool calls', () => {
    after(async () => {
      await setSetting('servers', undefined);
    });

    it('offers tool calling and answers a request with toolMode Required with a LanguageModelToolCallPart', async () => {
      if (!TOOLS) throw new Error('LLAMA_CHAT_TEST_TOOLS_URL is not set');
      await setSetting('servers', [
        { name: 'main', url: PROXY },
        { name: 'tools', url: TOOLS },
      ]);
      const model = await waitFor('the tool-calling model in vscode.lm', async () =>
        (await vscode.lm.selectChatModels({ vendor: 'llama-server' })).find((m) => m.id.startsWith(`${TOOLS.replace(/\/+$/, '')}#`)),
      );
      const main = (await vscode.lm.selectChatModels({ vendor: 'llama-server' })).find((m) => m.id.startsWith(`${(PROXY ?? '').replace(/\/+$/, '')}#`));
      const caps = (m: vscode.LanguageModelChat | undefined): unknown => (m as { capabilities?: { supportsToolCalling?: unknown } } | undefined)?.capabilities?.supportsToolCalling;
      assert.equal(caps(model), true, `the Qwen3 template supports tool calls: ${JSON.stringify(model)}`);
      assert.equal(caps(main), false, 'the Phi-3 template does not');
      // A random model needs the call started for it: the answer continues the assistant's `<tool_call>` line, and
      // the grammar llama-server builds for tool_choice required does the rest (test/server/toolCalls.test.ts).
      const response = await model.sendRequest(
        [vscode.LanguageModelChatMessage.User('What is the weather in Paris?'), vscode.LanguageModelChatMessage.Assistant('<tool_call>\n')],
        {
          tools: [
            {
              name: 'get_weather',
              description: 'The weather of a city',
              inputSchema: { type: 'object', properties: { city: { type: 'string', enum: ['Paris'] } }, required: ['city'], additionalProperties: false },
            },
          ],
          toolMode: vscode.LanguageModelChatToolMode.Required,
          modelOptions: { temperature: 0, max_tokens: 400, chat_template_kwargs: { enable_thinking: false } },
        },
      );
      const calls: vscode.LanguageModelToolCallPart[] = [];
      for await (const part of response.stream) if (part instanceof vscode.LanguageModelToolCallPart) calls.push(part);
      assert.ok(calls.length >= 1, 'at least one tool call');
      for (const call of calls) {
        assert.equal(call.name, 'get_weather');
        assert.deepEqual(call.input, { city: 'Paris' });
        assert.ok(call.callId.length > 0, 'the call has an id');
      }
    });
  });
});
