/**
 * `npm start`: the extension in a real VS Code (code-server) with a llama-server, for trying it in a browser.
 *   LLAMA_SERVER_URL=http://host:port  use that server (nothing started)
 *   LLAMA_MODEL=/path/model.gguf       start llama-server with this model (default: the tiny demo model)
 *   PORT=8090                          code-server's port (default: a free one)
 *   LLAMA_CHAT_VSIX=path.vsix          install this package instead of loading the built folder
 * Ctrl+C stops everything it started. Expects `npm run build` to have run (scripts/start.sh does it).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureCodeServer, startCodeServer, workbenchUrl } from './codeServer';
import type { CodeServerHandle } from './codeServer';
import { startLlamaServer } from './llamaServer';
import type { LlamaServerHandle } from './llamaServer';
import { repoRoot, runDir } from './paths';

const log = (line: string): void => console.log(`[start] ${line}`);

function demoWorkspace(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const readme = path.join(dir, 'README.md');
  if (!fs.existsSync(readme)) {
    fs.writeFileSync(
      readme,
      '# Llama Server Chat demo\n\nOpen the Llama Chat view in the activity bar and ask something.\n' +
        'Select code in `fib.ts` and run **Llama Chat: Ask About Selection**.\n',
    );
    fs.writeFileSync(
      path.join(dir, 'fib.ts'),
      'export function fib(n: number): number {\n  return n < 2 ? n : fib(n - 1) + fib(n - 2);\n}\n',
    );
  }
  return dir;
}

async function main(): Promise<void> {
  const root = repoRoot();
  if (!fs.existsSync(path.join(root, 'dist', 'extension.js'))) throw new Error('dist/extension.js is missing: run `npm run build`');
  const port = process.env.PORT ? Number(process.env.PORT) : undefined;
  if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) throw new Error(`PORT=${process.env.PORT} is not a port`);
  const vsix = process.env.LLAMA_CHAT_VSIX;

  let server: LlamaServerHandle | undefined;
  let codeServer: CodeServerHandle | undefined;
  let stopping = false;
  const stopAll = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log('stopping…');
    await codeServer?.stop().catch(() => undefined);
    await server?.stop().catch(() => undefined);
    process.exit(code);
  };
  process.on('SIGINT', () => void stopAll(0));
  process.on('SIGTERM', () => void stopAll(0));

  try {
    await ensureCodeServer({ onProgress: log });
    const model = process.env.LLAMA_MODEL;
    if (model && !fs.existsSync(model)) throw new Error(`LLAMA_MODEL=${model} does not exist`);
    server = await startLlamaServer({
      model: model ? path.resolve(model) : undefined,
      alias: model ? undefined : 'tiny-demo',
      onProgress: log,
    });
    log(server.external ? `using llama-server at ${server.url}` : `llama-server ${server.url} (pid ${server.pid}, log ${server.logFile})`);
    if (!model && !server.external) log('the tiny demo model has random weights: its answers are gibberish, but every byte of the protocol is real');

    const workspace = demoWorkspace(path.join(runDir('start'), 'workspace'));
    codeServer = await startCodeServer({
      workspace,
      extensionPath: vsix ?? root,
      runDir: runDir('start', 'code-server'),
      port,
      settings: { 'llamaChat.serverUrl': server.url },
      onProgress: log,
    });
    const url = codeServer.extensionDevelopmentPath
      ? workbenchUrl(codeServer.url, { folder: workspace, extensionDevelopmentPath: codeServer.extensionDevelopmentPath })
      : workbenchUrl(codeServer.url, { folder: workspace });
    log(`code-server log: ${codeServer.logFile}`);
    console.log(`\n  Open in a browser:  ${url}\n\n  Ctrl+C stops code-server${server.external ? '' : ' and llama-server'}.\n`);
    const exit = await codeServer.process.exit;
    if (!stopping) {
      log(`code-server exited (${JSON.stringify(exit)})`);
      await stopAll(1);
    }
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    await stopAll(1);
  }
}

void main();
