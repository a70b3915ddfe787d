import * as assert from 'node:assert/strict';
import * as net from 'node:net';
import { LlamaClient, buildChatBody, buildCountBody, normalizeBaseUrl } from '../../src/core/server/llamaClient';
import type { LlamaClientOptions } from '../../src/core/server/llamaClient';
import { LlamaError } from '../../src/core/base/errors';
import type { ErrorInfo } from '../../src/core/base/errors';
import type { StreamEvent } from '../../src/core/base/events';
import type { ChatRequest } from '../../src/core/server/client';
import { findFrame, parseFrames } from '../support/frames';
import type { FrameSection } from '../support/frames';
import { ScriptedServer, json, routes, sseResponse } from '../support/scriptedServer';
import type { BodyStep, ScriptedResponse } from '../support/scriptedServer';
import { RecordingLogger, collectEvents } from '../support/recordingLogger';

const frames = parseFrames();
const CHAT: ChatRequest = { messages: [{ role: 'user', content: 'Hi' }] };

/** Replays a captured response: same status, content-type and body bytes. */
function replay(frame: FrameSection, body?: BodyStep[]): ScriptedResponse {
  return {
    status: frame.status ?? 200,
    headers: { 'content-type': frame.headers['content-type'] ?? 'text/event-stream' },
    body: body ?? [frame.body],
  };
}

function sseChunks(frame: FrameSection, size: number): BodyStep[] {
  const steps: BodyStep[] = [];
  for (let i = 0; i < frame.body.length; i += size) steps.push(frame.body.subarray(i, i + size));
  return steps;
}

const streamFrame = findFrame(frames, 'POST /v1/chat/completions stream=true include_usage');

function lastError(events: StreamEvent[]): ErrorInfo {
  const last = events[events.length - 1];
  assert.ok(last?.type === 'error', `expected a final error, got ${JSON.stringify(last)}`);
  const terminals = events.filter((e) => e.type === 'error' || e.type === 'done');
  assert.equal(terminals.length, 1, 'exactly one terminal event');
  return last.error;
}

