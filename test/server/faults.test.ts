/**
 * Faults a user must survive, injected around a real llama-server: the real LlamaClient, ChatSession and ChatStore
 * (temp dir), a real clock with a small staleSeconds, and the fault proxy in front of the server. Every test checks
 * the answer's final status and kept text (also after reloading the store from disk), and that the chat still
 * answers the next question.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChatMessage } from '../../src/core/chats/chat';
import { ChatStore, nodeStoreFs } from '../../src/core/store/chatStore';
import type { StoreFs } from '../../src/core/store/chatStore';
import type { ChatRequest, ChatStreamer, ServerProps } from '../../src/core/server/client';
import type { StreamEvent } from '../../src/core/base/events';
import { LlamaClient } from '../../src/core/server/llamaClient';
import type { Logger } from '../../src/core/base/logger';
import { ChatSession } from '../../src/core/session/session';
import type { ActionOutcome, SessionSettings } from '../../src/core/session/sessionApi';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import { startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';
import { ensureLlamaServer } from '../harness/llamaBuild';
import { startLlamaServer } from '../harness/llamaServer';
import type { LlamaServerHandle } from '../harness/llamaServer';
import { findFreePort, spawnProcess, waitForHttp } from '../harness/process';
import { serverUnderTest } from './hooks';
import type { SpawnedProcess } from '../harness/process';
import { ensureTinyModel } from '../harness/tinyModel';
import { RecordingLogger } from '../support/recordingLogger';

const API_KEY = 'rel-test-key-5b1f0c93e7';
const CHAT_PATH = '/v1/chat/completions';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(15);
  }
}

/** The chat streamer the session sees: the real LlamaClient, re-pointable like the extension's client holder. */
class ClientSwitch implements ChatStreamer {
  client!: LlamaClient;

  constructor(
    url: string,
    private readonly logger: Logger,
    private apiKey?: string,
  ) {
    this.point(url, apiKey);
  }

  point(url: string, apiKey = this.apiKey): void {
    this.client?.dispose();
    this.apiKey = apiKey;
    this.client = new LlamaClient({ baseUrl: url, apiKey: () => this.apiKey, requestTimeoutMs: 5_000, connectTimeoutMs: 3_000, logger: this.logger });
  }

  streamChat(request: ChatRequest, signal?: AbortSignal): AsyncIterable<StreamEvent> {
    // The random-weight model must not stop early by chance: answers are exactly maxTokens long.
    return this.client.streamChat({ ...request, extra: { ...request.extra, ignore_eos: true } }, signal);
  }

  /** The path the session takes with the real client (one batch per network chunk). */
  streamChatBatches(request: ChatRequest, signal?: AbortSignal): AsyncIterable<StreamEvent[]> {
    return this.client.streamChatBatches({ ...request, extra: { ...request.extra, ignore_eos: true } }, signal);
  }

  getProps(signal?: AbortSignal): Promise<ServerProps> {
    return this.client.getProps(signal);
  }
}

/** A store filesystem that can be made to fail every write, like a full disk. */
class BreakableFs implements StoreFs {
  failWith: string | undefined;
  failures = 0;
  private check(file: string): void {
    if (this.failWith === undefined) return;
    this.failures++;
    throw Object.assign(new Error(`${this.failWith}: simulated failure, write '${file}'`), { code: this.failWith, syscall: 'write', path: file });
  }
  mkdir = (d: string): Promise<void> => nodeStoreFs.mkdir(d);
  readdir = (d: string): Promise<string[]> => nodeStoreFs.readdir(d);
  readFile = (f: string): Promise<Buffer> => nodeStoreFs.readFile(f);
  readHead = (f: string, n: number): Promise<Buffer> => nodeStoreFs.readHead(f, n);
  stat = (f: string): ReturnType<StoreFs['stat']> => nodeStoreFs.stat(f);
  append = async (f: string, data: Buffer): ReturnType<StoreFs['append']> => {
    this.check(f);
    return nodeStoreFs.append(f, data);
  };
  writeDurable = async (f: string, data: Buffer): ReturnType<StoreFs['writeDurable']> => {
    this.check(f);
    return nodeStoreFs.writeDurable(f, data);
  };
  rename = async (a: string, b: string): Promise<void> => {
    this.check(b);
    return nodeStoreFs.rename(a, b);
  };
  unlink = (f: string): Promise<void> => nodeStoreFs.unlink(f);
  syncDir = (d: string): Promise<void> => nodeStoreFs.syncDir(d);
}

