/**
 * The chat view provider as an attacker inside the webview sees it: the options and CSP it really sets, and what
 * it does with hostile messages (unknown types, wrong field types, oversized payloads, non-web links): rejected,
 * logged, never passed to the session or the editor, and never a crash. The `vscode` module is a recording fake.
 */
import { editorCalls, FakeUri } from './fakeVscode';
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import type { ConnectionMonitor } from '../../../src/core/server/connection';
import type { ChatSessionApi } from '../../../src/core/session/sessionApi';
import { LIMITS, parseFromWebview } from '../../../src/protocol';
import type { FromWebviewType, ToWebviewMessage } from '../../../src/protocol';
import { ChatViewProvider } from '../../../src/vscode/chatViewProvider';
import type { Notifier } from '../../../src/vscode/notifications';
import { MemoryRepository } from '../../support/memoryRepository';
import { RecordingLogger } from '../../support/recordingLogger';

const KNOWN: FromWebviewType[] = [
  'ready', 'send', 'stop', 'retry', 'discardStale', 'regenerate', 'editResend', 'newChat', 'switchChat', 'renameChat',
  'deleteChat', 'forkChat', 'exportChat', 'copy', 'insert', 'openLink', 'retryConnection', 'openSettings', 'selectModel',
  'selectVersion', 'deleteMessage',
];
const FIELDS = ['chatId', 'messageId', 'text', 'title', 'href', 'language', 'requestId', 'scope'];

function setup() {
  const sessionCalls: string[] = [];
  const session = new Proxy({} as ChatSessionApi, {
    get: (_t, name: string) => {
      if (name === 'onEvent') return () => ({ dispose: () => undefined });
      if (name === 'activeStreams') return () => [];
      if (name === 'isStreaming') return () => false;
      return (...args: unknown[]) => {
        sessionCalls.push(`${name}(${JSON.stringify(args).slice(0, 80)})`);
        return Promise.resolve({ ok: true, chatId: 'c' });
      };
    },
  });
  const connection = {
    state: { state: 'unknown' },
    onDidChange: () => ({ dispose: () => undefined }),
    recheck: () => Promise.resolve({ state: 'unknown' }),
  } as unknown as ConnectionMonitor;
  const notifier = { info: () => Promise.resolve(undefined), warn: () => Promise.resolve(undefined), error: () => Promise.resolve(undefined) } as unknown as Notifier;
  const logger = new RecordingLogger();
  const memento = { get: () => undefined, update: () => Promise.resolve(), keys: () => [] };
  const provider = new ChatViewProvider({
    extensionUri: FakeUri.file('/ext') as never,
    session,
    repository: new MemoryRepository(),
    connection,
    notifier,
    logger,
    memento: memento as never,
    currentModel: () => undefined,
  });
  let receive: (raw: unknown) => void = () => undefined;
  const posted: ToWebviewMessage[] = [];
  const webview = {
    options: {} as Record<string, unknown>,
    html: '',
    cspSource: 'https://file+.vscode-resource.vscode-cdn.net',
    asWebviewUri: (u: FakeUri) => FakeUri.parse(`https://file+.vscode-resource.vscode-cdn.net${u.path}`),
    postMessage: (m: ToWebviewMessage) => {
      posted.push(m);
      return Promise.resolve(true);
    },
    onDidReceiveMessage: (fn: (raw: unknown) => void) => {
      receive = fn;
      return { dispose: () => undefined };
    },
  };
  const view = {
    webview,
    visible: true,
    show: () => undefined,
    onDidChangeVisibility: () => ({ dispose: () => undefined }),
    onDidDispose: () => ({ dispose: () => undefined }),
  };
  provider.resolveWebviewView(view as never);
  editorCalls.reset();
  return { provider, webview, sessionCalls, logger, posted, send: (raw: unknown) => receive(raw) };
}

const settle = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 5));

