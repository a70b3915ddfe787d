/**
 * Localization, host side: the manifest's strings are %keys% of package.nls.json, the l10n bundle is exactly the
 * sources' messages, no host source hands an English literal to the user, and the core's texts (errors, status
 * bar) come out wholly translated under a pseudo-locale.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { formatMessage, setTranslator, t } from '../../src/core/base/l10n';
import type { ChatMessage } from '../../src/core/chats/chat';
import { exportMarkdown } from '../../src/core/chats/chatOps';
import { formatDuration, formatFinalText, formatStatusText, formatStatusTooltip } from '../../src/core/base/format';
import type { LiveStats } from '../../src/core/session/sessionEvents';
import { describeExit } from '../../src/core/server/localServerProcess';
import { tooLargeText } from '../../src/core/session/contextBudget';
import { httpStatusError, networkError, notSseError, streamErrorInfo } from '../../src/core/server/httpErrors';
import { parseProps } from '../../src/core/server/llamaWire';
import { parseStreamList } from '../../src/core/server/resumableStreams';
import { ChatStore } from '../../src/core/store/chatStore';
import { hintFor } from '../../src/core/store/storeFs';
import { refusalText } from '../../src/view/chatPresenter';
import { repoRoot } from '../harness/paths';
import { sessionRig, tick } from '../support/sessionRig';
import { BUNDLE_PATH, expectedBundle, hardCodedHostStrings, messagesIn } from '../support/l10nScan';
import { englishIn, pseudo, pseudoTranslator } from '../support/pseudoLocale';

const root = repoRoot();
const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(path.join(root, file), 'utf8')) as T;

/** The extension's entry, its VS Code adapters and the vscode-free presentation (src/view) they post. */
function hostSources(): string[] {
  const inDir = (d: string): string[] => fs.readdirSync(path.join(root, 'src', d)).filter((f) => f.endsWith('.ts')).map((f) => `src/${d}/${f}`);
  return ['src/extension.ts', ...inDir('vscode'), ...inDir('view')];
}

describe('l10n: manifest', () => {
  interface Contributes {
    viewsContainers: Record<string, { title: string }[]>;
    views: Record<string, { name: string }[]>;
    commands: { command: string; title: string; category?: string }[];
    configuration: { title: string; properties: Record<string, Record<string, unknown>> };
  }
  const pkg = readJson<{ displayName: string; description: string; l10n?: string; contributes: Contributes }>('package.json');
  const nls = readJson<Record<string, string>>('package.nls.json');

  /** Every string in `contributes` (and the listing) that VS Code shows, with where it is. */
  function shown(): [string, unknown][] {
    const out: [string, unknown][] = [
      ['displayName', pkg.displayName],
      ['description', pkg.description],
      ['configuration.title', pkg.contributes.configuration.title],
    ];
    for (const [id, list] of Object.entries(pkg.contributes.viewsContainers)) list.forEach((c, i) => out.push([`viewsContainers.${id}[${i}].title`, c.title]));
    for (const [id, list] of Object.entries(pkg.contributes.views)) list.forEach((v, i) => out.push([`views.${id}[${i}].name`, v.name]));
    for (const c of pkg.contributes.commands) out.push([`${c.command}.title`, c.title], [`${c.command}.category`, c.category]);
    const visit = (where: string, prop: Record<string, unknown>): void => {
      for (const field of ['description', 'markdownDescription', 'patternErrorMessage', 'deprecationMessage', 'markdownDeprecationMessage']) {
        if (field in prop) out.push([`${where}.${field}`, prop[field]]);
      }
      for (const field of ['enumDescriptions', 'markdownEnumDescriptions']) {
        const list = prop[field];
        if (Array.isArray(list)) list.forEach((d, i) => out.push([`${where}.${field}[${i}]`, d]));
      }
      const items = prop.items as { properties?: Record<string, Record<string, unknown>> } | undefined;
      for (const [name, sub] of Object.entries(items?.properties ?? {})) visit(`${where}.items.${name}`, sub);
    };
    for (const [name, prop] of Object.entries(pkg.contributes.configuration.properties)) visit(name, prop);
    return out;
  }

  it('names the l10n folder, which holds the bundle', () => {
    assert.equal(pkg.l10n, './l10n');
    assert.ok(fs.existsSync(path.join(root, BUNDLE_PATH)));
  });

  it('every shown string is a %key% that package.nls.json holds (English)', () => {
    const all = shown();
    assert.ok(all.length > 40, `only ${all.length} strings found: the walk above misses some`);
    const bad = all.filter(([, v]) => typeof v !== 'string' || !/^%[^%]+%$/.test(v) || nls[v.slice(1, -1)] === undefined);
    assert.deepEqual(bad, []);
  });

  it('package.nls.json has no key the manifest does not use, and keeps the public English labels', () => {
    const used = new Set(shown().map(([, v]) => String(v).slice(1, -1)));
    assert.deepEqual(Object.keys(nls).filter((k) => !used.has(k)), []);
    assert.equal(nls['category'], 'Llama Chat');
    assert.equal(nls['command.retry.title'], 'Retry');
    assert.equal(nls['command.setApiKey.title'], 'Set API Key');
  });

  it('the package ships package.nls.json and l10n/', () => {
    const ignore = fs.readFileSync(path.join(root, '.vscodeignore'), 'utf8').split('\n');
    assert.ok(ignore.includes('!package.nls*.json'));
    assert.ok(ignore.includes('!l10n/*.json'));
  });
});

