/**
 * A real VS Code for tests and `npm start`: code-server from npm (VS Code 1.100.3, Node 20 extension host),
 * installed once per machine into the shared cache and started sandboxed (its own HOME, TMPDIR, XDG_* dirs).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheRoot, runDir, runStamp } from './paths';
import { findFreePort, killGroup, readTail, runCommand, spawnProcess, waitForHttp } from './process';
import type { SpawnedProcess } from './process';

/** The newest code-server whose `engines` allow Node 20 (see README: "A real VS Code for tests"). */

/** The environment of a quiet, non-interactive `npm install` into a staging folder (its own TMPDIR). */
export function npmInstallEnv(tmp: string): NodeJS.ProcessEnv {
  return {
    ...process.env,
    TMPDIR: tmp,
    // As root a postinstall refuses to run without unsafe-perm; node-pty's postinstall runs `npx node-gyp`.
    npm_config_unsafe_perm: 'true',
    npm_config_yes: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
}

export const CODE_SERVER_VERSION = '4.100.3';
/** What `@vscode/ripgrep` (a code-server dependency) would download; we pack Debian's `rg` under this name. */
const RIPGREP_PACKAGE_VERSION = '1.15.11';
const RIPGREP_RELEASE = 'v13.0.0-10';

export interface CodeServerInstall {
  /** The install folder (`node_modules/code-server` inside it). */
  dir: string;
  /** `out/node/entry.js`, run with this Node. */
  entry: string;
}

export function codeServerDir(version: string = CODE_SERVER_VERSION): string {
  return path.join(cacheRoot(), `code-server-${version}`);
}

function installPaths(dir: string): CodeServerInstall & { marker: string } {
  return {
    dir,
    entry: path.join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js'),
    marker: path.join(dir, 'ready.json'),
  };
}

export interface EnsureCodeServerOptions {
  onProgress?: (line: string) => void;
}

/**
 * Installs code-server once (≈1 min, ≈300 MB) and returns where it is. Nothing is downloaded but npm packages:
 * ripgrep's binary comes from Debian's `rg`. Installs into a staging folder renamed into place after a smoke test,
 * so a crashed or concurrent install never leaves a half-installed folder behind the marker.
 */
export async function ensureCodeServer(options: EnsureCodeServerOptions = {}): Promise<CodeServerInstall> {
  const final = installPaths(codeServerDir());
  if (fs.existsSync(final.marker) && fs.existsSync(final.entry)) return { dir: final.dir, entry: final.entry };
  const log = (line: string): void => options.onProgress?.(line);
  const rg = whichRg();
  fs.mkdirSync(cacheRoot(), { recursive: true });
  const staging = `${final.dir}.partial-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  const tmp = path.join(staging, '.tmp');
  seedRipgrepCache(tmp, rg);
  fs.writeFileSync(path.join(staging, 'package.json'), JSON.stringify({ name: 'code-server-install', private: true }, null, 2));
  const logFile = path.join(staging, 'install.log');
  log(`code-server: installing ${CODE_SERVER_VERSION} into ${final.dir} (log: ${logFile})`);
  const env = npmInstallEnv(tmp);
  const started = Date.now();
  try {
    await runCommand('npm', ['install', '--no-save', '--no-package-lock', `code-server@${CODE_SERVER_VERSION}`], {
      cwd: staging,
      env,
      logFile,
    });
  } catch (err) {
    throw new Error(`code-server install failed (log: ${logFile}): ${err instanceof Error ? err.message : String(err)}`);
  }
  const staged = installPaths(staging);
  const version = await codeServerVersion(staged.entry, tmp);
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.writeFileSync(staged.marker, JSON.stringify({ version: CODE_SERVER_VERSION, versionOutput: version, installedAt: new Date().toISOString() }, null, 2) + '\n');
  try {
    fs.renameSync(staging, final.dir);
  } catch (err) {
    // Another process finished first: use its install.
    fs.rmSync(staging, { recursive: true, force: true });
    if (!fs.existsSync(final.marker)) throw err;
  }
  log(`code-server: installed in ${Math.round((Date.now() - started) / 1000)} s (${version})`);
  return { dir: final.dir, entry: final.entry };
}

function whichRg(): string {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'rg');
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  throw new Error('ripgrep (`rg`) is missing: run scripts/ensure-system.sh (apt-get install ripgrep)');
}

/** Packs `rg` as the release tarball `@vscode/ripgrep`'s postinstall looks for in its cache before downloading. */
function seedRipgrepCache(tmp: string, rg: string): void {
  const target = os.arch() === 'arm64' ? 'aarch64-unknown-linux-musl' : 'x86_64-unknown-linux-musl';
  const cache = path.join(tmp, `vscode-ripgrep-cache-${RIPGREP_PACKAGE_VERSION}`);
  const pack = path.join(tmp, 'rg-pack');
  fs.mkdirSync(cache, { recursive: true });
  fs.mkdirSync(pack, { recursive: true });
  fs.copyFileSync(rg, path.join(pack, 'rg'));
  fs.chmodSync(path.join(pack, 'rg'), 0o755);
  const tarball = path.join(cache, `ripgrep-${RIPGREP_RELEASE}-${target}.tar.gz`);
  // Synchronous and tiny; tar is part of every Debian base system.
  const result = spawnSync('tar', ['czf', tarball, '-C', pack, 'rg']);
  if (result.status !== 0) throw new Error(`could not pack ${rg} into ${tarball}`);
}

/** Sandboxed environment: code-server writes config under $HOME even for `--version`. */
function sandboxEnv(root: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const dirs = {
    HOME: path.join(root, 'home'),
    TMPDIR: path.join(root, 'tmp'),
    XDG_CONFIG_HOME: path.join(root, 'xdg', 'config'),
    XDG_DATA_HOME: path.join(root, 'xdg', 'data'),
    XDG_CACHE_HOME: path.join(root, 'xdg', 'cache'),
    XDG_STATE_HOME: path.join(root, 'xdg', 'state'),
  };
  // Sockets live here and a Unix socket path must stay under 108 bytes: keep it short, outside the run folder.
  const runtime = fs.mkdtempSync(path.join(os.tmpdir(), 'lsc-'));
  fs.writeFileSync(path.join(root, 'runtime-dir'), runtime);
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const env: NodeJS.ProcessEnv = { ...process.env, ...dirs, XDG_RUNTIME_DIR: runtime, ...extra };
  // A parent VS Code's variables would make code-server act as a CLI for that instance.
  for (const key of Object.keys(env)) {
    if (key.startsWith('VSCODE_') || key === 'ELECTRON_RUN_AS_NODE') delete env[key];
  }
  delete env.PASSWORD;
  delete env.HASHED_PASSWORD;
  return env;
}

function removeRuntimeDir(env: NodeJS.ProcessEnv): void {
  if (env.XDG_RUNTIME_DIR?.startsWith(path.join(os.tmpdir(), 'lsc-'))) fs.rmSync(env.XDG_RUNTIME_DIR, { recursive: true, force: true });
}

async function codeServerVersion(entry: string, tmp: string): Promise<string> {
  const sandbox = fs.mkdtempSync(path.join(tmp, 'version-'));
  const env = sandboxEnv(sandbox);
  const { stdout } = await runCommand(process.execPath, [entry, '--version'], { env }).finally(() => removeRuntimeDir(env));
  const first = stdout.split('\n').find((l) => /^\d+\.\d+\.\d+/.test(l.trim()));
  if (!first) throw new Error(`code-server --version printed no version: ${stdout.slice(0, 200)}`);
  return first.trim();
}

/** User settings written before start; the extension's own settings and quiet workbench defaults. */
export type UserSettings = Record<string, unknown>;

export const QUIET_WORKBENCH_SETTINGS: UserSettings = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'workbench.enableExperiments': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'security.workspace.trust.enabled': false,
  'git.enabled': false,
  'chat.commandCenter.enabled': false,
  'window.commandCenter': false,
};

export interface StartCodeServerOptions {
  /** The folder to open; used by `workbenchUrl()` defaults. */
  workspace: string;
  /** A `.vsix` is installed into the run's extensions dir; a folder is loaded through the workbench URL instead. */
  extensionPath?: string;
  /** Extra environment for the server (the extension host inherits it). */
  env?: NodeJS.ProcessEnv;
  /** Merged over QUIET_WORKBENCH_SETTINGS into `RUN/ud/User/settings.json`. */
  settings?: UserSettings;
  /** Default: a free port. */
  port?: number;
  /** Default: `.run/code-server/<stamp>`. */
  runDir?: string;
  onProgress?: (line: string) => void;
}

export interface CodeServerHandle {
  /** `http://127.0.0.1:PORT` (no trailing slash). */
  url: string;
  pid: number;
  runDir: string;
  logFile: string;
  /** `RUN/ud/User/settings.json`: the server watches it, so a rewrite applies to open windows too. */
  settingsFile: string;
  workspace: string;
  /** The unpackaged extension folder, when one was given (for `workbenchUrl`). */
  extensionDevelopmentPath?: string;
  process: SpawnedProcess;
  /** Stops the server and everything it spawned (extension hosts, pty hosts): the whole process group. */
  stop(): Promise<void>;
}

export async function startCodeServer(options: StartCodeServerOptions): Promise<CodeServerHandle> {
  const install = await ensureCodeServer({ onProgress: options.onProgress });
  const root = options.runDir ?? runDir('code-server', runStamp());
  fs.mkdirSync(root, { recursive: true });
  const userData = path.join(root, 'ud');
  const extensionsDir = path.join(root, 'ext');
  const userDir = path.join(userData, 'User');
  fs.mkdirSync(userDir, { recursive: true });
  fs.mkdirSync(extensionsDir, { recursive: true });
  const settingsFile = path.join(userDir, 'settings.json');
  fs.writeFileSync(
    settingsFile,
    JSON.stringify({ ...QUIET_WORKBENCH_SETTINGS, ...(options.settings ?? {}) }, null, 2) + '\n',
  );
  const env = sandboxEnv(root, options.env);
  const logFile = path.join(root, 'code-server.log');
  const common = ['--user-data-dir', userData, '--extensions-dir', extensionsDir];

  let devPath: string | undefined;
  if (options.extensionPath?.endsWith('.vsix')) {
    await runCommand(process.execPath, [install.entry, ...common, '--install-extension', path.resolve(options.extensionPath), '--force'], {
      env,
      logFile,
    });
  } else if (options.extensionPath) {
    devPath = path.resolve(options.extensionPath);
  }

  // The port may be taken between picking and binding: retry a few times with a fresh one.
  for (let attempt = 1; ; attempt++) {
    const port = options.port ?? (await findFreePort());
    const config = path.join(root, 'config.yaml');
    fs.writeFileSync(config, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);
    const args = [
      install.entry,
      '--config', config,
      '--auth', 'none',
      '--bind-addr', `127.0.0.1:${port}`,
      '--disable-telemetry',
      '--disable-update-check',
      '--disable-workspace-trust',
      '--disable-getting-started-override',
      ...common,
      path.resolve(options.workspace),
    ];
    const proc = spawnProcess(process.execPath, args, { env, logFile, detached: true, cwd: root });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/healthz`, {
        timeoutMs: 30_000,
        abortIf: () => (proc.exitInfo() ? `code-server exited (${JSON.stringify(proc.exitInfo())})` : undefined),
      });
    } catch (err) {
      await proc.stop({ graceMs: 1000 });
      await killGroup(proc.pid);
      const tail = readTail(logFile, 20);
      if (attempt < 3 && options.port === undefined && /EADDRINUSE/.test(tail)) continue;
      removeRuntimeDir(env);
      throw new Error(`code-server did not start: ${err instanceof Error ? err.message : String(err)}\n${tail}`);
    }
    return {
      url,
      pid: proc.pid,
      runDir: root,
      logFile,
      settingsFile,
      workspace: path.resolve(options.workspace),
      extensionDevelopmentPath: devPath,
      process: proc,
      async stop(): Promise<void> {
        await proc.stop({ graceMs: 3000 });
        await killGroup(proc.pid, 1000);
        removeRuntimeDir(env);
      },
    };
  }
}

export interface WorkbenchUrlOptions {
  folder?: string;
  extensionDevelopmentPath?: string;
  /** An absolute path to a module exporting `run()` (the @vscode/test-electron contract). */
  extensionTestsPath?: string;
}

/**
 * The workbench URL that opens `folder`, and, through the `payload` query, loads an unpackaged extension and runs
 * an extension test module in the extension host (what @vscode/test-web does).
 */
export function workbenchUrl(base: string, options: WorkbenchUrlOptions): string {
  const params = new URLSearchParams();
  if (options.folder) params.set('folder', path.resolve(options.folder));
  const payload: [string, string][] = [];
  if (options.extensionDevelopmentPath) {
    payload.push(['extensionDevelopmentPath', `vscode-remote://remote${path.resolve(options.extensionDevelopmentPath)}`]);
  }
  if (options.extensionTestsPath) {
    payload.push(['extensionTestsPath', `vscode-remote://remote${path.resolve(options.extensionTestsPath)}`]);
  }
  if (payload.length) params.set('payload', JSON.stringify(payload));
  return `${base}/?${params.toString()}`;
}
