import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChatMessage } from '../../src/core/chats/chat';
import { ChatStore } from '../../src/core/store/chatStore';
import type { WatchFactory } from '../../src/core/store/storeWatch';

function until(cond: () => boolean, what: string, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (cond()) resolve();
      else if (Date.now() > end) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

let n = 0;
const msg = (content: string, parentId?: string): ChatMessage => ({
  id: `w${++n}`,
  role: 'user',
  content,
  status: 'complete',
  createdAt: 1_700_000_000_000 + n,
  ...(parentId ? { parentId } : {}),
});

describe('ChatStore watching another window', () => {
  const dirs: string[] = [];
  const stores: ChatStore[] = [];

  function tmpDir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'chatstore-watch-'));
    dirs.push(d);
    return d;
  }

  async function open(dir: string, watch?: WatchFactory): Promise<ChatStore> {
    const s = new ChatStore({ dir, watchDebounceMs: 20, ...(watch ? { watch } : {}) });
    stores.push(s);
    await s.open();
    return s;
  }

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.dispose();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('reloads a chat another store changed (keeping its own unsaved text), lists new chats, drops deleted ones', async () => {
    const dir = tmpDir();
    const a = await open(dir);
    const b = await open(dir);
    const seenB: string[][] = [];
    b.onDidChangeExternally((ids) => seenB.push(ids));

    const chat = await a.createChat({ title: 'shared' });
    await until(() => b.listChats().some((c) => c.id === chat.id), 'the new chat in b');
    const first = msg('hello');
    await a.addMessage(chat.id, first);
    const live = await b.getChat(chat.id); // b's live copy: updated in place by reloads
    const answer = { ...msg('', first.id), role: 'assistant' as const, status: 'streaming' as const };
    await b.addMessage(chat.id, answer);
    b.appendToMessage(chat.id, answer.id, { content: 'unsaved in b' }); // not flushed yet (1 s interval)
    seenB.length = 0;
    const second = msg('from a', answer.id);
    await until(() => a.listChats().find((c) => c.id === chat.id)?.messageCount === 2, 'b message seen by a');
    await a.addMessage(chat.id, second);
    await until(() => live?.messages.some((m) => m.id === second.id) === true, 'a message in b');
    // The event follows the in-place reload (after the lock is released).
    await until(() => seenB.some((ids) => ids.includes(chat.id)), 'the change event in b');
    assert.equal(live?.messages.find((m) => m.id === answer.id)?.content, 'unsaved in b', 'pending text re-applied');
    await b.flush();

    // No event for a store's own writes.
    await new Promise((r) => setTimeout(r, 100));
    seenB.length = 0;
    await b.addMessage(chat.id, msg('own write', second.id));
    await new Promise((r) => setTimeout(r, 150));
    assert.deepEqual(seenB, []);

    await a.getChat(chat.id);
    await until(() => a.listChats().find((c) => c.id === chat.id)?.messageCount === 4, 'a sees 4');
    await a.deleteChat(chat.id);
    await until(() => !b.listChats().some((c) => c.id === chat.id), 'deleted in b');
    await b.flush();
    assert.ok(!fs.existsSync(path.join(dir, 'chats', `${chat.id}.jsonl`)), 'never recreated');
  });

  it('works without a watcher (the platform refuses one) and merges on write', async () => {
    const dir = tmpDir();
    const refuse: WatchFactory = () => {
      throw new Error('ENOSYS: no watching here');
    };
    const a = await open(dir, refuse);
    const chat = await a.createChat({ title: 'x' });
    const b = await open(dir, refuse);
    await b.getChat(chat.id);
    const m1 = msg('from a');
    await a.addMessage(chat.id, m1);
    const m2 = msg('from b', m1.id);
    await b.addMessage(chat.id, m2); // b re-reads under the lock before appending
    const fresh = await open(dir, refuse);
    assert.deepEqual((await fresh.getChat(chat.id))?.messages.map((m) => m.content), ['from a', 'from b']);
  });
});
