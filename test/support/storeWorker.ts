/**
 * A ChatStore in its own process, for the multi-process store test: `node storeWorker.js <dir>` opens a store on
 * dir, then runs one JSON command per stdin line, in order, and prints one JSON ack line per command once its write
 * is durable (`stream` prints one `chunk` line per flushed chunk). Prints `{"ready":true}` after open.
 */
import * as readline from 'node:readline';
import type { ChatMessage, Role } from '../../src/core/chats/chat';
import type { TreeEdit } from '../../src/core/chats/chatRepository';
import { ChatStore } from '../../src/core/store/chatStore';

export type WorkerCommand =
  | { tag: number; op: 'create'; title?: string }
  | { tag: number; op: 'add'; chat: string; id: string; role: Role; content: string; parentId?: string; streaming?: boolean }
  | { tag: number; op: 'append'; chat: string; msg: string; text: string }
  /** Each chunk goes to every target, then one flush: its ack covers them all. */
  | { tag: number; op: 'stream'; targets: { chat: string; msg: string }[]; n: number; size: number }
  | { tag: number; op: 'final'; chat: string; msg: string }
  | { tag: number; op: 'edit'; chat: string; edit: TreeEdit }
  | { tag: number; op: 'waitFor'; chat: string }
  | { tag: number; op: 'delete'; chat: string }
  /** The ids this store lists now. */
  | { tag: number; op: 'list' }
  | { tag: number; op: 'exit' };

export interface WorkerAck {
  tag: number;
  ok: boolean;
  id?: string;
  chunk?: number;
  ids?: string[];
  error?: string;
}

function say(line: object): void {
  process.stdout.write(`${JSON.stringify(line)}\n`);
}

async function run(store: ChatStore, cmd: WorkerCommand): Promise<WorkerAck> {
  switch (cmd.op) {
    case 'create':
      return { tag: cmd.tag, ok: true, id: (await store.createChat({ title: cmd.title })).id };
    case 'add': {
      const m: ChatMessage = { id: cmd.id, role: cmd.role, content: cmd.content, status: cmd.streaming ? 'streaming' : 'complete', createdAt: Date.now() };
      if (cmd.parentId !== undefined) m.parentId = cmd.parentId;
      await store.addMessage(cmd.chat, m);
      return { tag: cmd.tag, ok: true };
    }
    case 'append':
      await store.getChat(cmd.chat);
      store.appendToMessage(cmd.chat, cmd.msg, { content: cmd.text });
      await store.flush();
      return { tag: cmd.tag, ok: true };
    case 'stream':
      for (const t of cmd.targets) await store.getChat(t.chat);
      for (let i = 0; i < cmd.n; i++) {
        for (const t of cmd.targets) store.appendToMessage(t.chat, t.msg, { content: `<${i}>${'x'.repeat(cmd.size)}` });
        await store.flush();
        say({ tag: cmd.tag, ok: true, chunk: i });
      }
      return { tag: cmd.tag, ok: true };
    case 'final':
      await store.updateMessage(cmd.chat, cmd.msg, { status: 'complete' });
      return { tag: cmd.tag, ok: true };
    case 'edit':
      await store.editTree(cmd.chat, cmd.edit);
      return { tag: cmd.tag, ok: true };
    case 'waitFor': {
      const until = Date.now() + 5000;
      while (!store.listChats().some((c) => c.id === cmd.chat)) {
        if (Date.now() > until) throw new Error(`chat ${cmd.chat} never appeared`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return { tag: cmd.tag, ok: true };
    }
    case 'delete':
      await store.deleteChat(cmd.chat);
      return { tag: cmd.tag, ok: true };
    case 'list':
      return { tag: cmd.tag, ok: true, ids: store.listChats().map((c) => c.id) };
    case 'exit':
      await store.dispose();
      return { tag: cmd.tag, ok: true };
  }
}

async function main(): Promise<void> {
  const dir = process.argv[2];
  if (!dir) throw new Error('usage: storeWorker <dir>');
  // Small thresholds so a stream compacts often; flushes are explicit.
  const store = new ChatStore({ dir, flushIntervalMs: 50, compactMinBytes: 4096 });
  await store.open();
  say({ ready: true, pid: process.pid });
  let queue = Promise.resolve();
  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const cmd = JSON.parse(line) as WorkerCommand;
    queue = queue.then(async () => {
      try {
        say(await run(store, cmd));
      } catch (err) {
        say({ tag: cmd.tag, ok: false, error: err instanceof Error ? err.message : String(err) });
      }
      if (cmd.op === 'exit') process.exit(0);
    });
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
