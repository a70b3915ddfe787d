/**
 * A look book, not a test: screenshots of the chat view in light, dark and both high-contrast themes, for a person to
 * look at. A fake llama-server on loopback streams realistic Markdown and `reasoning_content` in llama-server's exact
 * chunk format (test/fixtures/llama-server-frames.txt), since the tiny test model only writes gibberish.
 *
 *   npm run build && npx tsc -p tsconfig.test.json && node out/test/e2e/lookbook.js
 *
 * Writes `test-results/lookbook/<scene>-<theme>.png`, the side bar alone in `view/`, and two themes side by side in
 * `sheets/`; `LOOKBOOK_THEMES=dark,light` picks themes,
 * `LOOKBOOK_SIDEBAR=520` the chat view's width.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import * as path from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { launchBrowser } from '../harness/browser';
import type { BrowserHandle } from '../harness/browser';
import { startCodeServer, workbenchUrl } from '../harness/codeServer';
import type { CodeServerHandle } from '../harness/codeServer';
import { repoRoot, runDir, runStamp } from '../harness/paths';
import { pollUntil, Workbench } from './workbench';

const THEMES = {
  light: 'Default Light Modern',
  dark: 'Default Dark Modern',
  hc: 'Default High Contrast',
  hclight: 'Default High Contrast Light',
} as const;
type ThemeKey = keyof typeof THEMES;

/** The class the workbench root carries once a theme of that kind is applied. */
const THEME_CLASS: Record<ThemeKey, string> = { light: 'vs', dark: 'vs-dark', hc: 'hc-black', hclight: 'hc-light' };

const MODEL = 'Qwen2.5-Coder-7B-Instruct-Q4_K_M.gguf';
const N_CTX = 16_384;

export const PROMPTS = {
  markdown: 'How do I retry a fetch with exponential backoff in TypeScript?',
  stop: 'Explain every HTTP status code, one paragraph each.',
  fail: 'Summarise the llama-server slot API.',
  stall: 'What does cache_prompt do?',
} as const;

const REASONING = `The user wants a retry helper for \`fetch\`. I should cover:
1. which failures are worth retrying (network errors, 429, 5xx) and which are not (4xx);
2. exponential backoff with jitter, so many clients do not retry in lockstep;
3. honouring \`Retry-After\` and an \`AbortSignal\`.

A small typed helper plus a table of the defaults should be enough.`;

const ANSWER = `## Retrying \`fetch\` with exponential backoff

Retry only what can succeed the second time: **network errors**, \`429 Too Many Requests\` and \`5xx\` answers.
A \`4xx\` other than 429 will fail again, so give up at once.

### The plan

1. Wait \`base * 2 ** attempt\` milliseconds, capped at \`maxDelayMs\`.
2. Add *full jitter* (a random delay up to that value) so clients do not retry in lockstep.
3. Honour the server's \`Retry-After\` header when it sends one.
4. Stop early when the caller's \`AbortSignal\` fires.

| option | default | meaning |
| --- | ---: | --- |
| \`retries\` | 4 | attempts after the first |
| \`baseDelayMs\` | 250 | first backoff step |
| \`maxDelayMs\` | 8000 | upper bound for one wait |

\`\`\`typescript
export async function fetchWithRetry(url: string, init: RequestInit = {}, retries = 4): Promise<Response> {
  for (let attempt = 0; ; attempt++) {
    try {
      const res = await fetch(url, init);
      if (res.status !== 429 && res.status < 500) return res; // success, or a 4xx that will not change
      if (attempt >= retries) return res;
      await sleep(delayFor(attempt, res.headers.get('retry-after')), init.signal);
    } catch (err) {
      if (init.signal?.aborted || attempt >= retries) throw err;
      await sleep(delayFor(attempt, null), init.signal);
    }
  }
}

function delayFor(attempt: number, retryAfter: string | null): number {
  const seconds = Number(retryAfter);
  if (Number.isFinite(seconds) && seconds > 0) return seconds * 1000;
  return Math.random() * Math.min(8000, 250 * 2 ** attempt);
}
\`\`\`

> **Tip:** log each retry with its attempt number and delay; silent retries hide a sick server.

See [MDN: Retry-After](https://developer.mozilla.org/docs/Web/HTTP/Headers/Retry-After) for the header's two formats.`;

