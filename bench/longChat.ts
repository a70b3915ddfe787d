/**
 * Part 7: long chats in Chromium. The production webview bundle (dist/webview.js + its CSS) in a page of the
 * sidebar's size, fed the host's messages by a stub of acquireVsCodeApi: the time from the host switching to a
 * 1,000-message chat to the first frame painted with it, beside the same for a 10-message chat (interleaved in
 * one run), and the frame times while scrolling through the 1,000-message chat.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Page } from 'playwright-core';
import type { Chat, ChatMessage, ChatSummary } from '../src/core/chats/chat';
import type { ToWebviewMessage, ViewState } from '../src/protocol';
import { launchBrowser } from '../test/harness/browser';
import { repoRoot } from '../test/harness/paths';
import { metric, ratioMetric, runPart } from './lib/results';
import { median, percentile, round } from './lib/stats';

const ROUNDS = 15;
const WARMUP = 3;
const WIDTH = 420;
const HEIGHT = 900;
/** Pixels scrolled per frame: a brisk wheel scroll (~3,000 px/s at 60 fps). */
const SCROLL_STEP = 50;

/** The build scripts/bench.sh copied aside right after `npm run package` (dist/ itself may be rebuilt meanwhile). */
function distDir(): string {
  const copy = path.join(repoRoot(), 'bench', '.tmp', 'dist');
  return fs.existsSync(path.join(copy, 'webview.js')) ? copy : path.join(repoRoot(), 'dist');
}

const ANSWERS = [
  'Short answer: yes. The `loadConfig()` call reads the file once and caches it.',
  [
    '## Reading the config',
    '',
    'The loader reads **settings.json** first, then applies `overrides` from the workspace. Missing keys fall back to the defaults.',
    '',
    '- parse the file with `JSON.parse`',
    '- validate each key',
    '- merge with the defaults',
    '',
    '```ts',
    'export function loadConfig(path: string): Config {',
    '  const raw = fs.readFileSync(path, "utf8");',
    '  const parsed = JSON.parse(raw) as Partial<Config>;',
    '  return { ...DEFAULTS, ...parsed };',
    '}',
    '```',
    '',
    'Call it once at start-up and pass the result down; see the [docs](https://example.com/docs).',
  ].join('\n'),
  [
    'There are three options:',
    '',
    '1. Keep the cache in memory and clear it on change.',
    '2. Write it to disk next to the workspace.',
    '3. Do not cache at all; the file is small.',
    '',
    'For most projects the third is fine. If the file grows past a few hundred kilobytes, measure first.',
    '',
    '| option | cost | risk |',
    '| --- | --- | --- |',
    '| memory | low | stale after edits |',
    '| disk | medium | permissions |',
    '| none | per read | none |',
  ].join('\n'),
];

/** A chat of `count` messages: questions and Markdown answers alternating, with footer figures like real ones. */
function chatOf(id: string, count: number): Chat {
  const messages: ChatMessage[] = [];
  for (let i = 0; i < count; i++) {
    const parentId = i > 0 ? `${id}-m${i - 1}` : undefined;
    const base = { id: `${id}-m${i}`, ...(parentId ? { parentId } : {}), status: 'complete' as const, createdAt: 1_000 + i };
    if (i % 2 === 0) {
      messages.push({ ...base, role: 'user', content: `Question ${i / 2 + 1}: how does the config loader behave when a key is missing?` });
    } else {
      messages.push({
        ...base,
        role: 'assistant',
        content: ANSWERS[((i - 1) / 2) % ANSWERS.length],
        model: 'qwen2.5-coder-7b-instruct-q4_k_m.gguf',
        completionTokens: 120 + (i % 50),
        promptTokens: 800 + i * 10,
        timings: { predictedPerSecond: 42.5, promptPerSecond: 900 },
      });
    }
  }
  const last = messages[messages.length - 1];
  return { id, title: `Chat ${id}`, createdAt: 1_000, updatedAt: 1_000 + count, messageCount: count, messages, leafId: last.id };
}

