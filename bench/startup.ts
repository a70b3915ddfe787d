/**
 * Part 7: activation time of the production bundle with a fake `vscode` module (each sample a fresh Node process:
 * loading dist/extension.js + activate()), and the shipped sizes (minified, gzipped, .vsix).
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import Module from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { repoRoot } from '../test/harness/paths';
import { createFakeContext, createFakeVscode } from './lib/fakeVscode';
import { metric, runPart } from './lib/results';
import { median, round } from './lib/stats';

const SAMPLES = 9;

interface ChildResult {
  loadMs: number;
  activateMs: number;
}

interface ExtensionModule {
  activate(context: unknown): Promise<unknown>;
  deactivate(): Promise<void>;
}

/** Runs in the child: inject the fake module, then time require + activate. */
async function child(storageDir: string): Promise<void> {
  const fake = createFakeVscode({ 'llamaChat.serverUrl': 'http://127.0.0.1:9' });
  const loader = Module as unknown as { _resolveFilename(request: string, ...rest: unknown[]): string };
  const resolve = loader._resolveFilename.bind(Module);
  loader._resolveFilename = (request: string, ...rest: unknown[]) => (request === 'vscode' ? 'vscode' : resolve(request, ...rest));
  require.cache.vscode = { id: 'vscode', filename: 'vscode', loaded: true, exports: fake } as unknown as NodeJS.Module;

  const context = createFakeContext(repoRoot(), storageDir);
  const t0 = performance.now();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const ext = require(path.join(distDir(), 'extension.js')) as ExtensionModule;
  const t1 = performance.now();
  await ext.activate(context);
  const t2 = performance.now();
  await ext.deactivate();
  process.stdout.write(`${JSON.stringify({ loadMs: t1 - t0, activateMs: t2 - t1 } satisfies ChildResult)}\n`);
}

/** The build scripts/bench.sh copied aside right after `npm run package` (dist/ itself may be rebuilt meanwhile). */
function distDir(): string {
  const copy = path.join(repoRoot(), 'bench', '.tmp', 'dist');
  return fs.existsSync(path.join(copy, 'extension.js')) ? copy : path.join(repoRoot(), 'dist');
}

function gzipSize(file: string): number {
  return zlib.gzipSync(fs.readFileSync(file), { level: 9 }).length;
}

function parent(notes: string[]): ReturnType<typeof metric>[] {
  const dist = distDir();
  const extension = path.join(dist, 'extension.js');
  const webview = path.join(dist, 'webview.js');
  if (/sourceMappingURL/.test(fs.readFileSync(extension, 'utf8').slice(-300))) {
    notes.push(`Warning: ${extension} references a source map: a development build, not the production one.`);
  }
  const results: ChildResult[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    const storage = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-chat-bench-activate-'));
    try {
      const out = execFileSync(process.execPath, [__filename, '--child', storage], { encoding: 'utf8', timeout: 30_000 });
      results.push(JSON.parse(out.trim().split('\n').pop()!) as ChildResult);
    } finally {
      fs.rmSync(storage, { recursive: true, force: true });
    }
  }
  const load = median(results.map((r) => r.loadMs));
  const activate = median(results.map((r) => r.activateMs));
  const total = median(results.map((r) => r.loadMs + r.activateMs));
  notes.push(
    `Activation: ${SAMPLES} fresh Node ${process.version} processes, each loading the production dist/extension.js ` +
      `with a fake \`vscode\` module in the require cache (bench/lib/fakeVscode.ts) and awaiting activate() with an ` +
      `empty chat folder; medians. Load ${round(load)} ms + activate ${round(activate)} ms. The fake API costs ` +
      `next to nothing, so this is the extension's own code; VS Code's own activation overhead is not included.`,
  );
  const metrics = [
    metric('activation: load dist/extension.js + activate()', total, 'ms', { op: '<=', value: 20 }),
    metric('activation: module load only', load, 'ms'),
    metric('activation: activate() only', activate, 'ms'),
    metric('size: dist/extension.js (minified)', fs.statSync(extension).size / 1024, 'KiB'),
    metric('size: dist/extension.js (gzip -9)', gzipSize(extension) / 1024, 'KiB'),
    metric('size: dist/webview.js (minified)', fs.statSync(webview).size / 1024, 'KiB'),
    metric('size: dist/webview.js (gzip -9)', gzipSize(webview) / 1024, 'KiB', { op: '<=', value: 60 }),
  ];
  const css = fs.readdirSync(dist).filter((f) => f.endsWith('.css'));
  if (css.length) {
    const bytes = css.reduce((a, f) => a + gzipSize(path.join(dist, f)), 0);
    metrics.push(metric(`size: dist/*.css (gzip -9): ${css.join(', ')}`, bytes / 1024, 'KiB'));
  }
  const vsix = path.join(dist, 'llama-server-chat.vsix');
  if (fs.existsSync(vsix)) {
    metrics.push(metric('size: .vsix', fs.statSync(vsix).size / 1024, 'KiB'));
    const listing = execFileSync('unzip', ['-l', vsix], { encoding: 'utf8' });
    const files = listing.split('\n').filter((l) => /^\s*\d+\s+\S+\s+\S+\s+\S/.test(l)).length;
    notes.push(`The .vsix (\`npm run package\`) holds ${files} files.`);
  } else {
    notes.push('No dist/llama-server-chat.vsix: `npm run package` did not run or failed.');
  }
  return metrics;
}

if (process.argv[2] === '--child') {
  child(process.argv[3]).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  void runPart('startup', 'Start-up and size', (notes) => Promise.resolve(parent(notes)));
}
