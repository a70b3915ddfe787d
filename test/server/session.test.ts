/** ChatSession end to end against the real llama-server: send, and stop mid-stream. */
import * as assert from 'node:assert/strict';
import type { ChatMessage } from '../../src/core/chat';
import { LlamaClient } from '../../src/core/llamaClient';
import { ChatSession } from '../../src/core/session';
import type { SessionSettings } from '../../src/core/sessionApi';
import type { SessionEvent } from '../../src/core/sessionEvents';
import { MemoryRepository } from '../support/memoryRepository';
import { cancelledTasks, waitForCancelLogged, waitForIdleSlots } from './helpers';
import { SERVER_CTX, serverUnderTest } from './hooks';

type Ended = Extract<SessionEvent, { type: 'streamEnded' }>;

describe('ChatSession against a real llama-server', () => {
  let client: LlamaClient;
  let repo: MemoryRepository;
  let settings: SessionSettings;
  let session: ChatSession;

  beforeEach(() => {
    client = new LlamaClient({ baseUrl: serverUnderTest().url, requestTimeoutMs: 10_000 });
    repo = new MemoryRepository();
    settings = { temperature: 0, maxTokens: 12, staleSeconds: 30 };
    session = new ChatSession({ streamer: client, repository: repo, settings: () => settings });
  });
  afterEach(async () => {
    await session.shutdown();
    session.dispose();
    client.dispose();
  });

  function nextEnd(chatId: string): Promise<Ended> {
    return new Promise((resolve) => {
      const sub = session.onEvent((e) => {
        if (e.type === 'streamEnded' && e.chatId === chatId) {
          sub.dispose();
          resolve(e);
        }
      });
    });
  }

  function firstDelta(chatId: string): Promise<void> {
    return new Promise((resolve) => {
      const sub = session.onEvent((e) => {
        if (e.type === 'delta' && e.chatId === chatId && e.content) {
          sub.dispose();
          resolve();
        }
      });
    });
  }

  it('send: streams a complete answer with usage and n_ctx, saved in the repository', async () => {
    const chat = await session.newChat();
    const ended = nextEnd(chat.id);
    const deltas: string[] = [];
    const sub = session.onEvent((e) => {
      if (e.type === 'delta' && e.chatId === chat.id && e.content) deltas.push(e.content);
    });
    const outcome = await session.send(chat.id, 'Write a poem about the sea');
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const end = await ended;
    sub.dispose();
    assert.equal(end.error, undefined);
    const m: ChatMessage = end.message;
    assert.equal(m.status, 'complete');
    assert.equal(m.finishReason, 'length');
    assert.equal(m.completionTokens, 12);
    assert.equal(m.ctxMax, SERVER_CTX);
    assert.ok(m.content.length > 0);
    assert.equal(deltas.join(''), m.content, 'the deltas add up to the final text');
    const saved = (await repo.getChat(chat.id))?.messages;
    assert.deepEqual(
      saved?.map((x) => [x.role, x.status]),
      [
        ['user', 'complete'],
        ['assistant', 'complete'],
      ],
    );
    assert.equal(saved?.[1]?.content, m.content);
  });

  it('stop: keeps the partial answer as stopped and the server frees the slot', async () => {
    settings = { ...settings, maxTokens: 0 }; // no limit: only Stop ends it early
    const logFile = serverUnderTest().logFile;
    const cancelsBefore = cancelledTasks(logFile);
    const chat = await session.newChat();
    const ended = nextEnd(chat.id);
    const streaming = firstDelta(chat.id);
    assert.ok((await session.send(chat.id, 'Tell me a story')).ok);
    await streaming;
    const outcome = await session.stop(chat.id);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const end = await ended;
    assert.equal(end.message.status, 'stopped');
    assert.ok(end.message.content.length > 0, 'the partial text is kept');
    assert.equal(session.isStreaming(chat.id), false);
    assert.ok(await waitForIdleSlots(client, 2000), 'no slot processing after Stop');
    assert.ok(await waitForCancelLogged(logFile, cancelsBefore), 'llama-server cancelled the task');
    const saved = (await repo.getChat(chat.id))?.messages.at(-1);
    assert.equal(saved?.status, 'stopped');
    assert.equal(saved?.content, end.message.content);
  });
});