describe('l10n: bundle', () => {
  let scanned: ReturnType<typeof expectedBundle>;
  before(() => {
    scanned = expectedBundle(root);
  });

  it('l10n/bundle.l10n.json is exactly the messages of the sources (regenerate: npm run l10n)', () => {
    const { bundle } = scanned;
    const onDisk = readJson<Record<string, string>>(BUNDLE_PATH);
    const missing = Object.keys(bundle).filter((k) => !(k in onDisk));
    const stale = Object.keys(onDisk).filter((k) => !(k in bundle));
    assert.deepEqual({ missing, stale }, { missing: [], stale: [] });
    for (const [k, v] of Object.entries(onDisk)) assert.equal(v, k, 'English: each message is its own key');
    assert.ok(Object.keys(bundle).length > 200, 'host, core and webview messages are all found');
  });

  it('every message is a literal (a computed one could not be translated); the one exception is the seam itself', () => {
    const { dynamic } = scanned;
    assert.deepEqual(
      dynamic.map((d) => `${d.file}: ${d.text}`),
      ['src/extension.ts: vscode.l10n.t(message, ...args)'],
    );
  });

  it('the scanner finds t() only where it is the translator', () => {
    const src = [
      "import * as vscode from 'vscode';",
      "import { t } from '../core/base/l10n';",
      "vscode.l10n.t('One {0}', 1);",
      "t(`Two`);",
      "other.t('not a message');",
      't(name);',
    ].join('\n');
    const found = messagesIn('x.ts', src);
    assert.deepEqual(found.keys, ['One {0}', 'Two']);
    assert.deepEqual(found.dynamic.map((d) => d.text), ['t(name)']);
    // Without the import, a local `t` is not the translator.
    assert.deepEqual(messagesIn('y.ts', "const t = (s: string) => s;\nt('local');").keys, []);
  });
});

