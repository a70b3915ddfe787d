/**
 * The second extension-host stage: VS Code's own chat API (`vscode.lm`) against the real llama-server, in a VS Code
 * new enough to have the Language Model Chat Provider API (1.139, from code-server 4.139.1, run by Node 24; see
 * codeServerLm.ts). Runs `out/test/integration-lm/index.js` in the extension host with the extension loaded
 * unpackaged, opened by Chromium. Writes `{"suite":"vscode-lm",...}` to `$LLAMA_CHAT_TEST_RESULTS/totals.jsonl`.
 * Where that VS Code cannot be installed (not linux-x64) it prints why and records nothing; an install that fails
 * where it should work fails the stage.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBackends } from './backends';
import type { Backends } from './backends';
import { launchBrowser } from './browser';
import type { BrowserHandle } from './browser';
import { workbenchUrl } from './codeServer';
import { ensureLmCodeServer, lmUnsupportedReason, LM_CODE_SERVER_VERSION } from './codeServerLm';
import type { LmServerHandle } from './codeServerLm';
import { startLmServer } from './codeServerLm';
import { startLlamaServer } from './llamaServer';
import type { LlamaServerHandle } from './llamaServer';
import { repoRoot, runDir, runStamp } from './paths';
import { ensureReasoningModel } from './reasoningModel';
import { DEFAULT_TINY_RECIPE, ensureTinyModel } from './tinyModel';
import { MOCHA_MARKER, appendTotals, makeWorkspace, mochaLogSink, pruneRuns, runTestsInWorkbench } from './runVscodeTests';
import type { ExtensionHostRunResult } from './runVscodeTests';

const SUITE = 'vscode-lm';

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

export async function runLmTests(): Promise<ExtensionHostRunResult & { skipped?: string }> {
  const started = Date.now();
  const elapsed = (): string => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const progress = (line: string): void => console.log(`[vscode-lm ${elapsed()}] ${line}`);
  const unsupported = lmUnsupportedReason();
  if (unsupported) {
    progress(`SKIPPED: VS Code's chat API stage needs code-server ${LM_CODE_SERVER_VERSION} with Node 24: ${unsupported}`);
    return { exitCode: 0, counts: undefined, skipped: unsupported };
  }
  const root = repoRoot();
  const testsIndex = path.join(root, 'out', 'test', 'integration-lm', 'index.js');
  for (const required of [path.join(root, 'dist', 'extension.js'), testsIndex]) {
    if (!fs.existsSync(required)) throw new Error(`${required} is missing: run \`npm run build && npm run compile:tests\` first`);
  }
  const timeoutMs = Number(process.env.LLAMA_CHAT_VSCODE_TIMEOUT_MS ?? 180_000);
  pruneRuns('vscode-lm');
  const run = runDir('vscode-lm', runStamp());
  const countsFile = path.join(run, 'counts.json');

  const install = await ensureLmCodeServer({ onProgress: progress });
  let backends: Backends | undefined;
  let router: LlamaServerHandle | undefined;
  let tools: LlamaServerHandle | undefined;
  let server: LmServerHandle | undefined;
  let browser: BrowserHandle | undefined;
  let counts: Counts | undefined;
  let exitCode = 1;
  try {
    // --metrics: the cancellation test reads how many tokens the server generated.
    backends = await startBackends({ onProgress: progress, parallel: 2, extraArgs: ['--metrics'] });
    progress(`llama-server ${backends.server.url}, fault proxy ${backends.proxy.url} (control ${backends.control.url})`);
    // A second server in router mode: two tiny models of different n_ctx, loaded on demand.
    const modelsDir = path.join(run, 'models');
    fs.mkdirSync(modelsDir, { recursive: true });
    fs.symlinkSync(await ensureTinyModel({ recipe: DEFAULT_TINY_RECIPE }), path.join(modelsDir, 'tiny-2k.gguf'));
    fs.symlinkSync(await ensureTinyModel({ recipe: { ...DEFAULT_TINY_RECIPE, nCtx: 4096 } }), path.join(modelsDir, 'tiny-4k.gguf'));
    router = await startLlamaServer({ modelsDir, onProgress: progress });
    progress(`router-mode llama-server ${router.url}`);
    // A third server whose chat template supports tool calls (the tiny Qwen3-template model).
    tools = await startLlamaServer({ model: await ensureReasoningModel({ onProgress: progress }), alias: 'tiny-tools', parallel: 1, onProgress: progress });
    progress(`tool-calling llama-server ${tools.url}`);
    const workspace = makeWorkspace(path.join(run, 'workspace'));
    server = await startLmServer(install, {
      runDir: path.join(run, 'vscode'),
      env: { ...backends.env, LLAMA_CHAT_TEST_ROUTER_URL: router.url, LLAMA_CHAT_TEST_TOOLS_URL: tools.url, LLAMA_CHAT_TEST_COUNTS_FILE: countsFile, LLAMA_CHAT_MOCHA_MARKER: MOCHA_MARKER, LLAMA_CHAT_TEST_RUN_DIR: run },
      settings: { 'llamaChat.serverUrl': backends.proxy.url, 'llamaChat.staleSeconds': 3 },
      onProgress: progress,
    });
    browser = await launchBrowser({ profileDir: path.join(run, 'chromium') });
    const page = await browser.context.newPage();
    const url = workbenchUrl(server.url, { folder: workspace, extensionDevelopmentPath: root, extensionTestsPath: testsIndex });
    const workbenchLog = path.join(run, 'workbench.log');
    progress(`opening the workbench; mocha output follows (window log: ${workbenchLog})`);
    exitCode = await runTestsInWorkbench({ page, url, timeoutMs, onLog: mochaLogSink(workbenchLog) });
    if (fs.existsSync(countsFile)) counts = JSON.parse(fs.readFileSync(countsFile, 'utf8')) as Counts;
    if (!counts || (counts.passed === 0 && counts.failed === 0)) exitCode ||= 1;
    progress(`extension host exited with ${exitCode}`);
  } catch (err) {
    console.error(`[vscode-lm ${elapsed()}] ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    exitCode = exitCode || 1;
    if (fs.existsSync(countsFile)) counts = JSON.parse(fs.readFileSync(countsFile, 'utf8')) as Counts;
  } finally {
    const stops = [browser?.close(), server?.stop(), backends?.stop(), router?.stop(), tools?.stop()].filter((p): p is Promise<void> => p !== undefined);
    await Promise.all(stops.map((p) => p.catch(() => undefined)));
  }
  appendTotals(SUITE, counts ?? { passed: 0, failed: 1, skipped: 0 });
  progress(`done: ${counts ? `${counts.passed} passing, ${counts.failed} failing, ${counts.skipped} pending` : 'no counts reported'}`);
  return { exitCode, counts };
}

if (require.main === module) {
  runLmTests().then(
    (r) => process.exit(r.exitCode === 0 ? 0 : 1),
    (err: unknown) => {
      console.error(err);
      appendTotals(SUITE, { passed: 0, failed: 1, skipped: 0 });
      process.exit(1);
    },
  );
}
