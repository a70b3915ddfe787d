/**
 * The extension-tests entry point of the VS Code chat API stage (test/harness/runLmTests.ts): runs
 * `suite/**\/*.test.js` with mocha inside a VS Code 1.104+ extension host, like test/integration/index.ts does for
 * the main stage. Totals go to `$LLAMA_CHAT_TEST_COUNTS_FILE`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as util from 'node:util';
import Mocha from 'mocha';
import { findTestFiles } from '../integration/index';
import type { SuiteCounts } from '../integration/index';

export function run(): Promise<void> {
  const marker = process.env.LLAMA_CHAT_MOCHA_MARKER;
  if (marker) {
    const base = Mocha.reporters.Base as unknown as { consoleLog: (...args: unknown[]) => void };
    base.consoleLog = (...args: unknown[]) => console.log(marker + util.format(...args));
  }
  const mocha = new Mocha({
    ui: 'bdd',
    reporter: 'spec',
    color: false,
    timeout: Number(process.env.LLAMA_CHAT_INTEGRATION_TIMEOUT_MS ?? 30_000),
    grep: process.env.LLAMA_CHAT_GREP || undefined,
  });
  const dir = path.join(__dirname, 'suite');
  const files = findTestFiles(dir);
  for (const file of files) mocha.addFile(file);
  return new Promise<void>((resolve, reject) => {
    if (files.length === 0) {
      reject(new Error(`no test files under ${dir}`));
      return;
    }
    const runner = mocha.run((failures) => {
      const stats = runner.stats;
      const counts: SuiteCounts = { passed: stats?.passes ?? 0, failed: stats?.failures ?? failures, skipped: stats?.pending ?? 0 };
      const file = process.env.LLAMA_CHAT_TEST_COUNTS_FILE;
      if (file) fs.writeFileSync(file, JSON.stringify(counts) + '\n');
      if (failures > 0) reject(new Error(`${failures} test(s) failed`));
      else if (counts.passed === 0) reject(new Error('no test ran'));
      else resolve();
    });
  });
}