const LONG_ANSWER = `Here is each status code in turn.

**100 Continue** tells the client the request headers were accepted and it may send the body. It lets a client avoid uploading a large body the server would refuse anyway.

**101 Switching Protocols** answers an \`Upgrade\` request, for example to WebSocket. After it the connection speaks the new protocol.

**200 OK** is the ordinary success answer; its meaning depends on the method. `.repeat(6);

const FAIL_ANSWER = `llama-server serves each request in a **slot**. \`GET /slots\` lists them with their state, and a slot's
prompt cache can be saved and restored with \`POST /slots/{id}?action=save\``;

const STALL_ANSWER = `\`cache_prompt\` lets the server reuse the KV cache of a previous request that shares a prefix with`;

// ---- the fake llama-server ----

interface FakeServer {
  url: string;
  /** Down: refuse every connection (the listening socket is closed), as a stopped server would. */
  setDown(down: boolean): Promise<void>;
  /** Ends streams held open (stop, stall). */
  release(): void;
  stop(): Promise<void>;
}

/** Splits text into token-sized pieces (a word with its leading space, or a run of spaces/newlines). */
function tokens(text: string): string[] {
  return text.match(/\s*[^\s]{1,6}|\s+/g) ?? [];
}

function chunk(id: string, created: number, delta: Record<string, unknown>, extra: Record<string, unknown> = {}, finish: string | null = null): string {
  return `data: ${JSON.stringify({
    choices: [{ finish_reason: finish, index: 0, delta }],
    created,
    id,
    model: MODEL,
    system_fingerprint: 'b1-de3ff81',
    object: 'chat.completion.chunk',
    ...extra,
  })}\n\n`;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface Script {
  reasoning?: string;
  content: string;
  /** Milliseconds between tokens. */
  pace: number;
  /** After the content: finish normally, cut the connection, or hold it open until released or closed. */
  end: 'finish' | 'cut' | 'hold';
}

function scriptFor(prompt: string): Script {
  if (prompt === PROMPTS.stop) return { content: LONG_ANSWER, pace: 60, end: 'hold' };
  if (prompt === PROMPTS.fail) return { content: FAIL_ANSWER, pace: 10, end: 'cut' };
  if (prompt === PROMPTS.stall) return { content: STALL_ANSWER, pace: 20, end: 'hold' };
  return { reasoning: REASONING, content: ANSWER, pace: 8, end: 'finish' };
}

async function startFakeServer(): Promise<FakeServer> {
  const sockets = new Set<Socket>();
  const held = new Set<() => void>();
  let port = 0;
  const json = (res: http.ServerResponse, status: number, body: unknown): void => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), Server: 'llama.cpp' });
    res.end(text);
  };
  const stream = async (req: http.IncomingMessage, res: http.ServerResponse, body: string): Promise<void> => {
    const parsed = JSON.parse(body) as { messages?: { role: string; content: string }[] };
    const prompt = parsed.messages?.filter((m) => m.role === 'user').pop()?.content ?? '';
    const script = scriptFor(prompt);
    const id = `chatcmpl-${Math.random().toString(36).slice(2, 18)}`;
    const created = Math.floor(Date.now() / 1000);
    let closed = false;
    res.on('close', () => (closed = true));
    res.writeHead(200, { 'Content-Type': 'text/event-stream', 'X-Accel-Buffering': 'no', Server: 'llama.cpp' });
    const promptN = 412;
    const progress = (processed: number): Record<string, unknown> => ({ prompt_progress: { total: promptN, cache: 0, processed, time_ms: processed / 4 } });
    res.write(chunk(id, created, { role: 'assistant', content: null }, progress(200)));
    await sleep(150);
    res.write(chunk(id, created, { role: 'assistant', content: null }, progress(promptN)));
    const started = Date.now();
    let n = 0;
    const timings = (): Record<string, unknown> => {
      const ms = Math.max(1, Date.now() - started);
      return {
        timings: {
          cache_n: 0, prompt_n: promptN, prompt_ms: 103.2, prompt_per_token_ms: 0.25, prompt_per_second: 3992.2,
          predicted_n: n, predicted_ms: ms, predicted_per_token_ms: ms / Math.max(1, n), predicted_per_second: 42.7,
        },
      };
    };
    const pieces: [string, string][] = [
      ...tokens(script.reasoning ?? '').map((t): [string, string] => ['reasoning_content', t]),
      ...tokens(script.content).map((t): [string, string] => ['content', t]),
    ];
    for (const [field, text] of pieces) {
      if (closed) return;
      n++;
      res.write(chunk(id, created, { [field]: text }, timings()));
      await sleep(script.pace);
    }
    if (script.end === 'cut') {
      req.socket.destroy();
      return;
    }
    if (script.end === 'hold') {
      // A stream that keeps going slowly (stop) or not at all (stall) until the client lets go.
      await new Promise<void>((resolve) => {
        held.add(resolve);
        res.on('close', resolve);
      });
      if (!closed) res.end();
      return;
    }
    res.write(chunk(id, created, {}, {}, 'stop'));
    const usage = { completion_tokens: n, prompt_tokens: promptN, total_tokens: promptN + n, prompt_tokens_details: { cached_tokens: 0 } };
    res.write(`data: ${JSON.stringify({ choices: [], created, id, model: MODEL, system_fingerprint: 'b1-de3ff81', object: 'chat.completion.chunk', usage, ...timings() })}\n\n`);
    res.write('data: [DONE]\n\n');
    res.end();
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method === 'GET' && url === '/health') return json(res, 200, { status: 'ok' });
      if (req.method === 'GET' && url === '/props') {
        return json(res, 200, {
          default_generation_settings: { n_ctx: N_CTX },
          total_slots: 1,
          model_alias: MODEL,
          model_path: `/models/${MODEL}`,
          build_info: 'b1-de3ff81',
          modalities: { vision: false, audio: false },
        });
      }
      if (req.method === 'GET' && (url === '/v1/models' || url === '/models')) {
        return json(res, 200, { object: 'list', data: [{ id: MODEL, object: 'model', owned_by: 'llamacpp', meta: { n_ctx_train: 32_768, n_params: 7_615_616_512, size: 4_683_073_536 } }] });
      }
      if (req.method === 'GET' && url === '/slots') return json(res, 200, [{ id: 0, n_ctx: N_CTX, is_processing: false }]);
      if (req.method === 'POST' && url === '/v1/chat/completions') {
        stream(req, res, body).catch(() => req.socket.destroy());
        return;
      }
      json(res, 404, { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
    });
  };
  let server = http.createServer(handler);
  const listen = (s: http.Server): Promise<void> =>
    new Promise((resolve, reject) => {
      s.on('connection', (sock) => {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
      });
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
  await listen(server);
  port = (server.address() as AddressInfo).port;
  const close = (): Promise<void> =>
    new Promise((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return {
    url: `http://127.0.0.1:${port}`,
    async setDown(down: boolean): Promise<void> {
      if (down) return close();
      server = http.createServer(handler);
      await listen(server);
    },
    release(): void {
      for (const r of held) r();
      held.clear();
    },
    stop: close,
  };
}

// ---- the look book ----

interface Book {
  wb: Workbench;
  out: string;
  themes: ThemeKey[];
  current: ThemeKey | undefined;
}

async function setTheme(book: Book, theme: ThemeKey): Promise<void> {
  const wb = book.wb;
  const applied = wb.page.locator(`.monaco-workbench.${THEME_CLASS[theme]}`);
  if ((await applied.count()) === 0 || book.current !== theme) {
    // The palette, as a user does it: the settings file alone is not re-read for the theme.
    const input = wb.page.locator('.quick-input-widget input');
    await wb.page.keyboard.press('F1');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill('>Preferences: Color Theme');
    await wb.page.locator('.quick-input-widget .monaco-list-row', { hasText: /^Preferences: Color Theme/ }).first().click({ timeout: 10_000 });
    await wb.page.waitForTimeout(300);
    await input.fill(THEMES[theme]);
    // Rows read "Dark Modern, Default Dark Modern": the label, then the setting's value.
    await wb.page.locator(`.quick-input-widget .monaco-list-row[aria-label$=", ${THEMES[theme]}"]`).click({ timeout: 10_000 });
    await applied.waitFor({ timeout: 15_000 });
    book.current = theme;
  }
  // Hover effects from the palette must not linger, and the webview gets its new variables in a message.
  await wb.page.mouse.move(1000, 600);
  await wb.page.waitForTimeout(700);
}

/** Screenshots the page in every theme; `before` runs after each theme switch (e.g. to scroll). */
async function shoot(book: Book, scene: string, before?: () => Promise<void>): Promise<void> {
  for (const theme of book.themes) {
    await setTheme(book, theme);
    await before?.();
    await book.wb.page.waitForTimeout(200);
    const file = path.join(book.out, `${scene}-${theme}.png`);
    await book.wb.page.screenshot({ path: file });
    // The side bar alone, for the side-by-side sheets.
    const box = await book.wb.page.locator('.part.sidebar').boundingBox();
    if (box) await book.wb.page.screenshot({ path: path.join(book.out, 'view', `${scene}-${theme}.png`), clip: box });
    console.log(`  ${path.relative(repoRoot(), file)}`);
  }
  if (UNTIL && scene.startsWith(UNTIL)) throw new StopEarly();
}

/** `LOOKBOOK_UNTIL=06` stops after the scenes whose name starts with it (quicker looks at one change). */
const UNTIL = process.env.LOOKBOOK_UNTIL;
class StopEarly extends Error {}

/** Sheets of the side bar in two themes side by side (light|dark, hc|hclight), rendered by the same Chromium. */
async function contactSheets(book: Book, context: BrowserContext): Promise<void> {
  const views = path.join(book.out, 'view');
  const scenes = [...new Set(fs.readdirSync(views).map((f) => f.replace(/-(light|dark|hc|hclight)\.png$/, '')))].sort();
  const page = await context.newPage();
  try {
    for (const scene of scenes) {
      for (const [name, pair] of [['a', ['light', 'dark']], ['b', ['hc', 'hclight']]] as const) {
        const imgs = pair
          .map((t) => path.join(views, `${scene}-${t}.png`))
          .filter((f) => fs.existsSync(f))
          .map((f) => `<img src="data:image/png;base64,${fs.readFileSync(f).toString('base64')}">`);
        if (!imgs.length) continue;
        await page.setContent(`<body style="margin:0;background:#888;display:flex;gap:8px;width:max-content">${imgs.join('')}</body>`);
        await page.locator('body').screenshot({ path: path.join(book.out, 'sheets', `${scene}-${name}.png`) });
      }
    }
  } finally {
    await page.close();
  }
}

async function scrollMessages(wb: Workbench, where: 'top' | 'bottom' | number): Promise<void> {
  await wb
    .chat()
    .locator('.messages')
    .evaluate((el, to) => {
      el.scrollTop = to === 'top' ? 0 : to === 'bottom' ? el.scrollHeight : to;
    }, where);
}

/** Widens the side bar by dragging its sash, so the chat reads like a real answer. */
async function widenSidebar(wb: Workbench, width: number): Promise<void> {
  const box = await wb.page.locator('.part.sidebar').boundingBox();
  if (!box || box.width >= width) return;
  const x = box.x + box.width;
  const y = box.y + box.height / 2;
  await wb.page.mouse.move(x - 1, y);
  await wb.page.mouse.down();
  await wb.page.mouse.move(x + 40, y, { steps: 4 });
  await wb.page.mouse.move(box.x + width, y, { steps: 8 });
  await wb.page.mouse.up();
  await wb.page.mouse.move(1000, 600);
}

const DEMO_FILE = `export interface RetryOptions {
  retries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

// TODO: ask the chat how to retry with backoff
export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(\`\${res.status} \${res.statusText}\`);
  return (await res.json()) as T;
}
`;

async function run(): Promise<void> {
  const root = repoRoot();
  const out = path.join(root, 'test-results', 'lookbook');
  fs.rmSync(out, { recursive: true, force: true });
  for (const dir of ['view', 'sheets']) fs.mkdirSync(path.join(out, dir), { recursive: true });
  const themes = (process.env.LOOKBOOK_THEMES ?? 'light,dark,hc,hclight').split(',').filter((t): t is ThemeKey => t in THEMES);
  const sidebar = Number(process.env.LOOKBOOK_SIDEBAR ?? 520);
  const work = runDir('lookbook', runStamp());
  const folder = path.join(work, 'demo');
  fs.mkdirSync(path.join(folder, '.vscode'), { recursive: true });
  fs.mkdirSync(path.join(folder, 'src'), { recursive: true });
  fs.writeFileSync(path.join(folder, '.vscode', 'settings.json'), '{}\n');
  fs.writeFileSync(path.join(folder, 'src', 'api.ts'), DEMO_FILE);

  const fake = await startFakeServer();
  let codeServer: CodeServerHandle | undefined;
  let browser: BrowserHandle | undefined;
  const stopAll = async (): Promise<void> => {
    fake.release();
    const stops: Promise<void>[] = [fake.stop()];
    if (browser) stops.push(browser.close());
    if (codeServer) stops.push(codeServer.stop());
    await Promise.all(stops.map((p) => p.catch(() => undefined)));
  };
  process.once('SIGINT', () => void stopAll().finally(() => process.exit(130)));
  try {
    console.log(`fake llama-server ${fake.url}`);
    codeServer = await startCodeServer({
      workspace: folder,
      extensionPath: root,
      runDir: path.join(work, 'code-server'),
      settings: {
        'llamaChat.serverUrl': fake.url,
        'llamaChat.staleSeconds': 2,
        'workbench.colorTheme': THEMES[themes[0] ?? 'dark'],
      },
      onProgress: (l) => console.log(l),
    });
    browser = await launchBrowser({ profileDir: path.join(work, 'chromium') });
    const context = await browser.browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const wb = new Workbench(page, context, folder);
    await page.goto(workbenchUrl(codeServer.url, { folder, extensionDevelopmentPath: root }), { waitUntil: 'domcontentloaded' });
    await wb.waitForWorkbench();
    const book: Book = { wb, out, themes, current: themes[0] };

    await wb.openFile('api.ts');
    await wb.openChatView();
    await widenSidebar(wb, sidebar);
    await shoot(book, '01-empty-connected');

    // A realistic answer: reasoning, then Markdown.
    await wb.send(PROMPTS.markdown);
    await wb.assistantIn('complete').first().waitFor({ timeout: 60_000 });
    await shoot(book, '02-answer-bottom', () => scrollMessages(wb, 'bottom'));
    await shoot(book, '03-answer-top', () => scrollMessages(wb, 'top'));
    await wb.lastAssistant().locator('details.reasoning > summary').click();
    await shoot(book, '04-reasoning-open', () => scrollMessages(wb, 'top'));
    await wb.lastAssistant().locator('details.reasoning > summary').click();

    // Hover and keyboard focus on a code block's buttons.
    const copy = wb.lastAssistant().locator('.code-block .icon-button').first();
    await copy.scrollIntoViewIfNeeded();
    await shoot(book, '05-code-hover', () => copy.hover());
    await shoot(book, '06-code-focus', async () => {
      // Keyboard focus (focus-visible) comes from a key press, not from focus().
      // The icon's host cannot take focus itself (its inner <button> does): Tab in from the reasoning toggle.
      await wb.lastAssistant().locator('details.reasoning > summary').press('Shift');
      await wb.page.keyboard.press('Tab');
    });

    // Stopped, then failed.
    await wb.send(PROMPTS.stop);
    await pollUntil(() => wb.answerText(), (t) => t.length > 200, 30_000, 'long answer streaming');
    await shoot(book, '07-streaming', () => scrollMessages(wb, 'bottom'));
    await wb.stopButton().click();
    await wb.assistantIn('stopped').first().waitFor({ timeout: 15_000 });
    fake.release();
    await wb.send(PROMPTS.fail);
    await wb.assistantIn('failed').first().waitFor({ timeout: 30_000 });
    await shoot(book, '08-stopped-failed', () => scrollMessages(wb, 'bottom'));

    // A stalled stream: the stale banner.
    await wb.send(PROMPTS.stall);
    await wb.chat().locator('.stale-banner').waitFor({ timeout: 30_000 });
    await shoot(book, '09-stale', () => scrollMessages(wb, 'bottom'));
    await wb.chat().locator('.stale-banner vscode-button', { hasText: 'Discard' }).click();
    await wb.assistantIn('streaming').waitFor({ state: 'detached', timeout: 15_000 });
    fake.release();

    // The server goes away: the connection banner, then the empty state of a new chat.
    await fake.setDown(true);
    await wb.runCommand('Llama Chat: Check Connection');
    await wb.chat().locator('.connection-error').waitFor({ timeout: 30_000 });
    await shoot(book, '10-connection-error', () => scrollMessages(wb, 'bottom'));
    await wb.runCommand('Llama Chat: New Chat');
    await wb.chat().locator('.empty-state').waitFor({ timeout: 15_000 });
    await shoot(book, '11-disconnected-empty');
    await fake.setDown(false);
    await wb.runCommand('Llama Chat: Check Connection');
    await wb.chat().locator('.connection-error').waitFor({ state: 'detached', timeout: 30_000 });

    // The chat list.
    await wb.chat().locator('.chat-title').click();
    await shoot(book, '12-chat-list');
    await wb.page.keyboard.press('Escape');
    await contactSheets(book, context);
  } catch (err) {
    if (!(err instanceof StopEarly)) throw err;
  } finally {
    await stopAll();
  }
}

if (require.main === module) {
  run().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}
