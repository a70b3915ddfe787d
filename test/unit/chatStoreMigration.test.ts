import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Chat } from '../../src/core/chats/chat';
import { ChatStore } from '../../src/core/store/chatStore';
import { READ_ONLY_NEWER } from '../../src/core/store/storeEntry';
import { FakeClock } from '../support/fakeClock';

const FIXTURES = path.resolve(__dirname, '../../../test/fixtures/store-v1');
const ids = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'ids.json'), 'utf8')) as Record<string, string>;

/** What each v1 chat holds, read off the fixture files by hand: [message id, role, content, status]. */
const EXPECTED: Record<string, { title: string; messages: [string, string, string, string][] }> = {
  linear: {
    title: 'What is a GGUF file?',
    messages: [
      ['mmidc1zvz', 'user', 'What is a GGUF file?', 'complete'],
      ['mmidc20ny', 'assistant', 'A **GGUF** file holds model weights and metadata.', 'complete'],
      ['mmidc227p', 'user', 'And how big is it?', 'complete'],
      ['mmidc22zo', 'assistant', 'It depends on the model: from 10 MB to 100 GB.', 'complete'],
    ],
  },
  regenerated: {
    title: 'Renamed by hand',
    messages: [
      ['mmidc25b7', 'user', 'Explain the KV cache', 'complete'],
      ['mmidc2636', 'assistant', 'First try', 'failed'],
      ['mmidc27mx', 'assistant', 'The KV cache keeps keys and values of past tokens.', 'complete'],
      ['mmidc296o', 'user', 'Shorter please', 'complete'],
      ['mmidc2bie', 'assistant', 'It caches attention state.', 'stopped'],
    ],
  },
  regeneratedMidStream: {
    title: 'Renamed by hand',
    messages: [
      ['mmidc25b7', 'user', 'Explain the KV cache', 'complete'],
      ['mmidc2636', 'assistant', 'First try', 'failed'],
      ['mmidc27mx', 'assistant', 'The KV cache keeps keys and values of past tokens.', 'complete'],
      ['mmidc296o', 'user', 'Shorter please', 'complete'],
      // the truncated "old answer" is gone; the stream was cut by the crash
      ['mmidc2bie', 'assistant', 'It caches attention state.', 'interrupted'],
    ],
  },
  crashed: {
    title: 'Write a haiku',
    messages: [
      ['mmidc2dtx', 'user', 'Write a haiku', 'complete'],
      ['mmidc2elw', 'assistant', 'Silent GPU fans\ntokens drift ', 'interrupted'],
    ],
  },
  tornTail: {
    title: 'Write a haiku',
    messages: [
      ['mmidc2dtx', 'user', 'Write a haiku', 'complete'],
      ['mmidc2elw', 'assistant', 'Silent GPU fans\ntokens drift ', 'interrupted'], // "and the fan" was torn
    ],
  },
};

