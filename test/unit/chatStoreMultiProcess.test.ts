/** Two real processes on one chat folder (two VS Code windows without a workspace), one of them SIGKILLed mid-write. */
import * as assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { ChatMessage } from '../../src/core/chats/chat';
import { ChatStore } from '../../src/core/store/chatStore';
import { chatStorageDir } from '../../src/core/store/storeDir';
import { parseIndex } from '../../src/core/store/storeFormat';
import type { WorkerAck, WorkerCommand } from '../support/storeWorker';

const WORKER = path.join(__dirname, '../support/storeWorker.js');

type Without<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;

class Worker {
  readonly proc: ChildProcess;
  readonly ready: Promise<void>;
  private tag = 0;
  private readonly waiting = new Map<number, { resolve: (a: WorkerAck) => void; reject: (e: Error) => void }>();
  private readonly chunkListeners = new Map<number, (chunk: number) => void>();
  stderr = '';

  constructor(dir: string) {
    this.proc = spawn(process.execPath, [WORKER, dir], { stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()));
    let onReady: () => void = () => undefined;
    this.ready = new Promise((resolve) => (onReady = resolve));
    readline.createInterface({ input: this.proc.stdout! }).on('line', (line) => {
      const msg = JSON.parse(line) as WorkerAck & { ready?: boolean };
      if (msg.ready) return onReady();
      if (msg.chunk !== undefined) return this.chunkListeners.get(msg.tag)?.(msg.chunk);
      const w = this.waiting.get(msg.tag);
      this.waiting.delete(msg.tag);
      if (msg.ok) w?.resolve(msg);
      else w?.reject(new Error(`worker ${this.proc.pid}: ${msg.error}`));
    });
    this.proc.on('exit', () => {
      for (const w of this.waiting.values()) w.reject(new Error(`worker ${this.proc.pid} exited\n${this.stderr}`));
      this.waiting.clear();
    });
  }

  send(cmd: Without<WorkerCommand, 'tag'>, onChunk?: (chunk: number) => void): Promise<WorkerAck> {
    const tag = ++this.tag;
    if (onChunk) this.chunkListeners.set(tag, onChunk);
    return new Promise((resolve, reject) => {
      this.waiting.set(tag, { resolve, reject });
      this.proc.stdin!.write(`${JSON.stringify({ ...cmd, tag })}\n`);
    });
  }

  kill(): void {
    if (this.proc.pid !== undefined && this.proc.exitCode === null && this.proc.signalCode === null) process.kill(this.proc.pid, 'SIGKILL');
  }

  exited(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => this.proc.once('exit', () => resolve()));
  }
}

