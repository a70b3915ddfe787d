import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChatMessage, MessageStatus, Role } from '../../src/core/chats/chat';
import type { StoreProblem } from '../../src/core/chats/chatRepository';
import type { FileStat, StoreFs } from '../../src/core/store/chatStore';
import { ChatStore, nodeStoreFs } from '../../src/core/store/chatStore';
import { newId } from '../../src/core/base/ids';
import { FakeClock } from '../support/fakeClock';
import { seededRandom } from '../harness/tinyModel';

type Op = keyof StoreFs;

/** nodeStoreFs with a call log and injectable faults. */
class TestFs implements StoreFs {
  readonly calls: { op: Op; file: string; bytes: number }[] = [];
  /** Return an error to make that call fail. `partial` on an append writes half the data first. */
  fault: ((op: Op, file: string) => { err: Error; partial?: boolean } | undefined) | undefined;

  private check(op: Op, file: string, bytes = 0): { err: Error; partial?: boolean } | undefined {
    this.calls.push({ op, file, bytes });
    return this.fault?.(op, file);
  }

  async mkdir(dir: string): Promise<void> {
    const f = this.check('mkdir', dir);
    if (f) throw f.err;
    return nodeStoreFs.mkdir(dir);
  }
  async readdir(dir: string): Promise<string[]> {
    const f = this.check('readdir', dir);
    if (f) throw f.err;
    return nodeStoreFs.readdir(dir);
  }
  async readFile(file: string): Promise<Buffer> {
    const f = this.check('readFile', file);
    if (f) throw f.err;
    return nodeStoreFs.readFile(file);
  }
  async readHead(file: string, maxBytes: number): Promise<Buffer> {
    const f = this.check('readHead', file);
    if (f) throw f.err;
    return nodeStoreFs.readHead(file, maxBytes);
  }
  async stat(file: string): Promise<FileStat> {
    const f = this.check('stat', file);
    if (f) throw f.err;
    return nodeStoreFs.stat(file);
  }
  async append(file: string, data: Buffer): Promise<FileStat> {
    const f = this.check('append', file, data.length);
    if (f) {
      if (f.partial) fs.appendFileSync(file, data.subarray(0, Math.floor(data.length / 2)));
      throw f.err;
    }
    return nodeStoreFs.append(file, data);
  }
  async writeDurable(file: string, data: Buffer): Promise<FileStat> {
    const f = this.check('writeDurable', file, data.length);
    if (f) {
      if (f.partial) fs.writeFileSync(file, data.subarray(0, Math.floor(data.length / 2)));
      throw f.err;
    }
    return nodeStoreFs.writeDurable(file, data);
  }
  async rename(from: string, to: string): Promise<void> {
    const f = this.check('rename', from);
    if (f) throw f.err;
    return nodeStoreFs.rename(from, to);
  }
  async unlink(file: string): Promise<void> {
    const f = this.check('unlink', file);
    if (f) throw f.err;
    return nodeStoreFs.unlink(file);
  }
  async syncDir(dir: string): Promise<void> {
    this.check('syncDir', dir);
    return nodeStoreFs.syncDir(dir);
  }

  ops(op: Op, fileEndsWith?: string): { op: Op; file: string; bytes: number }[] {
    return this.calls.filter((c) => c.op === op && (fileEndsWith === undefined || c.file.endsWith(fileEndsWith)));
  }
}

function osError(code: string, text: string, syscall: string, file: string): Error {
  return Object.assign(new Error(`${code}: ${text}, ${syscall} '${file}'`), { code, syscall, path: file });
}

let seq = 0;
function msg(role: Role, content: string, status: MessageStatus = 'complete', extra: Partial<ChatMessage> = {}): ChatMessage {
  seq++;
  return { id: `m${seq}-${newId().slice(-6)}`, role, content, status, createdAt: 1_700_000_000_000 + seq, ...extra };
}

