/**
 * Part 4: end-to-end latency from a token leaving the server socket to its text in the webview DOM, in the real
 * setup: code-server with the extension, Chromium, and a loopback SSE source whose tokens carry ids (" k<i>") and
 * whose worker records when each token was written. A MutationObserver inside the chat webview frame records when
 * each id first appears in the answer's DOM. Both clocks are epoch-based (performance.timeOrigin + now()); the
 * offset between Node and the browser is measured by round trips and removed.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Frame } from 'playwright-core';
import { launchBrowser } from '../test/harness/browser';
import { startCodeServer, workbenchUrl } from '../test/harness/codeServer';
import { repoRoot } from '../test/harness/paths';
import { Workbench } from '../test/e2e/workbench';
import { metric, runPart } from './lib/results';
import { LoopbackSse } from './lib/sseSource';
import { median, percentile, round } from './lib/stats';

const RATE = 200;
const TOKENS = 1_000;

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** The webview's inner frame (the one holding the message log). */
async function chatFrame(wb: Workbench, timeoutMs: number): Promise<Frame> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    for (const frame of wb.page.frames()) {
      const found = await frame.evaluate(() => document.querySelector('textarea') !== null).catch(() => false);
      if (found && frame !== wb.page.mainFrame()) return frame;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('chat webview frame not found');
}

/** browser clock − Node clock, from the round trip with the least uncertainty. */
async function clockOffset(frame: Frame): Promise<{ offset: number; uncertainty: number }> {
  let best = { offset: 0, uncertainty: Infinity };
  for (let i = 0; i < 30; i++) {
    const before = epochMs();
    const browser = await frame.evaluate(() => performance.timeOrigin + performance.now());
    const after = epochMs();
    const half = (after - before) / 2;
    if (half < best.uncertainty) best = { offset: browser - (before + half), uncertainty: half };
  }
  return best;
}

/** Installs the observer in the frame: window.__arrivals[i] = time token i's id first showed in the last answer's Markdown. */
async function observe(frame: Frame): Promise<void> {
  await frame.evaluate(() => {
    const w = window as unknown as { __arrivals: Record<number, number> };
    w.__arrivals = {};
    let scanned = 0;
    let answer: Element | null = null;
    const scan = (): void => {
      const now = performance.timeOrigin + performance.now();
      const all = document.querySelectorAll('.message-assistant');
      const last = all[all.length - 1] ?? null;
      if (last !== answer) {
        answer = last;
        scanned = 0;
      }
      const text = last?.querySelector('.markdown')?.textContent ?? '';
      // Ids are whole words: rescan a little before the end of the last scan in case one was cut.
      const from = Math.max(0, scanned - 12);
      for (const m of text.slice(from).matchAll(/k(\d+)/g)) {
        const id = Number(m[1]);
        if (w.__arrivals[id] === undefined && m.index + from + m[0].length < text.length) w.__arrivals[id] = now;
      }
      scanned = text.length;
    };
    new MutationObserver(scan).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
}

void runPart('e2e', 'End-to-end latency (code-server + Chromium)', async (notes) => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-chat-bench-e2e-'));
  const source = await LoopbackSse.start();
  const stops: (() => Promise<void>)[] = [() => source.stop()];
  try {
    await source.configure({ tokens: TOKENS, text: 'ids', reportedRate: RATE }, { kind: 'paced', rate: RATE });
    const folder = path.join(root, 'ws');
    fs.mkdirSync(folder, { recursive: true });
    const codeServer = await startCodeServer({
      workspace: folder,
      extensionPath: repoRoot(),
      runDir: path.join(root, 'code-server'),
      settings: { 'llamaChat.serverUrl': source.url, 'llamaChat.staleSeconds': 60 },
    });
    stops.unshift(() => codeServer.stop());
    const browser = await launchBrowser({ profileDir: path.join(root, 'chromium') });
    stops.unshift(() => browser.close());
    const context = await browser.browser.newContext({ viewport: { width: 1400, height: 900 } });
    const page = await context.newPage();
    const wb = new Workbench(page, context, folder);
    await page.goto(workbenchUrl(codeServer.url, { folder, extensionDevelopmentPath: repoRoot() }), { waitUntil: 'domcontentloaded' });
    await wb.waitForWorkbench();
    await wb.openChatView();
    const frame = await chatFrame(wb, 30_000);
    await observe(frame);
    const clock = await clockOffset(frame);

    const streamed = source.streamed();
    await wb.send('Count for me.');
    const sent = await streamed;
    await wb.assistantIn('complete').waitFor({ timeout: 60_000 });
    const arrivals = await frame.evaluate(() => (window as unknown as { __arrivals: Record<number, number> }).__arrivals);
    const clockAfter = await clockOffset(frame);
    const sendTimes = sent.sendTimes ?? [];
    const latencies: number[] = [];
    for (let i = 0; i < sendTimes.length; i++) {
      const at = arrivals[i];
      if (at !== undefined) latencies.push(at - clock.offset - sendTimes[i]);
    }
    if (latencies.length < TOKENS * 0.9) throw new Error(`only ${latencies.length} of ${TOKENS} tokens were seen in the DOM`);
    notes.push(
      `Loopback SSE source (worker thread) paced at ${RATE} tok/s, ${TOKENS} id tokens; the extension loaded unpackaged ` +
        `in code-server ${'4.100.3'} with Chromium (Playwright over CDP), the chat view open. Latency = first time ` +
        `the id is in the last answer's DOM (MutationObserver in the webview frame) − time the worker wrote it to ` +
        `the socket. ${latencies.length} of ${TOKENS} tokens matched (the last id of a batch is counted once the next one follows).`,
      `Clock offset browser − Node ${round(clock.offset)} ms ± ${round(clock.uncertainty)} ms (after the run: ` +
        `${round(clockAfter.offset)} ± ${round(clockAfter.uncertainty)} ms), removed from every sample. The path ` +
        `includes the host's 16 ms delta coalescing (PostCoalescer), VS Code's webview message relay and Preact's render.`,
    );
    return [
      metric('e2e latency server socket → webview DOM: p50', median(latencies), 'ms'),
      metric('e2e latency server socket → webview DOM: p99', percentile(latencies, 99), 'ms', { op: '<=', value: 50 }),
      metric('e2e latency server socket → webview DOM: max', Math.max(...latencies), 'ms'),
    ];
  } finally {
    for (const stop of stops) await stop().catch(() => undefined);
    fs.rmSync(root, { recursive: true, force: true });
  }
});
