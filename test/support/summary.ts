/** Prints every stage's totals and the closing line `N passed, N failed` that CI reads. */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface Totals {
  suite: string;
  passed: number;
  failed: number;
  skipped: number;
}

const dir = process.env.LLAMA_CHAT_TEST_RESULTS ?? path.resolve('test-results');
const file = path.join(dir, 'totals.jsonl');
const rows: Totals[] = fs.existsSync(file)
  ? fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Totals)
  : [];
let passed = 0;
let failed = 0;
let skipped = 0;
for (const r of rows) {
  console.log(`  ${r.suite}: ${r.passed} passed, ${r.failed} failed, ${r.skipped} skipped`);
  passed += r.passed;
  failed += r.failed;
  skipped += r.skipped;
}
console.log(`tests: ${passed} passed, ${failed} failed, ${skipped} skipped`);
if (failed > 0 || passed === 0) process.exitCode = 1;
