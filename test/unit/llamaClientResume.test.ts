/**
 * Resumable streams against a scripted server that speaks llama-server's resumable-stream API: X-Conversation-Id,
 * a resume from the end of the last complete event after a drop (no text lost or doubled), the probe of both
 * spellings (remembered), giving up on 404 without a retry storm, DELETE on Stop, lookup and replay.
 */
import * as assert from 'node:assert/strict';
import { LlamaClient } from '../../src/core/server/llamaClient';
import { parseStreamList, streamPath } from '../../src/core/server/resumableStreams';
import { SseEventCursor } from '../../src/core/server/sseEventCursor';
import type { StreamEvent } from '../../src/core/base/events';
import type { ChatRequest } from '../../src/core/server/client';
import { decodeChatStream } from '../../src/core/server/streamDecoder';
import { ScriptedServer, json, routes, sseResponse } from '../support/scriptedServer';
import type { Handler, RecordedRequest, ScriptedResponse } from '../support/scriptedServer';
import { RecordingLogger } from '../support/recordingLogger';

const ID = 'msg-42';
const CHAT: ChatRequest = { messages: [{ role: 'user', content: 'Hi' }], conversationId: ID };

/** A llama-server-like SSE body: role frame, `n` content frames (multi-byte text included), finish, usage, [DONE]. */
function sseBody(n: number): Buffer {
  const frame = (o: unknown): string => `data: ${JSON.stringify(o)}\n\n`;
  const base = { created: 1, id: 'chatcmpl-x', model: 'tiny', object: 'chat.completion.chunk' };
  let out = frame({ ...base, choices: [{ finish_reason: null, index: 0, delta: { role: 'assistant', content: null } }] });
  for (let i = 0; i < n; i++) {
    out += frame({
      ...base,
      choices: [{ finish_reason: null, index: 0, delta: { content: i % 3 === 0 ? ` héllo日本${i}` : ` w${i}` } }],
      timings: { predicted_n: i + 1, predicted_per_second: 100 },
    });
  }
  out += frame({ ...base, choices: [{ finish_reason: 'length', index: 0, delta: {} }] });
  out += frame({ ...base, choices: [], usage: { completion_tokens: n, prompt_tokens: 3, total_tokens: n + 3 } });
  out += 'data: [DONE]\n\n';
  return Buffer.from(out, 'utf8');
}

/** Byte offsets just past each event's blank line. */
function boundaries(body: Buffer): number[] {
  const out: number[] = [];
  for (let i = body.indexOf('\n\n'); i !== -1; i = body.indexOf('\n\n', i + 2)) out.push(i + 2);
  return out;
}

function textOf(events: readonly StreamEvent[]): string {
  return events.map((e) => (e.type === 'content' ? e.text : '')).join('');
}

const BODY = sseBody(40);
const EXPECTED = textOf(decodeChatStream([BODY]));
const ENDS = boundaries(BODY);
/** A cut inside event 10, inside a multi-byte character: the client has 9 whole events plus a partial one. */
const CUT_1 = BODY.indexOf('日', ENDS[9]) + 1;
const FROM_1 = ENDS[9];

async function drain(stream: AsyncIterable<StreamEvent[]>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const batch of stream) out.push(...batch);
  return out;
}

function terminal(events: readonly StreamEvent[]): StreamEvent {
  const terminals = events.filter((e) => e.type === 'done' || e.type === 'error');
  assert.equal(terminals.length, 1, `exactly one terminal event: ${JSON.stringify(terminals)}`);
  assert.equal(events[events.length - 1], terminals[0]);
  return terminals[0];
}

/** The body from `from`, cut (socket destroyed) at absolute byte `cutAt` when given. */
function fromOffset(body: Buffer, from: number, cutAt?: number): ScriptedResponse {
  if (cutAt === undefined) return sseResponse([body.subarray(from)]);
  return sseResponse([body.subarray(from, cutAt), { destroy: true }]);
}

