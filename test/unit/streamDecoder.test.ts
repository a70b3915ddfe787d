import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { ChatStreamDecoder, decodeChatStream } from '../../src/core/server/streamDecoder';
import type { StreamEvent } from '../../src/core/base/events';
import { findFrame, parseFrames } from '../support/frames';
import type { FrameSection } from '../support/frames';

const sections = parseFrames();
const enc = new TextEncoder();

function bytes(text: string): Uint8Array {
  return enc.encode(text);
}

/** An SSE body from chunk objects, like llama-server writes it. */
function sse(...items: (object | string)[]): string {
  return items.map((item) => `data: ${typeof item === 'string' ? item : JSON.stringify(item)}\n\n`).join('');
}

function delta(d: object, finish: string | null = null, extra: object = {}): object {
  return { choices: [{ finish_reason: finish, index: 0, delta: d }], object: 'chat.completion.chunk', ...extra };
}

function splitAt(body: Uint8Array, cuts: number[]): Uint8Array[] {
  const sorted = [...new Set(cuts)].filter((c) => c > 0 && c < body.length).sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const c of sorted) {
    out.push(body.subarray(prev, c));
    prev = c;
  }
  out.push(body.subarray(prev));
  return out;
}

function oneByteChunks(body: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = 0; i < body.length; i++) out.push(body.subarray(i, i + 1));
  return out;
}

function assertOneTerminal(events: StreamEvent[]): void {
  const terminals = events.filter((e) => e.type === 'done' || e.type === 'error');
  assert.equal(terminals.length, 1, `exactly one terminal event, got ${JSON.stringify(events.slice(-3))}`);
  assert.ok(events[events.length - 1] === terminals[0], 'the terminal event comes last');
}

/** Independent oracle: the content of each `data:` line of a well-formed body, joined. */
function naiveContent(body: Uint8Array): string {
  return Buffer.from(body)
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith('data: {'))
    .map((line) => (JSON.parse(line.slice(6)) as { choices: { delta?: { content?: string | null } }[] }).choices[0]?.delta?.content ?? '')
    .join('');
}

function text(events: StreamEvent[], type: 'content' | 'reasoning' = 'content'): string {
  return events.map((e) => (e.type === type ? e.text : '')).join('');
}

/** The SSE frames of a captured body, each with its blank line. */
function framesOf(body: Uint8Array): string[] {
  return Buffer.from(body)
    .toString('utf8')
    .split(/(?<=\n\n)/)
    .filter((f) => f.trim().length > 0);
}

interface RawFrame {
  choices?: { delta?: { content?: unknown } }[];
}

/**
 * A captured stream with other words: the frames before its first content frame and after its last one as captured,
 * and one copy of its first content frame per piece, carrying that piece as `delta.content`.
 */
function retext(section: FrameSection, pieces: string[]): Uint8Array {
  const frames = framesOf(section.body);
  const isContent = (f: string): boolean =>
    f.startsWith('data: {') && typeof (JSON.parse(f.slice(6)) as RawFrame).choices?.[0]?.delta?.content === 'string';
  const first = frames.findIndex(isContent);
  const last = frames.length - 1 - [...frames].reverse().findIndex(isContent);
  assert.ok(first > 0 && last >= first, `content frames in ${section.title}`);
  const template = JSON.parse(frames[first].slice(6)) as RawFrame & { choices: { delta: { content: string } }[] };
  const middle = pieces.map((piece) => {
    template.choices[0].delta.content = piece;
    return `data: ${JSON.stringify(template)}\n\n`;
  });
  return bytes([...frames.slice(0, first), ...middle, ...frames.slice(last + 1)].join(''));
}

function types(events: StreamEvent[]): string[] {
  return events.map((e) => (e.type === 'alive' ? `alive:${e.ping ? 'ping' : 'data'}` : e.type));
}

