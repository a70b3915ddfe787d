/**
 * The e2e world, shared by every scenario of one run: llama-server behind the fault proxy (slow by default, so
 * streaming is observable), one code-server with the extension loaded unpackaged, one Chromium. Each scenario opens
 * its own workspace folder (its own chat store on disk and its own settings) in a fresh browser context (its own
 * IndexedDB, so no workspaceState leaks between scenarios).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBackends } from '../harness/backends';
import type { Backends } from '../harness/backends';
import { launchBrowser } from '../harness/browser';
import type { BrowserHandle } from '../harness/browser';
import { startCodeServer, workbenchUrl } from '../harness/codeServer';
import type { CodeServerHandle, UserSettings } from '../harness/codeServer';
import type { FaultMode } from '../harness/faultProxy';
import { repoRoot } from '../harness/paths';
import { ensureReasoningModel, reasoningGrammar } from '../harness/reasoningModel';
import { DEFAULT_TINY_RECIPE, ensureTinyModel } from '../harness/tinyModel';
import { Workbench } from './workbench';

/** 20 SSE events per second: a 60-token answer streams for ~3 s. */
export const SLOW_MODE: FaultMode = { kind: 'slow', eventsPerSecond: 20 };
export const STALE_SECONDS = 2;

export interface E2eEnv {
  root: string;
  /** Screenshots and other artifacts (`test-results/e2e`). */
  artifacts: string;
  backends: Backends;
  codeServer: CodeServerHandle;
  browser: BrowserHandle;
  /** The workbenches opened by the scenario that runs now (screenshotted when it fails). */
  open: Workbench[];
}

let current: E2eEnv | undefined;

/**
 * The reasoning backend's grammar (`--grammar`: the default of every request, since the extension sends none):
 * the tiny model thinks up to this many characters (greedy, it writes them all: several seconds), then answers
 * REASONING_ANSWER.
 */
export const REASONING_MAX_CHARS = 10_000;
export const REASONING_ANSWER = 'The answer is **42**.';

/** Started by the first scenario that asks for it (reasoningBackends), stopped by teardownE2e. */
let reasoning: { promise: Promise<Backends>; stop: () => Promise<void> } | undefined;

/**
 * An optional second backend: llama-server on the tiny reasoning model (Qwen3 template, `reasoning_content`,
 * enable_thinking, reasoning_control) behind its own fault proxy, started lazily and once per run. Its proxy
 * passes events as they come (the server generates at its own pace, and a slow proxy would hold back a backlog
 * the server had long written: Skip thinking ends the thinking on the server, not in the proxy).
 */
export function reasoningBackends(progress: (line: string) => void = () => undefined): Promise<Backends> {
  if (!reasoning) {
    const promise = (async () => {
      const model = await ensureReasoningModel({ onProgress: progress });
      const backends = await startBackends({
        model,
        alias: 'tiny-reasoning',
        ctx: 8192,
        parallel: 2,
        extraArgs: ['--grammar', reasoningGrammar({ maxChars: REASONING_MAX_CHARS, answer: REASONING_ANSWER })],
        onProgress: progress,
      });
      progress(`reasoning llama-server ${backends.server.url} (pid ${backends.server.pid}), fault proxy ${backends.proxy.url}`);
      return backends;
    })();
    reasoning = { promise, stop: () => promise.then((b) => b.stop(), () => undefined) };
  }
  return reasoning.promise;
}

export function e2e(): E2eEnv {
  if (!current) throw new Error('the e2e environment is not set up (run through out/test/harness/runE2e.js)');
  return current;
}

/** Settings every scenario starts from; a scenario overrides them in its workspace's `.vscode/settings.json`. */
export function baseSettings(backends: Backends): UserSettings {
  return {
    'llamaChat.serverUrl': backends.proxy.url,
    'llamaChat.staleSeconds': STALE_SECONDS,
    'llamaChat.maxTokens': 60,
  };
}

