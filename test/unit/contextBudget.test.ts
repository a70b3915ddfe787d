import * as assert from 'node:assert/strict';
import type { Attachment, ChatMessage } from '../../src/core/chats/chat';
import { buildRequestMessages } from '../../src/core/chats/chatOps';
import type { ChatRequestMessage, PromptCount } from '../../src/core/server/client';
import { estimatePromptTokens, fitRequest, reserveFor } from '../../src/core/session/contextBudget';
import type { FitInput } from '../../src/core/session/contextBudget';

function msg(id: string, role: ChatMessage['role'], content: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return { id, role, content, status: 'complete', createdAt: 1, ...extra };
}

/** A counter like a template's: 3 + per message 4 + one token per 4 characters; counts its calls. */
function fakeCounter(): { count: (m: ChatRequestMessage[]) => Promise<PromptCount>; calls: ChatRequestMessage[][] } {
  const calls: ChatRequestMessage[][] = [];
  const count = (messages: ChatRequestMessage[]): Promise<PromptCount> => {
    calls.push(messages);
    return Promise.resolve({ tokens: tokensOf(messages), exact: true });
  };
  return { count, calls };
}

function tokensOf(messages: readonly ChatRequestMessage[]): number {
  let n = 3;
  for (const m of messages) n += 4 + Math.ceil(m.content.length / 4) + (m.images?.length ?? 0) * 100;
  return n;
}

/** `turns` question/answer pairs (each message 400 characters: 104 tokens with the fake counter), then a question. */
function conversation(turns: number, question: Partial<ChatMessage> = {}): ChatMessage[] {
  const path: ChatMessage[] = [];
  for (let i = 1; i <= turns; i++) {
    path.push(msg(`u${i}`, 'user', `q${i} `.padEnd(400, 'x')));
    path.push(msg(`a${i}`, 'assistant', `a${i} `.padEnd(400, 'y')));
  }
  path.push(msg('q', 'user', 'the question', question));
  return path.map((m, i) => (i > 0 ? { ...m, parentId: path[i - 1].id } : m));
}

const file: Attachment = { kind: 'file', name: 'src/a.ts', text: 'const a = 1;\n'.repeat(40), language: 'ts' };

function input(path: ChatMessage[], nCtx: number | undefined, policy: FitInput['policy'] = 'trimOldest', extra: Partial<FitInput> = {}): FitInput {
  return { path, settings: { systemPrompt: 'You are terse.', maxTokens: 200 }, nCtx, policy, ...extra };
}

