/**
 * The API key goes to the configured server in the Authorization header and nowhere else: not to a log line, not
 * into an error a user sees (even when the server quotes it back), not into chat files or session events (which are
 * what the webview is sent). And requests go only to the configured server: redirects are not followed.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChatStore } from '../../../src/core/store/chatStore';
import { LlamaClient } from '../../../src/core/server/llamaClient';
import { ChatSession } from '../../../src/core/session/session';
import type { SessionEvent } from '../../../src/core/session/sessionEvents';
import { json, routes, ScriptedServer, sseResponse } from '../../support/scriptedServer';
import { RecordingLogger, collectEvents } from '../../support/recordingLogger';

const KEY = 'sk-live-0f9e8d7c6b5a4f3e2d1c';
const CHAT = { messages: [{ role: 'user' as const, content: 'hi' }] };
const OK_STREAM = [
  'data: {"choices":[{"index":0,"delta":{"content":"fine"},"finish_reason":null}]}\n\n',
  'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n',
  'data: [DONE]\n\n',
];

describe('security: the API key and where requests go', () => {
  let server: ScriptedServer;
  let other: ScriptedServer;

  beforeEach(async () => {
    server = await ScriptedServer.start();
    other = await ScriptedServer.start(json(200, { stolen: true }));
  });

  afterEach(async () => {
    await server.close();
    await other.close();
  });

  it('reaches the server only as Authorization, and no log line or error, even when the server quotes it back', async () => {
    // A misconfigured proxy that echoes the header it rejected, in JSON, HTML, mid-stream and in /props.
    const echo = `Bearer ${KEY}`;
    let round = 0;
    server.setHandler(
      routes({
        'POST /v1/chat/completions': () => {
          round++;
          if (round === 1) return sseResponse(OK_STREAM);
          if (round === 2) return json(401, { error: { code: 401, message: `Invalid API Key: ${echo}`, type: 'authentication_error' } });
          if (round === 3) return { status: 500, headers: { 'content-type': 'text/html' }, body: `<html><title>Bad token ${KEY}</title></html>` };
          if (round === 4) return sseResponse([OK_STREAM[0], `data: {"error":{"message":"token ${KEY} revoked"}}\n\n`]);
          return { status: 200, headers: { 'content-type': 'text/plain' }, body: `your key is ${KEY}` };
        },
        'GET /props': json(403, { error: { message: `forbidden for ${KEY}` } }),
        'GET /v1/models': json(200, { data: [{ id: `model-${KEY}` }] }),
      }),
    );
    const logger = new RecordingLogger();
    const client = new LlamaClient({ baseUrl: server.url, apiKey: () => KEY, logger });
    const seen: unknown[] = [];
    try {
      for (let i = 0; i < 5; i++) {
        const events = await collectEvents(client.streamChat(CHAT));
        seen.push(events);
        assert.equal(server.requests[server.requests.length - 1].headers.authorization, echo);
      }
      seen.push(await client.getProps().catch((e: unknown) => e));
      await client.health().catch((e: unknown) => seen.push(e));
    } finally {
      client.dispose();
    }
    assert.ok(logger.lines.length >= 6);
    for (const line of logger.lines) assert.ok(!line.includes(KEY), `a log line holds the key: ${line}`);
    const errors = JSON.stringify(seen, (_k, v: unknown) => (v instanceof Error ? { ...v, message: v.message } : v));
    assert.ok(errors.includes('authentication_error') || errors.includes('unauthorized'), 'the errors were collected');
    assert.ok(!errors.includes(KEY), `an error shown to the user holds the key: ${errors.slice(0, 400)}`);
  });

  it('never lands in chat files or session events (what the webview is sent)', async () => {
    server.setHandler(
      routes({
        'POST /v1/chat/completions': () => json(401, { error: { code: 401, message: `Invalid API Key ${KEY}`, type: 'authentication_error' } }),
        'GET /props': json(200, { default_generation_settings: { n_ctx: 4096 } }),
      }),
    );
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-chat-key-'));
    const logger = new RecordingLogger();
    const client = new LlamaClient({ baseUrl: server.url, apiKey: () => KEY, logger });
    const store = new ChatStore({ dir, logger });
    await store.open();
    const session = new ChatSession({ streamer: client, repository: store, logger, settings: () => ({ staleSeconds: 30 }) });
    const events: SessionEvent[] = [];
    session.onEvent((e) => events.push(e));
    try {
      const chat = await session.newChat();
      const out = await session.send(chat.id, 'hello');
      assert.ok(out.ok);
      for (let i = 0; i < 200 && !events.some((e) => e.type === 'streamEnded'); i++) await new Promise((r) => setTimeout(r, 5));
      const ended = events.find((e) => e.type === 'streamEnded');
      assert.equal(ended?.type === 'streamEnded' && ended.message.error?.kind, 'unauthorized');
      await session.shutdown();
      await store.flush();
      const files = fs.readdirSync(path.join(dir, 'chats')).map((f) => fs.readFileSync(path.join(dir, 'chats', f), 'utf8'));
      assert.ok(files.length > 0);
      for (const f of files) assert.ok(!f.includes(KEY), 'a chat file holds the key');
      assert.ok(!JSON.stringify(events).includes(KEY), 'a session event holds the key');
      for (const line of logger.lines) assert.ok(!line.includes(KEY), `a log line holds the key: ${line}`);
    } finally {
      session.dispose();
      await store.dispose();
      client.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('requests go only to the configured server: redirects elsewhere are not followed (and carry no key there)', async () => {
    const elsewhere = `${other.url}/v1/chat/completions`;
    for (const status of [301, 302, 307, 308]) {
      server.setHandler({ status, headers: { location: elsewhere, 'content-type': 'text/plain' }, body: 'moved' });
      const client = new LlamaClient({ baseUrl: server.url, apiKey: () => KEY });
      try {
        const events = await collectEvents(client.streamChat(CHAT));
        const last = events[events.length - 1];
        assert.equal(last.type, 'error', `${status}: ${JSON.stringify(last)}`);
        await assert.rejects(client.getProps());
        await assert.rejects(client.listModels());
      } finally {
        client.dispose();
      }
    }
    assert.equal(other.requests.length, 0, 'the other server was never contacted');
    assert.ok(server.requests.length >= 12);
    for (const r of server.requests) assert.ok(['/v1/chat/completions', '/props', '/v1/models'].includes(r.path), r.path);
  });
});
