import * as assert from 'node:assert/strict';
import { GROUP_SIZE, allBlocks, doneBlocks, emptyBlocks, updateBlocks } from '../../../webview/markdown/blocks';
import { highlightTree, languageNames, languageOf, loadLanguage, treeText } from '../../../webview/markdown/highlight';
import type { HlNode } from '../../../webview/markdown/highlight';
import { Markdown } from '../../../webview/markdown/markdown';
import { MarkdownBlock } from '../../../webview/markdown/render';
import { click, key, mount, settle, useDom } from './dom';

function md(text: string, streaming = false): ReturnType<typeof mount> {
  return mount(<Markdown text={text} streaming={streaming} />);
}

describe('webview markdown', () => {
  useDom();

  it('renders headings, lists, emphasis, code spans and tables', () => {
    const { container } = md(
      ['# Title', '', '## Sub', '', '- one **bold**', '- two *em* `code`', '', '3. c', '4. d', '', '| a | b |', '|:-|-:|', '| 1 | 2 |', '', '> quote', '', '- [x] done'].join('\n'),
    );
    assert.equal(container.querySelector('h1')?.textContent, 'Title');
    assert.equal(container.querySelector('h2')?.textContent, 'Sub');
    const items = container.querySelectorAll('ul > li');
    assert.equal(items[0]?.querySelector('strong')?.textContent, 'bold');
    assert.equal(items[1]?.querySelector('em')?.textContent, 'em');
    assert.equal(items[1]?.querySelector('code')?.textContent, 'code');
    assert.equal(container.querySelector('ol')?.getAttribute('start'), '3');
    assert.deepEqual(Array.from(container.querySelectorAll('th')).map((th) => th.textContent), ['a', 'b']);
    assert.deepEqual(Array.from(container.querySelectorAll('td')).map((td) => td.textContent), ['1', '2']);
    assert.equal(container.querySelector('td')?.className, 'align-left');
    assert.equal(container.querySelector('blockquote p')?.textContent, 'quote');
    const box = container.querySelector<HTMLInputElement>('li.task input[type=checkbox]');
    assert.equal(box?.checked, true);
  });

  it('renders a fenced code block with language label, highlighting and Copy / Insert actions', async () => {
    const code = 'const x = 42; // answer\nreturn "s";';
    const { container, host } = md('```ts\n' + code + '\n```\n');
    assert.equal(container.querySelector('.code-lang')?.textContent, 'ts');
    assert.equal(container.querySelector('pre code')?.textContent, code);
    assert.ok(await loadLanguage('typescript'));
    await settle(0);
    assert.equal(container.querySelector('pre code')?.textContent, code);
    assert.equal(container.querySelector('.tok-keyword')?.textContent, 'const');
    assert.equal(container.querySelector('.tok-number')?.textContent, '42');
    assert.equal(container.querySelector('.tok-comment')?.textContent, '// answer');
    assert.equal(container.querySelector('.tok-string')?.textContent, '"s"');
    click(container.querySelector('[title="Copy code"]'));
    click(container.querySelector('[title="Insert at cursor"]'));
    assert.deepEqual(host.posted, [
      { type: 'copy', text: code },
      { type: 'insert', text: code, language: 'ts' },
    ]);
  });

  it('renders an unterminated fence while streaming as plain code, highlighted once the fence closes', async () => {
    assert.ok(await loadLanguage('python'));
    const source = 'Here:\n\n```python\ndef f():\n    return 1';
    const view = md(source, true);
    await settle(0);
    const { container } = view;
    assert.equal(container.querySelector('.code-lang')?.textContent, 'python');
    assert.equal(container.querySelector('pre code')?.textContent, 'def f():\n    return 1');
    assert.equal(container.querySelector('pre code span'), null, 'no highlighting while the fence is open');
    view.rerender(<Markdown text={source + '\n```'} streaming />);
    await settle(0);
    assert.equal(container.querySelector('.tok-keyword')?.textContent, 'def', 'a closed fence is final: highlighted');
    assert.equal(container.querySelector('pre code')?.textContent, 'def f():\n    return 1');
  });

  it('highlights a fence left unclosed once the answer is complete', async () => {
    const source = '```rust\nfn main() {}';
    const view = md(source, true);
    assert.ok(await loadLanguage('rust'));
    await settle(0);
    assert.equal(view.container.querySelector('pre code span'), null);
    view.rerender(<Markdown text={source} streaming={false} />);
    await settle(0);
    assert.equal(view.container.querySelector('.tok-keyword')?.textContent, 'fn');
  });

  it('loads a grammar on first use: plain text first, then highlighted in place', async () => {
    const code = 'key: [1, 2]\n# note';
    const { container } = md('```yml\n' + code + '\n```');
    const pre = container.querySelector('pre');
    for (let i = 0; i < 100 && !container.querySelector('pre code span'); i++) await settle(10);
    assert.equal(container.querySelector('.tok-comment')?.textContent, '# note');
    assert.equal(container.querySelector('pre code')?.textContent, code);
    assert.equal(container.querySelector('pre'), pre, 'same <pre>');
  });

  it('code in an unknown language (or none) stays plain text', async () => {
    const { container } = md('```brainfart\n+[->+<]\n```\n\n```\nplain <b>x</b>\n```');
    await settle(0);
    assert.equal(container.querySelectorAll('pre code span').length, 0);
    assert.equal(container.querySelectorAll('pre code')[1]?.textContent, 'plain <b>x</b>');
    assert.equal(container.querySelector('b'), null);
  });

  it('highlighted markup stays text: tags in code are spans with text, never elements', async () => {
    assert.ok(await loadLanguage('xml'));
    const code = '<script>alert(1)</script>\n<img src=x onerror="alert(1)">\n<!-- c -->';
    const { container } = md('```html\n' + code + '\n```');
    await settle(0);
    assert.ok(container.querySelector('pre code .tok-tag'), 'highlighted');
    assert.equal(container.querySelector('pre code')?.textContent, code);
    for (const tag of ['script', 'img']) assert.equal(container.querySelector(tag), null, `no <${tag}>`);
    for (const el of Array.from(container.querySelectorAll('pre code *'))) {
      assert.equal(el.tagName, 'SPAN');
      assert.deepEqual(el.getAttributeNames(), ['class']);
      assert.match(el.className, /^tok-[a-z_-]+$/);
    }
  });

  describe('XSS corpus', () => {
    const corpus = [
      '<script>alert(1)</script>',
      'text <script>alert(1)</script> inline',
      '<img src=x onerror=alert(1)>',
      'inline <img src=x onerror="alert(1)"> image',
      '<svg onload=alert(1)><circle/></svg>',
      '<a href="javascript:alert(1)">x</a>',
      '[x](javascript:alert(1))',
      '[x](JAVASCRIPT:alert(1))',
      '[x](java\tscript:alert(1))',
      '[run](command:workbench.action.terminal.new)',
      '[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)',
      '[v](vbscript:msgbox(1))',
      '![img](javascript:alert(1))',
      '![remote](https://evil.example/pixel.png "t")',
      '<javascript:alert(1)>',
      '<https://example.com/auto>',
      'www.example.com and https://example.org/bare',
      '&lt;script&gt;alert(1)&lt;/script&gt; &#60;img src=x onerror=alert(1)&#62; &amp;',
      '<iframe src="https://evil.example"></iframe>',
      '<div onclick="alert(1)">\n\n*md*\n\n</div>',
      '[ref][r]\n\n[r]: javascript:alert(1)',
      '<style>body{display:none}</style>',
      '<form action="https://evil.example"><input name=a></form>',
    ];
    const dangerous = ['script', 'img', 'svg', 'iframe', 'style', 'form', 'object', 'embed', 'link', 'meta', 'base'];

    for (const source of corpus) {
      it(`is inert: ${JSON.stringify(source).slice(0, 60)}`, () => {
        const { container, host } = md(source);
        for (const tag of dangerous) assert.equal(container.querySelector(tag), null, `no <${tag}>`);
        for (const el of Array.from(container.querySelectorAll('*'))) {
          for (const attr of Array.from(el.attributes)) {
            assert.ok(!/^on/i.test(attr.name), `no ${attr.name} attribute on <${el.tagName}>`);
            assert.ok(!['href', 'src', 'srcset', 'action', 'formaction', 'xlink:href'].includes(attr.name), `no ${attr.name} on <${el.tagName}>`);
            assert.ok(!/javascript:|command:|vbscript:|data:/i.test(attr.value) || attr.name === 'title', `no script URL in ${attr.name}`);
          }
        }
        // Every link opens through the host, and only http(s) ones exist.
        for (const a of Array.from(container.querySelectorAll('a'))) click(a);
        for (const m of host.ofType('openLink')) assert.match(m.href, /^https?:\/\//);
        assert.equal(host.posted.filter((m) => m.type !== 'openLink').length, 0);
      });
    }

    it('shows raw HTML as text', () => {
      const { container } = md('<script>alert(1)</script>');
      assert.match(container.textContent ?? '', /<script>alert\(1\)<\/script>/);
    });

    it('decodes entities to text, never to markup', () => {
      const { container } = md('&lt;b&gt;bold&lt;/b&gt; &#x3C;i&#x3E; &copy;');
      assert.equal(container.querySelector('b'), null);
      assert.equal(container.querySelector('p')?.textContent, '<b>bold</b> <i> ©');
    });

    it('http(s) links and autolinks post openLink on click and on Enter', () => {
      const { container, host } = md('[site](https://example.com/a?b=1) <http://example.org> https://bare.example/x');
      const links = Array.from(container.querySelectorAll('a'));
      assert.equal(links.length, 3);
      for (const a of links) assert.equal(a.hasAttribute('href'), false);
      click(links[0]);
      key(links[1], { key: 'Enter' });
      click(links[2]);
      assert.deepEqual(
        host.ofType('openLink').map((m) => m.href),
        ['https://example.com/a?b=1', 'http://example.org/', 'https://bare.example/x'],
      );
    });

    it('javascript: and command: links render as text only', () => {
      const { container } = md('[a](javascript:alert(1)) [b](command:foo)');
      assert.equal(container.querySelectorAll('a').length, 0);
      assert.equal(container.textContent, 'a b');
    });

    it('images never load: a text link for http(s), plain text otherwise', () => {
      const { container, host } = md('![cat](https://example.com/cat.png) ![dog](file:///etc/passwd)');
      assert.equal(container.querySelector('img'), null);
      const link = container.querySelector('a');
      assert.equal(link?.textContent, '[image: cat]');
      click(link);
      assert.deepEqual(host.posted, [{ type: 'openLink', href: 'https://example.com/cat.png' }]);
      assert.match(container.textContent ?? '', /\[image: dog\]/);
    });
  });

  describe('incremental rendering', () => {
    it('appending to the last block keeps the earlier blocks\' DOM nodes', () => {
      const first = '# Heading\n\nFirst paragraph.\n\n```js\nlet a = 1;\n```\n\nStreaming';
      const view = md(first, true);
      const blocksBefore = Array.from(view.container.querySelectorAll('.md-block'));
      const headingBefore = view.container.querySelector('h1');
      const codeBefore = view.container.querySelector('pre');
      assert.equal(blocksBefore.length, 6, 'heading, paragraph, space, code, space, paragraph');

      // Count block renders: only the open last block may render again.
      // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound below with .call(this)
      const original = MarkdownBlock.prototype.render;
      let renders = 0;
      MarkdownBlock.prototype.render = function (this: MarkdownBlock) {
        renders++;
        return original.call(this);
      };
      try {
        view.rerender(<Markdown text={first + ' more text'} streaming />);
      } finally {
        MarkdownBlock.prototype.render = original;
      }
      assert.equal(renders, 1, 'only the last block re-rendered');
      view.rerender(<Markdown text={first + ' more text and\n\n- a list'} streaming />);
      const blocksAfter = Array.from(view.container.querySelectorAll('.md-block'));
      assert.equal(view.container.querySelector('h1'), headingBefore, 'same <h1> node');
      assert.equal(view.container.querySelector('pre'), codeBefore, 'same <pre> node');
      for (let i = 0; i < blocksBefore.length - 1; i++) assert.equal(blocksAfter[i], blocksBefore[i], `block ${i} kept`);
      assert.equal(view.container.querySelector('ul li')?.textContent, 'a list');
      assert.match(view.container.textContent ?? '', /Streaming more text and/);
    });

    it('a block keeps its DOM node when it finishes, across group boundaries and at the end', () => {
      const paras = Array.from({ length: 40 }, (_, i) => `Paragraph ${i}.`);
      let text = paras[0];
      const view = md(text, true);
      let nodes = Array.from(view.container.querySelectorAll('.md-block'));
      for (let n = 2; n <= paras.length; n++) {
        text = paras.slice(0, n).join('\n\n');
        view.rerender(<Markdown text={text} streaming />);
        const after = Array.from(view.container.querySelectorAll('.md-block'));
        nodes.forEach((node, i) => assert.equal(after[i], node, `block ${i} kept at step ${n}`));
        nodes = after;
      }
      assert.ok(nodes.length > GROUP_SIZE, `${nodes.length} blocks span more than one group`);
      view.rerender(<Markdown text={text} streaming={false} />);
      const final = Array.from(view.container.querySelectorAll('.md-block'));
      assert.deepEqual(final, nodes);
      assert.equal(view.container.querySelectorAll('p').length, paras.length);
    });

    it('re-lexes only the open tail and reuses finished block objects', () => {
      const s1 = updateBlocks(emptyBlocks, 'para one\n\npara two');
      assert.equal(doneBlocks(s1).length, 2, 'paragraph + space are final');
      assert.equal(s1.open.length, 1);
      const s2 = updateBlocks(s1, 'para one\n\npara two grows');
      assert.equal(doneBlocks(s2)[0], doneBlocks(s1)[0]);
      assert.equal(s2.open[0]?.raw, 'para two grows');
      const s3 = updateBlocks(s2, 'different text');
      assert.equal(allBlocks(s3).map((b) => b.raw).join(''), 'different text');
      const final = updateBlocks(s2, 'para one\n\npara two grows', true);
      assert.equal(final.open.length, 0);
      assert.equal(doneBlocks(final)[0], doneBlocks(s1)[0]);
    });

    it('keeps finished blocks in groups of GROUP_SIZE; full groups stay the same arrays as text streams on', () => {
      const text = Array.from({ length: 150 }, (_, i) => `Paragraph ${i}.`).join('\n\n');
      let state = emptyBlocks;
      const seen = new Map<number, readonly unknown[]>();
      for (let i = 1; i <= text.length; i += 37) {
        state = updateBlocks(state, text.slice(0, i));
        state.groups.forEach((g, k) => {
          if (k < state.groups.length - 1) {
            assert.equal(g.length, GROUP_SIZE);
            const before = seen.get(k);
            if (before) assert.equal(g, before, `full group ${k} is the same array`);
            seen.set(k, g);
          }
        });
        assert.ok((state.groups[state.groups.length - 1]?.length ?? 0) <= GROUP_SIZE);
        assert.equal(allBlocks(state).map((b) => b.raw).join(''), text.slice(0, i));
      }
      const final = updateBlocks(state, text, true);
      assert.equal(doneBlocks(final).length, 299, '150 paragraphs and the 149 blank lines between them');
      assert.equal(final.groups.length, Math.ceil(299 / GROUP_SIZE));
      assert.equal(final.groups[0], state.groups[0]);
    });

    it('block raws tile the text exactly for arbitrary streamed prefixes', () => {
      const text = '# T\n\nSome *text* with a [link](https://x.y).\n\n1. a\n2. b\n\n   continued\n\n```\ncode\n```\n\n| a |\n|---|\n| 1 |\n\nEnd\r\nline';
      let state = emptyBlocks;
      for (let i = 1; i <= text.length; i += 3) {
        state = updateBlocks(state, text.slice(0, i));
        assert.equal(allBlocks(state).map((b) => b.raw).join(''), text.slice(0, i).replace(/\r\n?/g, '\n'));
      }
      const whole = updateBlocks(emptyBlocks, text, true);
      assert.deepEqual(
        allBlocks(updateBlocks(state, text, true)).map((b) => b.token.type),
        allBlocks(whole).map((b) => b.token.type),
      );
    });
  });
});

describe('webview highlighter', () => {
  const scoped = (nodes: readonly HlNode[], out: string[] = []): string[] => {
    for (const n of nodes) {
      if (typeof n === 'string') continue;
      if (n.children.every((c) => typeof c === 'string')) out.push(`${n.scope}:${treeText(n.children)}`);
      scoped(n.children, out);
    }
    return out;
  };
  const tree = async (code: string, lang: string): Promise<HlNode[]> => {
    const name = languageOf(lang);
    assert.ok(name, `${lang} is known`);
    assert.ok(await loadLanguage(name));
    const nodes = highlightTree(code, name);
    assert.ok(nodes, `${lang} highlighted`);
    return nodes;
  };

  it('maps fence info strings to grammars by name and alias, case- and attribute-insensitively', () => {
    assert.equal(languageOf('ts'), 'typescript');
    assert.equal(languageOf('TSX'), 'typescript');
    assert.equal(languageOf('py {.numberLines}'), 'python');
    assert.equal(languageOf('c++'), 'cpp');
    assert.equal(languageOf('html'), 'xml');
    assert.equal(languageOf('console'), 'shell');
    assert.equal(languageOf('brainfart'), undefined);
    assert.equal(languageOf(''), undefined);
    assert.equal(languageOf(undefined), undefined);
  });

  it('every shipped grammar loads and its tree gives back the code exactly', async () => {
    const sample = 'x = "a\\"b" // c # d -- e /* f */ 0x1F 2.5e3\n<a href="x">it\'s</a> `t` \'q\' @media {}\n\tend';
    for (const name of languageNames) {
      assert.ok(await loadLanguage(name), `${name} loads`);
      const nodes = highlightTree(sample, name);
      assert.ok(nodes, `${name} highlights`);
      assert.equal(treeText(nodes), sample, name);
    }
  });

  it('recognises keywords, strings, comments, numbers and titles per language', async () => {
    const py = scoped(await tree('def f(x): return 1 # done', 'py'));
    for (const t of ['keyword:def', 'title.function:f', 'keyword:return', 'number:1', 'comment:# done']) assert.ok(py.includes(t), `${t} in ${py.join(' ')}`);
    const sql = scoped(await tree("select 'a' from t", 'sql'));
    for (const t of ['keyword:select', "string:'a'", 'keyword:from']) assert.ok(sql.includes(t), `${t} in ${sql.join(' ')}`);
    const html = scoped(await tree('<a href="x">it\'s</a>', 'html'));
    for (const t of ['name:a', 'attr:href', 'string:"x"']) assert.ok(html.includes(t), `${t} in ${html.join(' ')}`);
    const sh = scoped(await tree('$ echo "$HOME" # c', 'console'));
    assert.ok(sh.some((t) => t.startsWith('meta')), `prompt in ${sh.join(' ')}`);
    assert.ok(sh.includes('built_in:echo'), `bash embedded in the shell session: ${sh.join(' ')}`);
  });

  it('an unknown grammar does not load', async () => {
    assert.equal(await loadLanguage('brainfart'), false);
    assert.equal(highlightTree('x', 'brainfart'), undefined);
  });
});
