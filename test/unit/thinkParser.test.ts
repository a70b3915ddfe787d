import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { splitThink, ThinkParser } from '../../src/core/server/thinkParser';
import type { ThinkKind } from '../../src/core/server/thinkParser';

interface Split {
  reasoning: string;
  content: string;
}

interface Piece {
  kind: ThinkKind;
  text: string;
}

/** Feeds the pieces one by one, then ends; returns what came out, piece by piece and joined. */
function run(chunks: readonly string[]): Split & { pieces: Piece[] } {
  const pieces: Piece[] = [];
  const parser = new ThinkParser((kind, text) => pieces.push({ kind, text }));
  for (const chunk of chunks) parser.write(chunk);
  parser.end();
  const join = (kind: ThinkKind): string => pieces.filter((p) => p.kind === kind).map((p) => p.text).join('');
  return { reasoning: join('reasoning'), content: join('content'), pieces };
}

/** Independent whole-string oracle of the rules. */
function oracle(text: string): Split {
  const open = /^\s*<think>/.exec(text);
  if (!open) return { reasoning: '', content: text };
  const body = text.slice(open[0].length);
  const close = body.indexOf('</think>');
  if (close < 0) return { reasoning: body, content: '' };
  return { reasoning: body.slice(0, close), content: body.slice(close + '</think>'.length).replace(/^\s+/, '') };
}

/** Every way to cut `text` into 2 and into 3 pieces (UTF-16 indexes, surrogate halves included), and 1 char each. */
function* splits(text: string): Generator<string[]> {
  for (let i = 0; i <= text.length; i++) {
    yield [text.slice(0, i), text.slice(i)];
    for (let j = i; j <= text.length; j++) yield [text.slice(0, i), text.slice(i, j), text.slice(j)];
  }
  yield text.split('');
  yield Array.from(text); // one code point each
}

const CASES: { name: string; text: string; expect: Split }[] = [
  { name: 'tag at the start', text: '<think>Plan: add 2+2.</think>\n\nThe answer is 4.', expect: { reasoning: 'Plan: add 2+2.', content: 'The answer is 4.' } },
  { name: 'tag after whitespace', text: ' \n\t<think>\nsteps\n</think>\n\n  Answer ', expect: { reasoning: '\nsteps\n', content: 'Answer ' } },
  { name: 'tag mid-text: no block', text: 'Use <think>tags</think> like this.', expect: { reasoning: '', content: 'Use <think>tags</think> like this.' } },
  { name: 'whitespace, then text, then a tag: no block', text: '\n x<think>a</think>b', expect: { reasoning: '', content: '\n x<think>a</think>b' } },
  { name: 'unclosed', text: '<think>still thinking when the stream ended </thi', expect: { reasoning: 'still thinking when the stream ended </thi', content: '' } },
  { name: 'nested-looking', text: '<think><think>inner</think>after</think> tail', expect: { reasoning: '<think>inner', content: 'after</think> tail' } },
  { name: 'close without open', text: '</think>hello <think>x</think>', expect: { reasoning: '', content: '</think>hello <think>x</think>' } },
  { name: 'CRLF', text: '\r\n<think>\r\nstep one\r\nstep two\r\n</think>\r\n\r\nDone.\r\n', expect: { reasoning: '\r\nstep one\r\nstep two\r\n', content: 'Done.\r\n' } },
  { name: 'multi-byte text', text: '<think>é你🙂 思考 𝄞</think>\n答え: 🙂é', expect: { reasoning: 'é你🙂 思考 𝄞', content: '答え: 🙂é' } },
  { name: 'empty block', text: '<think></think>Answer', expect: { reasoning: '', content: 'Answer' } },
  { name: 'lookalike tags', text: '<think>a</thinkx><<b</think>c<think>d', expect: { reasoning: 'a</thinkx><<b', content: 'c<think>d' } },
  { name: 'not quite an opening tag', text: '<thinking>x</thinking>', expect: { reasoning: '', content: '<thinking>x</thinking>' } },
  { name: 'a partial opening tag only', text: '  <thin', expect: { reasoning: '', content: '  <thin' } },
  { name: 'whitespace only', text: ' \n ', expect: { reasoning: '', content: ' \n ' } },
  { name: 'block then only whitespace', text: '<think>r</think> \n\n', expect: { reasoning: 'r', content: '' } },
  { name: 'plain answer', text: 'Just an answer, with < and > and </think', expect: { reasoning: '', content: 'Just an answer, with < and > and </think' } },
];

