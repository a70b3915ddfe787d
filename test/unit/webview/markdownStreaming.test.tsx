import * as assert from 'node:assert/strict';
import { Markdown } from '../../../webview/markdown/markdown';
import { closeOpenInline } from '../../../webview/markdown/optimistic';
import { mount, useDom } from './dom';

describe('webview markdown while streaming: open inline constructs render as if closed', () => {
  useDom();

  const md = (text: string, streaming: boolean): ReturnType<typeof mount> => mount(<Markdown text={text} streaming={streaming} />);

  it('closes what is open at the end of the growing text', () => {
    const cases: [string, string][] = [
      ['Some **bold', 'Some **bold**'],
      ['Some *em', 'Some *em*'],
      ['use _em', 'use _em_'],
      ['a `code', 'a `code`'],
      ['a ``co`de', 'a ``co`de``'],
      ['x ~~del', 'x ~~del~~'],
      ['**bold *both', '**bold *both***'],
      ['**bold ', '**bold**'],
      ['x **a*', 'x **a**'],
      ['# Title **x', '# Title **x**'],
      ['see [doc', 'see [doc]()'],
      ['see [doc]', 'see [doc]()'],
      ['see [doc](https://exa', 'see [doc]()'],
      ['**see [doc](http://x', '**see [doc]()**'],
      ['![alt', '![alt]()'],
    ];
    for (const [open, shown] of cases) assert.equal(closeOpenInline(open), shown, JSON.stringify(open));
  });

  it('leaves out a marker that has only just arrived, with nothing after it yet', () => {
    for (const [open, shown] of [
      ['Some **', 'Some '],
      ['Some *', 'Some '],
      ['x ~', 'x '],
      ['`a` `', '`a` '],
      ['see [', 'see '],
    ]) {
      assert.equal(closeOpenInline(open), shown, JSON.stringify(open));
    }
  });

  it('leaves alone what is not an open construct', () => {
    for (const text of [
      'plain text',
      'done **a** and *b* and `c` and ~~d~~ and [e](https://e.example)',
      'snake_case_name',
      '2 * 3 = 6',
      'a \\*literal',
      '* item',
      '- [ ]',
      '- [x]',
      '```\n**inside a fence',
      '- item\n\n  ```js\n  const a = `x',
    ]) {
      assert.equal(closeOpenInline(text), text, JSON.stringify(text));
    }
  });

  it('a line that is only a list, quote or heading marker waits for its text', () => {
    assert.equal(closeOpenInline('- a\n-'), '- a\n');
    assert.equal(closeOpenInline('- a\n- \n'), '- a\n');
    assert.equal(closeOpenInline('Para.\n\n1.'), 'Para.\n\n');
    assert.equal(closeOpenInline('#'), '');
    assert.equal(closeOpenInline('> '), '');
    assert.equal(closeOpenInline('---'), '---', 'a rule is complete');
  });

  it('does not carry an open marker across list items or table cells', () => {
    assert.equal(closeOpenInline('- one **a\n- two'), '- one **a\n- two');
    assert.equal(closeOpenInline('| **a | b |'), '| **a | b |');
    assert.equal(closeOpenInline('para **a\ncontinues'), 'para **a\ncontinues**', 'a paragraph line continues it');
  });

  it('renders the open block with the construct closed, and the complete text exactly as written', () => {
    const text = 'Intro.\n\nSome **bold and `co';
    const view = md(text, true);
    const last = view.container.querySelectorAll('p')[1];
    assert.equal(last?.querySelector('strong')?.textContent, 'bold and co');
    assert.equal(last?.querySelector('strong code')?.textContent, 'co');
    assert.equal(last?.textContent, 'Some bold and co', 'no raw markers');
    view.rerender(<Markdown text={text} streaming={false} />);
    assert.equal(view.container.querySelector('strong'), null, 'complete: the text as written, markers and all');
    assert.equal(view.container.querySelectorAll('p')[1]?.textContent, 'Some **bold and `co');
  });

  it('an unfinished link shows its label and is not clickable until its URL is complete', () => {
    const view = md('Read [the docs](https://example.com/do', true);
    assert.equal(view.container.querySelector('a'), null);
    assert.equal(view.container.querySelector('p')?.textContent, 'Read the docs');
    view.rerender(<Markdown text="Read [the docs](https://example.com/docs)" streaming />);
    assert.equal(view.container.querySelector('a')?.textContent, 'the docs');
    assert.equal(view.container.querySelector('a')?.getAttribute('title'), 'https://example.com/docs');
  });

  it('only the open block is closed optimistically; finished blocks show their own source', () => {
    const view = md('First **unclosed\n\nSecond **open', true);
    const [first, second] = Array.from(view.container.querySelectorAll('p'));
    assert.equal(first?.textContent, 'First **unclosed');
    assert.equal(second?.querySelector('strong')?.textContent, 'open');
  });

  it('every streamed prefix of well-formed Markdown shows no raw markers and a prefix of the final text', () => {
    const text = [
      '# A **title** here',
      '',
      'Some **bold**, *em*, _under_, `code`, ~~gone~~ and a [link](https://example.com/x) in one line.',
      '',
      '- item with **strong** text',
      '- item with `a = b` code',
      '',
      '> quoted *words* here',
      '',
      'Last **paragraph with *nested* emphasis** end.',
    ].join('\n');
    const final = md(text, false).container;
    const finalText = final.textContent ?? '';
    const finalHtml = final.innerHTML;
    assert.ok(!/[*_`~[\]]/.test(finalText), 'the sample is well formed');
    const view = md('', true);
    for (let i = 1; i <= text.length; i++) {
      view.rerender(<Markdown text={text.slice(0, i)} streaming />);
      const shown = (view.container.textContent ?? '').replace(/\s+/g, ' ').trim();
      assert.ok(!/[*_`~[\]]/.test(shown), `no raw markers at ${i}: ${JSON.stringify(shown)}`);
      // Block boundaries render as separate elements, so compare without whitespace.
      assert.ok(finalText.replace(/\s+/g, '').startsWith(shown.replace(/\s+/g, '')), `a prefix of the final text at ${i}: ${JSON.stringify(shown)}`);
    }
    view.rerender(<Markdown text={text} streaming={false} />);
    assert.equal(view.container.innerHTML, finalHtml, 'once complete, exactly the non-streamed rendering');
  });
});