describe('contextBudget', () => {
  describe('reserveFor', () => {
    it('keeps maxTokens, else a quarter of the context (at least 256), never more than the context', () => {
      assert.equal(reserveFor(2048, 100), 100);
      assert.equal(reserveFor(2048), 512);
      assert.equal(reserveFor(2048, 0), 512);
      assert.equal(reserveFor(2048, -5), 512);
      assert.equal(reserveFor(512), 256);
      assert.equal(reserveFor(200), 200);
      assert.equal(reserveFor(2048, 5000), 2048);
    });
  });

  describe('fitRequest', () => {
    it('sends everything when n_ctx is unknown (one count, fits)', async () => {
      const c = fakeCounter();
      const path = conversation(30);
      const r = await fitRequest(input(path, undefined), c.count);
      assert.equal(r.fits, true);
      assert.equal(r.omitted, 0);
      assert.equal(r.nCtx, undefined);
      assert.equal(c.calls.length, 1);
      assert.deepEqual(r.messages, buildRequestMessages(path, { systemPrompt: 'You are terse.' }));
      assert.equal(r.tokens, tokensOf(r.messages));
      assert.equal(r.exact, true);
    });

    it('sends everything with one count when it fits', async () => {
      const c = fakeCounter();
      const path = conversation(3);
      const r = await fitRequest(input(path, 4096), c.count);
      assert.equal(r.fits, true);
      assert.equal(r.omitted, 0);
      assert.equal(r.reserve, 200);
      assert.equal(r.messages.length, 1 + path.length);
      assert.equal(c.calls.length, 1);
    });

    it('trimOldest drops the oldest turns at user messages, keeps the system prompt and the question with its attachment', async () => {
      const c = fakeCounter();
      const path = conversation(20, { attachments: [file] });
      const nCtx = 1500;
      const r = await fitRequest(input(path, nCtx), c.count);
      assert.equal(r.fits, true);
      assert.ok(r.tokens + r.reserve <= nCtx, `${r.tokens} + ${r.reserve} <= ${nCtx}`);
      assert.equal(r.tokens, tokensOf(r.messages));
      assert.deepEqual(r.messages[0], { role: 'system', content: 'You are terse.' });
      assert.equal(r.messages[1].role, 'user', 'the request starts with a user turn');
      const last = r.messages[r.messages.length - 1];
      assert.equal(last.role, 'user');
      assert.match(last.content, /^the question\n\nFile `src\/a\.ts`:\n```ts\nconst a = 1;/);
      // Oldest first: what is kept is the newest end of the path.
      assert.ok(r.omitted > 0 && r.omitted % 2 === 0, `omitted ${r.omitted}`);
      assert.deepEqual(
        r.messages.slice(1).map((m) => m.content.slice(0, 4).trim()),
        path.slice(r.omitted).map((m) => m.content.slice(0, 4).trim()),
      );
      // The smallest cut: one more turn would not fit.
      const more = buildRequestMessages(path, { systemPrompt: 'You are terse.' }, { startAt: r.omitted - 2 });
      assert.ok(tokensOf(more) + r.reserve > nCtx, 'keeping one more turn would not fit');
      assert.equal(r.summarized, 0);
      assert.equal(r.toSummarize, undefined);
    });

    it('needs few counts for a 200-message path (binary search over the cut points)', async () => {
      const path = conversation(100);
      for (const nCtx of [700, 1500, 4000, 9000, 15000]) {
        const c = fakeCounter();
        const r = await fitRequest(input(path, nCtx), c.count);
        assert.equal(r.fits, true);
        // whole, last turn alone, then log2(100 cut points) ≈ 7
        assert.ok(c.calls.length <= 10, `nCtx ${nCtx}: ${c.calls.length} counts`);
        assert.ok(r.tokens + r.reserve <= nCtx);
        if (r.omitted >= 2) {
          const more = buildRequestMessages(path, { systemPrompt: 'You are terse.' }, { startAt: r.omitted - 2 });
          assert.ok(tokensOf(more) + r.reserve > nCtx, `nCtx ${nCtx}: the cut is the smallest`);
        }
      }
    });

    it('cuts only at user messages, also after failed and empty answers', async () => {
      const c = fakeCounter();
      const path = conversation(6);
      // A failed retry and a regenerated answer between turns.
      path.splice(3, 0, msg('f', 'assistant', 'failed junk'.repeat(40), { status: 'failed' }));
      const r = await fitRequest(input(path, 900), c.count);
      assert.equal(r.fits, true);
      assert.equal(path[r.omitted].role, 'user');
      for (const call of c.calls) assert.equal(call[1].role, 'user');
    });

    it('a summary replaces what it covers, and trimming keeps it in the system message', async () => {
      const path = conversation(12);
      // u1..a4 summarized onto u5.
      const covers = path.slice(0, 8).map((m) => m.id);
      path[8] = { ...path[8], summary: { text: 'Earlier: they talked about x.', covers, createdAt: 2 } };
      const c = fakeCounter();
      const whole = await fitRequest(input(path, 10_000), c.count);
      assert.equal(whole.fits, true);
      assert.equal(whole.omitted, 0);
      assert.equal(whole.summarized, 8);
      assert.equal(whole.messages[0].content, 'You are terse.\n\nSummary of the earlier conversation:\nEarlier: they talked about x.');
      assert.equal(whole.messages.length, 1 + path.length - 8);
      assert.ok(whole.messages[1].content.startsWith('q5 '));

      const trimmed = await fitRequest(input(path, 1200), fakeCounter().count);
      assert.equal(trimmed.fits, true);
      assert.equal(trimmed.summarized, 8);
      assert.ok(trimmed.omitted > 0, 'older turns after the summary are left out');
      assert.match(trimmed.messages[0].content, /Summary of the earlier conversation/);
      assert.equal(trimmed.messages[1].role, 'user');
      assert.ok(trimmed.messages[1].content.startsWith(`q${5 + trimmed.omitted / 2} `), trimmed.messages[1].content.slice(0, 5));
      assert.equal(trimmed.messages[trimmed.messages.length - 1].content, 'the question');
    });

    it('summarize returns the messages to summarize, then fits with the summary in their place', async () => {
      const path = conversation(20);
      const nCtx = 2048;
      const first = await fitRequest(input(path, nCtx, 'summarize'), fakeCounter().count);
      assert.equal(first.fits, false);
      assert.ok(first.toSummarize && first.toSummarize.length > 0);
      const n = first.toSummarize.length;
      assert.deepEqual(first.toSummarize, path.slice(0, n).map((m) => m.id));
      assert.equal(path[n].role, 'user', 'the first kept message is a question');
      assert.equal(first.summaryTokens, 256);
      // Room was kept for the summary: the kept part fits with 256 tokens to spare.
      assert.ok(first.tokens + first.reserve + 256 <= nCtx);

      const summarized = path.map((m, i) =>
        i === n ? { ...m, summary: { text: 'A summary. '.repeat(40), covers: first.toSummarize!, createdAt: 3 } } : m,
      );
      const c = fakeCounter();
      const second = await fitRequest(input(summarized, nCtx, 'summarize'), c.count);
      assert.equal(second.fits, true);
      assert.equal(second.omitted, 0);
      assert.equal(second.summarized, n);
      assert.equal(second.toSummarize, undefined);
      assert.equal(c.calls.length, 1);
      assert.match(second.messages[0].content, /^You are terse\.\n\nSummary of the earlier conversation:\nA summary\./);
    });

    it('summarize: a second summary covers the first one\'s messages too', async () => {
      const path = conversation(30);
      const covers = path.slice(0, 4).map((m) => m.id);
      path[4] = { ...path[4], summary: { text: 'old summary', covers, createdAt: 2 } };
      const r = await fitRequest(input(path, 2048, 'summarize'), fakeCounter().count);
      assert.equal(r.fits, false);
      assert.deepEqual(r.toSummarize!.slice(0, 4), covers);
      assert.equal(r.summarized, 4);
      assert.ok(r.omitted > 0);
    });

    it('refuses a last turn that does not fit alone, with the numbers', async () => {
      const path = conversation(3, { content: 'huge' });
      // The question alone needs 3,010 tokens with any history.
      const count = (messages: ChatRequestMessage[]): Promise<PromptCount> =>
        Promise.resolve({ tokens: 3010 + (messages.length - 1) * 50, exact: true });
      for (const policy of ['trimOldest', 'summarize', 'fail'] as const) {
        const r = await fitRequest({ path, settings: { maxTokens: 0 }, nCtx: 2048, policy }, count);
        assert.equal(r.fits, false, policy);
        assert.equal(r.tooLarge, 'The message needs 3,010 tokens, but the context holds 2,048 and 512 are kept for the answer.');
        assert.equal(r.toSummarize, undefined);
      }
      const estimated = await fitRequest({ path, settings: {}, nCtx: 2048, policy: 'trimOldest' }, () =>
        Promise.resolve({ tokens: 4000, exact: false }),
      );
      assert.match(estimated.tooLarge!, /needs about 4,000 tokens/);
    });

    it('a huge attachment on the question makes it too large, never trimmed away', async () => {
      const big: Attachment = { kind: 'paste', name: 'log', text: 'z'.repeat(20_000) };
      const path = conversation(4, { attachments: [big] });
      const r = await fitRequest(input(path, 2048), fakeCounter().count);
      assert.equal(r.fits, false);
      assert.match(r.tooLarge!, /^The message needs 5,0\d\d tokens, but the context holds 2,048 and 200 are kept for the answer\.$/);
    });

    it('fail policy does not trim: fits false, no tooLarge while the last turn fits alone', async () => {
      const c = fakeCounter();
      const path = conversation(20);
      const r = await fitRequest(input(path, 1500, 'fail'), c.count);
      assert.equal(r.fits, false);
      assert.equal(r.tooLarge, undefined);
      assert.equal(r.omitted, 0);
      assert.equal(r.messages.length, 1 + path.length);
      assert.equal(c.calls.length, 2);
    });

    it('continueFinal keeps the question and its partial answer as the last turn', async () => {
      const path = conversation(20);
      path.push(msg('partial', 'assistant', 'Once upon a time', { status: 'stopped', parentId: 'q' }));
      const r = await fitRequest(input(path, 1200, 'trimOldest', { continueFinal: true }), fakeCounter().count);
      assert.equal(r.fits, true);
      assert.deepEqual(r.messages.slice(-2), [
        { role: 'user', content: 'the question' },
        { role: 'assistant', content: 'Once upon a time' },
      ]);
      assert.ok(r.omitted > 0);
      // Even a complete answer is sent to be continued.
      path[path.length - 1] = { ...path[path.length - 1], status: 'complete' };
      const alone = await fitRequest(input(path.slice(-2), 1200, 'trimOldest', { continueFinal: true }), fakeCounter().count);
      assert.deepEqual(alone.messages.slice(-1), [{ role: 'assistant', content: 'Once upon a time' }]);
    });

    it('passes the signal on and stops when it is aborted', async () => {
      const controller = new AbortController();
      const seen: (AbortSignal | undefined)[] = [];
      const count = (messages: ChatRequestMessage[], signal?: AbortSignal): Promise<PromptCount> => {
        seen.push(signal);
        controller.abort();
        return Promise.resolve({ tokens: tokensOf(messages), exact: true });
      };
      await assert.rejects(fitRequest(input(conversation(20), 1500), count, controller.signal), { name: 'AbortError' });
      assert.deepEqual(seen, [controller.signal]);
    });
  });

  describe('estimatePromptTokens', () => {
    it('is about 3.5 characters a token, with a few per message and a guess per image', () => {
      const text = estimatePromptTokens([{ role: 'user', content: 'x'.repeat(350) }]);
      assert.deepEqual(text, { tokens: 3 + 4 + 100, exact: false });
      const image = estimatePromptTokens([{ role: 'user', content: '', images: ['data:image/png;base64,AAAA'] }]);
      assert.ok(image.tokens > 500);
    });
  });
});
