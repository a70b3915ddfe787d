/**
 * The real ChatSession over the real ChatStore and LlamaClient (against a loopback scripted server): what is sent
 * is exactly the chat, and what is streamed is exactly what is saved.
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

const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

function answer(text: string): string[] {
  return [chunk({ role: 'assistant', content: null }), ...[...text].map((c) => chunk({ content: c })), chunk({}, 'stop'), 'data: [DONE]\n\n'];
}

describe('reliability: session + store + client', () => {
  let server: ScriptedServer;
  let dir: string;
  let client: LlamaClient;
  let store: ChatStore;
  let session: ChatSession;
  const events: SessionEvent[] = [];

  beforeEach(async () => {
    server = await ScriptedServer.start(
      routes({
        'GET /props': json(200, { default_generation_settings: { n_ctx: 4096 }, total_slots: 1, model_alias: 'm' }),
        'POST /v1/chat/completions': () => sseResponse(answer(`answer ${server.requests.length}`)),
      }),
    );
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-chat-rel-'));
    client = new LlamaClient({ baseUrl: server.url });
    store = new ChatStore({ dir });
    await store.open();
    session = new ChatSession({ streamer: client, repository: store, settings: () => ({ staleSeconds: 30 }) });
    events.length = 0;
    session.onEvent((e) => events.push(e));
  });

  afterEach(async () => {
    await session.shutdown();
    session.dispose();
    await store.dispose();
    client.dispose();
    await server.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const ended = async (messageId: string): Promise<void> => {
    for (let i = 0; i < 500; i++) {
      if (events.some((e) => e.type === 'streamEnded' && e.messageId === messageId)) return;
      await new Promise((r) => setTimeout(r, 5));
    }
    throw new Error('the stream did not end');
  };

  it('sends each question once, even though ChatStore hands out its live chat (regression)', async () => {
    const chat = await session.newChat();
    const first = await session.send(chat.id, 'first question');
    assert.ok(first.ok);
    await ended(first.messageId!);
    const second = await session.send(chat.id, 'second question');
    assert.ok(second.ok);
    await ended(second.messageId!);

    const bodies = server.requests.filter((r) => r.path === '/v1/chat/completions').map((r) => (r.json as { messages: unknown[] }).messages);
    assert.deepEqual(bodies[0], [{ role: 'user', content: 'first question' }]);
    assert.equal(bodies[1].length, 3);
    assert.deepEqual(bodies[1][0], { role: 'user', content: 'first question' });
    assert.equal((bodies[1][1] as { role: string }).role, 'assistant');
    assert.deepEqual(bodies[1][2], { role: 'user', content: 'second question' });
  });

  it('what streamed is what a fresh store loads', async () => {
    const chat = await session.newChat();
    const out = await session.send(chat.id, 'q');
    assert.ok(out.ok);
    await ended(out.messageId!);
    await store.flush();
    const fresh = new ChatStore({ dir });
    assert.deepEqual(await fresh.open(), []);
    const saved = await fresh.getChat(chat.id);
    await fresh.dispose();
    const streamed = events
      .filter((e): e is Extract<SessionEvent, { type: 'delta' }> => e.type === 'delta')
      .map((e) => e.content)
      .join('');
    assert.equal(saved?.messages[1]?.content, streamed);
    assert.equal(saved?.messages[1]?.status, 'complete');
  });
});
