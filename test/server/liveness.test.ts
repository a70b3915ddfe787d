/**
 * Liveness through the session against the real llama-server: a server that only pings (the proxy holds the answer
 * and writes `:` frames, as llama-server does during a long prefill) is busy, never stale; frames that decode to
 * nothing keep a slow stream alive; a window that closes mid-answer detaches, and the next window resumes the
 * answer the server kept, to its end, without doubled text.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChatStore } from '../../src/core/store/chatStore';
import { LlamaClient } from '../../src/core/server/llamaClient';
import { ChatSession } from '../../src/core/session/session';
import type { SessionSettings } from '../../src/core/session/sessionApi';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import { startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';
import { MemoryRepository } from '../support/memoryRepository';
import { serverUnderTest } from './hooks';

const CHAT = '/v1/chat/completions';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, read: () => T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = read();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

describe('liveness through the session (real llama-server)', () => {
  let proxy: FaultProxy;
  let client: LlamaClient;

  beforeEach(async () => {
    proxy = await startFaultProxy({ target: serverUnderTest().url });
    client = new LlamaClient({ baseUrl: proxy.url, requestTimeoutMs: 10_000 });
  });
  afterEach(async () => {
    client.dispose();
    await proxy.stop();
  });

  function session(settings: SessionSettings, repository = new MemoryRepository()) {
    const s = new ChatSession({ streamer: client, repository, settings: () => settings });
    const events: SessionEvent[] = [];
    s.onEvent((e) => events.push(e));
    return { s, events, repository };
  }

  it('only pings for longer than staleSeconds: busy, never stale; then the answer completes', async function () {
    this.timeout(40_000);
    const { s, events } = session({ staleSeconds: 2, maxTokens: 16, temperature: 0 });
    proxy.setMode({ kind: 'pingSilence', afterEvents: 1, pingMs: 400, path: CHAT });
    const chat = await s.newChat();
    const out = await s.send(chat.id, 'hello');
    assert.ok(out.ok);
    const busy = await until('busy', () => s.activeStreams()[0]?.stats.busyMs, 15_000);
    assert.ok(busy >= 5_000);
    await sleep(2_500);
    assert.equal(events.filter((e) => e.type === 'stale').length, 0, 'pings keep it alive past staleSeconds');
    assert.ok(proxy.stats().pingsWritten >= 8);
    proxy.setMode({ kind: 'pass' });
    const ended = await until('the end', () => events.find((e): e is Extract<SessionEvent, { type: 'streamEnded' }> => e.type === 'streamEnded'), 15_000);
    assert.equal(ended.message.status, 'complete');
    await s.shutdown();
    s.dispose();
  });

  it('frames that decode to nothing, one every 700 ms with staleSeconds 1, keep a slow stream from going stale', async function () {
    this.timeout(40_000);
    const { s, events } = session({ staleSeconds: 1, maxTokens: 3, temperature: 0 });
    // Two empty frames after each real event, 700 ms apart: the only activity for 1.4 s at a time.
    proxy.setMode({ kind: 'emptyFrames', every: 1, count: 2, intervalMs: 700, path: CHAT });
    const chat = await s.newChat();
    assert.ok((await s.send(chat.id, 'hi')).ok);
    const ended = await until('the end', () => events.find((e): e is Extract<SessionEvent, { type: 'streamEnded' }> => e.type === 'streamEnded'), 30_000);
    assert.equal(ended.message.status, 'complete');
    assert.equal(events.filter((e) => e.type === 'stale').length, 0, 'never called stale');
    assert.ok(proxy.stats().emptyFramesInserted >= 6);
    await s.shutdown();
    s.dispose();
  });

  it('a window that closes mid-answer detaches; the next one resumes the answer to its end, text kept once', async function () {
    this.timeout(60_000);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-chat-reload-'));
    try {
      const settings: SessionSettings = { staleSeconds: 30, maxTokens: 300, temperature: 0 };
      const first = new ChatStore({ dir });
      await first.open();
      const a = session(settings, first as unknown as MemoryRepository);
      // Slow enough that the answer is mid-way when the window "closes".
      proxy.setMode({ kind: 'slow', eventsPerSecond: 40 });
      const chat = await a.s.newChat();
      const out = await a.s.send(chat.id, 'Tell me a long story');
      assert.ok(out.ok && out.messageId);
      await until('some text', () => a.events.some((e) => e.type === 'delta' && e.content) || undefined, 15_000);
      await a.s.shutdown();
      a.s.dispose();
      await first.dispose();

      const second = new ChatStore({ dir });
      await second.open();
      // A copy: the store hands out its live chat, which the resumed stream then extends.
      const cut = structuredClone((await second.getChat(chat.id))!.messages[1]);
      assert.equal(cut.status, 'interrupted');
      proxy.setMode({ kind: 'pass' });
      const b = session(settings, second as unknown as MemoryRepository);
      assert.equal(await b.s.resumeDropped(), 1, 'the server still had the stream');
      const ended = await until('the resumed end', () => b.events.find((e): e is Extract<SessionEvent, { type: 'streamEnded' }> => e.type === 'streamEnded'), 30_000);
      assert.equal(ended.message.status, 'complete', JSON.stringify(ended.message.error));
      assert.ok(ended.message.content.startsWith(cut.content), 'the text saved before the close is kept, once');
      // The same text as the whole stream the server generated (replayed from byte 0).
      const replay = client.resumeStream(out.messageId);
      let whole = '';
      for await (const batch of replay) for (const e of batch) if (e.type === 'content') whole += e.text;
      assert.equal(ended.message.content, whole, 'nothing lost or doubled');
      assert.ok(ended.message.content.length > cut.content.length, `and the rest follows (${cut.content.length} → ${ended.message.content.length} of ${whole.length}; log ${proxy.stats().requestLog.map((x) => x.method + ' ' + x.path + ' ' + String(x.status)).join(', ')})`);
      await b.s.shutdown();
      b.s.dispose();
      await second.dispose();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
