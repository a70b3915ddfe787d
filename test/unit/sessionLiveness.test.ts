/** Slow, busy and dead streams never look alike: liveness on the fake clock, through the session. */
import * as assert from 'node:assert/strict';
import { BUSY_AFTER_MS, ChatSession, pingSeconds } from '../../src/core/session/session';
import { sessionRig, tick } from '../support/sessionRig';

const setup = sessionRig;

const ALIVE_PING = { type: 'alive', ping: true } as const;

describe('ChatSession liveness', () => {
  it('asks llama-server for pings at a quarter of the stale limit (at least 1 s)', async () => {
    const { session, streamer } = setup({ staleSeconds: 60 });
    const chat = await session.newChat();
    await session.send(chat.id, 'q');
    assert.equal(streamer.last.request.extra?.sse_ping_interval, 15);
    assert.equal(pingSeconds(3), 1);
    assert.equal(pingSeconds(1), 1);
  });

  it('pings alone keep a stream from going stale; with no progress it is busy, then tokens clear it', async () => {
    const { session, streamer, clock, of } = setup({ staleSeconds: 10 });
    const chat = await session.newChat();
    await session.send(chat.id, 'long prompt');
    const stream = streamer.last;
    for (let t = 0; t < 30_000; t += 3_000) {
      stream.push(ALIVE_PING);
      await stream.drained();
      clock.advance(3_000);
    }
    assert.equal(of('stale').length, 0, 'a pinging stream is never stale');
    const live = session.activeStreams()[0];
    assert.ok(live.stats.busyMs !== undefined && live.stats.busyMs >= 25_000, `busy for ${live.stats.busyMs}`);
    assert.ok(of('stats').some((e) => e.stats.busyMs !== undefined), 'busy is announced');
    stream.content('token');
    await stream.drained();
    assert.equal(session.activeStreams()[0].stats.busyMs, undefined, 'tokens end busy');
    clock.advance(BUSY_AFTER_MS - 1);
    assert.equal(session.activeStreams()[0].stats.busyMs, undefined);
    clock.advance(1);
    assert.ok(session.activeStreams()[0].stats.busyMs !== undefined, 'busy again after another quiet spell');
  });

  it('a slow stream (one token every 4 s) is neither stale nor busy', async () => {
    const { session, streamer, clock, of } = setup({ staleSeconds: 10 });
    const chat = await session.newChat();
    await session.send(chat.id, 'q');
    for (let i = 0; i < 8; i++) {
      streamer.last.content(`t${i} `);
      await streamer.last.drained();
      clock.advance(4_000);
      assert.equal(session.activeStreams()[0].stats.busyMs, undefined);
    }
    assert.equal(of('stale').length, 0);
  });

  it('no frame at all for staleSeconds is stale; a ping afterwards proves it lives again', async () => {
    const { session, streamer, clock, of } = setup({ staleSeconds: 10 });
    const chat = await session.newChat();
    await session.send(chat.id, 'q');
    clock.advance(10_000);
    await tick();
    assert.equal(of('stale').length, 1);
    streamer.last.push(ALIVE_PING);
    await streamer.last.drained();
    assert.equal(session.activeStreams()[0].stale, false);
  });

  it('every slot busy when sending: the stream says it waits for a free slot until progress comes', async () => {
    const { session, streamer } = setup();
    streamer.withProbes('ok', [0, 1, 2, 3].map((id) => ({ id, isProcessing: true })));
    const chat = await session.newChat();
    await session.send(chat.id, 'q');
    assert.deepEqual(session.activeStreams()[0].stats.queued, { busy: 4, total: 4 });
    streamer.last.push({ type: 'progress', progress: { total: 10, cache: 0, processed: 5, timeMs: 1 } });
    await streamer.last.drained();
    assert.equal(session.activeStreams()[0].stats.queued, undefined);
    streamer.slotsAnswer = [{ id: 0, isProcessing: true }, { id: 1, isProcessing: false }];
    const other = await session.newChat();
    await session.send(other.id, 'q2');
    assert.equal(session.activeStreams().find((s) => s.chatId === other.id)?.stats.queued, undefined, 'a free slot: no wait');
  });

  for (const [name, health, slots, expected] of [
    ['a dead server', new Error('ECONNREFUSED'), new Error('ECONNREFUSED'), 'llama-server is not responding'],
    ['a server still on it', 'ok', [{ id: 1, isProcessing: false }, { id: 2, isProcessing: true }], 'llama-server is still processing this request (slot 2)'],
    ['a dropped answer', 'ok', [{ id: 0, isProcessing: false }], 'llama-server has no request running: the answer was dropped'],
  ] as const) {
    it(`before the stale notice the server is asked: ${name}`, async () => {
      const { session, streamer, clock, of } = setup({ staleSeconds: 5 });
      streamer.withProbes('ok', []);
      const chat = await session.newChat();
      await session.send(chat.id, 'q');
      streamer.healthAnswer = health instanceof Error ? health : 'ok';
      streamer.slotsAnswer = slots instanceof Error ? slots : structuredClone([...slots]);
      clock.advance(5_000);
      for (let i = 0; i < 5 && of('stale').length === 0; i++) await tick();
      assert.equal(of('stale').length, 1);
      assert.equal(of('stale')[0].diagnosis, expected);
      // The session keeps it for whoever draws the stall later (the view's snapshot, the status bar).
      assert.equal(session.activeStreams()[0].diagnosis, expected);
    });
  }
});