describe('ChatStreamDecoder', () => {
  describe('captured llama-server streams', () => {
    it('finds the fixture sections it relies on', () => {
      const complete = sections.filter((s) => s.isCompleteSse);
      assert.ok(complete.length >= 5, `complete SSE sections: ${complete.map((s) => s.title).join(' | ')}`);
    });

    it('decodes a stream with include_usage: role, content, finish, usage with timings, done', () => {
      const frame = findFrame(sections, 'POST /v1/chat/completions stream=true include_usage');
      assert.equal(frame.status, 200);
      assert.equal(frame.headers['content-type'], 'text/event-stream');
      const events = decodeChatStream([frame.body]);
      assert.deepEqual(
        events.map((e) => e.type),
        ['role', ...Array<string>(12).fill('content'), 'finish', 'usage', 'done'],
      );
      assert.equal(events[0].type, 'role');
      assert.equal(events[0].type === 'role' && events[0].role, 'assistant');
      assert.match(events[0].type === 'role' ? events[0].id ?? '' : '', /^chatcmpl-/, 'the completion id rides on the role event');
      assert.equal(text(events), naiveContent(frame.body));
      assert.ok(text(events).includes(' state greater'));
      assert.deepEqual(events[13], { type: 'finish', reason: 'length' });
      const usage = events[14];
      assert.ok(usage.type === 'usage');
      assert.deepEqual(usage.usage, { promptTokens: 20, completionTokens: 12, totalTokens: 32, cachedTokens: 0 });
      assert.equal(usage.timings?.predicted_n, 12);
      assert.equal(usage.timings?.prompt_n, 20);
    });

    it('completes a stream without usage: timings ride on the finish chunk', () => {
      const events = decodeChatStream([findFrame(sections, 'POST /v1/chat/completions stream=true WITHOUT').body]);
      assert.deepEqual(events.slice(-3).map((e) => e.type), ['timings', 'finish', 'done']);
      assert.equal(text(events), ' EmpireObserver musical Point musical');
      assert.ok(!events.some((e) => e.type === 'usage'));
    });

    it('reports per-token timings as the server counts them', () => {
      const events = decodeChatStream([findFrame(sections, 'STREAM: timings_per_token=true').body]);
      const predicted = events.flatMap((e) => (e.type === 'timings' ? [e.timings.predicted_n] : []));
      assert.deepEqual(predicted, [1, 2, 3]);
      assert.deepEqual(events.slice(-3).map((e) => e.type), ['finish', 'usage', 'done']);
    });

    it('turns prompt_progress into progress events and reports the role once', () => {
      const events = decodeChatStream([findFrame(sections, 'STREAM: return_progress=true').body]);
      const progress = events.flatMap((e) => (e.type === 'progress' ? [e.progress] : []));
      assert.deepEqual(progress, [
        { total: 11, cache: 10, processed: 10, timeMs: 0 },
        { total: 11, cache: 10, processed: 11, timeMs: 0 },
      ]);
      assert.equal(events.filter((e) => e.type === 'role').length, 1);
      assert.equal(text(events), ' entra prohib');
    });

    it('reports finish_reason "stop" at a stop sequence', () => {
      const events = decodeChatStream([findFrame(sections, "STREAM: stop sequence (stop=['a']) ALL").body]);
      assert.deepEqual(events.slice(-4).map((e) => e.type), ['timings', 'timings', 'finish', 'done']);
      const finish = events.find((e) => e.type === 'finish');
      assert.deepEqual(finish, { type: 'finish', reason: 'stop' });
    });

    const streams: FrameSection[] = sections.filter((s) => s.isSse);
    for (const frame of streams) {
      it(`yields the same events split at every byte boundary: ${frame.title}`, function () {
        this.timeout(60_000);
        const whole = decodeChatStream([frame.body]);
        assertOneTerminal(whole);
        if (frame.isCompleteSse) assert.equal(whole[whole.length - 1].type, 'done');
        for (let cut = 1; cut < frame.body.length; cut++) {
          const split = decodeChatStream(splitAt(frame.body, [cut]));
          assert.deepEqual(split, whole, `split at byte ${cut}`);
        }
        assert.deepEqual(decodeChatStream(oneByteChunks(frame.body)), whole, 'one-byte chunks');
      });
    }
  });

  describe('text decoding', () => {
    const body = bytes(sse(delta({ role: 'assistant', content: null }), delta({ content: 'é你🙂' }), delta({}, 'stop'), '[DONE]'));

    it('keeps multi-byte characters whole when split across chunks', () => {
      for (let cut = 1; cut < body.length; cut++) {
        const events = decodeChatStream(splitAt(body, [cut]));
        assert.equal(text(events), 'é你🙂', `split at byte ${cut}`);
      }
      const events = decodeChatStream(oneByteChunks(body));
      assert.equal(text(events), 'é你🙂');
      assert.ok(!JSON.stringify(events).includes('\ufffd'));
    });

    it('skips a UTF-8 byte order mark even when it is split', () => {
      const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...body]);
      assert.equal(text(decodeChatStream([withBom.subarray(0, 1), withBom.subarray(1, 2), withBom.subarray(2)])), 'é你🙂');
    });

    it('decodes any bytes, split anywhere, to exactly what a streaming TextDecoder makes of them (U+FFFD included)', () => {
      // Each piece of random bytes (invalid UTF-8, BOMs, cut characters) is the content of one event line.
      const piece = fc.oneof(
        fc.uint8Array({ maxLength: 40 }),
        fc.constantFrom(new Uint8Array([0xef, 0xbb, 0xbf]), new Uint8Array([0xf0, 0x9f, 0x99]), new Uint8Array([0xe0, 0x80]), new Uint8Array([0xc3])),
        fc.string({ maxLength: 10 }).map(bytes),
      );
      fc.assert(
        fc.property(fc.array(piece, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (pieces, rawCuts) => {
          // The bytes ride in data lines (CR and LF taken out) of one event that ends only at the last blank line.
          const raw = Buffer.concat(pieces.map((p) => Buffer.concat([Buffer.from('data: '), Buffer.from(p.filter((b) => b !== 10 && b !== 13)), Buffer.from('\n')])));
          const total = Buffer.concat([raw, Buffer.from('\n')]);
          const cuts = rawCuts.map((c) => c % (total.length + 1));
          const td = new TextDecoder();
          let want = '';
          for (const part of splitAt(total, cuts)) want += td.decode(part, { stream: true });
          want += td.decode();
          let got = '';
          const decoder = new ChatStreamDecoder(() => undefined);
          // The text the SSE parser is fed is what matters: watch it at the decoder's one entry point.
          const feed = (decoder as unknown as { feed(text: string): void }).feed.bind(decoder);
          (decoder as unknown as { feed(text: string): void }).feed = (text: string) => {
            got += text;
            feed(text);
          };
          for (const part of splitAt(total, cuts)) decoder.write(part);
          decoder.end();
          assert.equal(got, want);
        }),
        { numRuns: 500 },
      );
    });

    it('accepts CRLF line endings', () => {
      const crlf = bytes(sse(delta({ content: 'a' }), delta({}, 'stop'), '[DONE]').replace(/\n/g, '\r\n'));
      const events = decodeChatStream(oneByteChunks(crlf));
      assert.deepEqual(events, [{ type: 'content', text: 'a' }, { type: 'finish', reason: 'stop' }, { type: 'done' }]);
    });

    it('decodes reasoning_content separately from content', () => {
      const events = decodeChatStream([
        bytes(sse(delta({ reasoning_content: 'think' }), delta({ content: 'say' }), delta({}, 'stop'), '[DONE]')),
      ]);
      assert.equal(text(events, 'reasoning'), 'think');
      assert.equal(text(events), 'say');
    });
  });

  describe('errors and endings', () => {
    it('turns data: {"error": ...} into a stream_error with the server message', () => {
      const body = sse(delta({ content: 'x' }), { error: { code: 500, message: 'slot crashed', type: 'server_error' } }, delta({ content: 'late' }));
      const events = decodeChatStream([bytes(body)]);
      assert.deepEqual(events.map((e) => e.type), ['content', 'error']);
      const last = events[1];
      assert.ok(last.type === 'error');
      assert.equal(last.error.kind, 'stream_error');
      assert.equal(last.error.serverMessage, 'slot crashed');
      assert.equal(last.error.serverType, 'server_error');
      assert.match(last.error.message, /slot crashed/);
    });

    it('recognises a context-size error inside the stream', () => {
      const err = { code: 400, message: 'request (3010 tokens) exceeds the available context size (2048 tokens), try increasing it', type: 'exceed_context_size_error' };
      const [event] = decodeChatStream([bytes(sse({ error: err }))]);
      assert.ok(event.type === 'error');
      assert.equal(event.error.kind, 'context_exceeded');
      assert.equal(event.error.nPromptTokens, 3010);
      assert.equal(event.error.nCtx, 2048);
      assert.match(event.error.hint ?? '', /3010 tokens but the context is 2048/);
    });

    it('ends with malformed, quoting a short excerpt, when a data line is not JSON', () => {
      const body = sse(delta({ content: 'ok' })) + 'data: <html><body>Bad Gateway ' + 'x'.repeat(500) + '\n\n' + sse(delta({ content: 'more' }), '[DONE]');
      const events = decodeChatStream([bytes(body)]);
      assert.deepEqual(events.map((e) => e.type), ['content', 'error']);
      const last = events[1];
      assert.ok(last.type === 'error');
      assert.equal(last.error.kind, 'malformed');
      assert.match(last.error.message, /"<html><body>Bad Gateway x+…"/);
      assert.ok(last.error.message.length < 200, 'the excerpt is short');
    });

    it('reports truncated when the body ends before finish and [DONE]', () => {
      const frame = findFrame(sections, 'POST /v1/chat/completions stream=true include_usage');
      const cut = frame.body.indexOf('"finish_reason":"length"');
      const events = decodeChatStream([frame.body.subarray(0, cut)]);
      const last = events[events.length - 1];
      assert.ok(last.type === 'error');
      assert.equal(last.error.kind, 'truncated');
      assert.equal(text(events).length > 0, true);
    });

    it('reports truncated for an empty body', () => {
      const events = decodeChatStream([]);
      assert.equal(events.length, 1);
      assert.ok(events[0].type === 'error' && events[0].error.kind === 'truncated');
      assert.match(events[0].error.message, /without sending any events/);
    });

    it('completes when finish arrived but [DONE] did not (missing usage and [DONE])', () => {
      const events = decodeChatStream([bytes(sse(delta({ content: 'a' }), delta({}, 'length')))]);
      assert.deepEqual(events.map((e) => e.type), ['content', 'finish', 'done']);
    });

    it('discards an event cut off without its blank line', () => {
      const events = decodeChatStream([bytes(sse(delta({ content: 'a' })) + 'data: {"choices":[{"delta":{"content":"b"')]);
      assert.deepEqual(events.map((e) => e.type), ['content', 'error']);
      assert.ok(events[1].type === 'error' && events[1].error.kind === 'truncated');
    });

    it('ignores everything after [DONE] and after an external fail()', () => {
      const events: StreamEvent[] = [];
      const decoder = new ChatStreamDecoder((e) => events.push(e));
      decoder.write(bytes(sse('[DONE]', delta({ content: 'after' }))));
      decoder.fail({ kind: 'aborted', message: 'Stopped.' });
      decoder.end();
      assert.deepEqual(events, [{ type: 'done' }]);
      assert.equal(decoder.finished, true);
    });

    it('fail() ends an open stream with the given error', () => {
      const events: StreamEvent[] = [];
      const decoder = new ChatStreamDecoder((e) => events.push(e));
      decoder.write(bytes(sse(delta({ content: 'a' }))));
      decoder.fail({ kind: 'aborted', message: 'Stopped.' });
      decoder.end();
      assert.deepEqual(events.map((e) => e.type), ['content', 'error']);
    });

    it('reports comments and JSON that is not a chunk object as alive, and ignores unknown fields', () => {
      const body = ': keep-alive\n\nevent: ping\ndata: 42\n\nfoo: bar\n\ndata: null\n\n' + sse(delta({ content: 'a' }), '[DONE]');
      assert.deepEqual(decodeChatStream([bytes(body)]), [
        { type: 'alive', ping: true },
        { type: 'alive', ping: false },
        { type: 'alive', ping: false },
        { type: 'content', text: 'a' },
        { type: 'done' },
      ]);
    });

    it('gives up with malformed on an event larger than the limit, without throwing', () => {
      const huge = bytes('data: "' + 'x'.repeat(5000));
      const events = decodeChatStream([huge, huge], { maxEventChars: 4096 });
      assert.equal(events.length, 1);
      assert.ok(events[0].type === 'error' && events[0].error.kind === 'malformed');
    });

    it('handles a long (2 MB) content line in small chunks', () => {
      const big = 'é'.repeat(1_000_000);
      const body = bytes(sse(delta({ content: big }), delta({}, 'stop'), '[DONE]'));
      const chunks: Uint8Array[] = [];
      for (let i = 0; i < body.length; i += 1001) chunks.push(body.subarray(i, i + 1001));
      const events = decodeChatStream(chunks);
      assert.equal(text(events), big);
      assert.equal(events[events.length - 1].type, 'done');
    });
  });

  describe('alive: every received frame proves the stream lives', () => {
    it('reports the repeated role-only chunk before the first token as alive (captured return_progress stream)', () => {
      const events = decodeChatStream([findFrame(sections, 'STREAM: return_progress=true').body]);
      assert.deepEqual(types(events), ['progress', 'role', 'progress', 'alive:data', 'content', 'content', 'timings', 'finish', 'done']);
      assert.deepEqual(events[3], { type: 'alive', ping: false });
    });

    it('every captured frame yields at least one event, and alive only when it yields nothing else', () => {
      let alive = 0;
      for (const section of sections.filter((s) => s.isCompleteSse)) {
        const decoder = new ChatStreamDecoder((e) => got.push(e));
        let got: StreamEvent[] = [];
        for (const frame of framesOf(section.body)) {
          got = [];
          decoder.write(bytes(frame));
          assert.ok(got.length > 0, `${section.title}: ${frame.slice(0, 120)}`);
          if (got.some((e) => e.type === 'alive')) {
            assert.deepEqual(got, [{ type: 'alive', ping: false }], `${section.title}: ${frame.slice(0, 120)}`);
            alive++;
          }
        }
        assert.equal(decoder.finished, true);
      }
      assert.ok(alive >= 1, 'the captured streams hold frames that decode to nothing else');
    });

    for (const eol of ['\n', '\r\n', '\r']) {
      it(`reports an SSE comment (llama-server's ":" ping) as alive with ping: true (${JSON.stringify(eol)} line ends)`, () => {
        const frames = framesOf(findFrame(sections, 'POST /v1/chat/completions stream=true include_usage').body);
        const body = bytes([frames[0], ':\n\n', frames[1], ':\n\n', ': keep-alive\n', ...frames.slice(2)].join('').replace(/\n/g, eol));
        const whole = decodeChatStream([body]);
        assert.deepEqual(types(whole).slice(0, 6), ['role', 'alive:ping', 'content', 'alive:ping', 'alive:ping', 'content']);
        assert.deepEqual(whole[1], { type: 'alive', ping: true });
        assert.equal(whole[whole.length - 1].type, 'done');
        assert.equal(whole.filter((e) => e.type === 'alive').length, 3, 'content frames add no alive');
        for (let cut = 1; cut < body.length; cut++) assert.deepEqual(decodeChatStream(splitAt(body, [cut])), whole, `split at byte ${cut}`);
        assert.deepEqual(decodeChatStream(oneByteChunks(body)), whole, 'one-byte chunks');
      });
    }

    it('reports a chunk with only an unchanged role as alive, and a changed role as a role event', () => {
      const events = decodeChatStream([
        bytes(sse(delta({ role: 'assistant' }), delta({ role: 'assistant' }), delta({ role: 'assistant', content: '' }), delta({ role: 'tool' }), delta({}, 'stop'), '[DONE]')),
      ]);
      assert.deepEqual(types(events), ['role', 'alive:data', 'alive:data', 'role', 'finish', 'done']);
    });

    it('emits nothing after done or error', () => {
      const ping = ':\n\n';
      const roleOnly = sse(delta({ role: 'assistant', content: null }));
      assert.deepEqual(decodeChatStream([bytes(sse('[DONE]') + ping + roleOnly)]), [{ type: 'done' }]);
      assert.deepEqual(types(decodeChatStream([bytes(sse(delta({ content: 'a' }), delta({}, 'stop')) + ping + sse('[DONE]') + ping)])), ['content', 'finish', 'alive:ping', 'done']);
      assert.deepEqual(types(decodeChatStream([bytes(sse({ error: { message: 'x' } }) + ping + roleOnly)])), ['error']);

      const events: StreamEvent[] = [];
      const decoder = new ChatStreamDecoder((e) => events.push(e));
      decoder.write(bytes(ping));
      decoder.fail({ kind: 'aborted', message: 'Stopped.' });
      decoder.write(bytes(ping + roleOnly));
      decoder.end();
      assert.deepEqual(types(events), ['alive:ping', 'error']);
    });

    it('reuses one frozen object for each kind of alive event', () => {
      const events = decodeChatStream([bytes(':\n\n:\n\n' + sse(delta({ role: 'assistant' }), delta({ role: 'assistant' }), delta({ role: 'assistant' }), '[DONE]'))]);
      const pings = events.filter((e) => e.type === 'alive' && e.ping);
      const data = events.filter((e) => e.type === 'alive' && !e.ping);
      assert.equal(pings.length, 2);
      assert.equal(data.length, 2);
      assert.equal(pings[0], pings[1]);
      assert.equal(data[0], data[1]);
      assert.ok(Object.isFrozen(pings[0]) && Object.isFrozen(data[0]));
    });

    it('treats a lone CR as a line end wherever the body is split (and at its end)', () => {
      assert.deepEqual(decodeChatStream([bytes(':\r'), bytes('x')]), decodeChatStream([bytes(':\rx')]));
      assert.deepEqual(types(decodeChatStream([bytes(':\r'), bytes('x')])), ['alive:ping', 'error']);
      const body = bytes(sse(delta({ content: 'a' }), '[DONE]').replace(/\n/g, '\r'));
      const whole = decodeChatStream([body]);
      assert.deepEqual(types(whole), ['content', 'done']);
      for (let cut = 1; cut < body.length; cut++) assert.deepEqual(decodeChatStream(splitAt(body, [cut])), whole, `split at byte ${cut}`);
      assert.deepEqual(types(decodeChatStream([bytes(sse(delta({ content: 'a' })).replace(/\n/g, '\r') + 'data: [DONE]\r\r')])), ['content', 'done'], 'a final CR ends the blank line');
    });
  });

  describe('<think> tags inside content (templates the server does not parse)', () => {
    const usageStream = findFrame(sections, 'POST /v1/chat/completions stream=true include_usage');
    const answer = '<think>Plan: add 2 and 2.</think>\n\nIt is 4.';

    it('splits the block out of captured frames with the tags cut at every point (2 and 3 pieces)', function () {
      this.timeout(60_000);
      for (let i = 0; i <= answer.length; i++) {
        for (let j = i; j <= answer.length; j++) {
          const pieces = [answer.slice(0, i), answer.slice(i, j), answer.slice(j)];
          const events = decodeChatStream([retext(usageStream, pieces)]);
          const where = JSON.stringify(pieces);
          assert.equal(text(events, 'reasoning'), 'Plan: add 2 and 2.', where);
          assert.equal(text(events), 'It is 4.', where);
          const kinds = types(events).filter((t) => t === 'reasoning' || t === 'content');
          assert.deepEqual(kinds, [...kinds].sort((a, b) => (a === b ? 0 : a === 'reasoning' ? -1 : 1)), `all reasoning first: ${where}`);
          assert.deepEqual(types(events).slice(-3), ['finish', 'usage', 'done'], where);
          // Every content frame still shows: one that produced nothing visible is alive.
          assert.equal(events.filter((e) => e.type !== 'role' && e.type !== 'finish' && e.type !== 'usage' && e.type !== 'done').length >= 3, true, where);
        }
      }
    });

    it('gives the same events for a <think> stream split at every byte, and char by char in content', () => {
      const body = retext(usageStream, Array.from(answer));
      const whole = decodeChatStream([body]);
      assert.equal(text(whole, 'reasoning'), 'Plan: add 2 and 2.');
      assert.equal(text(whole), 'It is 4.');
      for (let cut = 1; cut < body.length; cut++) assert.deepEqual(decodeChatStream(splitAt(body, [cut])), whole, `split at byte ${cut}`);
    });

    it('reports a frame whose content is held back (a partial tag, leading whitespace) as alive', () => {
      const events = decodeChatStream([retext(usageStream, ['\n', '<th', 'ink>', 'x', '</think', '>', '\n', 'y'])]);
      assert.deepEqual(types(events).slice(0, 10), ['role', 'alive:data', 'alive:data', 'alive:data', 'reasoning', 'alive:data', 'alive:data', 'alive:data', 'content', 'finish']);
      assert.equal(text(events, 'reasoning'), 'x');
      assert.equal(text(events), 'y');
    });

    it('keeps a plain answer exactly, leading whitespace and later tags included', () => {
      const events = decodeChatStream([retext(usageStream, ['\n\n', 'Hi ', '<think>', 'x</think>'])]);
      assert.equal(text(events), '\n\nHi <think>x</think>');
      assert.equal(text(events, 'reasoning'), '');
    });

    it('releases an unclosed block as reasoning at finish, at [DONE], on a stream error, on fail() and on truncation', () => {
      const open = delta({ content: '<think>abc</th' });
      assert.deepEqual(decodeChatStream([bytes(sse(open, delta({}, 'stop'), '[DONE]'))]), [
        { type: 'reasoning', text: 'abc' },
        { type: 'reasoning', text: '</th' },
        { type: 'finish', reason: 'stop' },
        { type: 'done' },
      ]);
      assert.deepEqual(types(decodeChatStream([bytes(sse(open, '[DONE]'))])), ['reasoning', 'reasoning', 'done']);
      const streamError = decodeChatStream([bytes(sse(open, { error: { message: 'slot crashed' } }))]);
      assert.deepEqual(types(streamError), ['reasoning', 'reasoning', 'error']);
      assert.equal(text(streamError, 'reasoning'), 'abc</th');
      const truncated = decodeChatStream([bytes(sse(open))]);
      assert.deepEqual(types(truncated), ['reasoning', 'reasoning', 'error']);
      assert.ok(truncated[2].type === 'error' && truncated[2].error.kind === 'truncated');

      const events: StreamEvent[] = [];
      const decoder = new ChatStreamDecoder((e) => events.push(e));
      decoder.write(bytes(sse(delta({ content: '  <thi' }))));
      assert.deepEqual(types(events), ['alive:data']);
      decoder.fail({ kind: 'aborted', message: 'Stopped.' });
      assert.deepEqual(events.slice(1), [{ type: 'content', text: '  <thi' }, { type: 'error', error: { kind: 'aborted', message: 'Stopped.' } }]);
    });

    it('reasoning_content wins: content passes through untouched from then on', () => {
      const events = decodeChatStream([
        bytes(sse(delta({ reasoning_content: 'server-parsed' }), delta({ content: '<think>x</think>' }), delta({ content: 'y' }), delta({}, 'stop'), '[DONE]')),
      ]);
      assert.equal(text(events, 'reasoning'), 'server-parsed');
      assert.equal(text(events), '<think>x</think>y');
    });

    it('a stream that started splitting content keeps what it emitted when reasoning_content arrives', () => {
      const events = decodeChatStream([
        bytes(sse(delta({ content: '<think>a</th' }), delta({ reasoning_content: 'b' }), delta({ content: '</think>c' }), delta({}, 'stop'), '[DONE]')),
      ]);
      assert.deepEqual(events.slice(0, 4), [
        { type: 'reasoning', text: 'a' },
        { type: 'reasoning', text: '</th' },
        { type: 'reasoning', text: 'b' },
        { type: 'content', text: '</think>c' },
      ]);
    });
  });

  describe('properties', () => {
    const complete = sections.filter((s) => s.isCompleteSse).map((s) => s.body);

    it('random splits of captured streams give the same events', () => {
      fc.assert(
        fc.property(
          fc.constantFrom(...complete),
          fc.array(fc.nat(), { maxLength: 40 }),
          (body, rawCuts) => {
            const cuts = rawCuts.map((c) => c % (body.length + 1));
            assert.deepEqual(decodeChatStream(splitAt(body, cuts)), decodeChatStream([body]));
          },
        ),
        { numRuns: 300 },
      );
    });

    it('random bytes, garbage mixed into streams and invalid UTF-8 never throw and end exactly once', () => {
      const garbage = fc.oneof(
        fc.uint8Array({ maxLength: 300 }),
        fc.constantFrom(bytes('data: '), bytes('\n'), bytes('\r'), bytes('\n\n'), bytes('[DONE]'), bytes('{"error":'), new Uint8Array([0xff, 0xfe, 0xc3]), new Uint8Array([0xf0, 0x9f])),
        fc.string({ maxLength: 50 }).map((s) => bytes(`data: ${s}\n\n`)),
      );
      fc.assert(
        fc.property(
          fc.array(fc.oneof(garbage, fc.constantFrom(...complete)), { maxLength: 12 }),
          fc.array(fc.nat(), { maxLength: 10 }),
          (pieces, rawCuts) => {
            const total = Buffer.concat(pieces);
            const cuts = rawCuts.map((c) => c % (total.length + 1));
            const events = decodeChatStream(splitAt(total, cuts));
            assertOneTerminal(events);
            assert.deepEqual(events, decodeChatStream([total]), 'splitting does not change the result');
          },
        ),
        { numRuns: 500 },
      );
    });

    it('huge lines without newlines end with one terminal event', () => {
      fc.assert(
        fc.property(fc.integer({ min: 1, max: 200_000 }), fc.boolean(), (size, prefix) => {
          const line = bytes((prefix ? 'data: ' : '') + 'a'.repeat(size));
          const events = decodeChatStream([line, line], { maxEventChars: 100_000 });
          assertOneTerminal(events);
        }),
        { numRuns: 30 },
      );
    });
  });
});