export async function setupE2e(root: string, artifacts: string, progress: (line: string) => void): Promise<E2eEnv> {
  const ext = repoRoot();
  if (!fs.existsSync(path.join(ext, 'dist', 'extension.js'))) throw new Error('dist/extension.js is missing: run `npm run build` first');
  // A large context keeps a slot busy for seconds on an unlimited answer (the tiny model makes ~1,000 tok/s), so a
  // stop can be seen freeing it; 2 slots of 16,384 tokens cost ~16 MB of KV cache.
  // Its training context must allow that too, else llama-server caps each slot at it: a tiny model built for 32k.
  const model = await ensureTinyModel({ recipe: { ...DEFAULT_TINY_RECIPE, nCtx: 32_768 }, onProgress: progress });
  const backends = await startBackends({ mode: SLOW_MODE, model, ctx: 32_768, parallel: 2, onProgress: progress });
  let codeServer: CodeServerHandle | undefined;
  try {
    progress(`llama-server ${backends.server.url}, fault proxy ${backends.proxy.url}`);
    const home = path.join(root, 'ws-home');
    fs.mkdirSync(home, { recursive: true });
    codeServer = await startCodeServer({
      workspace: home,
      extensionPath: ext,
      runDir: path.join(root, 'code-server'),
      env: backends.env,
      settings: baseSettings(backends),
      onProgress: progress,
    });
    progress(`code-server ${codeServer.url} (log ${codeServer.logFile})`);
    const browser = await launchBrowser({ profileDir: path.join(root, 'chromium') });
    current = { root, artifacts, backends, codeServer, browser, open: [] };
    return current;
  } catch (err) {
    await codeServer?.stop().catch(() => undefined);
    await backends.stop();
    throw err;
  }
}

export async function teardownE2e(): Promise<void> {
  const env = current;
  current = undefined;
  const extra = reasoning;
  reasoning = undefined;
  if (!env) {
    await extra?.stop();
    return;
  }
  const stops: Promise<void>[] = [env.browser.close(), env.codeServer.stop(), env.backends.stop()];
  if (extra) stops.push(extra.stop());
  await Promise.all(stops.map((p) => p.catch(() => undefined)));
}

export interface OpenWorkbenchOptions {
  /** Workspace settings over the base ones. */
  settings?: UserSettings;
  /** Reuse a folder (e.g. to reopen a workspace); default: a new folder named after the scenario. */
  folder?: string;
}

let workspaceCount = 0;

/** A new workspace folder opened in a fresh browser context, with the extension loaded; waits for the workbench. */
export async function openWorkbench(name: string, options: OpenWorkbenchOptions = {}): Promise<Workbench> {
  const env = e2e();
  const folder = options.folder ?? path.join(env.root, `ws-${++workspaceCount}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`);
  fs.mkdirSync(path.join(folder, '.vscode'), { recursive: true });
  fs.writeFileSync(path.join(folder, '.vscode', 'settings.json'), JSON.stringify(options.settings ?? {}, null, 2) + '\n');
  if (!fs.existsSync(path.join(folder, 'README.md'))) fs.writeFileSync(path.join(folder, 'README.md'), `# ${name}\n`);
  const context = await env.browser.browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const wb = new Workbench(page, context, folder);
  env.open.push(wb);
  await page.goto(workbenchUrl(env.codeServer.url, { folder, extensionDevelopmentPath: repoRoot() }), { waitUntil: 'domcontentloaded' });
  await wb.waitForWorkbench();
  return wb;
}

/** Closes the scenario's browser contexts; screenshots each first when the scenario failed. */
export async function closeWorkbenches(failedTitle: string | undefined): Promise<void> {
  const env = e2e();
  const open = env.open.splice(0);
  for (const [i, wb] of open.entries()) {
    if (failedTitle) {
      fs.mkdirSync(env.artifacts, { recursive: true });
      const file = path.join(env.artifacts, `${failedTitle.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}${i ? `-${i}` : ''}.png`);
      await wb.screenshot(file);
      console.log(`    screenshot: ${file}`);
    }
    await wb.context.close().catch(() => undefined);
  }
  env.backends.proxy.setMode(SLOW_MODE);
}

/**
 * Runs `fn` with user settings patched (for settings a workspace may not set, like the machine-scoped serverUrl),
 * then restores them. The server watches the file, so open windows see both changes.
 */
export async function withUserSettings<T>(patch: UserSettings, fn: () => Promise<T>): Promise<T> {
  const file = e2e().codeServer.settingsFile;
  const original = fs.readFileSync(file, 'utf8');
  fs.writeFileSync(file, JSON.stringify({ ...(JSON.parse(original) as UserSettings), ...patch }, null, 2) + '\n');
  try {
    return await fn();
  } finally {
    fs.writeFileSync(file, original);
  }
}

export function setProxyMode(mode: FaultMode): void {
  e2e().backends.proxy.setMode(mode);
}