interface RigOptions {
  url: string;
  apiKey?: string;
  settings?: Partial<SessionSettings>;
  fs?: StoreFs;
}

/** One user's setup: store in a temp dir, client, session, and every event and log line. */
class Rig {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-chat-faults-'));
  readonly logger = new RecordingLogger();
  readonly events: SessionEvent[] = [];
  readonly streamer: ClientSwitch;
  readonly store: ChatStore;
  readonly session: ChatSession;
  readonly settings: SessionSettings;

  constructor(options: RigOptions) {
    this.settings = { staleSeconds: 30, maxTokens: 24, temperature: 0, ...options.settings };
    this.streamer = new ClientSwitch(options.url, this.logger, options.apiKey);
    this.store = new ChatStore({ dir: this.dir, logger: this.logger, flushIntervalMs: 100, ...(options.fs ? { fs: options.fs } : {}) });
    this.session = new ChatSession({ streamer: this.streamer, repository: this.store, logger: this.logger, settings: () => this.settings });
    this.session.onEvent((e) => this.events.push(e));
  }

  static async open(options: RigOptions): Promise<Rig> {
    const rig = new Rig(options);
    assert.deepEqual(await rig.store.open(), []);
    return rig;
  }

  async newChat(): Promise<string> {
    return (await this.session.newChat()).id;
  }

  /** Sends and returns the new answer's id. */
  async send(chatId: string, text: string): Promise<string> {
    return okId(await this.session.send(chatId, text));
  }

  ended(messageId: string, timeoutMs = 20_000): Promise<ChatMessage> {
    return until(`the end of ${messageId}`, () => {
      const e = this.events.find((x): x is Extract<SessionEvent, { type: 'streamEnded' }> => x.type === 'streamEnded' && x.messageId === messageId);
      return e?.message;
    }, timeoutMs);
  }

  /** Sends, waits for the end, and checks the answer is complete and saved. */
  async sendComplete(chatId: string, text: string): Promise<ChatMessage> {
    const id = await this.send(chatId, text);
    const m = await this.ended(id);
    assert.equal(m.status, 'complete', `expected a complete answer, got ${m.status} ${JSON.stringify(m.error)}`);
    assert.ok(m.content.length > 0, 'the answer has text');
    assert.equal(m.content, this.deltaText(id));
    return m;
  }

  deltaText(messageId: string): string {
    return this.events
      .filter((e): e is Extract<SessionEvent, { type: 'delta' }> => e.type === 'delta' && e.messageId === messageId)
      .map((e) => e.content ?? '')
      .join('');
  }

  firstDelta(messageId: string, minChars = 1): Promise<true> {
    return until('answer text', () => this.deltaText(messageId).length >= minChars || undefined);
  }

  staleCount(messageId: string): number {
    return this.events.filter((e) => e.type === 'stale' && e.messageId === messageId).length;
  }

  /** The chat as a fresh store reads it from disk. */
  async reloaded(chatId: string): Promise<ChatMessage[]> {
    await this.store.flush();
    const fresh = new ChatStore({ dir: this.dir });
    try {
      assert.deepEqual(await fresh.open(), []);
      const chat = await fresh.getChat(chatId);
      assert.ok(chat, 'the chat is on disk');
      return chat.messages;
    } finally {
      await fresh.dispose();
    }
  }

  /** Everything the rig wrote to disk, as text. */
  diskText(): string {
    const out: string[] = [];
    const walk = (d: string): void => {
      for (const name of fs.readdirSync(d)) {
        const p = path.join(d, name);
        if (fs.statSync(p).isDirectory()) walk(p);
        else out.push(fs.readFileSync(p, 'utf8'));
      }
    };
    walk(this.dir);
    return out.join('\n');
  }