describe('ChatStreamDecoder: tool calls (delta.tool_calls)', () => {
  /** llama-server's shape (observed on v0.5.0): the first fragment has id, type and name; then argument pieces. */
  const body = bytes(
    sse(
      delta({ role: 'assistant', content: null }),
      delta({ tool_calls: [{ index: 0, id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{"ci' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: 'ty": "Pär' } }] }),
      delta({ tool_calls: [{ index: 0, function: { arguments: 'is"}' } }] }),
      delta({ tool_calls: [{ index: 1, id: 'c2', type: 'function', function: { name: 'now', arguments: '{}' } }] }),
      delta({}, 'tool_calls'),
      '[DONE]',
    ),
  );
  const expected: StreamEvent[] = [
    { type: 'role', role: 'assistant' },
    { type: 'toolCall', index: 0, id: 'c1', name: 'get_weather', argumentsDelta: '{"ci' },
    { type: 'toolCall', index: 0, argumentsDelta: 'ty": "Pär' },
    { type: 'toolCall', index: 0, argumentsDelta: 'is"}' },
    { type: 'toolCall', index: 1, id: 'c2', name: 'now', argumentsDelta: '{}' },
    { type: 'finish', reason: 'tool_calls' },
    { type: 'done' },
  ];

  it('emits each fragment as a toolCall event with its index, then finish tool_calls', () => {
    assert.deepEqual(decodeChatStream([body]), expected);
  });

  it('gives the same events wherever the network splits the body (one byte at a time, any cuts)', () => {
    assert.deepEqual(decodeChatStream(oneByteChunks(body)), expected);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: body.length - 1 }), { maxLength: 12 }), (cuts) => {
        assert.deepEqual(decodeChatStream(splitAt(body, cuts)), expected);
      }),
      { numRuns: 100 },
    );
  });

  it('takes the position for a missing index; an empty entry or a non-object adds nothing (the frame is alive)', () => {
    const events = decodeChatStream([
      bytes(
        sse(
          delta({ tool_calls: [{ function: { name: 'a' } }, { function: { name: 'b', arguments: '' } }] }),
          delta({ tool_calls: [{ index: 0, function: {} }, 'x', null] }),
          delta({ content: 'ok' }, 'stop'),
          '[DONE]',
        ),
      ),
    ]);
    assert.deepEqual(events, [
      { type: 'toolCall', index: 0, name: 'a' },
      { type: 'toolCall', index: 1, name: 'b' },
      { type: 'alive', ping: false },
      { type: 'content', text: 'ok' },
      { type: 'finish', reason: 'stop' },
      { type: 'done' },
    ]);
  });
});