describe('ThinkParser', () => {
  describe('the rules, unsplit', () => {
    for (const c of CASES) {
      it(`${c.name}`, () => {
        const whole = run([c.text]);
        assert.deepEqual({ reasoning: whole.reasoning, content: whole.content }, c.expect);
        assert.deepEqual(splitThink(c.text), c.expect);
        assert.deepEqual(oracle(c.text), c.expect, 'the oracle agrees with the hand-written expectation');
      });
    }

    it('emits nothing for empty text and empty writes', () => {
      assert.deepEqual(run([]).pieces, []);
      assert.deepEqual(run(['', '', '']).pieces, []);
    });
  });

  describe('split at every point', () => {
    for (const c of CASES) {
      it(`gives the unsplit result for every 2- and 3-way split and char by char: ${c.name}`, () => {
        let count = 0;
        for (const chunks of splits(c.text)) {
          const got = run(chunks);
          assert.deepEqual({ reasoning: got.reasoning, content: got.content }, c.expect, `chunks ${JSON.stringify(chunks)}`);
          assert.ok(got.pieces.every((p) => p.text.length > 0), 'no empty pieces');
          count++;
        }
        assert.ok(count > c.text.length, 'every split point was tried');
      });
    }

    it('random texts from tag fragments, cut anywhere, match the whole-string oracle (fast-check)', () => {
      const fragment = fc.constantFrom('<think>', '</think>', '<', '</', '<th', 'ink>', '</thi', 'nk>', '>', '/', 't', 'think', ' ', '\n', '\r\n', '\t', 'a', 'é', '🙂', '你');
      fc.assert(
        fc.property(fc.array(fragment, { maxLength: 24 }), fc.array(fc.nat(), { maxLength: 12 }), (fragments, rawCuts) => {
          const text = fragments.join('');
          const cuts = [...new Set(rawCuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
          const chunks: string[] = [];
          let at = 0;
          for (const c of [...cuts, text.length]) {
            chunks.push(text.slice(at, c));
            at = c;
          }
          const got = run(chunks);
          assert.deepEqual({ reasoning: got.reasoning, content: got.content }, oracle(text));
        }),
        { numRuns: 2000 },
      );
    });
  });

  describe('streaming', () => {
    function live(): { parser: ThinkParser; out: Piece[] } {
      const out: Piece[] = [];
      return { parser: new ThinkParser((kind, text) => out.push({ kind, text })), out };
    }

    it('holds back only a possible partial tag and releases it as soon as it cannot be one', () => {
      const { parser, out } = live();
      parser.write('<th');
      assert.deepEqual(out, []);
      assert.equal(parser.pending, 3);
      parser.write('ink>abc');
      assert.deepEqual(out, [{ kind: 'reasoning', text: 'abc' }], 'reasoning flows as soon as the tag is complete');
      parser.write('de<');
      assert.deepEqual(out.slice(1), [{ kind: 'reasoning', text: 'de' }]);
      assert.equal(parser.pending, 1);
      parser.write('x');
      assert.deepEqual(out.slice(2), [{ kind: 'reasoning', text: '<x' }], '"<x" cannot start </think>');
      assert.equal(parser.pending, 0);
      parser.write('</thi');
      assert.equal(parser.pending, 5);
      parser.write('nk>\n\n');
      assert.equal(out.length, 3, 'the tag and the newlines after it are dropped');
      assert.equal(parser.passthrough, false, 'the answer has not started yet');
      parser.write('Answer');
      assert.deepEqual(out.slice(3), [{ kind: 'content', text: 'Answer' }]);
      assert.equal(parser.passthrough, true);
      parser.write('<think>');
      assert.deepEqual(out.slice(4), [{ kind: 'content', text: '<think>' }], 'only the first block is parsed');
    });

    it('releases text at once when the start cannot be a tag', () => {
      const { parser, out } = live();
      parser.write('\n');
      assert.deepEqual(out, [], 'leading whitespace waits: it is dropped if a block opens');
      parser.write('<x');
      assert.deepEqual(out, [{ kind: 'content', text: '\n<x' }]);
      assert.equal(parser.passthrough, true);
    });

    it('passes text through unchanged once decided, as the same string', () => {
      const { parser, out } = live();
      parser.write('Hello');
      const token = ' world</think>';
      parser.write(token);
      assert.equal(out[1].text, token);
      assert.equal(out[1].kind, 'content');
    });

    it('end() releases held text in the kind it was headed for, then passes everything through', () => {
      const a = live();
      a.parser.write('<think>abc</thi');
      a.parser.end();
      assert.deepEqual(a.out, [{ kind: 'reasoning', text: 'abc' }, { kind: 'reasoning', text: '</thi' }]);
      a.parser.write('nk>rest');
      assert.deepEqual(a.out[2], { kind: 'content', text: 'nk>rest' });

      const b = live();
      b.parser.write('  <thi');
      b.parser.end();
      assert.deepEqual(b.out, [{ kind: 'content', text: '  <thi' }]);
      b.parser.end();
      assert.equal(b.out.length, 1, 'a second end() emits nothing');
    });
  });
});