describe('l10n: host sources', () => {
  it('no host source shows an English literal without vscode.l10n.t', () => {
    const found = hostSources().flatMap((f) => hardCodedHostStrings(path.join(root, f)).map((x) => `${f}:${x.line}: ${x.text}`));
    assert.deepEqual(found, []);
  });

  it('the check catches literals in notifications, pickers, input boxes, progress, status bar items and errors', () => {
    const src = `
      import * as vscode from 'vscode';
      vscode.window.showInformationMessage('Hello there');
      void notifier.warn(\`Llama Chat: \${x} failed\`, 'Show Logs');
      logger.info('log lines stay English');
      const qp = vscode.window.createQuickPick();
      qp.title = 'Pick one';
      qp.items = [{ label: 'Server default', detail: vscode.l10n.t('fine') }];
      status.tooltip = ok ? vscode.l10n.t('fine') : 'Not fine';
      status.text = '$(server)';
      item.name = 'Status item';
      this.tooltipText = 'Click me';
      void vscode.window.showInputBox({ prompt: 'Type here', value: 'prefilled value' });
      void vscode.window.withProgress({ title: 'Working', location: 1 }, () => undefined);
      progress.report({ message: 'Halfway', increment: 50 });
      presenter.report(outcome, 'the action, for the log');
      throw new Error('Broken thing');
    `;
    const found = hardCodedHostStrings('sample.ts', src).map((f) => f.text);
    assert.deepEqual(found, [
      "'Hello there'",
      '`Llama Chat: ${x} failed`',
      "'Show Logs'",
      "'Pick one'",
      "'Server default'",
      "'Not fine'",
      "'Status item'",
      "'Click me'",
      "'Type here'",
      "'Working'",
      "'Halfway'",
      "'Broken thing'",
    ]);
  });
});