describe('ChatStore', () => {
  const dirs: string[] = [];
  let clock: FakeClock;
  const stores: ChatStore[] = [];

  function tmpDir(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'chatstore-'));
    dirs.push(d);
    return d;
  }

  async function openStore(
    dir: string,
    opts: { fs?: StoreFs; clock?: FakeClock; compactMinBytes?: number } = {},
  ): Promise<{ store: ChatStore; problems: StoreProblem[] }> {
    const store = new ChatStore({
      dir,
      clock: opts.clock ?? clock,
      fs: opts.fs,
      compactMinBytes: opts.compactMinBytes,
      watch: false,
    });
    stores.push(store);
    const problems = await store.open();
    return { store, problems };
  }

  /** Lets the timer's flush run, then waits for its writes. */
  async function tick(store: ChatStore, ms = 1000): Promise<void> {
    clock.advance(ms);
    await store.whenIdle();
  }

  function chatFile(dir: string, id: string): string {
    return path.join(dir, 'chats', `${id}.jsonl`);
  }

  beforeEach(() => {
    clock = new FakeClock();
  });

  afterEach(async () => {
    for (const s of stores.splice(0)) await s.whenIdle();
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('round-trips chats and messages, newest first, with a derived title', async () => {
    const dir = tmpDir();
    const { store } = await openStore(dir);
    const a = await store.createChat();
    assert.equal(a.title, 'New chat');
    clock.advance(10);
    const user = msg('user', '  Explain\nmonads please');
    await store.addMessage(a.id, user);
    const answer = msg('assistant', '', 'streaming', { model: 'tiny' });
    await store.addMessage(a.id, answer);
    store.appendToMessage(a.id, answer.id, { reasoning: 'think ' });
    store.appendToMessage(a.id, answer.id, { content: 'A monad ' });
    store.appendToMessage(a.id, answer.id, { content: 'is…', reasoning: 'more' });
    clock.advance(10);
    await store.updateMessage(a.id, answer.id, {
      status: 'complete',
      finishedAt: clock.now(),
      completionTokens: 3,
      ctxUsed: 40,
      ctxMax: 4096,
      timings: { ttftMs: 12, predictedPerSecond: 55.5 },
    });
    clock.advance(10);
    const b = await store.createChat({ title: 'Second' });
    await store.dispose();

    const { store: again, problems } = await openStore(dir);
    assert.deepEqual(problems, []);
    const list = again.listChats();
    assert.deepEqual(
      list.map((c) => [c.id, c.title, c.messageCount]),
      [
        [b.id, 'Second', 0],
        [a.id, 'Explain', 2],
      ],
    );
    const loaded = await again.getChat(a.id);
    assert.ok(loaded);
    assert.equal(loaded.title, 'Explain');
    assert.deepEqual(loaded.messages[0], user);
    assert.deepEqual(loaded.messages[1], {
      ...answer,
      content: 'A monad is…',
      reasoning: 'think more',
      status: 'complete',
      finishedAt: 1_700_000_000_020,
      completionTokens: 3,
      ctxUsed: 40,
      ctxMax: 4096,
      timings: { ttftMs: 12, predictedPerSecond: 55.5 },
    });
    assert.equal(await again.getChat('no-such-chat'), undefined);
  });

  it('persists streamed text after one second of (fake) time, visible to a fresh store', async () => {
    const dir = tmpDir();
    const { store } = await openStore(dir);
    const chat = await store.createChat();
    await store.addMessage(chat.id, msg('user', 'hi'));
    const answer = msg('assistant', '', 'streaming');
    await store.addMessage(chat.id, answer);
    store.appendToMessage(chat.id, answer.id, { content: 'Hello ' });
    store.appendToMessage(chat.id, answer.id, { content: 'there' });
    clock.advance(999);
    await store.whenIdle();
    assert.ok(!fs.readFileSync(chatFile(dir, chat.id), 'utf8').includes('Hello'), 'not flushed before the interval');
    await tick(store, 1);
    assert.ok(fs.readFileSync(chatFile(dir, chat.id), 'utf8').includes('Hello there'));

    // A second instance (the window reloaded, the first one crashed) sees it, and marks the stream interrupted.
    const { store: fresh } = await openStore(dir, { clock: new FakeClock() });
    const seen = await fresh.getChat(chat.id);
    assert.equal(seen?.messages[1]?.content, 'Hello there');
    assert.equal(seen?.messages[1]?.status, 'interrupted');
  });

  it('marks a message left streaming as interrupted on load, and persists that', async () => {
    const dir = tmpDir();
    const { store } = await openStore(dir);
    const chat = await store.createChat();
    const answer = msg('assistant', 'partial', 'streaming');
    await store.addMessage(chat.id, answer);
    await store.flush(); // no dispose: the process "dies" mid-stream

    const { store: second } = await openStore(dir);
    assert.equal((await second.getChat(chat.id))?.messages[0]?.status, 'interrupted');
    await second.whenIdle();
    const text = fs.readFileSync(chatFile(dir, chat.id), 'utf8');
    assert.ok(text.includes('"interrupted"'), text);

    const { store: third } = await openStore(dir);
    const m = (await third.getChat(chat.id))?.messages[0];
    assert.equal(m?.status, 'interrupted');
    assert.equal(m?.content, 'partial');
  });

  describe('crash at any byte', () => {
    /** Builds a chat one record per flush; returns the file and the expected chat after each record. */
    async function buildLog(): Promise<{ bytes: Buffer; id: string; headerEnd: number; states: { size: number; contents: string[] }[] }> {
      const dir = tmpDir();
      const { store } = await openStore(dir);
      const chat = await store.createChat({ title: 'crash' });
      const file = chatFile(dir, chat.id);
      const states: { size: number; contents: string[] }[] = [];
      const record = (): void => {
        states.push({ size: fs.statSync(file).size, contents: chat.messages.map((m) => m.content) });
      };
      record();
      const headerEnd = fs.statSync(file).size;
      await store.addMessage(chat.id, msg('user', 'Tell me a story with ünïcödé and emoji 🦙'));
      record();
      const answer = msg('assistant', '', 'streaming');
      await store.addMessage(chat.id, answer);
      record();
      const words = ['Once ', 'upon ', 'a time, ', 'a llama 🦙 ', 'said "hi"\n', 'and left.'];
      for (const w of words) {
        store.appendToMessage(chat.id, answer.id, { content: w });
        await tick(store);
        record();
      }
      return { bytes: fs.readFileSync(file), id: chat.id, headerEnd, states };
    }

    async function loadTruncated(bytes: Buffer, id: string, at: number): Promise<{ contents?: string[]; problems: StoreProblem[] }> {
      const dir = tmpDir();
      fs.mkdirSync(path.join(dir, 'chats'));
      fs.writeFileSync(chatFile(dir, id), bytes.subarray(0, at));
      const { store, problems } = await openStore(dir);
      const chat = await store.getChat(id);
      await store.dispose();
      fs.rmSync(dir, { recursive: true, force: true });
      return { contents: chat?.messages.map((m) => m.content), problems };
    }

    function expectedAt(states: { size: number; contents: string[] }[], at: number): string[] {
      let best = states[0];
      for (const s of states) if (s.size <= at) best = s;
      return best.contents;
    }

    it('loads everything up to the last complete record for every cut inside the last record', async () => {
      const { bytes, id, states } = await buildLog();
      const lastStart = states[states.length - 2].size;
      assert.equal(states[states.length - 1].size, bytes.length);
      for (let at = lastStart; at <= bytes.length; at++) {
        const { contents, problems } = await loadTruncated(bytes, id, at);
        assert.deepEqual(problems, [], `cut at ${at}`);
        assert.deepEqual(contents, expectedAt(states, at), `cut at ${at}`);
      }
    });

    it('loads a consistent prefix for random cuts across the file (fixed seed)', async () => {
      const { bytes, id, headerEnd, states } = await buildLog();
      const rand = seededRandom(20240611);
      for (let i = 0; i < 40; i++) {
        const at = headerEnd + Math.floor(rand() * (bytes.length - headerEnd + 1));
        const { contents, problems } = await loadTruncated(bytes, id, at);
        assert.deepEqual(problems, [], `cut at ${at}`);
        assert.deepEqual(contents, expectedAt(states, at), `cut at ${at}`);
      }
    });

    it('quarantines (never throws on) a file cut inside its header', async () => {
      const { bytes, id, headerEnd } = await buildLog();
      for (const at of [0, 1, Math.floor(headerEnd / 2), headerEnd - 1]) {
        const { contents, problems } = await loadTruncated(bytes, id, at);
        assert.equal(contents, undefined);
        assert.equal(problems.length, 1, `cut at ${at}`);
        assert.ok(problems[0].quarantinedTo);
      }
    });

    it('rewrites a torn tail before appending again, so the next load is clean', async () => {
      const { bytes, id, states } = await buildLog();
      const dir = tmpDir();
      fs.mkdirSync(path.join(dir, 'chats'));
      const cut = bytes.length - 5;
      fs.writeFileSync(chatFile(dir, id), bytes.subarray(0, cut));
      const { store } = await openStore(dir);
      const chat = await store.getChat(id);
      const answerId = chat!.messages[1].id;
      store.appendToMessage(id, answerId, { content: ' More.' });
      await store.dispose();
      const { store: again, problems } = await openStore(dir);
      assert.deepEqual(problems, []);
      const loaded = await again.getChat(id);
      assert.equal(loaded?.messages[1]?.content, `${expectedAt(states, cut)[1]} More.`);
    });
  });

  describe('damaged files', () => {
    async function twoChats(dir: string): Promise<{ a: string; b: string }> {
      const { store } = await openStore(dir);
      const a = await store.createChat();
      await store.addMessage(a.id, msg('user', 'first chat'));
      await store.addMessage(a.id, msg('assistant', 'answer one'));
      await store.addMessage(a.id, msg('user', 'again'));
      const b = await store.createChat();
      await store.addMessage(b.id, msg('user', 'second chat'));
      await store.dispose();
      return { a: a.id, b: b.id };
    }

    it('quarantines a file with a corrupt middle line and reports it from open(); other chats load', async () => {
      const dir = tmpDir();
      const { a, b } = await twoChats(dir);
      const file = chatFile(dir, a);
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      assert.ok(lines.length >= 4);
      lines[1] = '{"t":"message","m":{garbage';
      fs.writeFileSync(file, lines.join('\n'));

      const { store, problems } = await openStore(dir);
      assert.equal(problems.length, 1);
      const p = problems[0];
      assert.equal(p.file, file);
      assert.equal(p.error.kind, 'storage');
      assert.match(p.error.message, /line 2/);
      assert.ok(p.quarantinedTo && fs.existsSync(p.quarantinedTo));
      assert.equal(path.dirname(p.quarantinedTo), path.join(dir, 'quarantine'));
      assert.ok(!fs.existsSync(file));
      assert.deepEqual(
        store.listChats().map((c) => c.id),
        [b],
      );
      assert.equal((await store.getChat(b))?.messages[0]?.content, 'second chat');
    });

    it('lists a file from a newer format version read-only, never moving it', async () => {
      const dir = tmpDir();
      const { a, b } = await twoChats(dir);
      const file = chatFile(dir, a);
      const text = fs.readFileSync(file, 'utf8').replace('"v":2', '"v":99');
      fs.writeFileSync(file, text);

      const { store, problems } = await openStore(dir);
      assert.deepEqual(problems, []);
      assert.deepEqual(store.listChats().map((c) => [c.id, c.readOnly !== undefined]).sort(), [[a, true], [b, false]].sort());
      await assert.rejects(store.addMessage(a, msg('user', 'no')), /read-only/);
      await store.dispose();
      assert.equal(fs.readFileSync(file, 'utf8'), text, 'not rewritten');
    });

    it('reports a corrupt body found lazily (index rebuilt from headers) through onProblem', async () => {
      const dir = tmpDir();
      const { store: first } = await openStore(dir);
      const a = (await first.createChat({ messages: [msg('user', 'one'), msg('assistant', 'two'), msg('user', 'three')] })).id;
      const b = (await first.createChat({ messages: [msg('user', 'other')] })).id;
      await first.dispose();
      // Same length, so the header still claims to describe the file exactly.
      const file = chatFile(dir, a);
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      lines[2] = `X${lines[2].slice(1)}`;
      fs.writeFileSync(file, lines.join('\n'));
      fs.rmSync(path.join(dir, 'index.json'));

      const { store, problems } = await openStore(dir);
      assert.deepEqual(problems, [], 'headers are fine, bodies are not read');
      assert.equal(store.listChats().length, 2);
      const seen: StoreProblem[] = [];
      store.onProblem((p) => seen.push(p));
      assert.equal(await store.getChat(a), undefined);
      assert.equal(seen.length, 1);
      assert.ok(seen[0].quarantinedTo);
      assert.deepEqual(
        store.listChats().map((c) => c.id),
        [b],
      );
    });

    it('keeps every quarantined copy, even two of one chat in the same millisecond', async () => {
      const dir = tmpDir();
      fs.mkdirSync(path.join(dir, 'chats'));
      const id = newId();
      const moved: string[] = [];
      for (const junk of ['junk one\n', 'junk two\n']) {
        fs.writeFileSync(chatFile(dir, id), junk);
        const { problems } = await openStore(dir, { clock: new FakeClock(5) });
        assert.equal(problems.length, 1);
        moved.push(problems[0].quarantinedTo!);
      }
      assert.notEqual(moved[0], moved[1]);
      assert.deepEqual(
        moved.map((f) => fs.readFileSync(f, 'utf8')),
        ['junk one\n', 'junk two\n'],
      );
    });

    it('ignores and removes a tmp file left by a crashed compaction', async () => {
      const dir = tmpDir();
      const { a } = await twoChats(dir);
      const tmp = `${chatFile(dir, a)}.999999999.abcd.tmp`; // a writer pid that is not alive
      fs.writeFileSync(tmp, '{"t":"header","v":1,"id":"x","tit');
      const { store, problems } = await openStore(dir);
      assert.deepEqual(problems, []);
      assert.ok(!fs.existsSync(tmp));
      assert.equal((await store.getChat(a))?.messages.length, 3);
    });
  });

  describe('index', () => {
    async function threeChats(dir: string): Promise<string[]> {
      const { store } = await openStore(dir);
      const ids: string[] = [];
      for (const t of ['alpha', 'beta', 'gamma']) {
        clock.advance(1000);
        const c = await store.createChat();
        await store.addMessage(c.id, msg('user', t));
        ids.push(c.id);
      }
      await store.dispose();
      return ids;
    }

    it('lists chats from the index without reading any chat file', async () => {
      const dir = tmpDir();
      await threeChats(dir);
      const tfs = new TestFs();
      const { store } = await openStore(dir, { fs: tfs });
      assert.deepEqual(
        store.listChats().map((c) => c.title),
        ['gamma', 'beta', 'alpha'],
      );
      assert.deepEqual(tfs.ops('readFile', '.jsonl'), []);
      assert.deepEqual(tfs.ops('readHead'), []);
    });

    for (const damage of ['missing', 'corrupt', 'future'] as const) {
      it(`rebuilds a ${damage} index from the chat headers`, async () => {
        const dir = tmpDir();
        const ids = await threeChats(dir);
        const index = path.join(dir, 'index.json');
        if (damage === 'missing') fs.rmSync(index);
        if (damage === 'corrupt') fs.writeFileSync(index, '{"v":1,"chats":[{"id":');
        if (damage === 'future') fs.writeFileSync(index, '{"v":7,"chats":[]}');
        const tfs = new TestFs();
        const { store, problems } = await openStore(dir, { fs: tfs });
        assert.deepEqual(problems, []);
        assert.deepEqual(
          store.listChats().map((c) => [c.id, c.title, c.messageCount]),
          [
            [ids[2], 'gamma', 1],
            [ids[1], 'beta', 1],
            [ids[0], 'alpha', 1],
          ],
        );
        assert.deepEqual(tfs.ops('readFile', '.jsonl'), [], 'headers only');
        await store.flush();
        const rows = (JSON.parse(fs.readFileSync(index, 'utf8')) as { v: number; chats: { id: string }[] }).chats;
        assert.deepEqual(rows.map((r) => r.id).sort(), [...ids].sort());
      });
    }

    it('adds a chat file the index does not know (index out of date)', async () => {
      const dir = tmpDir();
      const ids = await threeChats(dir);
      const index = path.join(dir, 'index.json');
      const old = fs.readFileSync(index);
      const { store } = await openStore(dir);
      clock.advance(1000);
      const d = await store.createChat();
      await store.addMessage(d.id, msg('user', 'delta'));
      await store.dispose();
      fs.writeFileSync(index, old); // as if the process died before the debounced index write

      const { store: again, problems } = await openStore(dir);
      assert.deepEqual(problems, []);
      assert.deepEqual(
        again.listChats().map((c) => c.title),
        ['delta', 'gamma', 'beta', 'alpha'],
      );
      assert.equal(again.listChats().length, ids.length + 1);
    });

    it('refreshes a row whose chat file changed after the index was written', async () => {
      const dir = tmpDir();
      const ids = await threeChats(dir);
      const { store } = await openStore(dir);
      await store.getChat(ids[0]);
      await store.addMessage(ids[0], msg('assistant', 'reply'));
      await store.whenIdle(); // the message is on disk, the debounced index is not written yet
      const { store: again } = await openStore(dir, { clock: new FakeClock() });
      const row = again.listChats().find((c) => c.id === ids[0]);
      assert.equal(row?.messageCount, 2);
    });
  });

  it('writes the same bytes per streaming flush whatever the chat length', async () => {
    const perFlush = async (history: number): Promise<number[]> => {
      const dir = tmpDir();
      const tfs = new TestFs();
      const { store } = await openStore(dir, { fs: tfs });
      const chat = await store.createChat({
        title: 'bench',
        messages: Array.from({ length: history }, (_, i) => msg(i % 2 ? 'assistant' : 'user', 'x'.repeat(1000))),
      });
      const answer = { ...msg('assistant', '', 'streaming'), id: 'answer' };
      await store.addMessage(chat.id, answer);
      const sizes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const before = tfs.calls.length;
        for (let k = 0; k < 20; k++) store.appendToMessage(chat.id, answer.id, { content: 'tok ' });
        await tick(store);
        const writes = tfs.calls
          .slice(before)
          .filter((c) => (c.op === 'append' || c.op === 'writeDurable') && c.file.includes(chat.id));
        assert.deepEqual(
          writes.map((w) => w.op),
          ['append'],
          'one append per flush, no rewrite',
        );
        sizes.push(writes[0].bytes);
      }
      await store.dispose();
      return sizes;
    };
    const small = await perFlush(0);
    const large = await perFlush(2000);
    assert.deepEqual(large, small);
    assert.ok(small[0] < 200, `an append of 80 chars of text took ${small[0]} bytes`);
  });

  describe('write failures', () => {
    for (const code of ['ENOSPC', 'EACCES'] as const) {
      it(`reports ${code} through onProblem, keeps the chat in memory, and saves it once writing works`, async () => {
        const dir = tmpDir();
        const tfs = new TestFs();
        const { store } = await openStore(dir, { fs: tfs });
        const chat = await store.createChat();
        const answer = msg('assistant', '', 'streaming');
        await store.addMessage(chat.id, answer);
        const seen: StoreProblem[] = [];
        store.onProblem((p) => seen.push(p));

        const file = chatFile(dir, chat.id);
        let broken = true;
        tfs.fault = (op, f) =>
          broken && (op === 'append' || op === 'writeDurable') && f.startsWith(file)
            ? { err: osError(code, code === 'ENOSPC' ? 'no space left on device' : 'permission denied', 'write', f), partial: true }
            : undefined;
        assert.doesNotThrow(() => store.appendToMessage(chat.id, answer.id, { content: 'kept ' }));
        await tick(store);
        store.appendToMessage(chat.id, answer.id, { content: 'in memory' });
        await tick(store); // the retry fails too: reported once, not per attempt
        await store.addMessage(chat.id, msg('user', 'still works'));

        assert.equal(seen.length, 1);
        assert.equal(seen[0].error.kind, 'storage');
        assert.equal(seen[0].file, file);
        assert.ok(seen[0].error.message.includes(file), seen[0].error.message);
        assert.ok(seen[0].error.message.includes(code), seen[0].error.message);
        assert.ok(seen[0].error.hint);
        const live = await store.getChat(chat.id);
        assert.equal(live?.messages[0]?.content, 'kept in memory');
        assert.equal(live?.messages.length, 2);

        broken = false;
        await store.flush();
        const { store: fresh, problems } = await openStore(dir, { clock: new FakeClock() });
        assert.deepEqual(problems, []);
        const saved = await fresh.getChat(chat.id);
        assert.equal(saved?.messages[0]?.content, 'kept in memory');
        assert.equal(saved?.messages[1]?.content, 'still works');
      });
    }

    it('keeps the old file intact when a compaction fails', async () => {
      const dir = tmpDir();
      const tfs = new TestFs();
      const { store } = await openStore(dir, { fs: tfs });
      const chat = await store.createChat();
      const answer = msg('assistant', 'done?', 'streaming');
      await store.addMessage(chat.id, answer);
      tfs.fault = (op, f) => (op === 'rename' && f.includes('.jsonl.') && f.endsWith('.tmp') ? { err: osError('EACCES', 'permission denied', 'rename', f) } : undefined);
      await store.updateMessage(chat.id, answer.id, { status: 'complete' });
      const { store: other, problems } = await openStore(dir, { clock: new FakeClock() });
      assert.deepEqual(problems, []);
      assert.equal((await other.getChat(chat.id))?.messages[0]?.content, 'done?');
      assert.deepEqual(fs.readdirSync(path.join(dir, 'chats')).filter((n) => n.endsWith('.tmp')), []);
      tfs.fault = undefined;
      await store.flush();
    });
  });

  describe('compaction', () => {
    it('rewrites the log as header + messages on a final status, with identical content', async () => {
      const dir = tmpDir();
      const { store } = await openStore(dir);
      const chat = await store.createChat();
      await store.addMessage(chat.id, msg('user', 'q'));
      const answer = msg('assistant', '', 'streaming');
      await store.addMessage(chat.id, answer);
      for (let i = 0; i < 5; i++) {
        store.appendToMessage(chat.id, answer.id, { content: `part${i} `, reasoning: `r${i}` });
        await tick(store);
      }
      await store.updateMessage(chat.id, answer.id, { ctxUsed: 100 });
      await store.flush();
      const file = chatFile(dir, chat.id);
      const linesBefore = fs.readFileSync(file, 'utf8').trim().split('\n').length;
      assert.ok(linesBefore > 3);
      await store.updateMessage(chat.id, answer.id, { status: 'stopped', finishedAt: clock.now() });
      const expected = structuredClone(await store.getChat(chat.id));

      const lines = fs.readFileSync(file, 'utf8').trim().split('\n');
      assert.equal(lines.length, 3, 'header + 2 messages');
      const { store: fresh } = await openStore(dir, { clock: new FakeClock() });
      assert.deepEqual(await fresh.getChat(chat.id), expected);
    });

    it('compacts a long stream once its log outgrows the threshold', async () => {
      const dir = tmpDir();
      const tfs = new TestFs();
      const { store } = await openStore(dir, { fs: tfs, compactMinBytes: 2000 });
      const chat = await store.createChat();
      const answer = msg('assistant', '', 'streaming');
      await store.addMessage(chat.id, answer);
      for (let i = 0; i < 40; i++) {
        store.appendToMessage(chat.id, answer.id, { content: 'y'.repeat(100) });
        await tick(store);
      }
      const rewrites = tfs.calls.filter((c) => c.op === 'writeDurable' && c.file.includes('.jsonl.') && c.file.endsWith('.tmp')).length;
      assert.ok(rewrites >= 2, `rewrites: ${rewrites}`);
      const { store: fresh } = await openStore(dir, { clock: new FakeClock() });
      assert.equal((await fresh.getChat(chat.id))?.messages[0]?.content, 'y'.repeat(4000));
    });
  });

  it('persists rename and delete', async () => {
    const dir = tmpDir();
    const { store } = await openStore(dir);
    const a = await store.createChat();
    await store.renameChat(a.id, 'My name');
    await store.addMessage(a.id, msg('user', 'does not rename'));
    await store.addMessage(a.id, msg('assistant', 'one'));
    const b = await store.createChat();
    await store.addMessage(b.id, msg('user', 'doomed'));
    await store.deleteChat(b.id);
    assert.ok(!fs.existsSync(chatFile(dir, b.id)));
    assert.equal(await store.getChat(b.id), undefined);

    const { store: again } = await openStore(dir, { clock: new FakeClock() });
    assert.deepEqual(
      again.listChats().map((c) => [c.title, c.messageCount]),
      [['My name', 2]],
    );
    assert.deepEqual(
      (await again.getChat(a.id))?.messages.map((m) => m.content),
      ['does not rename', 'one'],
    );
  });

  describe('editTree', () => {
    /** q1 - a1 - q2 - a2, each the child of the one before. */
    async function linear(store: ChatStore): Promise<{ id: string; m: ChatMessage[] }> {
      const chat = await store.createChat();
      const m: ChatMessage[] = [];
      for (const [role, text] of [['user', 'q1'], ['assistant', 'a1'], ['user', 'q2'], ['assistant', 'a2']] as const) {
        const x = msg(role, text, 'complete', m.length ? { parentId: m[m.length - 1].id } : {});
        await store.addMessage(chat.id, x);
        m.push(x);
      }
      return { id: chat.id, m };
    }

    it('relinks, removes and moves the leaf in one write, and undoes by re-adding', async () => {
      const dir = tmpDir();
      const tfs = new TestFs();
      const { store } = await openStore(dir, { fs: tfs });
      const { id, m } = await linear(store);
      const before = tfs.calls.filter((c) => c.op === 'append' || c.op === 'writeDurable').length;
      // Delete q2 alone: a2 moves up under a1.
      await store.editTree(id, { relink: [{ id: m[3].id, parentId: m[1].id }], remove: [m[2].id], leafId: m[3].id });
      assert.equal(tfs.calls.filter((c) => c.op === 'append' || c.op === 'writeDurable').length, before + 1, 'one write');
      let chat = await store.getChat(id);
      assert.deepEqual(chat?.messages.map((x) => [x.content, x.parentId]), [['q1', undefined], ['a1', m[0].id], ['a2', m[1].id]]);
      assert.equal(chat?.leafId, m[3].id);
      assert.equal(chat?.messageCount, 3);

      // Undo: re-add q2 and hang a2 under it again.
      await store.editTree(id, { add: [m[2]], relink: [{ id: m[3].id, parentId: m[2].id }], leafId: m[3].id });
      const { store: again } = await openStore(dir, { clock: new FakeClock() });
      chat = await again.getChat(id);
      assert.deepEqual(chat?.messages.map((x) => [x.content, x.parentId]), [['q1', undefined], ['a1', m[0].id], ['a2', m[2].id], ['q2', m[1].id]]);
      assert.equal(chat?.leafId, m[3].id);
      assert.equal(again.listChats()[0]?.messageCount, 4);

      // A root relink (parentId undefined) deletes the field.
      await again.editTree(id, { relink: [{ id: m[1].id, parentId: undefined }], remove: [m[0].id] });
      const { store: third } = await openStore(dir, { clock: new FakeClock() });
      const root = (await third.getChat(id))?.messages.find((x) => x.id === m[1].id);
      assert.ok(root && !('parentId' in root));
    });

    it('rejects an edit that does not fit, changing nothing', async () => {
      const dir = tmpDir();
      const { store } = await openStore(dir);
      const { id, m } = await linear(store);
      const file = chatFile(dir, id);
      const bytes = fs.readFileSync(file);
      await assert.rejects(store.editTree(id, { remove: [m[3].id], leafId: m[3].id }), /leaf at unknown message/);
      await assert.rejects(store.editTree(id, { relink: [{ id: 'nope', parentId: m[0].id }] }), /unknown message/);
      await store.flush();
      assert.deepEqual(fs.readFileSync(file), bytes);
      assert.equal((await store.getChat(id))?.messages.length, 4);
    });

    it('keeps the leaf across reopen and compaction', async () => {
      const dir = tmpDir();
      const { store } = await openStore(dir);
      const { id, m } = await linear(store);
      const alt = msg('assistant', '', 'streaming', { parentId: m[0].id });
      await store.addMessage(id, alt); // a second version of a1, now the leaf
      store.appendToMessage(id, alt.id, { content: 'a1 again' });
      await store.updateMessage(id, alt.id, { status: 'complete' }); // compacts
      await store.editTree(id, { leafId: m[3].id }); // back to the first version's branch
      const { store: again } = await openStore(dir, { clock: new FakeClock() });
      assert.equal((await again.getChat(id))?.leafId, m[3].id);
      await again.renameChat(id, 'compacted'); // rewrites the file whole
      const lines = fs.readFileSync(chatFile(dir, id), 'utf8').trim().split('\n');
      assert.equal((JSON.parse(lines[lines.length - 1]) as { t: string }).t, 'leaf');
      const { store: third } = await openStore(dir, { clock: new FakeClock() });
      const chat = await third.getChat(id);
      assert.equal(chat?.leafId, m[3].id);
      assert.equal(chat?.messages.find((x) => x.id === alt.id)?.content, 'a1 again');
    });
  });

  it('forks: createChat with messages copies them and derives the title', async () => {
    const dir = tmpDir();
    const { store } = await openStore(dir);
    const source = [msg('user', 'Fork me\nplease'), msg('assistant', 'ok')];
    const fork = await store.createChat({ messages: source });
    assert.equal(fork.title, 'Fork me');
    source[1].content = 'changed by the caller';
    const { store: again } = await openStore(dir, { clock: new FakeClock() });
    assert.deepEqual(
      (await again.getChat(fork.id))?.messages.map((m) => m.content),
      ['Fork me\nplease', 'ok'],
    );
  });

  it('serialises concurrent writes to one chat', async () => {
    const dir = tmpDir();
    const { store } = await openStore(dir);
    const chat = await store.createChat();
    const answer = msg('assistant', '', 'streaming');
    const jobs: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) jobs.push(store.addMessage(chat.id, msg('user', `u${i}`)));
    jobs.push(store.addMessage(chat.id, answer));
    await Promise.all(jobs);
    store.appendToMessage(chat.id, answer.id, { content: 'abc' });
    const final = store.updateMessage(chat.id, answer.id, { status: 'complete' });
    store.appendToMessage(chat.id, answer.id, { content: 'def' }); // races the compaction
    await final;
    await store.flush();
    const { store: again, problems } = await openStore(dir, { clock: new FakeClock() });
    assert.deepEqual(problems, []);
    const loaded = await again.getChat(chat.id);
    assert.deepEqual(
      loaded?.messages.map((m) => m.content),
      [...Array.from({ length: 20 }, (_, i) => `u${i}`), 'abcdef'],
    );
  });
});
