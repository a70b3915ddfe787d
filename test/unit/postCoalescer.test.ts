import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { PostCoalescer } from '../../src/view/postCoalescer';
import type { ToWebviewMessage } from '../../src/protocol';
import { FakeClock } from '../support/fakeClock';

type Delta = Extract<ToWebviewMessage, { type: 'delta' }>;

function setup(frameMs = 16, usageMs = 500) {
  const clock = new FakeClock();
  const posted: ToWebviewMessage[] = [];
  const c = new PostCoalescer({ clock, post: (m) => posted.push(m), frameMs, usageMs });
  return { clock, posted, c };
}

const deltas = (posted: ToWebviewMessage[]): Delta[] => posted.filter((m): m is Delta => m.type === 'delta');

describe('PostCoalescer', () => {
  it('merges many deltas of one frame into one post', () => {
    const { clock, posted, c } = setup();
    for (let i = 0; i < 1000; i++) c.delta('c1', 'm1', `t${i} `);
    assert.equal(posted.length, 0, 'nothing before the frame ends');
    clock.advance(16);
    assert.equal(posted.length, 1);
    const d = posted[0] as Delta;
    assert.equal(d.type, 'delta');
    assert.equal(d.seq, 1);
    assert.equal(d.chatId, 'c1');
    assert.equal(d.text, Array.from({ length: 1000 }, (_, i) => `t${i} `).join(''));
    assert.equal(d.reasoning, undefined);
  });

  it('posts at most once per frame whatever the token rate, with increasing seq', () => {
    const { clock, posted, c } = setup();
    // 10,000 tokens over one second: one token every 0.1 ms.
    for (let i = 0; i < 10_000; i++) {
      c.delta('c1', 'm1', 'x');
      if (i % 10 === 9) clock.advance(1);
    }
    clock.advance(16);
    const ds = deltas(posted);
    assert.ok(ds.length <= Math.ceil(1000 / 16) + 1, `${ds.length} posts`);
    assert.deepEqual(
      ds.map((d) => d.seq),
      ds.map((_, i) => i + 1),
    );
    assert.equal(ds.map((d) => d.text).join(''), 'x'.repeat(10_000));
  });

  it('keeps reasoning apart from the answer and messages apart from each other', () => {
    const { clock, posted, c } = setup();
    c.delta('c1', 'm1', undefined, 'think ');
    c.delta('c2', 'm2', 'other');
    c.delta('c1', 'm1', 'answer', 'more');
    clock.advance(16);
    assert.deepEqual(posted, [
      { type: 'delta', chatId: 'c1', messageId: 'm1', seq: 1, text: 'answer', reasoning: 'think more' },
      { type: 'delta', chatId: 'c2', messageId: 'm2', seq: 1, text: 'other' },
    ]);
  });

  it('ignores empty deltas', () => {
    const { clock, posted, c } = setup();
    c.delta('c1', 'm1', '', '');
    clock.advance(100);
    assert.equal(posted.length, 0);
    assert.equal(clock.pendingTimers, 0);
  });

  it('flushes pending text before done and status, and forgets the message after done', () => {
    const { clock, posted, c } = setup();
    c.delta('c1', 'm1', 'abc');
    c.post({ type: 'status', chatId: 'c1', messageId: 'm1', status: 'streaming', stale: true });
    c.delta('c1', 'm1', 'def');
    const message = { id: 'm1', role: 'assistant' as const, content: 'abcdef', status: 'complete' as const, createdAt: 1 };
    c.post({ type: 'done', chatId: 'c1', messageId: 'm1', message });
    assert.deepEqual(
      posted.map((m) => m.type),
      ['delta', 'status', 'delta', 'done'],
    );
    assert.equal((posted[2] as Delta).seq, 2);
    clock.advance(100);
    assert.equal(posted.length, 4, 'no timer left to post again');
    // The seq state went with the message: the same id streaming again starts over.
    c.delta('c1', 'm1', 'again');
    clock.advance(100);
    assert.equal((posted[4] as Delta).seq, 1, 'seq state is dropped with the message');
  });

  it('waits 25 ms by default (at most 40 delta posts per second)', () => {
    const clock = new FakeClock();
    const posted: ToWebviewMessage[] = [];
    const c = new PostCoalescer({ clock, post: (m) => posted.push(m) });
    c.delta('c1', 'm1', 'a');
    clock.advance(24);
    assert.equal(posted.length, 0);
    clock.advance(1);
    assert.equal(posted.length, 1);
  });

  it('folds due usage figures into the pending delta instead of a post of their own', () => {
    const { clock, posted, c } = setup();
    const usage = (n: number) => ({ chatId: 'c1', messageId: 'm1', completionTokens: n, tps: 10 });
    c.delta('c1', 'm1', 'a');
    c.usage(usage(1));
    clock.advance(16);
    assert.deepEqual(posted, [{ type: 'delta', chatId: 'c1', messageId: 'm1', seq: 1, text: 'a', usage: { completionTokens: 1, tps: 10 } }]);
    // Not due again for 500 ms: the next frames carry text only; then the latest figures ride along once.
    c.usage(usage(2));
    for (let i = 0; i < 40; i++) {
      c.delta('c1', 'm1', 'b');
      clock.advance(16);
    }
    const withUsage = deltas(posted).filter((d) => d.usage !== undefined);
    assert.equal(posted.filter((m) => m.type === 'usage').length, 0);
    assert.deepEqual(withUsage.map((d) => d.usage?.completionTokens), [1, 2]);
    // No text pending: usage is posted on its own when due.
    clock.advance(600);
    c.usage(usage(3));
    assert.deepEqual(posted[posted.length - 1], { type: 'usage', ...usage(3) });
  });

  it('throttles usage to one post per 500 ms per message, latest figures winning', () => {
    const { clock, posted, c } = setup();
    const usage = (n: number) => ({ chatId: 'c1', messageId: 'm1', completionTokens: n });
    c.usage(usage(1));
    assert.equal(posted.length, 1, 'the first usage goes at once');
    for (let n = 2; n <= 50; n++) {
      c.usage(usage(n));
      clock.advance(10);
    }
    // 490 ms have passed: still throttled.
    assert.equal(posted.length, 1);
    clock.advance(10);
    assert.equal(posted.length, 2);
    assert.deepEqual(posted[1], { type: 'usage', chatId: 'c1', messageId: 'm1', completionTokens: 50 });
    clock.advance(2000);
    assert.equal(posted.length, 2, 'nothing new, nothing posted');
    c.usage(usage(51));
    assert.equal(posted.length, 3, 'after a quiet period usage goes at once again');
  });

  it('drops pending usage when the message is done', () => {
    const { clock, posted, c } = setup();
    c.usage({ chatId: 'c1', messageId: 'm1', completionTokens: 1 });
    c.usage({ chatId: 'c1', messageId: 'm1', completionTokens: 2 });
    const message = { id: 'm1', role: 'assistant' as const, content: '', status: 'complete' as const, createdAt: 1 };
    c.post({ type: 'done', chatId: 'c1', messageId: 'm1', message });
    clock.advance(1000);
    assert.deepEqual(
      posted.map((m) => m.type),
      ['usage', 'done'],
    );
  });

  it('a snapshot takes pending text and later deltas continue above its seq', () => {
    const { clock, posted, c } = setup();
    c.delta('c1', 'm1', 'one ');
    clock.advance(16);
    c.delta('c1', 'm1', 'two ');
    const seq = c.snapshotSeq('m1');
    assert.equal(seq, 1);
    clock.advance(16);
    assert.equal(deltas(posted).length, 1, '"two " is in the snapshot, not posted');
    c.delta('c1', 'm1', 'three');
    clock.advance(16);
    const last = deltas(posted).at(-1)!;
    assert.equal(last.seq, 2);
    assert.equal(last.text, 'three');
  });

  it('dropPending posts nothing while the view is gone but keeps counting seq', () => {
    const { clock, posted, c } = setup();
    c.delta('c1', 'm1', 'a');
    clock.advance(16);
    c.delta('c1', 'm1', 'b');
    c.usage({ chatId: 'c1', messageId: 'm1', completionTokens: 1 });
    c.usage({ chatId: 'c1', messageId: 'm1', completionTokens: 2 });
    const before = posted.length;
    c.dropPending();
    clock.advance(1000);
    assert.equal(posted.length, before);
    assert.equal(c.snapshotSeq('m1'), 1);
  });

  it('posts nothing after dispose', () => {
    const { clock, posted, c } = setup();
    c.delta('c1', 'm1', 'a');
    c.dispose();
    c.delta('c1', 'm1', 'b');
    c.usage({ chatId: 'c1', messageId: 'm1', completionTokens: 2 });
    clock.advance(1000);
    assert.equal(posted.length, 0);
  });

  // A webview that applies deltas above its snapshot seq must end with exactly the streamed text, however the
  // tokens, frames and snapshots (view hidden and reopened) interleave.
  it('property: a webview reopened at any moment ends with the exact text, no loss, no doubling', () => {
    type Step = { kind: 'token'; text: string } | { kind: 'tick'; ms: number } | { kind: 'snapshot' } | { kind: 'hide' };
    const step = fc.oneof(
      fc.record({ kind: fc.constant('token' as const), text: fc.string({ minLength: 1, maxLength: 4 }) }),
      fc.record({ kind: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 40 }) }),
      fc.record({ kind: fc.constant('snapshot' as const) }),
      fc.record({ kind: fc.constant('hide' as const) }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps: Step[]) => {
        const clock = new FakeClock();
        let visible = true;
        // The webview's view of the message: text and the seq it has applied.
        let viewText = '';
        let viewSeq = 0;
        const c = new PostCoalescer({
          clock,
          post: (m) => {
            assert.ok(visible, 'posted while hidden');
            if (m.type === 'delta' && m.seq > viewSeq) {
              assert.equal(m.seq, viewSeq + 1, 'seq has no gaps');
              viewText += m.text;
              viewSeq = m.seq;
            }
          },
        });
        // The host's store: everything streamed so far.
        let stored = '';
        for (const s of steps) {
          if (s.kind === 'token') {
            stored += s.text;
            if (visible) c.delta('c', 'm', s.text);
          } else if (s.kind === 'tick') {
            clock.advance(s.ms);
          } else if (s.kind === 'hide') {
            visible = false;
            c.dropPending();
          } else {
            visible = true;
            viewSeq = c.snapshotSeq('m');
            viewText = stored;
          }
        }
        clock.advance(100);
        if (visible) assert.equal(viewText, stored);
      }),
      { numRuns: 300 },
    );
  });
});