describe('ChatSession resumable streams', () => {
  it('sends the answer id as the conversation id, and shows Reconnecting… until text flows again', async () => {
    const { session, streamer } = setup();
    const chat = await session.newChat();
    const out = await session.send(chat.id, 'q');
    assert.ok(out.ok);
    assert.equal(streamer.last.request.conversationId, out.messageId);
    streamer.last.push({ type: 'reconnecting', attempt: 1 });
    await streamer.last.drained();
    assert.equal(session.activeStreams()[0].stats.reconnecting, true);
    streamer.last.content('more');
    await streamer.last.drained();
    assert.equal(session.activeStreams()[0].stats.reconnecting, undefined);
  });

  it('closing the window detaches (the server keeps the stream); a new window resumes it without doubling text', async () => {
    const { session, streamer, repo, clock } = setup();
    const chat = await session.newChat();
    const out = await session.send(chat.id, 'q');
    assert.ok(out.ok && out.messageId);
    streamer.last.content('Hello ');
    await streamer.last.drained();
    const first = streamer.last;
    await session.shutdown();
    assert.equal(first.signal?.reason, 'llama-chat:detach', 'detached, not stopped');
    assert.equal((await repo.getChat(chat.id))!.messages[1].status, 'interrupted');

    // The next window: the server still has the stream and replays it from its first byte.
    const next = new ChatSession({ streamer, repository: repo, clock, settings: () => ({ staleSeconds: 10 }) });
    const replays: string[] = [];
    streamer.lookupStreams = (ids) => Promise.resolve(ids.filter((id) => id === out.messageId).map((id) => ({ id, done: false, totalBytes: 100 })));
    streamer.resumeStream = (id, signal) => {
      replays.push(id);
      return streamer.streamChatBatches({ messages: [] }, signal);
    };
    assert.equal(await next.resumeDropped(), 1);
    assert.deepEqual(replays, [out.messageId]);
    assert.equal(next.isStreaming(chat.id), true);
    streamer.last.content('Hello ').content('world').finish();
    await tick();
    const answer = (await repo.getChat(chat.id))!.messages[1];
    assert.equal(answer.status, 'complete');
    assert.equal(answer.content, 'Hello world', 'the replayed start is not appended twice');
    assert.equal(await next.resumeDropped(), 0, 'nothing left to resume');
    next.dispose();
  });

  it('a stream the server no longer has stays interrupted', async () => {
    const { session, streamer, repo, clock } = setup();
    const chat = await session.newChat();
    await session.send(chat.id, 'q');
    await session.shutdown();
    const next = new ChatSession({ streamer, repository: repo, clock, settings: () => ({ staleSeconds: 10 }) });
    streamer.lookupStreams = () => Promise.resolve([]);
    streamer.resumeStream = () => {
      throw new Error('must not be called');
    };
    assert.equal(await next.resumeDropped(), 0);
    assert.equal((await repo.getChat(chat.id))!.messages[1].status, 'interrupted');
    next.dispose();
  });
});