function summary(chat: Chat): ChatSummary {
  return { id: chat.id, title: chat.title, createdAt: chat.createdAt, updatedAt: chat.updatedAt, messageCount: chat.messageCount };
}

const PAGE = (dist: string): string => `<!doctype html>
<html><head><meta charset="utf-8">
<link rel="stylesheet" id="vscode-codicon-stylesheet" href="file://${dist}/codicon.css">
<link rel="stylesheet" href="file://${dist}/webview.css">
<style>html, body { height: 100%; margin: 0; } #root { height: 100%; }</style>
<script>
  window.__posted = [];
  window.__state = undefined;
  window.acquireVsCodeApi = () => ({
    postMessage: (m) => window.__posted.push(m),
    getState: () => window.__state,
    setState: (s) => { window.__state = s; },
  });
</script>
</head><body class="vscode-dark"><div id="root"></div>
<script type="module" src="file://${dist}/webview.js"></script>
</body></html>`;

/** Posts the host's messages for a chat switch and resolves with the ms until the frame showing it was painted. */
async function switchMs(page: Page, messages: ToWebviewMessage[], lastId: string): Promise<number> {
  return page.evaluate(
    ({ messages, lastId }) =>
      new Promise<number>((resolve, reject) => {
        const t0 = performance.now();
        for (const m of messages) window.postMessage(m, '*');
        // Rendered once the last message's row is in the DOM; painted once a task queued from the next
        // animation frame runs (it runs after that frame's paint).
        const wait = (): void => {
          requestAnimationFrame(() => {
            if (!document.querySelector(`[data-key="${lastId}"]`)) return void wait();
            const channel = new MessageChannel();
            channel.port1.onmessage = () => resolve(performance.now() - t0);
            channel.port2.postMessage(0);
          });
        };
        wait();
        setTimeout(() => reject(new Error(`row ${lastId} never rendered`)), 20_000);
      }),
    { messages, lastId },
  );
}

interface ScrollRun {
  frames: number[];
  /** Per frame: the window moved in it (the first mounted row changed since the frame before). */
  moved: boolean[];
  maxRows: number;
  distance: number;
  topKey: string | undefined;
}

/**
 * Scrolls `selector` from the bottom to the top and back, `step` px per frame; returns the frame intervals and
 * rows seen.
 */
async function scrollFrames(page: Page, step: number, selector: string): Promise<ScrollRun> {
  return page.evaluate(
    ({ step, selector }) =>
      new Promise<ScrollRun>((resolve) => {
        const list = document.querySelector<HTMLElement>(selector)!;
        list.scrollTop = list.scrollHeight;
        const frames: number[] = [];
        const moved: boolean[] = [];
        const firstKeys: (string | undefined)[] = [];
        let maxRows = 0;
        let distance = 0;
        let last = -1;
        let direction = -1;
        let topKey: string | undefined;
        const tick = (now: number): void => {
          // The scroll set in a frame is handled (window moved, rows rendered) at the start of the next one, which
          // shows in the interval that ends at the frame after.
          firstKeys.push(list.querySelector<HTMLElement>('.message-row')?.dataset.key);
          if (last >= 0) {
            frames.push(now - last);
            const n = firstKeys.length;
            moved.push(n >= 3 && firstKeys[n - 2] !== firstKeys[n - 3]);
          }
          last = now;
          maxRows = Math.max(maxRows, list.querySelectorAll('.message-row').length);
          const before = list.scrollTop;
          list.scrollTop = before + direction * step;
          distance += Math.abs(list.scrollTop - before);
          if (direction < 0 && list.scrollTop <= 0) {
            direction = 1;
            topKey = list.querySelector<HTMLElement>('.message-row')?.dataset.key;
          }
          else if (direction > 0 && list.scrollTop + list.clientHeight >= list.scrollHeight - 1) {
            resolve({ frames, moved, maxRows, distance, topKey });
            return;
          }
          requestAnimationFrame(tick);
        };
        requestAnimationFrame(tick);
      }),
    { step, selector },
  );
}