describe('ChatStore migration from format v1', () => {
  const dirs: string[] = [];
  const stores: ChatStore[] = [];

  function copyFixtures(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'chatstore-v1-'));
    dirs.push(d);
    fs.cpSync(path.join(FIXTURES, 'chats'), path.join(d, 'chats'), { recursive: true });
    fs.copyFileSync(path.join(FIXTURES, 'index.json'), path.join(d, 'index.json'));
    return d;
  }

  async function open(dir: string): Promise<{ store: ChatStore; problems: Awaited<ReturnType<ChatStore['open']>> }> {
    const store = new ChatStore({ dir, clock: new FakeClock(1_800_000_000_000), watch: false });
    stores.push(store);
    return { store, problems: await store.open() };
  }

  const chatFile = (dir: string, id: string): string => path.join(dir, 'chats', `${id}.jsonl`);

  function checkLinear(name: string, chat: Chat | undefined): void {
    const want = EXPECTED[name];
    assert.ok(chat, name);
    assert.equal(chat.title, want.title, name);
    assert.deepEqual(
      chat.messages.map((m) => [m.id, m.role, m.content, m.status]),
      want.messages,
      name,
    );
    chat.messages.forEach((m, i) => assert.equal(m.parentId, i === 0 ? undefined : chat.messages[i - 1].id, `${name} parent of ${i}`));
    assert.equal(chat.leafId, chat.messages[chat.messages.length - 1].id, `${name} leaf`);
    assert.equal(chat.messageCount, want.messages.length);
  }

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.whenIdle();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('loads every v1 chat as a linear tree with its texts, statuses and figures; quarantines the damaged one', async () => {
    const dir = copyFixtures();
    const { store, problems } = await open(dir);
    // The damaged file is found at open (its mtime differs from the index), like every changed file.
    assert.equal(problems.length, 1);
    assert.equal(problems[0].file, chatFile(dir, ids.damaged));
    assert.ok(problems[0].quarantinedTo && fs.existsSync(problems[0].quarantinedTo));
    assert.deepEqual(store.listChats().map((c) => c.id).sort(), Object.keys(EXPECTED).map((k) => ids[k]).sort());
    for (const name of Object.keys(EXPECTED)) checkLinear(name, await store.getChat(ids[name]));

    const linear = await store.getChat(ids.linear);
    assert.deepEqual(
      { ...linear!.messages[1], parentId: undefined },
      {
        id: 'mmidc20ny',
        parentId: undefined,
        role: 'assistant',
        content: 'A **GGUF** file holds model weights and metadata.',
        status: 'complete',
        createdAt: 1764000002014,
        model: 'tiny',
        finishedAt: 1764000003014,
        completionTokens: 12,
        promptTokens: 20,
        ctxUsed: 32,
        ctxMax: 2048,
        timings: { predictedPerSecond: 1234.5, ttftMs: 12 },
        finishReason: 'stop',
      },
    );
    const regen = await store.getChat(ids.regenerated);
    assert.equal(regen!.messages[1].reasoning, 'Let me think about it.');
    assert.equal(regen!.messages[1].error?.kind, 'aborted');
    assert.equal(regen!.messages[2].reasoning, 'Thinking again.');
  });

  it('changes nothing on disk for an untouched v1 chat; backs up the original before the first (v2) rewrite', async () => {
    const dir = copyFixtures();
    const original = fs.readFileSync(chatFile(dir, ids.linear));
    const { store } = await open(dir);
    await store.getChat(ids.linear);
    await store.flush();
    assert.deepEqual(fs.readFileSync(chatFile(dir, ids.linear)), original, 'loading writes nothing');
    assert.ok(!fs.existsSync(path.join(dir, 'migrated-v1', `${ids.linear}.jsonl`)));

    await store.renameChat(ids.linear, 'GGUF');
    const backup = path.join(dir, 'migrated-v1', `${ids.linear}.jsonl`);
    assert.deepEqual(fs.readFileSync(backup), original);
    const lines = fs.readFileSync(chatFile(dir, ids.linear), 'utf8').trim().split('\n');
    assert.equal((JSON.parse(lines[0]) as { v: number }).v, 2);
    const expected = structuredClone(await store.getChat(ids.linear));
    await store.dispose();

    const { store: again, problems } = await open(dir);
    assert.deepEqual(problems.filter((p) => p.file !== chatFile(dir, ids.damaged)), []);
    assert.deepEqual(await again.getChat(ids.linear), expected);
  });

  it('crash repair of a v1 file (interrupted stream) copies it first, then rewrites it as v2 that reloads identically', async () => {
    const dir = copyFixtures();
    const originals = Object.fromEntries(['crashed', 'tornTail', 'regeneratedMidStream'].map((n) => [n, fs.readFileSync(chatFile(dir, ids[n]))]));
    const { store } = await open(dir);
    const loaded: Record<string, Chat> = {};
    for (const n of Object.keys(originals)) loaded[n] = structuredClone((await store.getChat(ids[n]))!);
    await store.dispose();
    for (const [n, bytes] of Object.entries(originals)) {
      assert.deepEqual(fs.readFileSync(path.join(dir, 'migrated-v1', `${ids[n]}.jsonl`)), bytes, `${n} backup`);
      const head = JSON.parse(fs.readFileSync(chatFile(dir, ids[n]), 'utf8').split('\n')[0]) as { v: number };
      assert.equal(head.v, 2, n);
    }
    const { store: again } = await open(dir);
    for (const n of Object.keys(originals)) {
      assert.deepEqual(await again.getChat(ids[n]), loaded[n], n);
      checkLinear(n, await again.getChat(ids[n]));
    }
    await again.addMessage(ids.crashed, { id: 'next', parentId: 'mmidc2elw', role: 'user', content: 'more', status: 'complete', createdAt: 1 });
    await again.dispose();
    // The backup is taken once: later writes never touch it.
    assert.deepEqual(fs.readFileSync(path.join(dir, 'migrated-v1', `${ids.crashed}.jsonl`)), originals.crashed);
  });

  it('lists a newer-version file read-only and never changes, moves or deletes it', async () => {
    const dir = copyFixtures();
    const id = '0zzzzzzzz-9999999999999999';
    const file = chatFile(dir, id);
    const text = `${JSON.stringify({ t: 'header', v: 99, id, title: 'From the future', createdAt: 5, updatedAt: 6, messageCount: 3, shape: 'unknown' })}\n{"t":"hologram","x":1}\n`;
    fs.writeFileSync(file, text);
    const noTitle = '0zzzzzzzz-8888888888888888';
    fs.writeFileSync(chatFile(dir, noTitle), '{"t":"header","v":7}\n');

    for (let round = 0; round < 2; round++) {
      const { store, problems } = await open(dir);
      assert.ok(!problems.some((p) => p.file === file || p.file === chatFile(dir, noTitle)));
      const row = store.listChats().find((c) => c.id === id);
      assert.deepEqual(row, { id, title: 'From the future', createdAt: 5, updatedAt: 6, messageCount: 3, readOnly: READ_ONLY_NEWER });
      const other = store.listChats().find((c) => c.id === noTitle);
      assert.equal(other?.title, `${noTitle}.jsonl`);
      assert.equal(other?.readOnly, READ_ONLY_NEWER);
      const chat = await store.getChat(id);
      assert.deepEqual(chat?.messages, []);
      assert.equal(chat?.readOnly, READ_ONLY_NEWER);
      const m = { id: 'x', role: 'user' as const, content: 'hi', status: 'complete' as const, createdAt: 1 };
      await assert.rejects(store.addMessage(id, m), /read-only/);
      await assert.rejects(store.editTree(id, { add: [m] }), /read-only/);
      await assert.rejects(store.updateMessage(id, 'x', { content: 'y' }), /read-only/);
      await assert.rejects(store.renameChat(id, 'mine now'), /read-only/);
      await assert.rejects(store.deleteChat(id), /cannot be deleted/);
      store.appendToMessage(id, 'x', { content: 'dropped' });
      await store.dispose();
      assert.equal(fs.readFileSync(file, 'utf8'), text, `round ${round}: byte-identical`);
      assert.ok(!fs.existsSync(path.join(dir, 'quarantine', `${id}.jsonl`)));
      const index = JSON.parse(fs.readFileSync(path.join(dir, 'index.json'), 'utf8')) as { chats: { id: string }[] };
      assert.ok(!index.chats.some((r) => r.id === id), 'kept out of the index');
    }
  });
});