async function rejection(promise: Promise<unknown>): Promise<LlamaError> {
  try {
    await promise;
  } catch (err) {
    assert.ok(LlamaError.is(err), `expected a LlamaError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected a rejection');
}

async function freePortThatIsClosed(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('LlamaClient', () => {
  let server: ScriptedServer;
  let client: LlamaClient;
  let logger: RecordingLogger;

  function makeClient(options: Partial<LlamaClientOptions> = {}): LlamaClient {
    client?.dispose();
    client = new LlamaClient({ baseUrl: server.url, logger, ...options });
    return client;
  }

  beforeEach(async () => {
    logger = new RecordingLogger();
    server = await ScriptedServer.start(replay(streamFrame));
    makeClient();
  });

  afterEach(async () => {
    client.dispose();
    await server.close();
  });

  describe('streamChat', () => {
    it('streams a captured answer in small network chunks and ends with done', async () => {
      server.setHandler(replay(streamFrame, sseChunks(streamFrame, 7)));
      const events = await collectEvents(client.streamChat(CHAT));
      assert.deepEqual(events.slice(-3).map((e) => e.type), ['finish', 'usage', 'done']);
      assert.equal(events.filter((e) => e.type === 'content').length, 12);
    });

    it('posts the streaming options, generation settings and extra fields', async () => {
      await collectEvents(
        client.streamChat({
          messages: [
            { role: 'system', content: 'Be brief' },
            { role: 'user', content: 'Hi' },
          ],
          model: 'tiny.gguf',
          temperature: 0.2,
          maxTokens: 64,
          seed: 7,
          stop: ['</s>'],
          extra: { top_k: 5, stream: false },
        }),
      );
      const req = server.requests[0];
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/v1/chat/completions');
      assert.equal(req.headers['content-type'], 'application/json');
      assert.deepEqual(req.json, {
        messages: [
          { role: 'system', content: 'Be brief' },
          { role: 'user', content: 'Hi' },
        ],
        stream: true,
        stream_options: { include_usage: true },
        timings_per_token: true,
        return_progress: true,
        cache_prompt: true,
        model: 'tiny.gguf',
        temperature: 0.2,
        max_tokens: 64,
        seed: 7,
        stop: ['</s>'],
        top_k: 5,
      });
    });

    it('omits max_tokens when it is 0 or negative, and unset settings', () => {
      for (const maxTokens of [0, -1, undefined]) {
        const body = buildChatBody({ ...CHAT, maxTokens });
        assert.ok(!('max_tokens' in body));
        assert.ok(!('model' in body) && !('temperature' in body) && !('seed' in body) && !('stop' in body));
      }
    });

    it('sends Authorization only when a key exists, and never logs it', async () => {
      await collectEvents(client.streamChat(CHAT));
      assert.equal(server.requests[0].headers.authorization, undefined);

      makeClient({ apiKey: () => '' });
      await collectEvents(client.streamChat(CHAT));
      assert.equal(server.requests[1].headers.authorization, undefined);

      makeClient({ apiKey: () => Promise.resolve('sekrit-key-123') });
      await collectEvents(client.streamChat(CHAT));
      await client.getProps().catch(() => undefined);
      assert.equal(server.requests[2].headers.authorization, 'Bearer sekrit-key-123');
      assert.equal(server.requests[3].headers.authorization, 'Bearer sekrit-key-123');
      assert.ok(logger.lines.length > 0, 'requests were logged');
      assert.ok(!logger.lines.some((l) => l.includes('sekrit')), 'the key never reaches the log');
    });

    it('maps 401 to unauthorized with a Set API Key hint', async () => {
      server.setHandler(json(401, { error: { code: 401, message: 'Invalid API Key', type: 'authentication_error' } }));
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'unauthorized');
      assert.equal(error.status, 401);
      assert.equal(error.serverMessage, 'Invalid API Key');
      assert.match(error.hint ?? '', /Set an API key with 'Llama Chat: Set API Key'|set one with 'Llama Chat: Set API Key'/);
      assert.match(error.message, new RegExp(server.url.replace(/\./g, '\\.')));
    });

    it('maps 403 to forbidden', async () => {
      server.setHandler({ status: 403, headers: { 'content-type': 'text/plain' }, body: 'Forbidden by proxy' });
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'forbidden');
      assert.equal(error.serverMessage, 'Forbidden by proxy');
    });

    it('maps the captured 400 exceed_context_size_error with token counts and a next step', async () => {
      server.setHandler(replay(findFrame(frames, 'ERROR streaming: prompt longer than context')));
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'context_exceeded');
      assert.equal(error.status, 400);
      assert.equal(error.nPromptTokens, 3010);
      assert.equal(error.nCtx, 2048);
      assert.equal(error.serverType, 'exceed_context_size_error');
      assert.equal(
        error.hint,
        'The prompt has 3010 tokens but the context is 2048: start a new chat, shorten the message, or restart llama-server with a larger -c',
      );
    });

    it('maps the captured 500 JSON error to server_error with the server message', async () => {
      server.setHandler(replay(findFrame(frames, 'ERROR: invalid JSON body')));
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'server_error');
      assert.match(error.serverMessage ?? '', /parse error at line 1/);
    });

    it('maps a 500 HTML page to server_error quoting its title', async () => {
      server.setHandler({
        status: 500,
        headers: { 'content-type': 'text/html' },
        body: '<!DOCTYPE html><html><head><title>500 Internal Server Error</title></head><body><h1>Oops</h1></body></html>',
      });
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'server_error');
      assert.equal(error.serverMessage, '500 Internal Server Error');
      assert.ok(!error.message.includes('<html'), 'no raw HTML in the message');
    });

    it('reports not_sse for a 200 HTML page, quoting a short excerpt', async () => {
      server.setHandler({ status: 200, headers: { 'content-type': 'text/html' }, body: '<html><head><title>My Router</title></head><body>' + 'x'.repeat(10_000) + '</body></html>' });
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'not_sse');
      assert.match(error.message, /HTML page \("My Router"\)/);
      assert.ok(error.message.length < 300);
      assert.match(error.hint ?? '', /llamaChat\.serverUrl/);
    });

    it('reports not_sse for a 200 JSON answer', async () => {
      server.setHandler(replay(findFrame(frames, 'POST /v1/chat/completions non-streaming max_tokens=12')));
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'not_sse');
      assert.match(error.message, /application\/json/);
    });

    it('ends with stream_error on data: {"error": ...} after content', async () => {
      server.setHandler(
        sseResponse([
          'data: {"choices":[{"delta":{"content":"Hel"}}]}\n\n',
          'data: {"error":{"code":500,"message":"slot crashed","type":"server_error"}}\n\n',
          { hold: true },
        ]),
      );
      const events = await collectEvents(client.streamChat(CHAT));
      assert.deepEqual(events[0], { type: 'content', text: 'Hel' });
      const error = lastError(events);
      assert.equal(error.kind, 'stream_error');
      assert.equal(error.serverMessage, 'slot crashed');
      await server.requests[0].socketClosed; // the client hung up instead of waiting
    });

    it('ends with malformed on a non-JSON data line and closes the connection', async () => {
      server.setHandler(sseResponse(['data: {"choices":[{"delta":{"content":"a"}}]}\n\n', 'data: Bad Gateway\n\n', { hold: true }]));
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'malformed');
      assert.match(error.message, /"Bad Gateway"/);
      await server.requests[0].socketClosed;
    });

    it('reports truncated when the connection drops mid-stream', async () => {
      const half = streamFrame.body.subarray(0, Math.floor(streamFrame.body.length / 2));
      server.setHandler(sseResponse([half, { delayMs: 20 }, { destroy: true }]));
      const events = await collectEvents(client.streamChat(CHAT));
      assert.ok(events.some((e) => e.type === 'content'));
      assert.equal(lastError(events).kind, 'truncated');
    });

    it('reports truncated when the body ends cleanly before finish', async () => {
      server.setHandler(sseResponse(['data: {"choices":[{"delta":{"content":"a"}}]}\n\n']));
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'truncated');
    });

    it('completes when the server sends finish but no usage and no [DONE]', async () => {
      server.setHandler(sseResponse(['data: {"choices":[{"delta":{"content":"a"},"finish_reason":null}]}\n\n', 'data: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\n']));
      const events = await collectEvents(client.streamChat(CHAT));
      assert.deepEqual(events.map((e) => e.type), ['content', 'finish', 'done']);
    });

    it('reports unreachable for a closed port, naming the URL in the hint', async () => {
      const port = await freePortThatIsClosed();
      makeClient({ baseUrl: `http://127.0.0.1:${port}` });
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'unreachable');
      assert.equal(error.hint, `Start llama-server or check the llamaChat.serverUrl setting (http://127.0.0.1:${port})`);
    });

    it('reports dns for a host that does not resolve', async () => {
      makeClient({ baseUrl: 'http://llama-server.invalid:8080' });
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'dns');
      assert.match(error.message, /llama-server\.invalid/);
    });

    it('reports an invalid server URL without sending anything', async () => {
      makeClient({ baseUrl: 'localhost:8080' });
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'unreachable');
      assert.match(error.message, /not valid/);
      assert.match(error.hint ?? '', /llamaChat\.serverUrl/);
    });

    it('reports tls for an https URL pointing at a plain HTTP server', async () => {
      makeClient({ baseUrl: `https://127.0.0.1:${server.port}` });
      const error = lastError(await collectEvents(client.streamChat(CHAT)));
      assert.equal(error.kind, 'tls');
      assert.match(error.hint ?? '', /http:\/\//);
    });

    it('abort mid-stream ends with aborted and really closes the socket', async () => {
      server.setHandler(sseResponse(['data: {"choices":[{"delta":{"content":"a"}}]}\n\n', { hold: true }]));
      const controller = new AbortController();
      const events: StreamEvent[] = [];
      for await (const e of client.streamChat(CHAT, controller.signal)) {
        events.push(e);
        if (e.type === 'content') controller.abort();
      }
      assert.equal(lastError(events).kind, 'aborted');
      await server.requests[0].socketClosed;
      assert.equal(await server.requests[0].finished, 'client-closed');
    });

    it('abort before the response arrives ends with aborted', async () => {
      server.setHandler(async () => {
        await new Promise((resolve) => setTimeout(resolve, 5_000));
        return json(200, {});
      });
      const controller = new AbortController();
      const pending = collectEvents(client.streamChat(CHAT, controller.signal));
      while (server.requests.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
      controller.abort();
      assert.equal(lastError(await pending).kind, 'aborted');
      await server.requests[0].socketClosed;
    });

    it('an already aborted signal sends nothing', async () => {
      const controller = new AbortController();
      controller.abort();
      assert.equal(lastError(await collectEvents(client.streamChat(CHAT, controller.signal))).kind, 'aborted');
      assert.equal(server.requests.length, 0);
    });

    it('leaving the loop early closes the connection', async () => {
      server.setHandler(sseResponse(['data: {"choices":[{"delta":{"content":"a"}}]}\n\n', { hold: true }]));
      for await (const e of client.streamChat(CHAT)) {
        if (e.type === 'content') break;
      }
      await server.requests[0].socketClosed;
    });

    it('reuses the keep-alive connection after a completed stream', async () => {
      await collectEvents(client.streamChat(CHAT));
      // undici marks the connection free on the next turn; a request in the same tick would open another one.
      await new Promise((resolve) => setImmediate(resolve));
      await collectEvents(client.streamChat(CHAT));
      assert.equal(server.requests.length, 2);
      assert.equal(server.requests[1].headers.connection ?? 'keep-alive', 'keep-alive');
      assert.equal(server.openSockets, 1);
    });
  });

  describe('request bodies', () => {
    it('sends images as image_url parts after the text', () => {
      const body = buildChatBody({
        messages: [
          { role: 'user', content: 'What is this?', images: ['data:image/png;base64,AAA', 'data:image/jpeg;base64,BBB'] },
          { role: 'user', content: '', images: ['data:image/png;base64,CCC'] },
          { role: 'assistant', content: 'plain', images: [] },
        ],
      });
      assert.deepEqual(body.messages, [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'What is this?' },
            { type: 'image_url', image_url: { url: 'data:image/png;base64,AAA' } },
            { type: 'image_url', image_url: { url: 'data:image/jpeg;base64,BBB' } },
          ],
        },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,CCC' } }] },
        { role: 'assistant', content: 'plain' },
      ]);
    });

    it('continues the final message with continue_final_message and no generation prompt', () => {
      const req: ChatRequest = {
        messages: [
          { role: 'user', content: 'Tell' },
          { role: 'assistant', content: 'Once' },
        ],
        continueFinalMessage: true,
      };
      const body = buildChatBody(req);
      assert.equal(body.continue_final_message, true);
      assert.equal(body.add_generation_prompt, false);
      assert.ok(!('continue_final_message' in buildChatBody(CHAT)));
      const count = buildCountBody(req);
      assert.equal(count.continue_final_message, true);
      assert.equal(count.add_generation_prompt, false);
      assert.equal(count.stream, false);
      assert.deepEqual(count.messages, body.messages);
      assert.equal(count.cache_prompt, true);
    });

    it('sends tools as OpenAI functions with tool_choice, and tool exchanges as tool_calls and tool messages', () => {
      const req: ChatRequest = {
        messages: [
          { role: 'user', content: 'Weather?' },
          { role: 'assistant', content: '', toolCalls: [{ id: 'c1', name: 'get_weather', arguments: '{"city":"Paris"}' }] },
          { role: 'tool', toolCallId: 'c1', content: 'sunny' },
          { role: 'assistant', content: 'Checking', toolCalls: [{ id: 'c2', name: 'now', arguments: '{}' }] },
        ],
        tools: [
          { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
          { name: 'now' },
        ],
        toolChoice: 'required',
      };
      const body = buildChatBody(req);
      assert.deepEqual(body.tools, [
        {
          type: 'function',
          function: { name: 'get_weather', description: 'Weather of a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } },
        },
        { type: 'function', function: { name: 'now' } },
      ]);
      assert.equal(body.tool_choice, 'required');
      assert.deepEqual(body.messages, [
        { role: 'user', content: 'Weather?' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] },
        { role: 'tool', tool_call_id: 'c1', content: 'sunny' },
        { role: 'assistant', content: 'Checking', tool_calls: [{ id: 'c2', type: 'function', function: { name: 'now', arguments: '{}' } }] },
      ]);
      assert.deepEqual(buildCountBody(req).tools, body.tools, 'the prompt count sees the tools the template renders');
      const plain = buildChatBody(CHAT);
      assert.ok(!('tools' in plain) && !('tool_choice' in plain), 'no tools, no tool fields');
      assert.ok(!('tool_choice' in buildChatBody({ ...CHAT, toolChoice: 'auto' })), 'no tool_choice without tools');
    });
  });

  describe('countPrompt and tokenCount', () => {
    const inputTokens = (n: number) => json(200, { input_tokens: n, object: 'response.input_tokens' });
    const REQ: ChatRequest = { messages: [{ role: 'user', content: 'Hello there' }], model: 'tiny', maxTokens: 32, extra: { top_k: 3 } };

    it('asks input_tokens with the chat body (not streamed)', async () => {
      server.setHandler(routes({ 'POST /v1/chat/completions/input_tokens': inputTokens(17) }));
      assert.deepEqual(await client.countPrompt(REQ), { tokens: 17, exact: true });
      assert.equal(server.requests.length, 1);
      const body = server.requests[0].json as Record<string, unknown>;
      assert.deepEqual(body, { cache_prompt: true, model: 'tiny', max_tokens: 32, top_k: 3, messages: [{ role: 'user', content: 'Hello there' }], stream: false });
      assert.equal(client.countMethod, 'input_tokens');
    });

    it('falls back once to apply-template + tokenize (with add_special), remembers it, logs once at debug', async () => {
      server.setHandler(
        routes({
          'POST /apply-template': json(200, { prompt: '<|user|>\nHello there<|end|>\n<|assistant|>\n' }),
          'POST /tokenize': json(200, { tokens: [1, 32010, 15043, 727, 32007, 32001] }),
        }),
      );
      assert.deepEqual(await client.countPrompt(REQ), { tokens: 6, exact: true });
      assert.deepEqual(
        server.requests.map((r) => r.path),
        ['/v1/chat/completions/input_tokens', '/apply-template', '/tokenize'],
      );
      const template = server.requests[1].json as Record<string, unknown>;
      assert.deepEqual(template.messages, [{ role: 'user', content: 'Hello there' }]);
      assert.deepEqual(server.requests[2].json, { content: '<|user|>\nHello there<|end|>\n<|assistant|>\n', add_special: true });
      assert.equal(client.countMethod, 'template');

      assert.deepEqual(await client.countPrompt(REQ), { tokens: 6, exact: true });
      assert.equal(server.requests.filter((r) => r.path === '/v1/chat/completions/input_tokens').length, 1, 'probed once');
      assert.equal(logger.lines.filter((l) => l.startsWith('warn') || l.startsWith('error')).length, 0, logger.lines.join('\n'));
      assert.equal(logger.lines.filter((l) => /input_tokens is not offered/.test(l)).length, 1);
      assert.ok(logger.lines.some((l) => l.startsWith('debug') && /not offered/.test(l)));
    });

    it('estimates (exact false) when neither way exists, and stops asking', async () => {
      server.setHandler(routes({}));
      const count = await client.countPrompt({ messages: [{ role: 'user', content: 'x'.repeat(350) }] });
      assert.equal(count.exact, false);
      assert.ok(count.tokens >= 100 && count.tokens < 120, String(count.tokens));
      assert.equal(server.requests.length, 2);
      await client.countPrompt(REQ);
      assert.equal(server.requests.length, 2, 'no more requests once the server is known to lack both');
      assert.equal(client.countMethod, 'estimate');
      client.invalidate();
      assert.equal(client.countMethod, 'input_tokens', 'a new server is probed again');
    });

    it('a forced template method never asks input_tokens', async () => {
      makeClient({ countMethod: 'template' });
      server.setHandler(
        routes({
          'POST /apply-template': json(200, { prompt: 'p' }),
          'POST /tokenize': json(200, { tokens: [1, 2] }),
        }),
      );
      assert.deepEqual(await client.countPrompt(REQ), { tokens: 2, exact: true });
      assert.deepEqual(server.requests.map((r) => r.path), ['/apply-template', '/tokenize']);
    });

    it('counts images it cannot send as the text plus a guess (text-only model)', async () => {
      server.setHandler((req) => {
        const body = req.json as { messages: { content: unknown }[] };
        if (body.messages.some((m) => Array.isArray(m.content))) {
          return json(500, { error: { code: 500, message: 'image input is not supported', type: 'server_error' } });
        }
        return inputTokens(10);
      });
      const count = await client.countPrompt({ messages: [{ role: 'user', content: 'look', images: ['data:image/png;base64,AA'] }] });
      assert.equal(count.exact, false);
      assert.ok(count.tokens > 10 + 100, String(count.tokens));
      assert.equal(client.countMethod, 'input_tokens', 'the method still works for text');
      assert.equal(logger.lines.filter((l) => l.startsWith('warn')).length, 0);
    });

    it('rejects on network errors, refused keys and aborts', async () => {
      server.setHandler(json(401, { error: { code: 401, message: 'Invalid API Key', type: 'authentication_error' } }));
      assert.equal((await rejection(client.countPrompt(REQ))).kind, 'unauthorized');
      server.setHandler(inputTokens(3));
      const controller = new AbortController();
      controller.abort();
      assert.equal((await rejection(client.countPrompt(REQ, controller.signal))).kind, 'aborted');
      const port = await freePortThatIsClosed();
      const down = new LlamaClient({ baseUrl: `http://127.0.0.1:${port}`, logger });
      try {
        assert.equal((await rejection(down.countPrompt(REQ))).kind, 'unreachable');
        assert.equal(down.countMethod, 'input_tokens', 'a dead server does not downgrade the method');
      } finally {
        down.dispose();
      }
    });

    it('tokenCount() tokenizes one text without BOS; estimates without /tokenize', async () => {
      server.setHandler(routes({ 'POST /tokenize': json(200, { tokens: [5, 6, 7] }) }));
      assert.deepEqual(await client.tokenCount('a b c'), { tokens: 3, exact: true });
      assert.deepEqual(server.requests[0].json, { content: 'a b c', add_special: false });
      server.setHandler(routes({}));
      assert.deepEqual(await client.tokenCount('x'.repeat(35)), { tokens: 10, exact: false });
      await client.tokenCount('y');
      assert.equal(server.requests.length, 2, 'a missing /tokenize is asked once');
    });
  });

  describe('other endpoints', () => {
    const table = {
      'GET /health': replay(findFrame(frames, 'GET /health')),
      'GET /props': replay(findFrame(frames, 'GET /props')),
      'GET /v1/models': replay(findFrame(frames, 'GET /v1/models')),
      'GET /slots': replay(findFrame(frames, 'GET /slots')),
      'POST /tokenize': replay(findFrame(frames, 'POST /tokenize')),
      'POST /apply-template': replay(findFrame(frames, 'POST /apply-template')),
    };

    beforeEach(() => server.setHandler(routes(table)));

    it('health() says ok, or loading on 503', async () => {
      assert.equal(await client.health(), 'ok');
      server.setHandler(json(503, { error: { code: 503, message: 'Loading model', type: 'unavailable_error' } }));
      assert.equal(await client.health(), 'loading');
    });

    it('getProps() reads n_ctx and friends, caches them, and invalidate() refetches', async () => {
      const props = await client.getProps();
      assert.equal(props.nCtx, 2048);
      assert.equal(props.totalSlots, 4);
      assert.equal(props.modelAlias, 'tiny.gguf');
      assert.equal(props.buildInfo, 'b1-de3ff81');
      assert.equal(props.chatTemplateCaps?.supports_system_role, false);
      assert.equal(props.modalities?.vision, false);
      await client.getProps();
      assert.equal(server.requests.length, 1, 'second call served from cache');
      assert.equal((await client.getProps(undefined, 'tiny.gguf')).nCtx, 2048);
      assert.equal(server.requests.length, 1, 'cached under the model alias too');
      client.invalidate();
      await client.getProps();
      assert.equal(server.requests.length, 2);
    });

    it('listModels() reads data[].id and meta', async () => {
      assert.deepEqual(await client.listModels(), [{ id: 'tiny.gguf', nCtx: 2048, nCtxTrain: 2048, nParams: 4399744, size: 9390592 }]);
    });

    it('getSlots() lists slots; 501 becomes a clear bad_request', async () => {
      const slots = await client.getSlots();
      assert.equal(slots.length, 4);
      assert.deepEqual(slots[0], { id: 0, nCtx: 2048, isProcessing: false });
      server.setHandler(json(501, { error: { code: 501, message: 'This server does not support slots endpoint.', type: 'not_supported_error' } }));
      const error = await rejection(client.getSlots());
      assert.equal(error.kind, 'bad_request');
      assert.equal(error.status, 501);
      assert.match(error.message, /\/slots/);
      assert.match(error.hint ?? '', /--slots/);
    });

    it('tokenize() returns token ids and sends the text', async () => {
      assert.deepEqual(await client.tokenize(' Hello world'), [15043, 3186, 29871, 32007]);
      assert.deepEqual(server.requests[0].json, { content: ' Hello world', add_special: false });
    });

    it('throws mapped LlamaErrors: 401 on /props, unreachable, headers timeout', async () => {
      server.setHandler(json(401, { error: { code: 401, message: 'Invalid API Key', type: 'authentication_error' } }));
      makeClient({ apiKey: 'wrong' });
      const unauthorized = await rejection(client.getProps());
      assert.equal(unauthorized.kind, 'unauthorized');
      assert.match(unauthorized.hint ?? '', /API key was not accepted/);

      server.setHandler(async () => {
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        return json(200, {});
      });
      makeClient({ requestTimeoutMs: 100 });
      assert.equal((await rejection(client.listModels())).kind, 'timeout');

      const port = await freePortThatIsClosed();
      makeClient({ baseUrl: `http://127.0.0.1:${port}` });
      assert.equal((await rejection(client.health())).kind, 'unreachable');
    });

    it('accepts a base URL with a trailing /v1 or slash', async () => {
      makeClient({ baseUrl: `${server.url}/v1/` });
      assert.equal(await client.health(), 'ok');
      assert.equal(server.requests[0].path, '/health');
      assert.equal(normalizeBaseUrl('http://h:1/proxy/llama/'), 'http://h:1/proxy/llama');
    });
  });

  describe('controlReasoning', () => {
    it('posts the completion id and action; a 200 with success false is a refusal with the server\'s words', async () => {
      server.setHandler(
        routes({
          'POST /v1/chat/completions/control': (req) =>
            (JSON.parse(req.body) as { id?: string }).id === 'chatcmpl-live'
              ? json(200, { success: true })
              : json(200, { success: false, message: 'no active completion for this id' }),
        }),
      );
      await client.controlReasoning('chatcmpl-live', 'reasoning_end');
      const sent = JSON.parse(server.requests.at(-1)!.body) as unknown;
      assert.deepEqual(sent, { id: 'chatcmpl-live', action: 'reasoning_end' });
      const refused = await rejection(client.controlReasoning('chatcmpl-gone', 'reasoning_end'));
      assert.match(refused.message, /no active completion for this id/);
    });
  });
});