describe('security: the chat view provider', () => {
  it('serves the locked-down page: the page script only by nonce (its chunks from the extension), no command URIs, resources only from dist/ and media/', () => {
    const { webview, provider } = setup();
    const options = webview.options as { enableScripts?: boolean; enableCommandUris?: boolean; localResourceRoots?: FakeUri[] };
    assert.equal(options.enableScripts, true);
    assert.equal(options.enableCommandUris, false);
    assert.deepEqual(options.localResourceRoots?.map((u) => u.path), ['/ext/dist', '/ext/media']);

    const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(webview.html)?.[1];
    assert.ok(csp, 'a CSP meta tag');
    const directives = new Map(csp.split(';').map((d) => d.trim().split(/\s+/)).map(([k, ...v]) => [k, v]));
    assert.deepEqual(directives.get('default-src'), ["'none'"]);
    const script = directives.get('script-src') ?? [];
    assert.equal(script.length, 2);
    assert.match(script[0], /^'nonce-[A-Za-z0-9+/=]{16,}'$/);
    assert.equal(script[1], webview.cspSource, 'the chunks the page script imports: only the extension\'s own files');
    assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(csp), csp);
    for (const [k, v] of directives) {
      if (k === 'default-src' || k === 'script-src') continue;
      for (const source of v) assert.ok(source === webview.cspSource || source === 'data:', `${k} allows only the extension's files: ${source}`);
    }
    // Every <script> carries this load's nonce; a second load gets a new one.
    const nonce = script[0].slice(7, -1);
    const tags = [...webview.html.matchAll(/<script\b[^>]*>/g)].map((m) => m[0]);
    assert.equal(tags.length, 1);
    assert.ok(tags[0].includes(`nonce="${nonce}"`));
    const again = setup();
    assert.notEqual(/'nonce-([^']+)'/.exec(again.webview.html)?.[1], nonce);
    provider.dispose();
    again.provider.dispose();
  });

  it('drops unknown types, wrong field types and oversized payloads: logged, never passed on, no crash', async () => {
    const { provider, send, sessionCalls, logger } = setup();
    const hostile: unknown[] = [
      null,
      undefined,
      42,
      'send',
      [],
      [{ type: 'send', text: 'x' }],
      {},
      { type: 'evalInHost', code: 'process.exit(1)' },
      { type: '__proto__' },
      { type: 'constructor' },
      { type: 'toString' },
      { type: 'hasOwnProperty' },
      { type: ['send'] },
      { type: 'send' },
      { type: 'send', text: 42 },
      { type: 'send', text: { toString: () => 'x' } },
      { type: 'send', text: null },
      { type: 'send', text: 'x'.repeat(LIMITS.maxText + 1) },
      { type: 'send', text: 'ok', chatId: '../../etc/passwd' },
      { type: 'send', text: 'ok', chatId: 'x'.repeat(LIMITS.maxId + 1) },
      { type: 'stop' },
      { type: 'stop', chatId: 7 },
      { type: 'editResend', chatId: 'c', messageId: 'm' },
      { type: 'renameChat', chatId: 'c', title: 't'.repeat(LIMITS.maxTitle + 1) },
      { type: 'openLink', href: 'https://x.example/' + 'a'.repeat(LIMITS.maxHref) },
      { type: 'insert', text: 'x', language: 5 },
    ];
    for (const raw of hostile) assert.doesNotThrow(() => send(raw));
    await settle();
    assert.deepEqual(sessionCalls, []);
    assert.deepEqual(editorCalls.commands, []);
    assert.deepEqual(editorCalls.opened, []);
    assert.deepEqual(editorCalls.clipboard, []);
    assert.equal(logger.lines.filter((l) => l.startsWith('warn Ignored an invalid message')).length, hostile.length);
    // Log lines quote at most a short excerpt of what the webview sent.
    for (const l of logger.lines) assert.ok(l.length < 400, `log line too long (${l.length})`);
    provider.dispose();
  });

  it('a refused request is still answered: an oversized send gets a result with the reason, the session is not called', async () => {
    const { provider, send, sessionCalls, posted } = setup();
    send({ type: 'ready' });
    await settle();
    send({ type: 'send', requestId: 'r1-abc', text: 'x'.repeat(LIMITS.maxText + 1) });
    send({ type: 'deleteMessage', chatId: 'c', messageId: 'm', scope: 'everything' });
    await settle();
    assert.deepEqual(sessionCalls, []);
    const results = posted.filter((m) => m.type === 'result');
    assert.equal(results.length, 1);
    const [r] = results;
    assert.ok(r.type === 'result' && !r.ok);
    assert.equal(r.requestId, 'r1-abc');
    assert.equal(r.reason, 'invalid');
    assert.match(r.detail, /too long to send \(2,000,001 characters; the limit is 2,000,000\)/);
    provider.dispose();
  });

  it('opens only http(s) links; command:, javascript:, file:, vscode: and data: are refused', async () => {
    const { provider, send, logger } = setup();
    const refused = [
      'command:workbench.action.terminal.new',
      'command:workbench.action.terminal.sendSequence?%7B%22text%22%3A%22rm%22%7D',
      'javascript:alert(1)',
      ' javascript:alert(1)',
      'file:///etc/passwd',
      'vscode://ms-vscode.remote/x',
      'vscode-webview://abc/index.html',
      'data:text/html,<script>alert(1)</script>',
      'blob:https://example.com/1',
      '//evil.example/x',
    ];
    for (const href of refused) send({ type: 'openLink', href });
    send({ type: 'openLink', href: 'https://github.com/ggml-org/llama.cpp' });
    await settle();
    assert.deepEqual(editorCalls.opened, ['https://github.com/ggml-org/llama.cpp']);
    assert.equal(logger.lines.filter((l) => l.includes('Refused to open a non-web link')).length, refused.length);
    provider.dispose();
  });

  it(`random messages (fast-check, 3,000 runs) never crash the provider; only valid ones reach the session`, async () => {
    const { provider, send, sessionCalls } = setup();
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.integer(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.object({ maxDepth: 1 }), fc.array(fc.string(), { maxLength: 3 }));
    const message = fc.oneof(
      fc.anything({ maxDepth: 3 }),
      fc.record({ type: fc.oneof(fc.constantFrom(...KNOWN), fc.string({ maxLength: 12 })) }).chain((base) =>
        fc.dictionary(fc.constantFrom(...FIELDS, 'extra', '__proto__'), value, { maxKeys: 4 }).map((fields) => ({ ...fields, ...base })),
      ),
    );
    let accepted = 0;
    fc.assert(
      fc.property(message, (raw) => {
        const parsed = parseFromWebview(raw);
        if (parsed.ok) {
          accepted++;
          const m = parsed.message as unknown as Record<string, unknown>;
          assert.ok(KNOWN.includes(m.type as FromWebviewType));
          for (const [k, v] of Object.entries(m)) {
            if (k === 'type') continue;
            assert.ok(FIELDS.includes(k), `only schema fields are passed on, got ${k}`);
            assert.equal(typeof v, 'string');
          }
        }
        // Only messages that cannot reach the session or the editor are sent to the live provider.
        if (!parsed.ok || ['ready', 'switchChat'].includes(parsed.message.type)) assert.doesNotThrow(() => send(raw));
      }),
      { numRuns: 3_000 },
    );
    await settle();
    assert.ok(accepted > 50, `the generator also makes valid messages (${accepted})`);
    assert.deepEqual(sessionCalls, []);
    provider.dispose();
  });
});
