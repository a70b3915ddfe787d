import * as assert from 'node:assert/strict';
import { JSDOM } from 'jsdom';
import { renderHtml, safeExternalUrl } from '../../../src/vscode/webviewHtml';

const CSP_SOURCE = 'https://file+.vscode-resource.vscode-cdn.net';

function page(nonce = 'bm9uY2Utb25l') {
  const html = renderHtml({
    cspSource: CSP_SOURCE,
    nonce,
    scriptUri: `${CSP_SOURCE}/ext/dist/webview.js`,
    styleUri: `${CSP_SOURCE}/ext/dist/webview.css`,
    codiconUri: `${CSP_SOURCE}/ext/dist/codicon.css`,
  });
  return { html, doc: new JSDOM(html).window.document };
}

describe('webview HTML', () => {
  it('sets the strict CSP exactly', () => {
    const { doc } = page();
    const meta = doc.querySelector('meta[http-equiv="Content-Security-Policy"]');
    assert.equal(
      meta?.getAttribute('content'),
      `default-src 'none'; img-src ${CSP_SOURCE} data:; style-src ${CSP_SOURCE}; font-src ${CSP_SOURCE}; script-src 'nonce-bm9uY2Utb25l' ${CSP_SOURCE}`,
    );
  });

  it('loads exactly one (module) script, carrying the nonce, and no inline script or style', () => {
    const { doc, html } = page('abc123');
    const scripts = [...doc.querySelectorAll('script')];
    assert.equal(scripts.length, 1);
    assert.equal(scripts[0].getAttribute('nonce'), 'abc123');
    assert.equal(scripts[0].getAttribute('type'), 'module', 'an ES module: it imports its highlighting chunks from dist/webview/');
    assert.equal(scripts[0].getAttribute('src'), `${CSP_SOURCE}/ext/dist/webview.js`);
    assert.equal(scripts[0].textContent, '');
    assert.equal(doc.querySelectorAll('style').length, 0);
    assert.ok(!/\sstyle=/.test(html), 'no inline style attributes');
    assert.ok(!/\son\w+=/.test(html), 'no inline event handlers');
  });

  it('links the codicon sheet under the id vscode-icon looks for, and the app styles', () => {
    const { doc } = page();
    const links = [...doc.querySelectorAll('link[rel="stylesheet"]')].map((l) => [l.id, l.getAttribute('href')]);
    assert.deepEqual(links, [
      ['vscode-codicon-stylesheet', `${CSP_SOURCE}/ext/dist/codicon.css`],
      ['', `${CSP_SOURCE}/ext/dist/webview.css`],
    ]);
    assert.ok(doc.getElementById('root'), 'the app mounts on #root');
  });
});

describe('safeExternalUrl', () => {
  it('lets http and https through', () => {
    assert.equal(safeExternalUrl('https://github.com/ggml-org/llama.cpp'), 'https://github.com/ggml-org/llama.cpp');
    assert.equal(safeExternalUrl('http://127.0.0.1:8080/props'), 'http://127.0.0.1:8080/props');
  });

  it('refuses every other scheme and anything that is not a URL', () => {
    for (const href of [
      'command:workbench.action.terminal.new',
      'javascript:alert(1)',
      'JAVASCRIPT:alert(1)',
      'file:///etc/passwd',
      'vscode://settings',
      'data:text/html,<b>x</b>',
      '//example.com/x',
      'relative/path',
      '',
    ]) {
      assert.equal(safeExternalUrl(href), undefined, href);
    }
  });
});
