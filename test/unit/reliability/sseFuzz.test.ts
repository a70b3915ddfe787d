/**
 * Hostile server output through the real LlamaClient over a real loopback socket (the decoder alone is
 * property-tested in streamDecoder.test.ts): random splits with real network gaps, random bytes, invalid UTF-8
 * across chunk boundaries, huge lines, random statuses and content types. The client must never throw, never
 * hang, and always end with exactly one final event (`done` or `error`) as its last.
 */
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import type { StreamEvent } from '../../../src/core/base/events';
import { LlamaClient } from '../../../src/core/server/llamaClient';
import type { BodyStep } from '../../support/scriptedServer';
import { ScriptedServer } from '../../support/scriptedServer';

const CHAT = { messages: [{ role: 'user' as const, content: 'hi' }] };
/** Counts for RELIABILITY.md: one property run is one real HTTP request. */
const RUNS = { valid: 120, garbage: 150, statuses: 80, huge: 6 };

const enc = new TextEncoder();
const chunk = (delta: Record<string, unknown>, finish: string | null = null): string =>
  `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;

/** Splits bytes at the given cut points; every other piece is followed by a short real pause. */
function steps(body: Uint8Array, rawCuts: number[], pauses: boolean): BodyStep[] {
  const cuts = [...new Set(rawCuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b);
  const out: BodyStep[] = [];
  let at = 0;
  for (const [i, c] of [...cuts, body.length].entries()) {
    if (c > at) out.push(body.subarray(at, c));
    if (pauses && i % 2 === 0) out.push({ delayMs: 1 });
    at = Math.max(at, c);
  }
  return out;
}

interface Outcome {
  events: StreamEvent[];
  text: string;
}

/** Drains a stream; a hang or a throw fails the run. */
async function drain(stream: AsyncIterable<StreamEvent>, limitMs = 5_000): Promise<Outcome> {
  const events: StreamEvent[] = [];
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the stream did not end within ${limitMs} ms`)), limitMs);
  });
  const run = (async () => {
    for await (const e of stream) events.push(e);
  })();
  try {
    await Promise.race([run, hang]);
  } finally {
    clearTimeout(timer);
  }
  const text = events.map((e) => (e.type === 'content' ? e.text : '')).join('');
  return { events, text };
}

function assertOneFinalLast(events: StreamEvent[]): void {
  const finals = events.filter((e) => e.type === 'done' || e.type === 'error');
  assert.equal(finals.length, 1, `exactly one final event, got ${JSON.stringify(events.map((e) => e.type))}`);
  assert.equal(events[events.length - 1], finals[0], 'the final event is the last');
  // An error is always a full ErrorInfo.
  if (finals[0].type === 'error') {
    assert.equal(typeof finals[0].error.kind, 'string');
    assert.equal(typeof finals[0].error.message, 'string');
  }
}