/**
 * The floor: a static scroller of the same size over the list, holding the same rows' text as plain paragraphs
 * (no script runs while it scrolls), scrolled the same way. What the machine's load alone costs a frame.
 */
async function addFloor(page: Page, height: number): Promise<void> {
  await page.evaluate((height) => {
    const list = document.querySelector<HTMLElement>('.messages')!;
    const box = list.getBoundingClientRect();
    const floor = document.createElement('div');
    floor.className = 'bench-floor';
    floor.style.cssText = `position:fixed;left:${box.left}px;top:${box.top}px;width:${box.width}px;height:${box.height}px;overflow-y:auto;background:#1e1e1e;z-index:10`;
    const rows = Array.from(list.querySelectorAll('.message-row')).map((r) => r.textContent ?? '');
    document.body.append(floor);
    for (let i = 0; floor.scrollHeight < height && i < 100_000; i++) {
      const p = document.createElement('p');
      p.textContent = rows[i % rows.length] ?? 'row';
      floor.append(p);
    }
  }, height);
}

void runPart('longChat', 'Long chats in Chromium (windowed message list)', async (notes) => {
  const dist = distDir();
  for (const f of ['webview.js', 'webview.css']) {
    if (!fs.existsSync(path.join(dist, f))) throw new Error(`${path.join(dist, f)} is missing: run npm run package first`);
  }
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-chat-bench-long-'));
  // Frames as fast as they can be made (no vsync, no 60 fps cap): a frame interval is then what the frame cost.
  const browser = await launchBrowser({
    profileDir: path.join(root, 'chromium'),
    width: WIDTH,
    height: HEIGHT,
    extraArgs: ['--disable-gpu-vsync', '--disable-frame-rate-limit', '--allow-file-access-from-files'],
  });
  try {
    const html = path.join(root, 'view.html');
    fs.writeFileSync(html, PAGE(dist));
    const page = await browser.context.newPage();
    await page.setViewportSize({ width: WIDTH, height: HEIGHT });
    await page.goto(`file://${html}`);
    await page.waitForFunction(() => (window as unknown as { __posted: { type: string }[] }).__posted.some((m) => m.type === 'ready'));

    const small = chatOf('small', 10);
    const large = chatOf('large', 1_000);
    const chats = [summary(small), summary(large)];
    const state: ViewState = { chats, activeChatId: undefined, activeChat: undefined, streaming: [], connection: { state: 'unknown' }, model: undefined };
    await page.evaluate((m) => window.postMessage(m, '*'), { type: 'snapshot', state } as ToWebviewMessage);
    // What the host posts when the user switches chats: a snapshot with the chosen chat.
    const switchTo = (chat: Chat): ToWebviewMessage[] => [{ type: 'snapshot', state: { ...state, activeChatId: chat.id, activeChat: chat } }];
    const lastOf = (chat: Chat): string => chat.messages[chat.messages.length - 1].id;

    const samples = { small: [] as number[], large: [] as number[] };
    for (let r = 0; r < WARMUP + ROUNDS; r++) {
      // Alternate which goes first, so neither always follows the other.
      const order: ('small' | 'large')[] = r % 2 === 0 ? ['small', 'large'] : ['large', 'small'];
      for (const which of order) {
        const chat = which === 'small' ? small : large;
        const ms = await switchMs(page, switchTo(chat), lastOf(chat));
        if (r >= WARMUP) samples[which].push(ms);
      }
    }

    // Scroll the long chat: shown at its bottom, then up to the first message and down again.
    await switchMs(page, switchTo(large), lastOf(large));
    const rowsShown = await page.evaluate(() => document.querySelectorAll('.message-row').length);
    const scroll = await scrollFrames(page, SCROLL_STEP, '.messages');
    const listHeight = await page.evaluate(() => document.querySelector('.messages')!.scrollHeight);
    await addFloor(page, listHeight);
    const floor = await scrollFrames(page, SCROLL_STEP, '.bench-floor');
    const firstShown = scroll.topKey;
    if (scroll.frames.length < 100) throw new Error(`only ${scroll.frames.length} frames while scrolling`);

    const m = { small: median(samples.small), large: median(samples.large) };
    const movedFrames = scroll.frames.filter((_, i) => scroll.moved[i]);
    const stillFrames = scroll.frames.filter((_, i) => !scroll.moved[i]);
    notes.push(
      `The production webview bundle (${path.relative(repoRoot(), dist)}/webview.js, webview.css, codicon.css) in a ` +
        `${WIDTH}×${HEIGHT} Chromium page (headless, Playwright over CDP), acquireVsCodeApi stubbed; chats are switched ` +
        `the way the host does it (\`chats\` with the new activeChatId, then \`chat\` with its messages, by window.postMessage). ` +
        `Chats: questions and Markdown answers alternating (three answer shapes: a line; heading, list, code block; list and table), ` +
        `with footer figures. Switch time = from posting to the first frame painted with the chat's last row in the DOM ` +
        `(a task queued from requestAnimationFrame runs after that frame's paint).`,
      `${ROUNDS} rounds after ${WARMUP} warm-up rounds, the 10- and 1,000-message chats alternately first; medians ` +
        `(p90 ${round(percentile(samples.small, 90))} ms and ${round(percentile(samples.large, 90))} ms). ` +
        `The 1,000-message chat mounted ${rowsShown} rows at its bottom.`,
      `Scrolling: Chromium runs with --disable-gpu-vsync --disable-frame-rate-limit, so frames follow each other as fast as ` +
        `they are made and a frame interval is what that frame cost (script, style, layout, paint). Each frame scrolls the list ${SCROLL_STEP} px, from the bottom to the ` +
        `top (${firstShown === large.messages[0].id ? 'first message reached' : `first row seen: ${firstShown ?? 'none'}`}) ` +
        `and back to the bottom: ${Math.round(scroll.distance).toLocaleString('en')} px in ${scroll.frames.length} frames, ` +
        `at most ${scroll.maxRows} rows mounted at once. Floor: a static scroller of the same size laid over the ` +
        `list, plain paragraphs with the mounted rows' text (${Math.round(floor.distance).toLocaleString('en')} px, ` +
        `${floor.frames.length} frames, no script), scrolled the same way right after: what the machine's load alone costs a frame. ` +
        `The window moved in ${movedFrames.length} of the ${scroll.frames.length} frames (median ${round(median(movedFrames))} ms; ` +
        `the others ${round(median(stillFrames))} ms).`,
    );
    return [
      ratioMetric('switch to a 1,000-message chat until first paint', m.large, 'ms', { name: '10-message chat', value: m.small }, { op: '<=', value: 2 }),
      metric('scroll through the 1,000-message chat: frame time p95', percentile(scroll.frames, 95), 'ms', { op: '<=', value: 16 }),
      metric('floor: static scroller of the same height, frame time p95', percentile(floor.frames, 95), 'ms'),
      metric('scroll through the 1,000-message chat: frame time median', median(scroll.frames), 'ms'),
      metric('scroll: frames in which the window moved, p95', percentile(movedFrames, 95), 'ms'),
      metric('scroll: the other frames, p95', percentile(stillFrames, 95), 'ms'),
      metric('scroll through the 1,000-message chat: frame time max', Math.max(...scroll.frames), 'ms'),
    ];
  } finally {
    await browser.close();
    fs.rmSync(root, { recursive: true, force: true });
  }
});
