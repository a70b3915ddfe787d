/**
 * Part 6: ChatStore costs that must not grow with history. The periodic flush of streamed text at message 10 vs
 * message 10,000 of a chat (interleaved), opening a workspace with 1,000 chats / 100,000 messages until the
 * chat list is there (with the index, and rebuilt from chat headers without it), and the host heap while those
 * 1,000 chats are opened one after another (needs node --expose-gc, as scripts/bench.sh runs it).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChatMessage } from '../src/core/chats/chat';
import { ChatStore } from '../src/core/store/chatStore';
import { FakeClock } from '../test/support/fakeClock';
import { metric, ratioMetric, runPart } from './lib/results';
import { interleaved, median, round } from './lib/stats';

const FLUSH_MS = 1000;
const APPEND_CHARS = 400;
const FLUSH_ROUNDS = 30;
const WORKSPACE_CHATS = 1_000;
const MESSAGES_PER_CHAT = 100;
const OPEN_ROUNDS = 7;

const USER_TEXT = 'How do I read a JSON config file in Node and fall back to defaults for missing keys? '.repeat(1);
const ANSWER_TEXT =
  'Read it with `fs.readFileSync`, parse it, and merge it over the defaults:\n\n```ts\n' +
  'const config = { ...DEFAULTS, ...JSON.parse(fs.readFileSync(file, "utf8")) };\n```\n\n' +
  'Validate the values you rely on; unknown keys can simply be ignored. '.repeat(4);

function history(count: number, start: number): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (let i = 0; i < count; i++) {
    const user = i % 2 === 0;
    messages.push({
      id: `m${start}x${i}`,
      role: user ? 'user' : 'assistant',
      content: user ? USER_TEXT : ANSWER_TEXT,
      status: 'complete',
      createdAt: start + i,
      ...(user ? {} : { model: 'tiny.gguf', completionTokens: 120, timings: { predictedPerSecond: 42.5, ttftMs: 180 } }),
    });
  }
  return messages;
}

function tempDir(name: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `llama-chat-bench-${name}-`));
}

async function flushCost(notes: string[]): Promise<ReturnType<typeof ratioMetric>[]> {
  const dir = tempDir('flush');
  const clock = new FakeClock();
  const store = new ChatStore({ dir, clock, flushIntervalMs: FLUSH_MS });
  try {
    await store.open();
    const chats: Record<'small' | 'large', { chatId: string; messageId: string }> = {} as never;
    for (const [key, count] of [['small', 10], ['large', 10_000]] as const) {
      const chat = await store.createChat({ title: key, messages: history(count - 1, count) });
      const messageId = `stream-${key}`;
      await store.addMessage(chat.id, { id: messageId, role: 'assistant', content: '', status: 'streaming', createdAt: clock.now() });
      chats[key] = { chatId: chat.id, messageId };
    }
    // Let the writes of the set-up settle, so the timed flushes only carry their own append.
    clock.advance(FLUSH_MS);
    await store.whenIdle();
    const delta = 'x'.repeat(APPEND_CHARS);
    const flushOnce = async (key: 'small' | 'large'): Promise<number> => {
      store.appendToMessage(chats[key].chatId, chats[key].messageId, { content: delta });
      const t0 = performance.now();
      clock.advance(FLUSH_MS); // the store's own periodic flush timer fires
      await store.whenIdle();
      return performance.now() - t0;
    };
    const s = await interleaved({ small: () => flushOnce('small'), large: () => flushOnce('large') }, { warmup: 3, rounds: FLUSH_ROUNDS });
    const sizes = ['small', 'large'].map((k) => {
      const file = path.join(dir, 'chats', `${chats[k as 'small'].chatId}.jsonl`);
      return fs.statSync(file).size;
    });
    notes.push(
      `Flush: ChatStore on a temp dir (${os.tmpdir()}) with a fake clock; a chat of 10 and one of 10,000 messages ` +
        `(files ${round(sizes[0] / 1024)} KiB and ${round(sizes[1] / 1024 / 1024)} MiB), each with a streaming answer as ` +
        `the last message. One sample = appendToMessage(${APPEND_CHARS} chars) + the periodic flush timer firing + ` +
        `whenIdle() (append + datasync). ${FLUSH_ROUNDS} interleaved rounds after 3 warm-up rounds; medians.`,
    );
    return [
      ratioMetric('storage: periodic flush of streamed text at message 10,000', median(s.large), 'ms', { name: 'at message 10', value: median(s.small) }, { op: '<=', value: 1.5 }),
    ];
  } finally {
    await store.dispose();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function openWorkspace(notes: string[]): Promise<ReturnType<typeof metric>[]> {
  const dir = tempDir('open');
  try {
    const t0 = performance.now();
    const writer = new ChatStore({ dir });
    await writer.open();
    for (let c = 0; c < WORKSPACE_CHATS; c++) {
      await writer.createChat({ title: `Chat ${c}`, messages: history(MESSAGES_PER_CHAT, c * MESSAGES_PER_CHAT) });
    }
    await writer.dispose();
    const buildMs = performance.now() - t0;
    const files = fs.readdirSync(path.join(dir, 'chats'));
    const bytes = files.reduce((a, f) => a + fs.statSync(path.join(dir, 'chats', f)).size, 0);
    const indexFile = path.join(dir, 'index.json');

    const openOnce = async (withIndex: boolean): Promise<number> => {
      if (!withIndex) fs.rmSync(indexFile, { force: true });
      const start = performance.now();
      const store = new ChatStore({ dir });
      const problems = await store.open();
      const list = store.listChats();
      const ms = performance.now() - start;
      if (list.length !== WORKSPACE_CHATS || problems.length > 0) throw new Error(`opened ${list.length} chats, ${problems.length} problems`);
      await store.dispose(); // writes the index again after a rebuild
      return ms;
    };
    const s = await interleaved({ index: () => openOnce(true), rebuild: () => openOnce(false) }, { warmup: 1, rounds: OPEN_ROUNDS });
    notes.push(
      `Workspace: ${WORKSPACE_CHATS.toLocaleString('en')} chats × ${MESSAGES_PER_CHAT} messages ` +
        `(${(WORKSPACE_CHATS * MESSAGES_PER_CHAT).toLocaleString('en')} messages, ${round(bytes / 1024 / 1024)} MiB of chat files, ` +
        `written through ChatStore.createChat in ${round(buildMs / 1000)} s). One sample = new ChatStore + open() + ` +
        `listChats() (1,000 rows); files are in the page cache (a warm reopen). ${OPEN_ROUNDS} interleaved rounds with ` +
        `and without index.json after 1 warm-up round; medians.`,
    );
    const heap = await heapWhileOpening(dir, notes);
    return [
      metric('storage: open 1,000 chats / 100,000 messages until the chat list (index present)', median(s.index), 'ms', { op: '<=', value: 300 }),
      metric('storage: same with index.json missing (rebuilt from chat headers)', median(s.rebuild), 'ms', { op: '<=', value: 300 }),
      ...heap,
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const MiB = 1024 * 1024;

/** Heap in use after a full collection. */
function heapAfterGc(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error('the heap part needs node --expose-gc (scripts/bench.sh passes it)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Opens every chat once, one after another, as a user clicking through the list would; heap after 100 and after all. */
async function heapRun(dir: string, maxLoadedChats: number | undefined): Promise<{ base: number; at100: number; atAll: number }> {
  const store = new ChatStore({ dir, watch: false, ...(maxLoadedChats !== undefined ? { maxLoadedChats } : {}) });
  try {
    await store.open();
    const ids = store.listChats().map((c) => c.id);
    const base = heapAfterGc();
    let at100 = 0;
    for (let i = 0; i < ids.length; i++) {
      store.setActiveChat(ids[i]);
      const chat = await store.getChat(ids[i]);
      if (chat?.messages.length !== MESSAGES_PER_CHAT) throw new Error(`chat ${ids[i]} has ${chat?.messages.length} messages`);
      if (i + 1 === 100) at100 = heapAfterGc();
    }
    const atAll = heapAfterGc();
    return { base, at100, atAll };
  } finally {
    await store.dispose();
  }
}

async function heapWhileOpening(dir: string, notes: string[]): Promise<ReturnType<typeof metric>[]> {
  const bounded = await heapRun(dir, undefined);
  const unbounded = await heapRun(dir, Number.POSITIVE_INFINITY);
  const mib = (b: number): number => b / MiB;
  notes.push(
    `Heap: the same ${WORKSPACE_CHATS.toLocaleString('en')} chats opened one after another (setActiveChat + getChat, ` +
      `as the view does), heapUsed after two global.gc() calls: after open() ${round(mib(bounded.base))} MiB, after 100 ` +
      `chats ${round(mib(bounded.at100))} MiB, after all ${round(mib(bounded.atAll))} MiB with the default ` +
      `maxLoadedChats (16 bodies kept). With every body kept (maxLoadedChats = Infinity, the old behaviour): ` +
      `${round(mib(unbounded.at100))} MiB after 100, ${round(mib(unbounded.atAll))} MiB after all. One run each.`,
  );
  return [
    ratioMetric(
      'storage: host heap after opening 1,000 chats one after another (after gc)',
      mib(bounded.atAll),
      'MiB',
      { name: 'after 100 chats', value: mib(bounded.at100) },
      { op: '<=', value: 1.25 },
    ),
    ratioMetric('storage: same with every chat body kept (no eviction)', mib(unbounded.atAll), 'MiB', { name: 'after 100 chats', value: mib(unbounded.at100) }),
  ];
}

void runPart('storage', 'Storage', async (notes) => [...(await flushCost(notes)), ...(await openWorkspace(notes))]);
