/**
 * Model output is hostile input. Extends the webview's XSS corpus (test/unit/webview/markdown.test.tsx) with link
 * tricks: angle-bracket destinations, entity- and whitespace-obfuscated schemes, reference links, nested brackets,
 * SVG/MathML, data: and file:/vscode: URLs. Nothing may become markup, a script URL or a link the host would open.
 */
import * as assert from 'node:assert/strict';
import { Markdown } from '../../../webview/markdown/markdown';
import { click, mount, useDom } from '../webview/dom';

const CORPUS = [
  '[a](<javascript:alert(1)>)',
  '[a](<command:workbench.action.terminal.new>)',
  '[[x](javascript:alert(1))](https://ok.example/)',
  '[a [b](javascript:alert(1)) c](https://ok.example/)',
  '[a]( javascript:alert(1) )',
  '[a](&#106;avascript:alert(1))',
  '[a](&#x6A;avascript&#x3A;alert(1))',
  '[a](java&#x09;script:alert(1))',
  '[a](javascript&colon;alert(1))',
  '[a](%6Aavascript:alert(1))',
  '[a](\\javascript:alert(1))',
  '[r]\n\n[r]: <javascript:alert(1)> "t"',
  '[r][]\n\n[r]: command:workbench.action.openSettings',
  '[collapsed][]\n\n[collapsed]: javascript:alert(1)',
  '![i][r]\n\n[r]: data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+',
  '[x](data:image/svg+xml,<svg onload=alert(1)>)',
  '[x](file:///etc/passwd)',
  '[x](vscode://ms-vscode.remote/x)',
  '[x](vscode-webview://abc/index.html)',
  '<command:workbench.action.terminal.new>',
  '<svg><a xlink:href="javascript:alert(1)"><text>x</text></a></svg>',
  '<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>',
  '<a href="https://ok.example/" onmouseover="alert(1)">x</a>',
  '[x](https://ok.example/ "t\\" onmouseover=\\"alert(1)")',
  '```html\n<script>alert(1)</script>\n```',
  '`<img src=x onerror=alert(1)>`',
  '<details open ontoggle=alert(1)>',
  '<object data="javascript:alert(1)"></object><embed src="javascript:alert(1)">',
  '<base href="javascript:alert(1)//"><link rel=import href=x><meta http-equiv=refresh content="0;url=javascript:alert(1)">',
];
const DANGEROUS = ['script', 'img', 'svg', 'math', 'iframe', 'style', 'form', 'object', 'embed', 'link', 'meta', 'base', 'details', 'a[href]'];

describe('security: hostile Markdown in the webview', () => {
  useDom();

  for (const source of CORPUS) {
    it(`is inert: ${JSON.stringify(source).slice(0, 70)}`, () => {
      const { container, host } = mount(<Markdown text={source} streaming={false} />);
      for (const sel of DANGEROUS) assert.equal(container.querySelector(sel), null, `no ${sel}`);
      for (const el of Array.from(container.querySelectorAll('*'))) {
        for (const attr of Array.from(el.attributes)) {
          assert.ok(!/^on/i.test(attr.name), `no ${attr.name} on <${el.tagName}>`);
          assert.ok(!['href', 'src', 'srcset', 'action', 'formaction', 'xlink:href', 'data', 'style'].includes(attr.name), `no ${attr.name} on <${el.tagName}>`);
        }
      }
      for (const a of Array.from(container.querySelectorAll('a, [role="link"]'))) click(a);
      const opened = host.posted.filter((m) => m.type === 'openLink');
      for (const m of opened) assert.match((m as { href: string }).href, /^https:\/\/ok\.example\//, 'only the plain web link may open');
      assert.equal(host.posted.filter((m) => m.type !== 'openLink').length, 0);
    });
  }

  it('the same sources streamed character by character are inert at every prefix', () => {
    for (const source of CORPUS) {
      for (let i = 1; i <= source.length; i += Math.max(1, Math.floor(source.length / 12))) {
        const { container } = mount(<Markdown text={source.slice(0, i)} streaming />);
        for (const sel of DANGEROUS) assert.equal(container.querySelector(sel), null, `no ${sel} in a prefix of ${source}`);
        for (const el of Array.from(container.querySelectorAll('*'))) {
          for (const attr of Array.from(el.attributes)) assert.ok(!/^on/i.test(attr.name) && attr.name !== 'href' && attr.name !== 'src');
        }
      }
    }
  });
});
