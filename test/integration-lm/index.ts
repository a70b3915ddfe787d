/**
 * The extension-tests entry point of the VS Code chat API stage (test/harness/runLmTests.ts): runs
 * `suite/**\/*.test.js` with mocha inside a VS Code 1.104+ extension host, like test/integration/index.ts does for
 * the main stage. Totals go to `$LLAMA_CHAT_TEST_COUNTS_FILE`.
 */
import * as path from 'node:path';
import { runSuite } from '../integration/index';

export function run(): Promise<void> {
  return runSuite(path.join(__dirname, 'suite'), 30_000);
}