function fromParam(req: RecordedRequest): number {
  return Number(new URL(req.path, 'http://x').searchParams.get('from'));
}

const paths = (server: ScriptedServer): string[] => server.requests.map((r) => `${r.method} ${r.path}`);

async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('LlamaClient resumable streams', () => {
  let server: ScriptedServer;
  let client: LlamaClient;
  let logger: RecordingLogger;

  /** v0.5.0's spelling (`/v1/stream?conv_id=`); the newer one is a 404 like any unknown route. */
  function v050(chat: Handler, stream: Handler, extra: Record<string, Handler | ScriptedResponse> = {}): Handler {
    return routes({
      'POST /v1/chat/completions': chat,
      'GET /v1/stream': (req) => (new URL(req.path, 'http://x').searchParams.get('conv_id') === null ? json(400, { error: { code: 400, message: 'Missing conversation id in path' } }) : stream(req)),
      'DELETE /v1/stream': { status: 204 },
      'POST /v1/streams/lookup': json(200, []),
      ...extra,
    });
  }

  beforeEach(async () => {
    logger = new RecordingLogger();
    server = await ScriptedServer.start({});
    client = new LlamaClient({ baseUrl: server.url, logger });
  });
  afterEach(async () => {
    client.dispose();
    await server.close();
  });

  it('sends X-Conversation-Id only with a conversationId', async () => {
    server.setHandler(v050(() => sseResponse([BODY]), () => json(404, {})));
    terminal(await drain(client.streamChatBatches(CHAT)));
    terminal(await drain(client.streamChatBatches({ messages: CHAT.messages })));
    assert.equal(server.requests[0].headers['x-conversation-id'], ID);
    assert.equal(server.requests[1].headers['x-conversation-id'], undefined);
  });

  it('a body cut mid-event resumes from the end of the last complete event: one seamless stream, same text', async () => {
    server.setHandler(v050(() => fromOffset(BODY, 0, CUT_1), (req) => fromOffset(BODY, fromParam(req))));
    const events = await drain(client.streamChatBatches(CHAT));
    assert.equal(terminal(events).type, 'done');
    assert.equal(textOf(events), EXPECTED, 'no text lost or doubled');
    assert.deepEqual(events.filter((e) => e.type === 'reconnecting'), [{ type: 'reconnecting', attempt: 1 }]);
    assert.deepEqual(
      paths(server),
      ['POST /v1/chat/completions', `GET /v1/stream/${ID}?from=${FROM_1}`, `GET /v1/stream?conv_id=${ID}&from=${FROM_1}`],
      'probe: the newer spelling first, then v0.5.0',
    );
    // Everything but the reconnecting event is exactly what the uncut body decodes to.
    assert.deepEqual(events.filter((e) => e.type !== 'reconnecting'), decodeChatStream([BODY]));
    assert.equal(client.resumableStreams, 'yes');
    assert.equal(server.requests.filter((r) => r.method === 'DELETE').length, 0, 'a completed stream is not cancelled');
  });

  it('streamChat (events) takes the same path', async () => {
    server.setHandler(v050(() => fromOffset(BODY, 0, CUT_1), (req) => fromOffset(BODY, fromParam(req))));
    const events: StreamEvent[] = [];
    for await (const e of client.streamChat(CHAT)) events.push(e);
    assert.equal(terminal(events).type, 'done');
    assert.equal(textOf(events), EXPECTED);
  });

  it('cut twice: each resume starts at the last complete event it got; attempts count again after progress', async () => {
    const cut2 = ENDS[25] + 7;
    let resumes = 0;
    server.setHandler(
      v050(
        () => fromOffset(BODY, 0, CUT_1),
        (req) => (++resumes === 1 ? fromOffset(BODY, fromParam(req), cut2) : fromOffset(BODY, fromParam(req))),
      ),
    );
    const events = await drain(client.streamChatBatches(CHAT));
    assert.equal(terminal(events).type, 'done');
    assert.equal(textOf(events), EXPECTED);
    const gets = server.requests.filter((r) => r.method === 'GET');
    assert.deepEqual(gets.map(fromParam), [FROM_1, FROM_1, ENDS[25]]);
    assert.ok(gets[2].path.startsWith('/v1/stream?conv_id='), 'the spelling that worked is used at once');
    assert.deepEqual(
      events.filter((e) => e.type === 'reconnecting').map((e) => (e as { attempt: number }).attempt),
      [1, 1],
    );
  });

  it('the newer spelling (/v1/stream/ID?from=N) is used when the server answers it', async () => {
    server.setHandler(
      routes({
        'POST /v1/chat/completions': () => fromOffset(BODY, 0, CUT_1),
        [`GET /v1/stream/${ID}`]: (req) => fromOffset(BODY, fromParam(req)),
        [`DELETE /v1/stream/${ID}`]: { status: 204 },
      }),
    );
    const events = await drain(client.streamChatBatches(CHAT));
    assert.equal(terminal(events).type, 'done');
    assert.equal(textOf(events), EXPECTED);
    assert.deepEqual(paths(server), ['POST /v1/chat/completions', `GET /v1/stream/${ID}?from=${FROM_1}`]);
  });

  it('a server without resumable streams: truncated (with a hint), probed once, never again for this client', async () => {
    server.setHandler(routes({ 'POST /v1/chat/completions': () => fromOffset(BODY, 0, CUT_1) }));
    const first = await drain(client.streamChatBatches(CHAT));
    const error = terminal(first);
    assert.ok(error.type === 'error');
    assert.equal(error.error.kind, 'truncated');
    assert.match(error.error.hint ?? '', /resuming the stream failed \(this llama-server has no resumable streams\)/i);
    assert.equal(textOf(first), textOf(decodeChatStream([BODY.subarray(0, FROM_1)])), 'the text up to the cut, once');
    assert.deepEqual(paths(server), [
      'POST /v1/chat/completions',
      `GET /v1/stream/${ID}?from=${FROM_1}`,
      `GET /v1/stream?conv_id=${ID}&from=${FROM_1}`,
      'POST /v1/streams/lookup',
      'GET /v1/streams',
    ]);
    assert.equal(client.resumableStreams, 'no');
    const before = server.requests.length;
    const second = await drain(client.streamChatBatches(CHAT));
    assert.equal(terminal(second).type, 'error');
    assert.deepEqual(paths(server).slice(before), ['POST /v1/chat/completions'], 'no probe, no resume, no DELETE');
    assert.equal(second.filter((e) => e.type === 'reconnecting').length, 0);
  });

  it('a supporting server that no longer has the stream (404): gives up at once, no retry storm, support not forgotten', async () => {
    server.setHandler(v050(() => fromOffset(BODY, 0, CUT_1), () => json(404, { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } })));
    const events = await drain(client.streamChatBatches(CHAT));
    const error = terminal(events);
    assert.ok(error.type === 'error' && error.error.kind === 'truncated');
    assert.match(error.error.hint ?? '', /no longer has this stream/);
    assert.equal(events.filter((e) => e.type === 'reconnecting').length, 1);
    assert.equal(server.requests.filter((r) => r.method === 'GET').length, 2, 'each spelling once');
    assert.equal(client.resumableStreams, 'unknown', 'the lookup answered: the server has streams, this one is gone');
  });

  it('after a remembered spelling, a 404 ends the resume at once (1 GET)', async () => {
    let gone = false;
    server.setHandler(v050(() => fromOffset(BODY, 0, CUT_1), (req) => (gone ? json(404, {}) : fromOffset(BODY, fromParam(req)))));
    terminal(await drain(client.streamChatBatches(CHAT)));
    gone = true;
    const before = server.requests.length;
    const events = await drain(client.streamChatBatches(CHAT));
    assert.equal(terminal(events).type, 'error');
    assert.deepEqual(paths(server).slice(before, before + 2), ['POST /v1/chat/completions', `GET /v1/stream?conv_id=${ID}&from=${FROM_1}`]);
    assert.equal(server.requests.filter((r, i) => i >= before && r.method === 'GET').length, 1);
  });

  it('a resume that brings nothing new gives up (no loop)', async () => {
    server.setHandler(v050(() => fromOffset(BODY, 0, CUT_1), () => sseResponse([])));
    const events = await drain(client.streamChatBatches(CHAT));
    const error = terminal(events);
    assert.ok(error.type === 'error' && error.error.kind === 'truncated');
    assert.match(error.error.hint ?? '', /nothing new/);
    assert.equal(server.requests.filter((r) => r.method === 'GET').length, 2, 'the probe, then nothing more');
  });

  it('a resume that fails at the network retries with backoff, up to 3 attempts, then the original truncated error', async () => {
    server.setHandler(v050(() => fromOffset(BODY, 0, CUT_1), (req) => ({ ...fromOffset(BODY, fromParam(req)), destroyBeforeResponse: true })));
    const t0 = Date.now();
    const events = await drain(client.streamChatBatches(CHAT));
    const error = terminal(events);
    assert.ok(error.type === 'error' && error.error.kind === 'truncated');
    assert.match(error.error.hint ?? '', /resuming the stream failed/i);
    assert.deepEqual(
      events.filter((e) => e.type === 'reconnecting').map((e) => (e as { attempt: number }).attempt),
      [1, 2, 3],
    );
    assert.ok(Date.now() - t0 >= 1_600, 'backoff 200 + 500 + 1000 ms');
    // undici itself sends an idempotent GET again once when the kept-alive socket it used resets: 3 to 6 arrive.
    const gets = server.requests.filter((r) => r.method === 'GET').length;
    assert.ok(gets >= 3 && gets <= 6, `${gets} GETs`);
  });

  it('Stop (abort) mid-stream: no resume, DELETE sent for the stream (newer spelling, then v0.5.0)', async () => {
    const controller = new AbortController();
    server.setHandler(v050(() => sseResponse([BODY.subarray(0, CUT_1), { hold: true }]), (req) => fromOffset(BODY, fromParam(req))));
    const events: StreamEvent[] = [];
    for await (const batch of client.streamChatBatches(CHAT, controller.signal)) {
      events.push(...batch);
      if (events.some((e) => e.type === 'content')) controller.abort();
    }
    const error = terminal(events);
    assert.ok(error.type === 'error' && error.error.kind === 'aborted');
    assert.equal(events.filter((e) => e.type === 'reconnecting').length, 0);
    await until(() => server.requests.some((r) => r.method === 'DELETE' && r.path.startsWith('/v1/stream?')));
    assert.deepEqual(paths(server), ['POST /v1/chat/completions', `DELETE /v1/stream/${ID}`, `DELETE /v1/stream?conv_id=${ID}`]);
    assert.equal(client.resumableStreams, 'yes', 'the DELETE that worked tells the spelling');
  });

  it('an abort during the resume backoff stops: aborted, no GET, DELETE sent', async () => {
    const controller = new AbortController();
    server.setHandler(v050(() => fromOffset(BODY, 0, CUT_1), (req) => fromOffset(BODY, fromParam(req))));
    const events: StreamEvent[] = [];
    for await (const batch of client.streamChatBatches(CHAT, controller.signal)) {
      events.push(...batch);
      if (batch.some((e) => e.type === 'reconnecting')) controller.abort();
    }
    const error = terminal(events);
    assert.ok(error.type === 'error' && error.error.kind === 'aborted');
    await until(() => server.requests.some((r) => r.method === 'DELETE'));
    assert.equal(server.requests.filter((r) => r.method === 'GET').length, 0);
  });

  it('leaving the loop early cancels the server-side stream too', async () => {
    server.setHandler(v050(() => sseResponse([BODY.subarray(0, CUT_1), { hold: true }]), () => json(404, {})));
    for await (const batch of client.streamChatBatches(CHAT)) {
      if (batch.some((e) => e.type === 'content')) break;
    }
    await until(() => server.requests.some((r) => r.method === 'DELETE' && r.path === `/v1/stream?conv_id=${ID}`));
  });

  it('without a conversationId: no resume, no DELETE, truncated as before', async () => {
    server.setHandler(v050(() => fromOffset(BODY, 0, CUT_1), (req) => fromOffset(BODY, fromParam(req))));
    const events = await drain(client.streamChatBatches({ messages: CHAT.messages }));
    const error = terminal(events);
    assert.ok(error.type === 'error' && error.error.kind === 'truncated');
    assert.doesNotMatch(error.error.hint ?? '', /resum/i);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(paths(server), ['POST /v1/chat/completions']);
  });

  it('a body that ends cleanly mid-event (no error) is resumed as well', async () => {
    server.setHandler(v050(() => sseResponse([BODY.subarray(0, CUT_1)]), (req) => fromOffset(BODY, fromParam(req))));
    const events = await drain(client.streamChatBatches(CHAT));
    assert.equal(terminal(events).type, 'done');
    assert.equal(textOf(events), EXPECTED);
    assert.equal(fromParam(server.requests[1]), FROM_1);
  });

  it('a body that ends after the finish chunk is complete: no resume', async () => {
    const afterFinish = ENDS[ENDS.length - 3];
    server.setHandler(v050(() => sseResponse([BODY.subarray(0, afterFinish)]), (req) => fromOffset(BODY, fromParam(req))));
    const events = await drain(client.streamChatBatches(CHAT));
    assert.equal(terminal(events).type, 'done');
    assert.deepEqual(paths(server), ['POST /v1/chat/completions']);
  });

  it('an HTTP error before the stream: no resume, no DELETE', async () => {
    server.setHandler(v050(() => json(400, { error: { code: 400, message: 'bad', type: 'invalid_request_error' } }), () => json(404, {})));
    const events = await drain(client.streamChatBatches(CHAT));
    assert.equal(terminal(events).type, 'error');
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(paths(server), ['POST /v1/chat/completions']);
  });

  describe('lookupStreams and resumeStream', () => {
    it('lookupStreams posts the ids and maps the answer; [] without a request for no ids', async () => {
      server.setHandler(
        routes({
          'POST /v1/streams/lookup': (req) => {
            assert.deepEqual(req.json, { conversation_ids: ['a', 'b'] });
            return json(200, [{ conversation_id: 'a', is_done: true, total_bytes: 1234, started_at: 1, completed_at: 2 }]);
          },
        }),
      );
      assert.deepEqual(await client.lookupStreams(['a', 'b']), [{ id: 'a', done: true, totalBytes: 1234 }]);
      assert.deepEqual(await client.lookupStreams([]), []);
      assert.equal(server.requests.length, 1);
    });

    it('lookupStreams is [] on a server without the API (both spellings 404)', async () => {
      server.setHandler(routes({}));
      assert.deepEqual(await client.lookupStreams(['a']), []);
      assert.deepEqual(paths(server), ['POST /v1/streams/lookup', 'GET /v1/streams']);
    });

    it('resumeStream replays from byte 0 through a fresh decoder (and resumes a drop on the way)', async () => {
      let n = 0;
      server.setHandler(v050(() => json(500, {}), (req) => (++n === 1 ? fromOffset(BODY, fromParam(req), CUT_1) : fromOffset(BODY, fromParam(req)))));
      const events = await drain(client.resumeStream(ID));
      assert.equal(terminal(events).type, 'done');
      assert.equal(textOf(events), EXPECTED);
      assert.deepEqual(server.requests.filter((r) => r.method === 'GET').map(fromParam), [0, 0, FROM_1]);
    });

    it('resumeStream of a stream the server does not have: one truncated error', async () => {
      server.setHandler(v050(() => json(500, {}), () => json(404, {})));
      const events = await drain(client.resumeStream('gone'));
      const error = terminal(events);
      assert.ok(error.type === 'error' && error.error.kind === 'truncated');
      assert.equal(events.length, 1);
    });
  });

  describe('helpers', () => {
    it('streamPath spells both forms, ids encoded', () => {
      assert.equal(streamPath('path', 'a b', 5), '/v1/stream/a%20b?from=5');
      assert.equal(streamPath('query', 'a&b', 0), '/v1/stream?conv_id=a%26b&from=0');
      assert.equal(streamPath('path', 'x'), '/v1/stream/x');
      assert.equal(streamPath('query', 'x'), '/v1/stream?conv_id=x');
    });

    it('parseStreamList keeps the asked ids only and tolerates a wrapped list', () => {
      assert.deepEqual(parseStreamList({ streams: [{ conversation_id: 'a', is_done: false, total_bytes: 3 }, { conversation_id: 'z' }] }, ['a']), [
        { id: 'a', done: false, totalBytes: 3 },
      ]);
      assert.throws(() => parseStreamList({ nope: 1 }, ['a']));
    });

    it('SseEventCursor: at every split, the decoder gets exactly the bytes through the last complete event', () => {
      const sample = Buffer.concat([BODY.subarray(0, ENDS[5]), Buffer.from(':\n\ndata: {"a":1}\r\n\r\ndata: x\r\rdata: y\n\r\n'), BODY.subarray(ENDS[5])]);
      // Where an event (or a comment frame) ends in `sample`: two line ends in a row (CRLF is one; a CR ends its line).
      const trailingLineEnds = (p: number): number => {
        let count = 0;
        for (let i = p - 1; i >= 0 && (sample[i] === 0x0a || sample[i] === 0x0d); count++) i -= sample[i] === 0x0a && i > 0 && sample[i - 1] === 0x0d ? 2 : 1;
        return count;
      };
      const ends = new Set<number>();
      for (let p = 1; p <= sample.length; p++) if (trailingLineEnds(p) >= 2) ends.add(p);
      ends.add(sample.length);
      for (let a = 0; a < sample.length; a += 13) {
        for (const b of [a + 1, a + 7, a + 90]) {
          const cursor = new SseEventCursor();
          const fed: Buffer[] = [];
          const sink = { write: (bytes: Uint8Array): void => void fed.push(Buffer.from(bytes)) };
          const pieces = [sample.subarray(0, a), sample.subarray(a, Math.min(b, sample.length)), sample.subarray(Math.min(b, sample.length))];
          let seen = 0;
          for (const piece of pieces) {
            cursor.push(piece, sink);
            seen += piece.length;
            const expectEnd = Math.max(0, ...[...ends].filter((e) => e <= seen));
            assert.equal(cursor.offset, expectEnd, `split ${a}/${b}, after ${seen} bytes`);
            assert.ok(Buffer.concat(fed).equals(sample.subarray(0, cursor.offset)), `fed bytes end at the boundary (split ${a}/${b})`);
          }
          assert.ok(cursor.clean);
        }
      }
    });

    it('SseEventCursor: restart drops the held tail and counts from the offset again', () => {
      const cursor = new SseEventCursor();
      const fed: Buffer[] = [];
      const sink = { write: (bytes: Uint8Array): void => void fed.push(Buffer.from(bytes)) };
      cursor.push(BODY.subarray(0, CUT_1), sink);
      assert.equal(cursor.offset, FROM_1);
      cursor.restart();
      cursor.push(BODY.subarray(FROM_1), sink);
      assert.equal(cursor.offset, BODY.length);
      assert.ok(Buffer.concat(fed).equals(BODY));
    });
  });
});
