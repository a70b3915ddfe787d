/** The chat store keeps at most N chat bodies in memory: eviction, transparent reload, and nothing lost. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Chat, ChatMessage, MessageStatus, Role } from '../../src/core/chats/chat';
import type { StoreFs } from '../../src/core/store/chatStore';
import { ChatStore, nodeStoreFs } from '../../src/core/store/chatStore';
import { FakeClock } from '../support/fakeClock';
import { RecordingLogger } from '../support/recordingLogger';

let seq = 0;
function msg(role: Role, content: string, status: MessageStatus = 'complete', parentId?: string): ChatMessage {
  seq++;
  return { id: `mem${seq}`, role, content, status, createdAt: 1_700_000_000_000 + seq, ...(parentId ? { parentId } : {}) };
}

const ids = (c: Chat | undefined): string[] => (c?.messages ?? []).map((m) => m.id);

describe('ChatStore memory: chat bodies beyond the newest N are dropped and reloaded', () => {
  const dirs: string[] = [];
  const stores: ChatStore[] = [];
  let clock: FakeClock;
  let logger: RecordingLogger;

  function tmpDir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'chatstore-mem-'));
    dirs.push(d);
    return d;
  }

  async function open(dir: string, maxLoadedChats = 2, fsImpl?: StoreFs): Promise<ChatStore> {
    const s = new ChatStore({ dir, clock, logger, watch: false, maxLoadedChats, fs: fsImpl });
    stores.push(s);
    assert.deepEqual(await s.open(), []);
    return s;
  }

  /** n chats of two messages each (created through the store, so they are loaded once). */
  async function seed(store: ChatStore, n: number): Promise<string[]> {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const q = msg('user', `question ${i}`);
      const chat = await store.createChat({ messages: [q, msg('assistant', `answer ${i}`, 'complete', q.id)] });
      out.push(chat.id);
    }
    await store.whenIdle();
    return out;
  }

  beforeEach(() => {
    clock = new FakeClock();
    logger = new RecordingLogger();
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.dispose();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('keeps at most N bodies, keeps every chat listed, and reloads a dropped one from its file on access', async () => {
    const store = await open(tmpDir(), 2);
    const chats = await seed(store, 6);
    assert.equal(store.memoryStats().loaded, 2, 'only the two newest of six created chats stay in memory');
    assert.equal(store.listChats().length, 6);
    const first = await store.getChat(chats[0]);
    assert.deepEqual(first?.messages.map((m) => m.content), ['question 0', 'answer 0']);
    for (const id of chats) {
      const c = await store.getChat(id);
      assert.equal(c?.messages.length, 2);
      assert.ok(store.memoryStats().loaded <= 2, `at most 2 bodies after opening ${id}`);
    }
    const again = await store.getChat(chats[0]);
    assert.notEqual(again, first, 'the body was dropped and read again (a new object)');
    assert.deepEqual(again, first, 'with the same contents');
    assert.ok(store.memoryStats().evictions >= 6);
    // The list never needed the bodies.
    const listed = store.listChats();
    assert.deepEqual(new Set(listed.map((c) => c.id)), new Set(chats));
    assert.ok(listed.every((c) => c.messageCount === 2 && c.title.startsWith('question')));
  });

  it('writes to a dropped chat reload it first and lose nothing (add, patch, edit, rename)', async () => {
    const dir = tmpDir();
    const store = await open(dir, 1);
    const [a, b] = await seed(store, 2);
    assert.equal(store.memoryStats().loaded, 1); // `a` was dropped for `b`
    const chatA = (await store.getChat(a))!;
    const answer = chatA.messages[1];
    await store.getChat(b); // drops `a` again
    const q = msg('user', 'second question', 'complete', answer.id);
    await store.addMessage(a, q);
    await store.getChat(b);
    await store.updateMessage(a, answer.id, { model: 'tiny.gguf' });
    await store.getChat(b);
    await store.editTree(a, { leafId: answer.id });
    await store.getChat(b);
    await store.renameChat(a, 'renamed');
    await store.flush();

    const fresh = await open(dir, 1);
    const c = await fresh.getChat(a);
    assert.deepEqual(ids(c), [...ids(chatA).slice(0, 2), q.id]);
    assert.equal(c?.messages[1].model, 'tiny.gguf');
    assert.equal(c?.leafId, answer.id);
    assert.equal(c?.title, 'renamed');
  });

  it('never drops a chat with records not yet written, a streaming answer, or the active chat', async () => {
    const dir = tmpDir();
    const store = await open(dir, 1);
    const chats = await seed(store, 4);
    const [streamingChat, patchedChat, activeChat, other] = chats;

    // A streaming answer with unflushed text (the flush timer has not fired).
    const live = (await store.getChat(streamingChat))!;
    const answer = msg('assistant', '', 'streaming', live.messages[1].id);
    await store.addMessage(streamingChat, answer);
    store.appendToMessage(streamingChat, answer.id, { content: 'unflushed ' });
    // A chat with a pending (non-final) patch.
    const patched = (await store.getChat(patchedChat))!;
    await store.updateMessage(patchedChat, patched.messages[1].id, { model: 'pending.gguf' });
    // The chat in view.
    const shown = (await store.getChat(activeChat))!;
    store.setActiveChat(activeChat);

    for (let round = 0; round < 3; round++) for (const id of [other, ...chats]) await store.getChat(id);
    assert.equal(await store.getChat(streamingChat), live, 'the streaming chat kept its body');
    assert.equal(await store.getChat(patchedChat), patched, 'the chat with a pending patch kept its body');
    assert.equal(await store.getChat(activeChat), shown, 'the active chat kept its body');

    // Flushed but still streaming: kept, and appends are still taken.
    clock.advance(1000);
    await store.whenIdle();
    for (const id of [other, patchedChat, other]) await store.getChat(id);
    store.appendToMessage(streamingChat, answer.id, { content: 'more' });
    assert.equal(await store.getChat(streamingChat), live);
    await store.updateMessage(streamingChat, answer.id, { status: 'complete' });
    assert.ok(!logger.lines.some((l) => l.includes('dropped')), logger.lines.join('\n'));

    // Done streaming, written, and not shown: now they go like any other.
    store.setActiveChat(undefined);
    for (const id of [other, activeChat, other]) await store.getChat(id);
    assert.notEqual(await store.getChat(streamingChat), live, 'dropped once finished and written');
    await store.getChat(other);
    assert.notEqual(await store.getChat(patchedChat), patched, 'dropped once its patch was written');

    const fresh = await open(dir, 1);
    const s = await fresh.getChat(streamingChat);
    assert.equal(s?.messages.find((m) => m.id === answer.id)?.content, 'unflushed more');
    assert.equal(s?.messages.find((m) => m.id === answer.id)?.status, 'complete');
    assert.equal((await fresh.getChat(patchedChat))?.messages[1].model, 'pending.gguf');
  });

  it('reloads what another window wrote or deleted while the body was out of memory', async () => {
    const dir = tmpDir();
    const a = await open(dir, 1);
    const [x, y, z] = await seed(a, 3);
    const b = await open(dir, 1);
    const before = (await b.getChat(x))!;
    await b.getChat(z); // x dropped in b
    // Another window adds to x, streams into it (flushed, still streaming), and deletes y.
    const added = msg('user', 'from the other window', 'complete', before.messages[1].id);
    await a.addMessage(x, added);
    const stream = msg('assistant', '', 'streaming', added.id);
    await a.addMessage(x, stream);
    a.appendToMessage(x, stream.id, { content: 'live text' });
    await a.flush();
    await a.deleteChat(y);
    const fileBefore = fs.readFileSync(path.join(dir, 'chats', `${x}.jsonl`));

    const reloaded = await b.getChat(x);
    assert.deepEqual(ids(reloaded), [...ids(before), added.id, stream.id]);
    const s = reloaded?.messages.find((m) => m.id === stream.id);
    assert.equal(s?.content, 'live text');
    assert.equal(s?.status, 'streaming', "another window's live answer is not marked interrupted by a reload");
    await b.whenIdle();
    assert.deepEqual(fs.readFileSync(path.join(dir, 'chats', `${x}.jsonl`)), fileBefore, 'reading wrote nothing');
    assert.equal(await b.getChat(y), undefined, 'deleted by the other window');
    assert.ok(!b.listChats().some((c) => c.id === y));

    // b writes on top of what it reloaded: both windows' records are in the file.
    const mine = msg('user', 'from b', 'complete', added.id);
    await b.addMessage(x, mine);
    const fresh = await open(dir, 3);
    assert.deepEqual(ids(await fresh.getChat(x)), [...ids(before), added.id, stream.id, mine.id]);
  });

  it('a write whose chat is dropped again right after its load (another load finishing in the same tick) still lands in memory', async () => {
    const dir = tmpDir();
    // File reads held back and then released together, so two loads finish in one tick.
    const held: (() => void)[] = [];
    let holding = false;
    const gated: StoreFs = {
      ...nodeStoreFs,
      readFile: async (file) => {
        const data = await nodeStoreFs.readFile(file);
        if (holding) await new Promise<void>((resolve) => held.push(resolve));
        return data;
      },
    };
    const store = await open(dir, 1, gated);
    const [a, b] = await seed(store, 3); // only the third stays in memory
    holding = true;
    const m = msg('user', 'written while b loads');
    const writing = store.addMessage(a, m);
    const loading = store.getChat(b);
    while (held.length < 2) await new Promise((r) => setTimeout(r, 5));
    holding = false;
    for (const release of held.splice(0)) release();
    await Promise.all([writing, loading]);
    assert.ok(ids(await store.getChat(a)).includes(m.id), 'the message is in memory');
    await store.flush();
    const fresh = await open(dir, 3);
    assert.ok(ids(await fresh.getChat(a)).includes(m.id), 'and in the file');
  });

  it('loses nothing when many loads and writes interleave with one body allowed', async () => {
    const dir = tmpDir();
    const store = await open(dir, 1);
    const chats = await seed(store, 5);
    const added = new Map<string, string[]>(chats.map((id) => [id, []]));
    for (let round = 0; round < 4; round++) {
      await Promise.all(
        chats.flatMap((id, i) => {
          const m = msg('user', `round ${round} chat ${i}`);
          added.get(id)!.push(m.id);
          return [store.getChat(chats[(i + 1) % chats.length]), store.addMessage(id, m), store.getChat(chats[(i + 2) % chats.length])];
        }),
      );
    }
    await store.flush();
    assert.ok(store.memoryStats().evictions > 0);
    const fresh = await open(dir, 10);
    for (const id of chats) assert.deepEqual(ids(await fresh.getChat(id)).slice(2), added.get(id), `chat ${id}`);
  });
});
