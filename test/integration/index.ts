/**
 * The extension-tests entry point (`extensionTestsPath`): runs `suite/**\/*.test.js` with mocha inside the
 * extension host. Same `run()` contract for code-server (test/harness/runVscodeTests.ts) and @vscode/test-electron
 * (test/integration/runElectron.ts). Totals go to `$LLAMA_CHAT_TEST_COUNTS_FILE` when set, for the runner.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import Mocha from 'mocha';

export interface SuiteCounts {
  passed: number;
  failed: number;
  skipped: number;
}

/** Every `*.test.js` below `dir`, sorted so the order is the same on every machine. */
export function findTestFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const found: string[] = [];
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTestFiles(full));
    else if (entry.isFile() && entry.name.endsWith('.test.js')) found.push(full);
  }
  return found.sort();
}

/**
 * code-server forwards the whole window's log (workbench noise included) to the runner; a marker on mocha's own
 * lines lets the runner print the test report and file the rest.
 */
function markReporterOutput(marker: string): void {
  const base = Mocha.reporters.Base as unknown as { consoleLog: (...args: unknown[]) => void };
  base.consoleLog = (...args: unknown[]) => console.log(marker + util.format(...args));
}

/**
 * Runs every `*.test.js` below `dir` with mocha in this extension host and writes the totals. Used by this stage
 * and by the VS Code chat API stage (test/integration-lm/index.ts).
 */
export function runSuite(dir: string, defaultTimeoutMs: number): Promise<void> {
  const marker = process.env.LLAMA_CHAT_MOCHA_MARKER;
  if (marker) markReporterOutput(marker);
  const mocha = new Mocha({
    ui: 'bdd',
    reporter: 'spec',
    color: false,
    timeout: Number(process.env.LLAMA_CHAT_INTEGRATION_TIMEOUT_MS ?? defaultTimeoutMs),
    // A single test's filter, e.g. LLAMA_CHAT_GREP="stale".
    grep: process.env.LLAMA_CHAT_GREP || undefined,
  });
  const files = findTestFiles(dir);
  for (const file of files) mocha.addFile(file);
  return new Promise<void>((resolve, reject) => {
    if (files.length === 0) {
      reject(new Error(`no test files under ${dir}`));
      return;
    }
    try {
      const runner = mocha.run((failures) => {
        const stats = runner.stats;
        const counts: SuiteCounts = {
          passed: stats?.passes ?? 0,
          failed: stats?.failures ?? failures,
          skipped: stats?.pending ?? 0,
        };
        const file = process.env.LLAMA_CHAT_TEST_COUNTS_FILE;
        if (file) fs.writeFileSync(file, JSON.stringify(counts) + '\n');
        if (failures > 0) reject(new Error(`${failures} test(s) failed`));
        else if (counts.passed === 0) reject(new Error('no test ran'));
        else resolve();
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

export function run(): Promise<void> {
  return runSuite(path.join(__dirname, 'suite'), 20_000);
}