describe('l10n: core texts under a pseudo-locale', () => {
  before(() => setTranslator(pseudoTranslator));
  after(() => setTranslator(undefined));

  const URL = 'http://127.0.0.1:8080';
  /** The test's own values inside messages: URLs, the setting's name, HTTP status lines, error codes, content types. */
  const DATA = [URL, 'https://127.0.0.1:8080', '127.0.0.1', 'llamaChat.serverUrl', 'HTTP', 'text/plain', 'text/html', 'SIGKILL'];
  /** What the server said, quoted as it is. */
  const QUOTED = ['{"error":{"type":"exceed_context_size_error"}}', ': loading'];
  const CODES = ['ENOTFOUND', 'EAI_AGAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'EPROTO', 'ETIMEDOUT', 'UND_ERR_HEADERS_TIMEOUT', 'ECONNREFUSED', 'EHOSTUNREACH', 'ECONNRESET', 'ERR_INVALID_URL', 'EWEIRD'];
  const english = (text: string | undefined): string[] => (text === undefined ? [] : englishIn(text, [...DATA, ...CODES, ...QUOTED]));

  it('t() is the pseudo translator now, and formats like vscode.l10n.t', () => {
    assert.equal(t('Send {0} of {1}', 1, 'x'), 'Šéñđ 1 óƒ x');
    assert.equal(formatMessage('{1}{0}{2}', ['a', 'b']), 'ba{2}');
    assert.equal(pseudo('Retry {0}'), 'Ŕéţŕý {0}');
  });

  it('HTTP, stream and network errors: every message and hint is translated', () => {
    const ctx = { serverUrl: URL };
    const body = (message: string): string => JSON.stringify({ error: { message } });
    const errors = [
      httpStatusError(401, '', { ...ctx, sentApiKey: true }),
      httpStatusError(401, body('№'), ctx),
      httpStatusError(403, '', ctx),
      httpStatusError(400, JSON.stringify({ error: { type: 'exceed_context_size_error', message: '№', n_prompt_tokens: 9000, n_ctx: 4096 } }), ctx),
      httpStatusError(400, JSON.stringify({ error: { type: 'exceed_context_size_error' } }), ctx),
      httpStatusError(404, '', ctx),
      httpStatusError(501, '', ctx),
      httpStatusError(503, body('loading'), ctx),
      httpStatusError(503, '', ctx),
      httpStatusError(500, '', ctx),
      httpStatusError(502, '', ctx),
      httpStatusError(422, '', ctx),
      httpStatusError(302, '', ctx),
      notSseError('text/html', '<html><title>№</title></html>', ctx),
      notSseError('text/plain', '', ctx),
      notSseError(undefined, '', ctx),
      ...[
        { name: 'AbortError' },
        { code: 'ENOTFOUND' },
        { code: 'EAI_AGAIN' },
        { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' },
        { code: 'EPROTO' },
        { code: 'ETIMEDOUT' },
        { code: 'UND_ERR_HEADERS_TIMEOUT' },
        { code: 'ECONNREFUSED' },
        { code: 'EHOSTUNREACH' },
        { code: 'ECONNRESET' },
        { code: 'ERR_INVALID_URL' },
        { code: 'EWEIRD' },
      ].flatMap((e) => [networkError(e, ctx), networkError(e, { serverUrl: 'https://127.0.0.1:8080' })]),
      networkError({ code: 'ECONNRESET' }, { ...ctx, midStream: true }),
      networkError({ code: 'EWEIRD' }, { ...ctx, midStream: true }),
    ].map((e) => e.toInfo());
    const infos = [...errors, streamErrorInfo({ type: 'exceed_context_size_error', message: '№' }), streamErrorInfo({ message: '№' })];
    const left = infos.flatMap((i) => [...english(i.message), ...english(i.hint)].map((w) => `${w} in: ${i.message} | ${i.hint ?? ''}`));
    assert.deepEqual(left, []);
    assert.ok(infos.every((i) => i.message.length > 0));
  });

  it('status bar text and tooltip, final text, durations, exit descriptions, a message too large for the context', () => {
    const stats: LiveStats = {
      phase: 'generating',
      tps: 42,
      completionTokens: 120,
      promptTokens: 900,
      cachedTokens: 600,
      ctxUsed: 1020,
      ctxMax: 8192,
      ttftMs: 350,
      promptPerSecond: 1200,
      model: 'ⓜ',
    };
    const texts = [
      formatStatusText({ stats, stale: false, count: 2 }),
      formatStatusText({ stats, stale: true, silentMs: 63_000, count: 1 }),
      formatStatusText({ stats: { ...stats, reconnecting: true }, stale: false, count: 1 }),
      formatStatusText({ stats: { ...stats, queued: { busy: 2, total: 2 } }, stale: false, count: 1 }),
      formatStatusText({ stats: { ...stats, busyMs: 12_000 }, stale: false, count: 1 }),
      formatStatusText({ stats: { ...stats, phase: 'prompt', promptProgress: 0.4 }, stale: false, count: 1 }),
      formatStatusText({ stats: { ...stats, phase: 'prompt' }, stale: false, count: 1 }),
      ...(['waiting', 'prompt', 'generating', 'done'] as const).map((phase) =>
        formatStatusTooltip({ stats: { ...stats, phase }, serverUrl: URL, chatTitle: 'Ω', stale: false, count: 2 }),
      ),
      formatStatusTooltip({ stats: { ...stats, model: undefined }, serverUrl: URL, stale: true, silentMs: 61_000, count: 1 }),
      formatStatusTooltip({ stats: { ...stats, queued: { busy: 1, total: 1 } }, serverUrl: URL, stale: false, count: 1 }),
      formatStatusTooltip({ stats: { ...stats, busyMs: 5_000 }, serverUrl: URL, stale: false, count: 1 }),
      formatFinalText({ status: 'complete', timings: { predictedPerSecond: 40 }, ctxUsed: 10, ctxMax: 100, completionTokens: 5 }),
      formatFinalText({ status: 'stopped', ctxUsed: 10, completionTokens: 5 }),
      formatDuration(350),
      formatDuration(1234),
      formatDuration(83_000),
      describeExit({ code: 1, signal: null }),
      describeExit({ code: null, signal: 'SIGKILL' }),
      describeExit({ code: null, signal: null }),
      tooLargeText(9000, true, 4096, 512),
      tooLargeText(9000, false, 4096, 512),
    ];
    const left = texts.flatMap((text) => english(text.replace(/\\/g, '')).map((w) => `${w} in: ${text}`));
    assert.deepEqual(left, []);
  });

  it('an exported chat: role headings, status notes, figures and the reasoning fold', () => {
    const base = { content: 'ж', createdAt: 1 } as const;
    const messages: ChatMessage[] = [
      { ...base, id: 'u1', role: 'user', status: 'complete' },
      { ...base, id: 'a1', parentId: 'u1', role: 'assistant', status: 'complete', model: 'ⓜ', reasoning: 'ж', finishReason: 'length', completionTokens: 5, ctxUsed: 9, ctxMax: 99, timings: { predictedPerSecond: 4, ttftMs: 300 } },
      { ...base, id: 'u2', parentId: 'a1', role: 'user', status: 'complete' },
      { ...base, id: 'a2', parentId: 'u2', role: 'assistant', status: 'failed', error: { kind: 'unknown', message: 'ж', hint: 'ж' }, ctxUsed: 9 },
      { ...base, id: 'u3', parentId: 'a2', role: 'user', status: 'complete' },
      { ...base, id: 'a3', parentId: 'u3', role: 'assistant', status: 'failed' },
      { ...base, id: 'u4', parentId: 'a3', role: 'user', status: 'complete' },
      { ...base, id: 'a4', parentId: 'u4', role: 'assistant', status: 'stopped' },
      { ...base, id: 'u5', parentId: 'a4', role: 'user', status: 'complete' },
      { ...base, id: 'a5', parentId: 'u5', role: 'assistant', status: 'interrupted' },
      { ...base, id: 'u6', parentId: 'a5', role: 'user', status: 'complete' },
      { ...base, id: 'a6', parentId: 'u6', role: 'assistant', status: 'streaming' },
    ];
    const doc = exportMarkdown({ id: 'c', title: 'Ω', createdAt: 1, updatedAt: 1, messageCount: messages.length, messages });
    assert.ok(doc.includes('<summary>'), 'the reasoning fold is there');
    assert.deepEqual(english(doc.replace(/<\/?(details|summary|sub)>/g, ' ')), []);
  });

  it('session refusals, stall diagnoses and the final statuses of an answer', async () => {
    const { session, streamer, clock, of } = sessionRig({ staleSeconds: 5 });
    const chat = await session.newChat();
    const outcomes = [
      await session.stop(chat.id),
      await session.stop('nochat'),
      await session.skipThinking(chat.id, 'nomsg'),
      await session.continueAnswer(chat.id, 'nomsg'),
      await session.continueInNewChat(chat.id, 'nomsg'),
      await session.editSummary(chat.id, 'nomsg', 'ж'),
      await session.selectVersion(chat.id, 'nomsg'),
      await session.compactChat(chat.id),
    ];
    const details = outcomes.map((o) => (o.ok ? '' : o.detail));
    // Stalled on a server that dropped the answer; a second send is refused; Discard ends it.
    streamer.withProbes('ok', [{ id: 0, isProcessing: false }]);
    assert.ok((await session.send(chat.id, 'ж')).ok);
    const busy = await session.send(chat.id, 'ж');
    details.push(busy.ok ? '' : busy.detail);
    clock.advance(5_000);
    for (let i = 0; i < 5 && of('stale').length === 0; i++) await tick();
    const diagnoses = of('stale').map((e) => e.diagnosis ?? '');
    streamer.slotsAnswer = [{ id: 3, isProcessing: true }];
    clock.advance(5_000);
    for (let i = 0; i < 5 && of('stale').length < 2; i++) await tick();
    assert.ok((await session.discard(chat.id)).ok);
    // Retried by the user; a stream that ends before its finish.
    assert.ok((await session.send(chat.id, 'ж')).ok);
    assert.ok((await session.retry(chat.id)).ok);
    streamer.last.content('ж').end();
    await streamer.last.drained();
    await tick();
    const errors = of('messageUpdated').flatMap((e) => (e.patch.error ? [e.patch.error.message, e.patch.error.hint ?? ''] : []));
    assert.ok(errors.length >= 3, `errors seen: ${errors.join(' | ')}`);
    assert.ok(diagnoses.length > 0 && diagnoses.every((d) => d.length > 0), 'the stall was diagnosed');
    const texts = [...details, ...diagnoses, ...errors, ...of('stale').map((e) => e.diagnosis ?? '')];
    assert.ok(details.every((d) => d.length > 0), 'every action was refused with a reason');
    const left = texts.flatMap((text) => english(text).map((w) => `${w} in: ${text}`));
    assert.deepEqual(left, []);
  });

  it('server answers the extension cannot use, resumable-stream lookups, refusals of the chat view', () => {
    const thrown = (fn: () => unknown): string[] => {
      try {
        fn();
      } catch (err) {
        const info = (err as { toInfo?: () => { message: string; hint?: string } }).toInfo?.();
        return info ? [info.message, info.hint ?? ''] : [String(err)];
      }
      assert.fail('expected a throw');
    };
    const texts = [
      ...thrown(() => parseProps(1)),
      ...thrown(() => parseProps({ default_generation_settings: {} })),
      ...thrown(() => parseStreamList(1, ['x'])),
      refusalText('.text is too long (300001 > 200000)'),
      refusalText('ⓡ'),
    ];
    // The endpoint and field names the messages quote are data.
    const names = (text: string): string => text.split('GET /props').join(' ').split('default_generation_settings.n_ctx').join(' ');
    const left = texts.flatMap((text) => english(names(text)).map((w) => `${w} in: ${text}`));
    assert.deepEqual(left, []);
  });

  it('chat storage problems: a damaged file, a folder that cannot be opened, a full disk, a newer version', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'l10n-store-'));
    try {
      const chats = path.join(dir, 'chats');
      fs.mkdirSync(chats);
      const header = (id: string, v: number): string => JSON.stringify({ t: 'header', v, id, title: 'Ω', createdAt: 1, updatedAt: 1, messageCount: 0 });
      fs.writeFileSync(path.join(chats, 'c0000001.jsonl'), `${header('c0000001', 1)}\n{garbage\n{"t":"x"}\n`);
      fs.writeFileSync(path.join(chats, 'c0000002.jsonl'), `${header('c0000002', 999)}\n`);
      fs.writeFileSync(path.join(chats, 'c0000003.jsonl'), `not json\n`);
      fs.writeFileSync(path.join(chats, 'c0000004.jsonl'), `${JSON.stringify({ t: 'message' })}\n`);
      fs.writeFileSync(path.join(chats, 'c0000005.jsonl'), `${header('c0000099', 1)}\n`);
      const store = new ChatStore({ dir, watch: false });
      const problems = await store.open();
      const readOnly = store.listChats().flatMap((c) => (c.readOnly !== undefined ? [c.readOnly] : []));
      await store.dispose();
      const blocked = path.join(dir, 'blocked');
      fs.writeFileSync(blocked, '');
      const other = new ChatStore({ dir: blocked, watch: false });
      const openProblems = await other.open();
      await other.dispose();
      assert.ok(problems.length >= 4, `problems: ${problems.map((p) => p.error.message).join(' | ')}`);
      assert.ok(openProblems.length >= 1, 'a folder that is a file cannot be opened');
      assert.equal(readOnly.length, 1, 'the newer chat is read-only');
      const texts = [
        ...[...problems, ...openProblems].flatMap((p) => [p.error.message, p.error.hint ?? '']),
        ...readOnly,
        ...['ENOSPC', 'EACCES', 'EIO'].map((code) => hintFor(Object.assign(new Error('x'), { code }))),
      ];
      // File paths and the system's own error text (ENOTDIR…) are data.
      const own = (text: string): string => text.replace(/\/[^\s:',]+/g, ' ').replace(/E[A-Z]+:[^.]*(\.|$)/g, ' ').replace(/[\w/.-]*\.(jsonl|json)\b/g, ' ');
      const left = texts.flatMap((text) => english(own(text)).map((w) => `${w} in: ${text}`));
      assert.deepEqual(left, []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('English is unchanged without a translator', () => {
    setTranslator(undefined);
    try {
      assert.equal(formatStatusText({ stats: { phase: 'generating', tps: 42, completionTokens: 1, ctxUsed: 1234, ctxMax: 8192 }, stale: false, count: 1 }), '$(pulse) 42 tok/s · 1,234/8,192');
      assert.equal(networkError({ code: 'ECONNREFUSED' }, { serverUrl: URL }).message, `Cannot connect to llama-server at ${URL} (connection refused)`);
    } finally {
      setTranslator(pseudoTranslator);
    }
  });
});
