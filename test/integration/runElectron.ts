/**
 * The same extension-host suite under @vscode/test-electron (desktop VS Code), for machines that can download VS
 * Code; `npm run test:electron`. Offline (as in CI here) the download fails and this exits non-zero with that
 * message: `npm test` runs the suite in code-server instead (test/harness/runVscodeTests.ts).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { runTests } from '@vscode/test-electron';
import { startBackends } from '../harness/backends';
import type { Backends } from '../harness/backends';
import { repoRoot, runDir, runStamp } from '../harness/paths';
import { appendTotals, makeWorkspace } from '../harness/runVscodeTests';

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

async function main(): Promise<number> {
  const root = repoRoot();
  const run = runDir('vscode-electron', runStamp());
  const countsFile = path.join(run, 'counts.json');
  const workspace = makeWorkspace(path.join(run, 'workspace'));
  const userData = path.join(run, 'ud');
  fs.mkdirSync(path.join(userData, 'User'), { recursive: true });
  let backends: Backends | undefined;
  try {
    backends = await startBackends({ onProgress: (l) => console.log(l) });
    fs.writeFileSync(
      path.join(userData, 'User', 'settings.json'),
      JSON.stringify({ 'llamaChat.serverUrl': backends.proxy.url, 'llamaChat.staleSeconds': 3, 'workbench.startupEditor': 'none' }, null, 2),
    );
    const code = await runTests({
      version: process.env.LLAMA_CHAT_VSCODE_VERSION ?? '1.100.3',
      extensionDevelopmentPath: root,
      extensionTestsPath: path.join(root, 'out', 'test', 'integration', 'index.js'),
      extensionTestsEnv: { ...backends.env, LLAMA_CHAT_TEST_COUNTS_FILE: countsFile, LLAMA_CHAT_TEST_RUN_DIR: run },
      launchArgs: [workspace, '--disable-extensions', '--disable-workspace-trust', '--user-data-dir', userData, '--extensions-dir', path.join(run, 'ext')],
    });
    return code;
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    return 1;
  } finally {
    await backends?.stop();
    const counts = fs.existsSync(countsFile) ? (JSON.parse(fs.readFileSync(countsFile, 'utf8')) as Counts) : undefined;
    appendTotals('vscode-electron', counts ?? { passed: 0, failed: 1, skipped: 0 });
  }
}

void main().then((code) => process.exit(code === 0 ? 0 : 1));