describe('ChatStore with two processes on one folder', function () {
  this.timeout(10000);
  const workers: Worker[] = [];
  let dir = '';

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatstore-mp-'));
  });

  after(async () => {
    for (const w of workers) w.kill();
    await Promise.all(workers.map((w) => w.exited()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every acked record of both writers, survives a SIGKILL mid-stream, and leaves no temp files or stale locks', async () => {
    const w1 = new Worker(dir);
    const w2 = new Worker(dir);
    workers.push(w1, w2);
    await Promise.all([w1.ready, w2.ready]);

    const own1 = (await w1.send({ op: 'create', title: 'one' })).id!;
    const own2 = (await w2.send({ op: 'create', title: 'two' })).id!;
    const shared = (await w1.send({ op: 'create', title: 'shared' })).id!;
    await w2.send({ op: 'waitFor', chat: shared }); // the watcher shows w1's new chat to w2

    const acked = new Set<string>();
    const add = async (w: Worker, chat: string, id: string, extra: { streaming?: boolean; parentId?: string } = {}): Promise<void> => {
      await w.send({ op: 'add', chat, id, role: 'user', content: `text of ${id}`, ...extra });
      if (chat === shared) acked.add(id);
    };
    // Both write the shared chat at the same time, and their own chats in between.
    for (let r = 0; r < 12; r++) {
      await Promise.all([add(w1, shared, `s-w1-${r}`), add(w2, shared, `s-w2-${r}`), add(w1, own1, `o1-${r}`), add(w2, own2, `o2-${r}`)]);
    }
    // Streams into one chat from both, then each compacts it from its own memory (the final status).
    await Promise.all([add(w1, shared, 'stream-w1', { streaming: true }), add(w2, shared, 'stream-w2', { streaming: true })]);
    let t1 = '';
    let t2 = '';
    for (let i = 0; i < 10; i++) {
      await Promise.all([
        w1.send({ op: 'append', chat: shared, msg: 'stream-w1', text: `a${i};` }).then(() => (t1 += `a${i};`)),
        w2.send({ op: 'append', chat: shared, msg: 'stream-w2', text: `b${i};` }).then(() => (t2 += `b${i};`)),
      ]);
    }
    await Promise.all([w1.send({ op: 'final', chat: shared, msg: 'stream-w1' }), w2.send({ op: 'final', chat: shared, msg: 'stream-w2' })]);
    await w1.send({ op: 'edit', chat: shared, edit: { add: [{ id: 'branch', parentId: 's-w1-0', role: 'user', content: 'a branch', status: 'complete', createdAt: 1 }], leafId: 'branch' } });
    acked.add('branch');

    // w2 streams big chunks (compacting every few) into the shared chat and its own, and dies in the middle.
    await Promise.all([add(w2, shared, 'big-shared', { streaming: true }), add(w2, own2, 'big-own', { streaming: true })]);
    let chunks = -1;
    const killed = new Promise<void>((resolve) => {
      const targets = [
        { chat: shared, msg: 'big-shared' },
        { chat: own2, msg: 'big-own' },
      ];
      w2.send({ op: 'stream', targets, n: 100000, size: 1500 }, (c) => {
        chunks = c;
        if (c >= 12) {
          w2.kill();
          resolve();
        }
      }).catch(() => undefined);
    });
    // Meanwhile w1 keeps writing the shared chat; after the kill it must get past any lock w2 left behind.
    let r = 0;
    let done = false;
    void killed.then(() => (done = true));
    while (!done) await add(w1, shared, `late-w1-${r++}`);
    await w2.exited();
    for (let k = 0; k < 3; k++) await add(w1, shared, `after-kill-${k}`);
    await w1.send({ op: 'exit' });
    await w1.exited();

    const leftovers = fs.readdirSync(path.join(dir, 'chats'));
    const store = new ChatStore({ dir, watch: false });
    const problems = await store.open();
    assert.deepEqual(problems, []);
    assert.ok(!fs.existsSync(path.join(dir, 'quarantine')), 'nothing quarantined');
    assert.deepEqual(fs.readdirSync(path.join(dir, 'chats')).filter((n) => n.endsWith('.tmp')), [], `temp files left: ${leftovers.join(' ')}`);

    const ids = (c: { messages: ChatMessage[] } | undefined): string[] => (c?.messages ?? []).map((m) => m.id);
    const o1 = await store.getChat(own1);
    assert.deepEqual(ids(o1), Array.from({ length: 12 }, (_, i) => `o1-${i}`));
    const o2 = await store.getChat(own2);
    assert.deepEqual(ids(o2), [...Array.from({ length: 12 }, (_, i) => `o2-${i}`), 'big-own']);
    const bigOwn = o2!.messages[12];
    for (let c = 0; c <= chunks; c++) assert.ok(bigOwn.content.includes(`<${c}>`), `own chunk ${c} acked but lost`);
    assert.equal(bigOwn.status, 'interrupted');

    const s = await store.getChat(shared);
    const have = new Set(ids(s));
    for (const id of acked) assert.ok(have.has(id), `shared chat lost acked message ${id}`);
    assert.equal(have.size, s!.messages.length, 'no duplicates');
    const byId = new Map(s!.messages.map((m) => [m.id, m]));
    assert.equal(byId.get('stream-w1')?.content, `text of stream-w1${t1}`);
    assert.equal(byId.get('stream-w2')?.content, `text of stream-w2${t2}`);
    assert.equal(byId.get('stream-w1')?.status, 'complete');
    assert.equal(byId.get('stream-w2')?.status, 'complete');
    assert.equal(byId.get('branch')?.parentId, 's-w1-0');
    const big = byId.get('big-shared')!;
    for (let c = 0; c <= chunks; c++) assert.ok(big.content.includes(`<${c}>`), `shared chunk ${c} acked but lost`);

    // Whatever lock the killed writer left is recovered: writing works and no lock file stays behind.
    await store.addMessage(shared, { id: 'final-check', role: 'user', content: 'ok', status: 'complete', createdAt: 2 });
    await store.addMessage(own2, { id: 'final-own', role: 'user', content: 'ok', status: 'complete', createdAt: 2 });
    await store.dispose();
    assert.deepEqual(fs.readdirSync(path.join(dir, 'chats')).filter((n) => n.includes('.lock')), []);
    assert.deepEqual(fs.readdirSync(dir).filter((n) => n.includes('.lock') || n.endsWith('.tmp')), []);
    const again = new ChatStore({ dir, watch: false });
    assert.deepEqual(await again.open(), []);
    assert.ok(ids(await again.getChat(shared)).includes('final-check'));
    await again.dispose();
  });

  it('two windows without a folder share the global storage folder and keep the chats of both (created, written, deleted at once)', async () => {
    const globalStorageUri = { fsPath: path.join(dir, 'User', 'globalStorage', 'local.llama-server-chat') };
    const noFolder = chatStorageDir({ globalStorageUri });
    assert.equal(chatStorageDir({ storageUri: undefined, globalStorageUri }), noFolder, 'both windows pick the same folder');
    assert.notEqual(chatStorageDir({ storageUri: { fsPath: path.join(dir, 'ws') }, globalStorageUri }), noFolder, 'a window with a folder has its own');
    assert.ok(!fs.existsSync(noFolder), 'first start: the folder does not exist yet, both create it');

    const w1 = new Worker(noFolder);
    const w2 = new Worker(noFolder);
    workers.push(w1, w2);
    await Promise.all([w1.ready, w2.ready]);
    const made = new Map<string, string[]>(); // chat -> message ids
    const create = async (w: Worker, title: string): Promise<string> => {
      const id = (await w.send({ op: 'create', title })).id!;
      made.set(id, []);
      return id;
    };
    const add = async (w: Worker, chat: string, id: string): Promise<void> => {
      await w.send({ op: 'add', chat, id, role: 'user', content: `text of ${id}` });
      made.get(chat)!.push(id);
    };
    // Both create chats and write them at the same time (each index write merges the other's rows).
    const mine: Record<'w1' | 'w2', string[]> = { w1: [], w2: [] };
    for (let r = 0; r < 8; r++) {
      const [c1, c2] = await Promise.all([create(w1, `w1 chat ${r}`), create(w2, `w2 chat ${r}`)]);
      mine.w1.push(c1);
      mine.w2.push(c2);
      await Promise.all([add(w1, c1, `w1-${r}-a`), add(w2, c2, `w2-${r}-a`), add(w1, c1, `w1-${r}-b`), add(w2, c2, `w2-${r}-b`)]);
    }
    // Each sees the other's chats, and writes into one of them.
    await Promise.all([w1.send({ op: 'waitFor', chat: mine.w2[7] }), w2.send({ op: 'waitFor', chat: mine.w1[7] })]);
    await Promise.all([add(w1, mine.w2[0], 'w1-into-w2'), add(w2, mine.w1[0], 'w2-into-w1')]);
    // Both write one chat at the same time: each write merges the other's first (under the chat's lock).
    for (let r = 0; r < 6; r++) await Promise.all([add(w1, mine.w1[1], `both-w1-${r}`), add(w2, mine.w1[1], `both-w2-${r}`)]);
    // Each deletes one of its own chats while the other creates another.
    const [, , late1, late2] = await Promise.all([
      w1.send({ op: 'delete', chat: mine.w1[3] }),
      w2.send({ op: 'delete', chat: mine.w2[5] }),
      create(w1, 'w1 late'),
      create(w2, 'w2 late'),
    ]);
    made.delete(mine.w1[3]);
    made.delete(mine.w2[5]);
    await Promise.all([w1.send({ op: 'waitFor', chat: late2 }), w2.send({ op: 'waitFor', chat: late1 })]);
    const expected = [...made.keys()].sort();
    const waitList = async (w: Worker): Promise<string[]> => {
      for (let i = 0; i < 300; i++) {
        const listed = [...(await w.send({ op: 'list' })).ids!].sort();
        if (JSON.stringify(listed) === JSON.stringify(expected)) return listed;
        await new Promise((r) => setTimeout(r, 10));
      }
      return [...(await w.send({ op: 'list' })).ids!].sort();
    };
    assert.deepEqual(await waitList(w1), expected, 'window 1 lists every chat of both, and neither deleted one');
    assert.deepEqual(await waitList(w2), expected, 'window 2 too');
    await Promise.all([w1.send({ op: 'exit' }), w2.send({ op: 'exit' })]);
    await Promise.all([w1.exited(), w2.exited()]);

    // The shared index (whoever wrote it last) lists every chat, and every file has all its messages.
    const rows = parseIndex(fs.readFileSync(path.join(noFolder, 'index.json'), 'utf8'));
    assert.deepEqual(rows?.map((r) => r.id).sort(), expected);
    const store = new ChatStore({ dir: noFolder, watch: false });
    assert.deepEqual(await store.open(), []);
    assert.deepEqual(store.listChats().map((c) => c.id).sort(), expected);
    for (const [chat, messages] of made) {
      const got = (await store.getChat(chat))?.messages.map((m) => m.id) ?? [];
      assert.deepEqual([...got].sort(), [...messages].sort(), `chat ${chat}`);
    }
    await store.dispose();
  });
});
