/**
 * Tool calls against a real llama-server on the tiny reasoning model (Qwen3's template, which renders tools and
 * whose `<tool_call>` output the server parses): /props says so, `tools` + `tool_choice: 'required'` stream back as
 * `delta.tool_calls` fragments that the real client and decoder turn into toolCall events and runLmRequest joins
 * into whole calls, and a history with tool calls and tool results reaches the template as such. The suite starts
 * its own server (the shared one runs the Phi-3 tiny model) and stops it by PID.
 *
 * Forcing a call from random weights (measured on this llama.cpp, v0.5.0): `tool_choice: 'required'` builds a
 * grammar that still allows free text before the first `<tool_call>`, and a random model never ends that text. So
 * the request ends with an assistant message `<tool_call>\n` that the server continues (prefill): the grammar then
 * starts inside the call, and the schema (an enum) leaves nothing but whitespace to chance.
 */
import * as assert from 'node:assert/strict';
import type { Context } from 'mocha';
import { request } from 'undici';
import type { StreamEvent } from '../../src/core/base/events';
import type { ChatRequest, ChatTool } from '../../src/core/server/client';
import { LlamaClient, buildChatBody } from '../../src/core/server/llamaClient';
import { runLmRequest } from '../../src/core/session/lmRequest';
import { startLlamaServer } from '../harness/llamaServer';
import type { LlamaServerHandle } from '../harness/llamaServer';
import { ensureReasoningModel } from '../harness/reasoningModel';
import { serverUnderTest } from './hooks';

const WEATHER: ChatTool = {
  name: 'get_weather',
  description: 'The weather of a city',
  parameters: { type: 'object', properties: { city: { type: 'string', enum: ['Paris'] } }, required: ['city'], additionalProperties: false },
};

/** A request the tiny model must answer with calls of get_weather (see the header). */
function forcedCall(): ChatRequest {
  return {
    messages: [
      { role: 'user', content: 'What is the weather in Paris?' },
      { role: 'assistant', content: '<tool_call>\n' },
    ],
    tools: [WEATHER],
    toolChoice: 'required',
    temperature: 0,
    maxTokens: 400,
    extra: { chat_template_kwargs: { enable_thinking: false } },
  };
}

describe('tool calls against a real llama-server (tiny Qwen3-template model)', function () {
  let server: LlamaServerHandle | undefined;
  let client: LlamaClient;

  before(async function (this: Context) {
    // An external server ($LLAMA_SERVER_URL) runs some other model: these facts are about this one.
    if (process.env.LLAMA_SERVER_URL) this.skip();
    this.timeout(10 * 60_000);
    const model = await ensureReasoningModel({ onProgress: (line) => console.error(line) });
    server = await startLlamaServer({ model, alias: 'tiny-tools', ctx: 2048, parallel: 1, onProgress: (line) => console.error(line) });
  });
  after(async function (this: Context) {
    this.timeout(15_000);
    await server?.stop();
    server = undefined;
  });
  beforeEach(() => {
    client = new LlamaClient({ baseUrl: server!.url, requestTimeoutMs: 30_000 });
  });
  afterEach(() => client.dispose());

  it("/props: the Qwen3 template supports tool calls; the shared server's Phi-3 template does not", async () => {
    const props = await client.getProps();
    assert.equal(props.chatTemplateCaps?.supports_tool_calls, true, JSON.stringify(props.chatTemplateCaps));
    const phi = new LlamaClient({ baseUrl: serverUnderTest().url, requestTimeoutMs: 10_000 });
    try {
      assert.notEqual((await phi.getProps()).chatTemplateCaps?.supports_tool_calls, true);
    } finally {
      phi.dispose();
    }
  });

  it('streams delta.tool_calls as toolCall fragments (id and name first, then arguments), ending with finish tool_calls', async function (this: Context) {
    this.timeout(60_000);
    const events: StreamEvent[] = [];
    for await (const batch of client.streamChatBatches(forcedCall())) events.push(...batch);
    const end = events[events.length - 1];
    assert.equal(end.type, 'done', JSON.stringify(end));
    const finish = events.find((e) => e.type === 'finish');
    assert.deepEqual(finish, { type: 'finish', reason: 'tool_calls' });
    const calls = events.filter((e): e is Extract<StreamEvent, { type: 'toolCall' }> => e.type === 'toolCall');
    assert.equal(events.filter((e) => e.type === 'content').length, 0, 'no text: the answer is tool calls');
    assert.ok(calls.length > 1, 'the arguments arrive in fragments');
    const first = calls[0];
    assert.equal(first.index, 0);
    assert.equal(first.name, 'get_weather');
    assert.match(first.id ?? '', /^\w+$/, 'the server gives each call an id');
    // Fragments of one call are contiguous and indices only grow; each joined call is the schema's only value.
    const joined = new Map<number, string>();
    let last = 0;
    for (const c of calls) {
      assert.ok(c.index === last || c.index === last + 1, `index ${c.index} after ${last}`);
      if (c.index !== last || c === first) assert.equal(c.name, 'get_weather', 'a new call starts with its name');
      last = c.index;
      joined.set(c.index, (joined.get(c.index) ?? '') + (c.argumentsDelta ?? ''));
    }
    for (const args of joined.values()) assert.deepEqual(JSON.parse(args), { city: 'Paris' });
  });

  it('runLmRequest joins the real fragments into whole calls with parsed arguments', async function (this: Context) {
    this.timeout(60_000);
    const reported: unknown[] = [];
    const result = await runLmRequest({ streamer: client, request: forcedCall(), staleSeconds: 30, onText: () => undefined, onToolCall: (call) => reported.push(call) });
    assert.equal(result.finishReason, 'tool_calls');
    assert.ok(result.toolCalls.length >= 1);
    for (const call of result.toolCalls) {
      assert.equal(call.name, 'get_weather');
      assert.deepEqual(call.input, { city: 'Paris' });
    }
    assert.equal(new Set(result.toolCalls.map((c) => c.id)).size, result.toolCalls.length, 'distinct ids');
    assert.deepEqual(reported, result.toolCalls, 'each call reported once, in order');
  });

  it('a history with tool calls and tool results reaches the template as such (apply-template), and streams', async function (this: Context) {
    this.timeout(60_000);
    const req: ChatRequest = {
      messages: [
        { role: 'user', content: 'What is the weather in Paris?' },
        { role: 'assistant', content: '', toolCalls: [{ id: 'call_1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
        { role: 'tool', toolCallId: 'call_1', content: 'sunny, 21 degrees' },
      ],
      tools: [WEATHER],
      toolChoice: 'auto',
      maxTokens: 4,
      extra: { chat_template_kwargs: { enable_thinking: false } },
    };
    const res = await request(`${server!.url}/apply-template`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(buildChatBody(req)) });
    assert.equal(res.statusCode, 200);
    const { prompt } = (await res.body.json()) as { prompt: string };
    assert.match(prompt, /<tools>[\s\S]*"name": "get_weather"[\s\S]*<\/tools>/, 'the tools are in the system prompt');
    assert.match(prompt, /<\|im_start\|>assistant\n<tool_call>\n\{"name": "get_weather", "arguments": \{"city":\s*"Paris"\}\}\n<\/tool_call>/);
    assert.match(prompt, /<tool_response>\nsunny, 21 degrees\n<\/tool_response>/);
    const events: StreamEvent[] = [];
    for await (const batch of client.streamChatBatches(req)) events.push(...batch);
    assert.equal(events[events.length - 1].type, 'done', JSON.stringify(events[events.length - 1]));
  });
});