  async close(): Promise<void> {
    await this.session.shutdown();
    this.session.dispose();
    await this.store.dispose();
    this.streamer.client.dispose();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function okId(out: ActionOutcome): string {
  assert.ok(out.ok, `expected ok, got ${JSON.stringify(out)}`);
  assert.ok(out.messageId);
  return out.messageId;
}

/** Checks the answer on disk matches what the session ended with. */
async function assertSaved(rig: Rig, chatId: string, ended: ChatMessage): Promise<void> {
  const saved = (await rig.reloaded(chatId)).find((m) => m.id === ended.id);
  assert.ok(saved, 'the answer is on disk');
  assert.equal(saved.status, ended.status);
  assert.equal(saved.content, ended.content);
  assert.equal(saved.error?.kind, ended.error?.kind);
}

/** About one token per word with the tiny model's tokenizer. */
const longPrompt = (words: number): string => Array.from({ length: words }, () => 'apple').join(' ');

describe('faults around a real llama-server', function () {
  this.timeout(45_000);
  let main: LlamaServerHandle;
  let proxy: FaultProxy;
  const rigs: Rig[] = [];

  const rig = async (options: Partial<RigOptions> = {}): Promise<Rig> => {
    const r = await Rig.open({ url: proxy.url, ...options });
    rigs.push(r);
    return r;
  };

  before(async function () {
    this.timeout(240_000);
    main = serverUnderTest();
    proxy = await startFaultProxy({ target: main.url });
  });

  after(async () => {
    await proxy?.stop();
  });

  beforeEach(() => proxy.setMode({ kind: 'pass' }));

  afterEach(async () => {
    for (const r of rigs.splice(0)) await r.close();
  });

  describe('connection', () => {
    const badUrls: { name: string; url: () => Promise<string>; kind: string; hint: RegExp }[] = [
      {
        name: 'server never started (closed port)',
        url: async () => `http://127.0.0.1:${await findFreePort()}`,
        kind: 'unreachable',
        hint: /Start llama-server/,
      },
      { name: 'wrong URL path', url: () => Promise.resolve(`${main.url}/api`), kind: 'bad_request', hint: /llamaChat\.serverUrl/ },
      { name: 'DNS failure (.invalid)', url: () => Promise.resolve('http://llama-server.invalid:8080'), kind: 'dns', hint: /./ },
      // llama-server never answers a TLS hello, so this is a connect timeout (3 s here), not a TLS error.
      { name: 'https URL to a plain HTTP server', url: () => Promise.resolve(`https://127.0.0.1:${main.port}`), kind: 'timeout', hint: /use http:\/\// },
    ];
    for (const c of badUrls) {
      it(`${c.name}: the answer fails with ${c.kind} and a hint; the chat works once the URL is right`, async () => {
        const r = await rig({ url: await c.url() });
        const chat = await r.newChat();
        const failed = await r.ended(await r.send(chat, 'hello?'));
        assert.equal(failed.status, 'failed');
        assert.equal(failed.error?.kind, c.kind, JSON.stringify(failed.error));
        assert.match(failed.error?.hint ?? '', c.hint);
        assert.equal(failed.content, '');
        await assertSaved(r, chat, failed);

        r.streamer.point(main.url);
        await r.sendComplete(chat, 'and now?');
        const saved = await r.reloaded(chat);
        assert.deepEqual(saved.map((m) => `${m.role}:${m.status}`), ['user:complete', 'assistant:failed', 'user:complete', 'assistant:complete']);
      });
    }

    it('server killed mid-stream keeps the partial answer as failed; after a restart on the same port the next send works', async function () {
      this.timeout(90_000);
      const doomed = await startLlamaServer({ parallel: 1 });
      let restarted: SpawnedProcess | undefined;
      try {
        const r = await rig({ url: doomed.url, settings: { maxTokens: 1500 } });
        const chat = await r.newChat();
        const id = await r.send(chat, 'tell me a long story');
        await r.firstDelta(id, 8);
        assert.ok(doomed.pid);
        process.kill(doomed.pid, 'SIGKILL');
        const m = await r.ended(id);
        assert.equal(m.status, 'failed');
        assert.ok(m.error && ['truncated', 'unreachable'].includes(m.error.kind), JSON.stringify(m.error));
        assert.ok(m.content.length >= 8, 'the partial answer is kept');
        assert.equal(m.content, r.deltaText(id), 'every streamed character is kept');
        await assertSaved(r, chat, m);
        await doomed.stop();

        // Same binary, model and port: the extension's URL does not change.
        const binary = await ensureLlamaServer();
        const model = await ensureTinyModel();
        const logFile = `${doomed.logFile ?? path.join(os.tmpdir(), 'llama-restart')}.restart.log`;
        const args = ['-m', model, '--host', '127.0.0.1', '--port', String(doomed.port), '-c', '2048', '-np', '1', '--no-ui', '-t', '1', '-tb', '1'];
        restarted = spawnProcess(binary, args, { logFile });
        await waitForHttp(`${doomed.url}/health`, { timeoutMs: 60_000, intervalMs: 50 });
        r.settings.maxTokens = 16;
        await r.sendComplete(chat, 'are you back?');
      } finally {
        await restarted?.stop({ graceMs: 3000 });
        await doomed.stop();
      }
    });
  });

  describe('stalls', () => {
    /**
     * A chat with staleSeconds 1 whose answer the proxy stalls after `afterEvents` events; resolves once stale.
     * (At temperature 0 the tiny model starts with a dozen newlines, which the think-tag parser holds until text
     * shows no <think> block follows: "mid-stream" needs about 30 events.)
     */
    async function sendUntilStale(afterEvents: number, question: string): Promise<{ r: Rig; chat: string; id: string }> {
      const r = await rig({ settings: { staleSeconds: 1, maxTokens: 64 } });
      const chat = await r.newChat();
      proxy.setMode({ kind: 'stall', afterEvents, path: CHAT_PATH });
      const id = await r.send(chat, question);
      await until('stale', () => r.staleCount(id) > 0 || undefined, 10_000);
      return { r, chat, id };
    }

    it('a stall before the first byte is stale once; Retry gives a complete new answer', async () => {
      const { r, chat, id: stuck } = await sendUntilStale(0, 'anyone there?');
      await sleep(1_500); // one more threshold of silence: still one warning
      assert.equal(r.staleCount(stuck), 1);
      assert.equal(r.session.activeStreams()[0]?.stale, true);

      proxy.setMode({ kind: 'pass' });
      const fresh = okId(await r.session.retry(chat));
      const old = await r.ended(stuck);
      assert.equal(old.status, 'failed');
      assert.equal(old.error?.kind, 'aborted');
      assert.match(old.error?.message ?? '', /no activity/);
      const m = await r.ended(fresh);
      assert.equal(m.status, 'complete');
      assert.equal(m.content, r.deltaText(fresh));
      const saved = await r.reloaded(chat);
      assert.deepEqual(saved.map((x) => `${x.role}:${x.status}`), ['user:complete', 'assistant:failed', 'assistant:complete']);
      assert.equal(saved[2].content, m.content);
    });

    it('a stall mid-stream is stale once; Discard keeps the partial text as failed; the next send works', async () => {
      const { r, chat, id } = await sendUntilStale(30, 'start, then stall');
      const partial = r.deltaText(id);
      assert.ok(partial.length > 0, 'some text arrived before the stall');
      await sleep(1_500);
      assert.equal(r.staleCount(id), 1);

      const out = await r.session.discard(chat);
      assert.ok(out.ok);
      const m = await r.ended(id);
      assert.equal(m.status, 'failed');
      assert.equal(m.content, partial);
      await assertSaved(r, chat, m);

      proxy.setMode({ kind: 'pass' });
      await r.sendComplete(chat, 'again please');
    });

    it('a stall mid-stream, then Retry: the stalled answer fails with its text, the new one completes', async () => {
      const { r, chat, id } = await sendUntilStale(30, 'start, then stall');
      const partial = r.deltaText(id);
      proxy.setMode({ kind: 'pass', path: CHAT_PATH });
      // The held events are released when the mode changes; Retry must still win cleanly or say it lost.
      const out = await r.session.retry(chat);
      const old = await r.ended(id);
      if (out.ok) {
        assert.equal(old.status, 'failed');
        assert.ok(old.content.startsWith(partial));
        assert.equal(old.content, r.deltaText(id));
        const m = await r.ended(out.messageId!);
        assert.equal(m.status, 'complete');
      } else {
        assert.equal(out.reason, 'already-finished');
        assert.equal(old.status, 'complete');
      }
      await assertSaved(r, chat, old);
    });

    it('prompt processing with progress frames but no tokens for longer than staleSeconds is not stale', async function () {
      this.timeout(60_000);
      // Small batches: one progress frame per 8 prompt tokens; the proxy paces them so the prompt phase
      // visibly outlasts the 1 s threshold whatever the machine's speed.
      const slowPrompt = await startLlamaServer({ parallel: 1, extraArgs: ['-b', '8', '-ub', '8'] });
      const paced = await startFaultProxy({ target: slowPrompt.url, mode: { kind: 'slow', eventsPerSecond: 40, path: CHAT_PATH } });
      try {
        const r = await rig({ url: paced.url, settings: { staleSeconds: 1, maxTokens: 3 } });
        const chat = await r.newChat();
        const id = await r.send(chat, longPrompt(700));
        const m = await r.ended(id, 40_000);
        const progress = r.events.filter((e) => e.type === 'progress' && e.messageId === id);
        assert.ok(progress.length >= 60, `many progress frames (${progress.length})`);
        assert.equal(r.staleCount(id), 0, 'never stale while progress flows');
        assert.equal(m.status, 'complete');
        assert.equal(m.content, r.deltaText(id));
        await assertSaved(r, chat, m);
      } finally {
        await paced.stop();
        await slowPrompt.stop();
      }
    });

    it('a very slow stream (about 1 token/s, staleSeconds 2, ~6 s) is never stale and completes', async function () {
      this.timeout(30_000);
      const r = await rig({ settings: { staleSeconds: 2, maxTokens: 3 } });
      const chat = await r.newChat();
      proxy.setMode({ kind: 'slow', eventsPerSecond: 1.25, path: CHAT_PATH });
      const id = await r.send(chat, 'slowly');
      const m = await r.ended(id, 25_000);
      assert.equal(r.staleCount(id), 0);
      assert.equal(m.status, 'complete');
      assert.equal(m.completionTokens, 3);
      await assertSaved(r, chat, m);
    });
  });

  describe('broken streams', () => {
    it('a connection cut mid-stream is resumed from the last complete event: the answer completes, nothing lost or doubled', async () => {
      const r = await rig({ settings: { maxTokens: 64 } });
      const chat = await r.newChat();
      proxy.setMode({ kind: 'cutResume', afterEvents: 30, path: CHAT_PATH });
      const id = await r.send(chat, 'cut me off');
      const m = await r.ended(id);
      assert.equal(m.status, 'complete', JSON.stringify(m.error));
      assert.equal(m.completionTokens, 64, 'every token, once');
      assert.equal(m.content, r.deltaText(id), 'the deltas add up to the saved text');
      const log = proxy.stats().requestLog.map((x) => `${x.method} ${x.path.split('?')[0]}`);
      assert.ok(log.some((x) => x.startsWith('GET /v1/stream')), `the client resumed: ${log.join(', ')}`);
      assert.equal(proxy.stats().lastCut?.kind, 'cutResume');
      await assertSaved(r, chat, m);
      proxy.setMode({ kind: 'pass' });
      await r.sendComplete(chat, 'whole answer please');
    });

    it('[DONE] missing, and finish without usage: the answer is complete with the same text as a whole stream', async () => {
      const r = await rig({ settings: { maxTokens: 12 } });
      const prompt = 'the same question each time';
      // Greedy decoding: every run of this prompt gives the same text. A warm-up fills the prompt cache so
      // the measured run and the cut runs send the same frames.
      await r.sendComplete(await r.newChat(), prompt);
      const before = proxy.stats();
      const whole = await r.sendComplete(await r.newChat(), prompt);
      const afterRun = proxy.stats();
      assert.equal(afterRun.requests - before.requests, 1, 'only the chat request (the client caches /props)');
      const frames = afterRun.forwardedEvents - before.forwardedEvents;
      assert.ok(frames > 14, `frames counted (${frames})`);

      for (const [label, keep] of [['no [DONE]', frames - 1], ['no usage, no [DONE]', frames - 2]] as const) {
        const chat = await r.newChat();
        proxy.setMode({ kind: 'cut', afterEvents: keep, path: CHAT_PATH });
        const id = await r.send(chat, prompt);
        const m = await r.ended(id);
        proxy.setMode({ kind: 'pass' });
        assert.equal(m.status, 'complete', `${label}: ${JSON.stringify(m.error)}`);
        assert.equal(m.finishReason, 'length', label);
        assert.equal(m.content, whole.content, label);
        await assertSaved(r, chat, m);
        await r.sendComplete(chat, 'next');
      }
    });

    it('two chats stream at once, each text only in its own chat', async () => {
      const r = await rig({ settings: { maxTokens: 16 } });
      proxy.setMode({ kind: 'slow', eventsPerSecond: 40, path: CHAT_PATH });
      const a = await r.newChat();
      const b = await r.newChat();
      const ida = await r.send(a, 'first chat question');
      const idb = await r.send(b, 'second chat question, different');
      assert.equal(r.session.activeStreams().length, 2);
      const [ma, mb] = await Promise.all([r.ended(ida), r.ended(idb)]);
      for (const m of [ma, mb]) assert.equal(m.status, 'complete');
      assert.equal(ma.content, r.deltaText(ida));
      assert.equal(mb.content, r.deltaText(idb));
      for (const e of r.events) {
        if (e.type === 'delta') assert.equal(e.chatId, e.messageId === ida ? a : b, 'each delta names its own chat');
      }
      const savedA = await r.reloaded(a);
      const savedB = await r.reloaded(b);
      assert.deepEqual(savedA.map((m) => m.id).slice(1), [ida]);
      assert.deepEqual(savedB.map((m) => m.id).slice(1), [idb]);
      assert.equal(savedA[1].content, ma.content);
      assert.equal(savedB[1].content, mb.content);
    });

    it('starting a second chat while the first streams (switching chats) lands each text in its chat', async () => {
      const r = await rig({ settings: { maxTokens: 40 } });
      proxy.setMode({ kind: 'slow', eventsPerSecond: 60, path: CHAT_PATH });
      const a = await r.newChat();
      const ida = await r.send(a, 'a long answer in chat A');
      await r.firstDelta(ida, 4);
      const b = await r.newChat();
      r.settings.maxTokens = 8;
      const idb = await r.send(b, 'short one in chat B');
      const mb = await r.ended(idb);
      r.settings.maxTokens = 40;
      const ma = await r.ended(ida);
      assert.equal(ma.status, 'complete');
      assert.equal(mb.status, 'complete');
      assert.equal(ma.completionTokens, 40);
      assert.equal(mb.completionTokens, 8);
      assert.deepEqual((await r.reloaded(a)).map((m) => m.content).slice(1), [ma.content]);
      assert.deepEqual((await r.reloaded(b)).map((m) => m.content).slice(1), [mb.content]);
    });
  });

  describe('HTTP errors', () => {
    it('400 exceed-context: the message names the token counts and suggests what to do; a short question works', async () => {
      const r = await rig();
      const chat = await r.newChat();
      const m = await r.ended(await r.send(chat, longPrompt(3000)));
      assert.equal(m.status, 'failed');
      assert.equal(m.error?.kind, 'context_exceeded');
      assert.equal(m.error?.status, 400);
      const n = m.error?.nPromptTokens;
      const ctx = m.error?.nCtx;
      assert.ok(n !== undefined && ctx !== undefined && n > ctx, JSON.stringify(m.error));
      const said = `${m.error?.message} ${m.error?.hint}`;
      assert.ok(said.includes(String(n)) || said.includes(n.toLocaleString('en-US')), said);
      assert.ok(said.includes(String(ctx)) || said.includes(ctx.toLocaleString('en-US')), said);
      assert.match(m.error?.hint ?? '', /new chat|shorter|context|-c /i);
      await assertSaved(r, chat, m);
      // The too-long question stays in the history; a new chat answers.
      await r.sendComplete(await r.newChat(), 'short');
    });

    const statusCases = [
      { name: '500 with a JSON body', status: 500, body: '{"error":{"code":500,"message":"boom: out of memory","type":"server_error"}}', says: /boom: out of memory/ },
      {
        name: '500 with an HTML body',
        status: 500,
        body: '<!DOCTYPE html><html><head><title>Internal Proxy Failure</title></head><body><h1>oops</h1><script>x()</script></body></html>',
        says: /Internal Proxy Failure/,
      },
    ];
    for (const c of statusCases) {
      it(`${c.name}: failed as server_error quoting the server; the next send works`, async () => {
        const r = await rig();
        const chat = await r.newChat();
        proxy.setMode({ kind: 'status', status: c.status, body: c.body, path: CHAT_PATH });
        const m = await r.ended(await r.send(chat, 'hi'));
        assert.equal(m.status, 'failed');
        assert.equal(m.error?.kind, 'server_error');
        assert.equal(m.error?.status, c.status);
        assert.match(m.error?.message ?? '', c.says);
        assert.doesNotMatch(m.error?.message ?? '', /<script|<html/i);
        assert.ok(m.error?.hint);
        proxy.setMode({ kind: 'pass' });
        await r.sendComplete(chat, 'hi again');
      });
    }

    describe('a server started with --api-key', () => {
      let keyed: LlamaServerHandle;
      let keyedProxy: FaultProxy;
      before(async function () {
        this.timeout(120_000);
        keyed = await startLlamaServer({ parallel: 1, extraArgs: ['--api-key', API_KEY, '-b', '4', '-ub', '4'] });
        keyedProxy = await startFaultProxy({ target: keyed.url });
      });
      after(async () => {
        await keyedProxy?.stop();
        await keyed?.stop();
      });

      it('401 without a key and with a wrong key (different hints); with the key the next send works; the key is never logged, saved or emitted', async () => {
        const r = await rig({ url: keyed.url });
        const chat = await r.newChat();
        const none = await r.ended(await r.send(chat, 'no key'));
        assert.equal(none.status, 'failed');
        assert.equal(none.error?.kind, 'unauthorized');
        assert.equal(none.error?.status, 401);
        r.streamer.point(keyed.url, 'wrong-key-0000');
        const wrong = await r.ended(await r.send(chat, 'wrong key'));
        assert.equal(wrong.error?.kind, 'unauthorized');
        assert.ok(none.error?.hint && wrong.error?.hint);
        assert.notEqual(none.error?.hint, wrong.error?.hint, 'the hint says whether a key was sent');
        r.streamer.point(keyed.url, API_KEY);
        await r.sendComplete(chat, 'right key');
        assert.deepEqual(await r.streamer.client.getSlots().then((s) => s.length), 1);

        assert.ok(r.logger.lines.length > 5);
        for (const line of r.logger.lines) assert.ok(!line.includes(API_KEY), `log line leaks the key: ${line}`);
        assert.ok(!r.logger.lines.some((l) => l.includes('wrong-key-0000')));
        assert.ok(!r.diskText().includes(API_KEY), 'chat files never hold the key');
        assert.ok(!JSON.stringify(r.events).includes(API_KEY), 'session events (webview-bound) never hold the key');
      });

      it('403 with and without a key: forbidden, with a hint; the next send works', async () => {
        const r = await rig({ url: keyedProxy.url, apiKey: API_KEY });
        const chat = await r.newChat();
        const body = '{"error":{"code":403,"message":"Forbidden by policy","type":"permission_error"}}';
        keyedProxy.setMode({ kind: 'status', status: 403, body, path: CHAT_PATH });
        const withKey = await r.ended(await r.send(chat, 'with key'));
        r.streamer.point(keyedProxy.url, '');
        const withoutKey = await r.ended(await r.send(chat, 'without key'));
        for (const m of [withKey, withoutKey]) {
          assert.equal(m.status, 'failed');
          assert.equal(m.error?.kind, 'forbidden');
          assert.equal(m.error?.status, 403);
          assert.ok(m.error?.hint);
        }
        keyedProxy.setMode({ kind: 'pass' });
        r.streamer.point(keyedProxy.url, API_KEY);
        await r.sendComplete(chat, 'allowed now');
      });

      it('Stop during prompt processing cancels the task on the server: the slot is idle and never generated', async () => {
        const r = await rig({ url: keyed.url, apiKey: API_KEY, settings: { maxTokens: 200 } });
        const chat = await r.newChat();
        const prompt = longPrompt(1700);
        const logStart = fs.statSync(keyed.logFile!).size;
        const id = await r.send(chat, prompt);
        await until('prompt progress', () => {
          const ended = r.events.find((e) => e.type === 'streamEnded' && e.messageId === id);
          if (ended) throw new Error(`the answer ended before any progress: ${JSON.stringify(ended)}`);
          return r.events.some((e) => e.type === 'progress' && e.messageId === id) || undefined;
        });
        assert.equal(r.deltaText(id), '', 'still processing the prompt');
        const out = await r.session.stop(chat);
        assert.ok(out.ok, JSON.stringify(out));
        const m = await r.ended(id);
        assert.equal(m.status, 'stopped');
        assert.equal(m.content, '');
        await assertSaved(r, chat, m);

        await until('an idle slot', async () => ((await r.streamer.client.getSlots()).every((s) => !s.isProcessing) ? true : undefined));
        // The server's own record: the task was cancelled and released before its prompt was fully processed.
        const release = await until('the slot release line', () => {
          const log = fs.readFileSync(keyed.logFile!).subarray(logStart).toString('utf8');
          if (!/cancel task/.test(log)) return undefined;
          const lines = [...log.matchAll(/release: .*stop processing: n_tokens = (\d+)/g)];
          return lines.length > 0 ? Number(lines[lines.length - 1][1]) : undefined;
        });
        const promptTokens = (await r.streamer.client.tokenize(prompt)).length;
        assert.ok(release < promptTokens, `released at ${release} of ${promptTokens} prompt tokens`);
        await r.sendComplete(chat, 'short');
      });
    });
  });

  describe('storage', () => {
    it('disk full while streaming: reported, the answer completes in memory, and is saved once writing works', async () => {
      const broken = new BreakableFs();
      const r = await rig({ fs: broken, settings: { maxTokens: 40 } });
      proxy.setMode({ kind: 'slow', eventsPerSecond: 40, path: CHAT_PATH });
      const chat = await r.newChat();
      const id = await r.send(chat, 'write while the disk is full');
      await r.firstDelta(id, 4);
      broken.failWith = 'ENOSPC';
      const m = await r.ended(id);
      assert.ok(broken.failures > 0, 'writes were attempted and failed');
      const problems = r.events.filter((e) => e.type === 'storageError');
      assert.ok(problems.length >= 1, 'the failure was reported');
      assert.match(JSON.stringify(problems[0]), /ENOSPC/);
      assert.equal(m.status, 'complete');
      assert.equal(m.completionTokens, 40);
      assert.equal(m.content, r.deltaText(id), 'the whole answer is in memory');
      const live = await r.store.getChat(chat);
      assert.equal(live?.messages[1]?.content, m.content);

      broken.failWith = undefined;
      proxy.setMode({ kind: 'pass' });
      const next = await r.sendComplete(chat, 'disk is fine again');
      const saved = await r.reloaded(chat);
      assert.deepEqual(saved.map((x) => x.content), ['write while the disk is full', m.content, 'disk is fine again', next.content]);
      assert.deepEqual(saved.map((x) => x.status), ['complete', 'complete', 'complete', 'complete']);
    });
  });
});
