/**
 * Runs the extension-host suite (`out/test/integration/index.js`) inside a real VS Code: code-server, opened by
 * Chromium, with the extension loaded unpackaged. Builds nothing (npm test builds first). Starts llama-server, the
 * fault proxy and its control port; the extension host inherits their URLs from code-server's environment.
 * Writes `{"suite":"vscode-integration",...}` to `$LLAMA_CHAT_TEST_RESULTS/totals.jsonl`; exits non-zero on a
 * failure, on no test, or on the hard timeout; always stops every process it started.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import type { Page } from 'playwright-core';
import { startBackends } from './backends';
import type { Backends } from './backends';
import { launchBrowser } from './browser';
import type { BrowserHandle } from './browser';
import { ensureCodeServer, startCodeServer, workbenchUrl } from './codeServer';
import { ensureLlamaServer } from './llamaBuild';
import type { CodeServerHandle } from './codeServer';
import { repoRoot, runDir, runStamp } from './paths';
import { ensureTinyModel } from './tinyModel';

const SUITE = 'vscode-integration';
/** test/integration/index.ts prefixes mocha's report with this; everything else goes to the workbench log. */
export const MOCHA_MARKER = '\u2063[mocha]\u2063';

/** Prints mocha's lines; files the window's other log lines (all of them with LLAMA_CHAT_VERBOSE=1). */
export function mochaLogSink(logFile: string): (message: string) => void {
  const verbose = process.env.LLAMA_CHAT_VERBOSE === '1';
  return (message) => {
    if (message.startsWith(MOCHA_MARKER)) {
      console.log(message.slice(MOCHA_MARKER.length));
      return;
    }
    fs.appendFileSync(logFile, message + '\n');
    if (verbose) console.log(`  | ${message.replace(/\n/g, '\n  | ')}`);
  };
}

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

export interface ExtensionHostRunResult {
  exitCode: number;
  counts: Counts | undefined;
}

export interface WorkbenchTestsOptions {
  page: Page;
  url: string;
  timeoutMs: number;
  /** Each message the window logs (the extension host's console among them), formatted like console.log. */
  onLog: (message: string) => void;
}