describe('reliability: hostile SSE through the real LlamaClient', function () {
  this.timeout(60_000);
  let server: ScriptedServer;
  let client: LlamaClient;

  before(async () => {
    server = await ScriptedServer.start({ status: 200 });
    client = new LlamaClient({ baseUrl: server.url, requestTimeoutMs: 3_000 });
  });

  after(async () => {
    client.dispose();
    await server.close();
  });

  const text = fc.oneof(
    fc.string({ maxLength: 6 }),
    fc.string({ unit: 'grapheme', maxLength: 4 }),
    fc.constantFrom('é', '€', '😀', '𝄞', '中文', '\n', '\r\n', '"', '\\', '\u2028', '\u0000'),
  );

  it(`valid streams split anywhere (with real network gaps) give exactly the sent text and end with done (${RUNS.valid} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 30 }), fc.array(fc.nat(), { maxLength: 25 }), fc.boolean(), fc.boolean(), async (pieces, cuts, crlf, pauses) => {
        let sse = chunk({ role: 'assistant', content: null }) + pieces.map((p) => chunk({ content: p })).join('') + chunk({}, 'stop') + 'data: [DONE]\n\n';
        if (crlf) sse = sse.replace(/\n/g, '\r\n');
        server.setHandler({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: steps(enc.encode(sse), cuts, pauses) });
        const out = await drain(client.streamChat(CHAT));
        assertOneFinalLast(out.events);
        assert.equal(out.events[out.events.length - 1].type, 'done');
        assert.equal(out.text, pieces.join(''), 'multi-byte characters survive any split');
      }),
      { numRuns: RUNS.valid },
    );
  });

  it(`random bytes, invalid UTF-8 across boundaries and garbage inside valid streams never throw or hang (${RUNS.garbage} runs)`, async () => {
    const bad = fc.oneof(
      fc.uint8Array({ maxLength: 400 }),
      fc.constantFrom(
        new Uint8Array([0xff, 0xfe]),
        new Uint8Array([0xc3]), // a lead byte whose continuation never comes
        new Uint8Array([0xf0, 0x9f, 0x98]), // three of four bytes of an emoji
        new Uint8Array([0xed, 0xa0, 0x80]), // an encoded surrogate
        enc.encode('data: '),
        enc.encode('data: {"choices":[{"delta":{"content":"'),
        enc.encode('\n\n'),
        enc.encode('data: [DONE]\n\n'),
        enc.encode('data: {"error":{"message":"x"}}\n\n'),
        enc.encode(': comment\n'),
        enc.encode('event: weird\nid: 1\nretry: 5\n'),
      ),
      fc.string({ maxLength: 40 }).map((s) => enc.encode(`data: ${s}\n\n`)),
      text.map((t) => enc.encode(chunk({ content: t }))),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(bad, { maxLength: 14 }), fc.array(fc.nat(), { maxLength: 12 }), fc.boolean(), async (parts, cuts, cutConnection) => {
        const body = Buffer.concat(parts);
        const script = steps(body, cuts, true);
        if (cutConnection) script.push({ destroy: true });
        server.setHandler({ status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' }, body: script });
        const out = await drain(client.streamChat(CHAT));
        assertOneFinalLast(out.events);
      }),
      { numRuns: RUNS.garbage },
    );
  });

  it(`random statuses, content types and bodies end in one final event with a mapped error (${RUNS.statuses} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 200, max: 599 }),
        fc.constantFrom('text/event-stream', 'application/json', 'text/html', 'text/plain', '', 'application/octet-stream'),
        fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 200 }).map((s) => enc.encode(s)), fc.constant(enc.encode('<html><title>t</title></html>'))),
        async (status, type, body) => {
          // 204/304 may not carry a body; undici enforces that.
          const noBody = status === 204 || status === 205 || status === 304;
          const headers: Record<string, string> = type ? { 'content-type': type } : {};
          server.setHandler({ status, headers, body: noBody ? [] : [body] });
          const out = await drain(client.streamChat(CHAT));
          assertOneFinalLast(out.events);
          const last = out.events[out.events.length - 1];
          if (status >= 300) {
            assert.equal(last.type, 'error');
            if (last.type === 'error') assert.ok(last.error.status === status || last.error.kind === 'not_sse', JSON.stringify(last.error));
          }
        },
      ),
      { numRuns: RUNS.statuses },
    );
  });

  it(`huge lines (up to 24 MB, with and without newlines) end with one final event and stay bounded (${RUNS.huge} cases)`, async () => {
    const mb = (n: number): Uint8Array => enc.encode('a'.repeat(n * 1024 * 1024));
    const cases: { name: string; body: BodyStep[] }[] = [
      { name: 'one 24 MB line without a newline', body: [enc.encode('data: '), ...Array.from({ length: 24 }, () => mb(1))] },
      { name: 'a 12 MB data line, then a valid end', body: [enc.encode('data: '), ...Array.from({ length: 12 }, () => mb(1)), enc.encode('\n\n'), enc.encode(chunk({}, 'stop'))] },
      { name: 'a 3 MB content string in 64 KB chunks', body: [...steps(enc.encode(chunk({ content: 'x'.repeat(3 * 1024 * 1024) }) + chunk({}, 'stop') + 'data: [DONE]\n\n'), Array.from({ length: 48 }, (_, i) => (i + 1) * 65536), false)] },
      { name: '20 MB of newlines', body: Array.from({ length: 20 }, () => enc.encode('\n'.repeat(1024 * 1024))) },
      { name: '8 MB of a comment line', body: [enc.encode(':'), ...Array.from({ length: 8 }, () => mb(1))] },
      { name: 'a huge line, then the connection drops', body: [enc.encode('data: {"choices'), mb(4), { destroy: true }] },
    ];
    for (const c of cases) {
      server.setHandler({ status: 200, headers: { 'content-type': 'text/event-stream' }, body: c.body });
      const out = await drain(client.streamChat(CHAT), 20_000);
      assertOneFinalLast(out.events);
      if (c.name.startsWith('a 3 MB')) assert.equal(out.text.length, 3 * 1024 * 1024, c.name);
    }
  });
});
