/** ChatSession end to end against the real llama-server: send, stop mid-stream, versions of an answer. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChatMessage } from '../../src/core/chats/chat';
import { ChatStore } from '../../src/core/store/chatStore';
import { activePath } from '../../src/core/chats/chatTree';
import type { ChatRequest, ChatStreamer, ServerProps } from '../../src/core/server/client';
import type { StreamEvent } from '../../src/core/base/events';
import { LlamaClient } from '../../src/core/server/llamaClient';
import { ChatSession } from '../../src/core/session/session';
import type { SessionSettings } from '../../src/core/session/sessionApi';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
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

  it('versions: regenerate twice, switch to version 1, follow up: the request carries version 1 only', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-chat-tree-'));
    const store = new ChatStore({ dir });
    await store.open();
    // The real client, with each answer forced by a grammar so the versions are told apart by their text.
    const answers = ['Version one.', 'Version two.', 'Version three.', 'Follow-up answer.'];
    const requests: ChatRequest[] = [];
    const forced: ChatStreamer = {
      streamChat: (req, signal) => client.streamChat(req, signal),
      streamChatBatches: (req: ChatRequest, signal?: AbortSignal): AsyncIterable<StreamEvent[]> => {
        requests.push(structuredClone(req));
        const text = answers[requests.length - 1] ?? 'Extra.';
        return client.streamChatBatches({ ...req, maxTokens: 64, extra: { grammar: `root ::= ${JSON.stringify(text)}` } }, signal);
      },
      getProps: (signal?: AbortSignal): Promise<ServerProps> => client.getProps(signal),
    };
    const tree = new ChatSession({ streamer: forced, repository: store, settings: () => settings });
    const ends: Ended[] = [];
    tree.onEvent((e) => e.type === 'streamEnded' && ends.push(e));
    const until = async (n: number): Promise<void> => {
      for (let i = 0; i < 500 && ends.length < n; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(ends.length, n, 'the answer ended');
    };
    try {
      const chat = await tree.newChat();
      const first = await tree.send(chat.id, 'Say something');
      assert.ok(first.ok && first.messageId);
      await until(1);
      assert.ok((await tree.regenerate(chat.id)).ok);
      await until(2);
      assert.ok((await tree.regenerate(chat.id, first.messageId)).ok);
      await until(3);
      assert.deepEqual(
        ends.map((e) => [e.message.status, e.message.content]),
        answers.slice(0, 3).map((a) => ['complete', a]),
        'the real server wrote each forced version',
      );
      assert.ok((await tree.selectVersion(chat.id, first.messageId)).ok);
      assert.ok((await tree.send(chat.id, 'And then?')).ok);
      await until(4);
      const sent = requests[3].messages.map((m) => m.content).join('\n');
      assert.match(sent, /Version one\./);
      assert.doesNotMatch(sent, /Version two|Version three/);
      // The store on disk holds every version and the path through version 1; a reopen sees the same.
      await store.flush();
      const reopened = new ChatStore({ dir });
      await reopened.open();
      const saved = await reopened.getChat(chat.id);
      assert.equal(saved?.messages.length, 6);
      assert.deepEqual(
        activePath(saved).map((m) => m.content),
        ['Say something', 'Version one.', 'And then?', 'Follow-up answer.'],
      );
      await reopened.dispose();
    } finally {
      await tree.shutdown();
      tree.dispose();
      await store.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