/** Exposes the automation hooks, opens the workbench and resolves with the tests' exit code (or rejects on timeout). */
export async function runTestsInWorkbench(options: WorkbenchTestsOptions): Promise<number> {
  const { page } = options;
  let settle: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (settle = resolve));
  await page.exposeFunction('codeAutomationLog', (_type: string, args: unknown) => {
    options.onLog(Array.isArray(args) ? util.format(...(args as unknown[])) : String(args));
  });
  await page.exposeFunction('codeAutomationExit', (code: number) => settle(code));
  page.on('crash', () => settle(97));
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<number>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`extension-host tests did not finish within ${options.timeoutMs} ms`)), options.timeoutMs);
  });
  try {
    await page.goto(options.url, { waitUntil: 'domcontentloaded', timeout: options.timeoutMs });
    return await Promise.race([exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export function appendTotals(suite: string, counts: Counts): void {
  const dir = process.env.LLAMA_CHAT_TEST_RESULTS;
  if (!dir) return;
  fs.mkdirSync(dir, { recursive: true });
  fs.appendFileSync(path.join(dir, 'totals.jsonl'), JSON.stringify({ suite, ...counts }) + '\n');
}

/** Keeps the newest `keep` run folders under `.run/<kind>/` (logs of recent runs), removes older ones. */
export function pruneRuns(kind: string, keep = 5): void {
  const dir = runDir(kind);
  const runs = fs.readdirSync(dir).filter((n) => /^\d{4}-/.test(n)).sort();
  for (const old of runs.slice(0, Math.max(0, runs.length - keep))) fs.rmSync(path.join(dir, old), { recursive: true, force: true });
}

/** A small workspace folder with a file to ask about. */
export function makeWorkspace(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'README.md'), '# Demo workspace\n\nA folder opened by the tests.\n');
  fs.writeFileSync(path.join(dir, 'hello.ts'), 'export function hello(name: string): string {\n  return `Hello, ${name}!`;\n}\n');
  return dir;
}

export async function runExtensionHostTests(): Promise<ExtensionHostRunResult> {
  const root = repoRoot();
  const testsIndex = path.join(root, 'out', 'test', 'integration', 'index.js');
  for (const required of [path.join(root, 'dist', 'extension.js'), testsIndex]) {
    if (!fs.existsSync(required)) throw new Error(`${required} is missing: run \`npm run build && npm run compile:tests\` first`);
  }
  const timeoutMs = Number(process.env.LLAMA_CHAT_VSCODE_TIMEOUT_MS ?? 180_000);
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const progress = (line: string): void => console.log(`[vscode-tests ${elapsed()}] ${line}`);
  pruneRuns('vscode-tests');
  const run = runDir('vscode-tests', runStamp());
  const countsFile = path.join(run, 'counts.json');

  await ensureCodeServer({ onProgress: progress });
  let backends: Backends | undefined;
  let codeServer: CodeServerHandle | undefined;
  let browser: BrowserHandle | undefined;
  let counts: Counts | undefined;
  let exitCode = 1;
  try {
    backends = await startBackends({ onProgress: progress });
    progress(`llama-server ${backends.server.url}, fault proxy ${backends.proxy.url} (control ${backends.control.url})`);
    const workspace = makeWorkspace(path.join(run, 'workspace'));
    // For the local-server suite: the binary and model the extension starts itself (both cached by startBackends).
    const serverBin = await ensureLlamaServer({ onProgress: progress });
    const tinyModel = await ensureTinyModel({ onProgress: progress });
    codeServer = await startCodeServer({
      workspace,
      extensionPath: root,
      runDir: path.join(run, 'code-server'),
      env: {
        ...backends.env,
        LLAMA_CHAT_TEST_COUNTS_FILE: countsFile,
        LLAMA_CHAT_MOCHA_MARKER: MOCHA_MARKER,
        // The run's scratch folder, e.g. for export files the tests write.
        LLAMA_CHAT_TEST_RUN_DIR: run,
        LLAMA_CHAT_TEST_SERVER_BIN: serverBin,
        LLAMA_CHAT_TEST_MODEL: tinyModel,
      },
      settings: {
        'llamaChat.serverUrl': backends.proxy.url,
        'llamaChat.staleSeconds': 3,
      },
      onProgress: progress,
    });
    progress(`code-server ${codeServer.url} (pid ${codeServer.pid}, log ${codeServer.logFile})`);
    browser = await launchBrowser({ profileDir: path.join(run, 'chromium') });
    const page = await browser.context.newPage();
    const url = workbenchUrl(codeServer.url, { folder: workspace, extensionDevelopmentPath: root, extensionTestsPath: testsIndex });
    const workbenchLog = path.join(run, 'workbench.log');
    progress(`opening the workbench; mocha output follows (window log: ${workbenchLog})`);
    exitCode = await runTestsInWorkbench({ page, url, timeoutMs, onLog: mochaLogSink(workbenchLog) });
    if (fs.existsSync(countsFile)) counts = JSON.parse(fs.readFileSync(countsFile, 'utf8')) as Counts;
    if (!counts) exitCode ||= 1;
    else if (counts.passed === 0 && counts.failed === 0) exitCode ||= 1;
    progress(`extension host exited with ${exitCode}`);
  } catch (err) {
    console.error(`[vscode-tests ${elapsed()}] ${err instanceof Error ? err.stack ?? err.message : String(err)}`);
    exitCode = exitCode || 1;
    if (fs.existsSync(countsFile)) counts = JSON.parse(fs.readFileSync(countsFile, 'utf8')) as Counts;
  } finally {
    const stops = [browser?.close(), codeServer?.stop(), backends?.stop()].filter((p): p is Promise<void> => p !== undefined);
    await Promise.all(stops.map((p) => p.catch(() => undefined)));
  }
  // A run that died before mocha reported counts as one failure, so the summary cannot read it as green.
  appendTotals(SUITE, counts ?? { passed: 0, failed: 1, skipped: 0 });
  progress(`done: ${counts ? `${counts.passed} passing, ${counts.failed} failing, ${counts.skipped} pending` : 'no counts reported'}`);
  return { exitCode, counts };
}

if (require.main === module) {
  runExtensionHostTests().then(
    (r) => process.exit(r.exitCode === 0 ? 0 : 1),
    (err: unknown) => {
      console.error(err);
      appendTotals(SUITE, { passed: 0, failed: 1, skipped: 0 });
      process.exit(1);
    },
  );
}
