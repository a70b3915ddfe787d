/**
 * Mocha reporter: the spec reporter's output, plus the suite's totals appended to
 * $LLAMA_CHAT_TEST_RESULTS/totals.jsonl so `npm test` can print one closing line for every stage.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as Mocha from 'mocha';

class CountingReporter extends Mocha.reporters.Spec {
  constructor(runner: Mocha.Runner, options?: Mocha.MochaOptions) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const dir = process.env.LLAMA_CHAT_TEST_RESULTS;
      if (!dir) return;
      const s = runner.stats ?? { passes: 0, failures: 0, pending: 0 };
      const suite = process.env.LLAMA_CHAT_SUITE ?? (process.argv.find((a) => a.includes('.mocharc')) ?? 'mocha');
      fs.mkdirSync(dir, { recursive: true });
      fs.appendFileSync(
        path.join(dir, 'totals.jsonl'),
        JSON.stringify({ suite: path.basename(suite), passed: s.passes, failed: s.failures, skipped: s.pending }) + '\n',
      );
    });
  }
}

export = CountingReporter;
