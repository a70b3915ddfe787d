/**
 * Runs the browser end-to-end scenarios (`out/test/e2e/*.e2e.js`) with mocha in this process: Chromium drives
 * code-server with the extension loaded. Builds nothing. Totals go to `totals.jsonl` as suite `e2e`; screenshots of
 * failed scenarios to `test-results/e2e/`. Exits non-zero on a failure, on no test, or on the hard timeout, and
 * always stops every process it started.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import Mocha from 'mocha';
import { closeWorkbenches, setupE2e, teardownE2e } from '../e2e/env';
import CountingReporter from '../support/reporter';
import { ensureCodeServer } from './codeServer';
import { repoRoot, runDir, runStamp } from './paths';
import { appendTotals, pruneRuns } from './runVscodeTests';

function findScenarios(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.e2e.js'))
    .sort()
    .map((f) => path.join(dir, f));
}

export async function runE2e(): Promise<number> {
  const root = repoRoot();
  const started = Date.now();
  const progress = (line: string): void => console.log(`[e2e ${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`);
  const files = findScenarios(path.join(root, 'out', 'test', 'e2e'));
  if (files.length === 0) throw new Error('no scenarios under out/test/e2e (run `npm run compile:tests` first)');
  const artifacts = path.join(process.env.LLAMA_CHAT_TEST_RESULTS ?? path.join(root, 'test-results'), 'e2e');
  fs.mkdirSync(artifacts, { recursive: true });
  await ensureCodeServer({ onProgress: progress });
  pruneRuns('e2e');
  await setupE2e(runDir('e2e', runStamp()), artifacts, progress);
  try {
    process.env.LLAMA_CHAT_SUITE = 'e2e';
    const mocha = new Mocha({
      ui: 'bdd',
      // The shared reporter: spec output plus the totals line for `npm test`'s summary.
      reporter: CountingReporter,
      timeout: Number(process.env.LLAMA_CHAT_E2E_TEST_TIMEOUT_MS ?? 90_000),
      grep: process.env.LLAMA_CHAT_GREP || undefined,
      rootHooks: {
        async afterEach(this: Mocha.Context): Promise<void> {
          const test = this.currentTest;
          await closeWorkbenches(test?.state === 'failed' ? test.fullTitle() : undefined);
        },
      },
    });
    for (const file of files) mocha.addFile(file);
    progress(`running ${files.length} scenario file(s)`);
    const { failures, passes } = await new Promise<{ failures: number; passes: number }>((resolve) => {
      const runner = mocha.run((f) => resolve({ failures: f, passes: runner.stats?.passes ?? 0 }));
    });
    if (passes === 0 && failures === 0) {
      console.error('e2e: no scenario ran');
      return 1;
    }
    return failures === 0 ? 0 : 1;
  } finally {
    await teardownE2e();
    progress('stopped everything');
  }
}

if (require.main === module) {
  // 13 scenarios take about 5 min on 2 quiet cores; the limit leaves room for a loaded machine.
  const hardTimeoutMs = Number(process.env.LLAMA_CHAT_E2E_TIMEOUT_MS ?? 900_000);
  const timer = setTimeout(() => {
    console.error(`e2e: hard timeout after ${hardTimeoutMs} ms`);
    appendTotals('e2e', { passed: 0, failed: 1, skipped: 0 });
    void teardownE2e().finally(() => process.exit(1));
  }, hardTimeoutMs);
  runE2e().then(
    (code) => {
      clearTimeout(timer);
      process.exit(code);
    },
    async (err: unknown) => {
      clearTimeout(timer);
      console.error(err);
      // The run died before mocha reported: count it as a failure so the summary cannot read it as green.
      appendTotals('e2e', { passed: 0, failed: 1, skipped: 0 });
      await teardownE2e();
      process.exit(1);
    },
  );
}
