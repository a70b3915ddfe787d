/**
 * Finds or builds a real llama-server without internet: the llama.cpp source ships as a git bundle inside the
 * npm package node-llama-cpp (pinned), which we clone and build once per machine into the shared cache.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cacheRoot, llamaVersionDir, NODE_LLAMA_CPP_VERSION } from './paths';
import { commandExists, isProcessAlive, runCommand, sleep } from './process';

/** Configure flags that download nothing (no prebuilt web UI, no OpenSSL, no tests/examples). */
export const LLAMA_CMAKE_FLAGS: readonly string[] = [
  '-DCMAKE_BUILD_TYPE=Release',
  '-DGGML_NATIVE=OFF',
  '-DLLAMA_OPENSSL=OFF',
  '-DLLAMA_USE_PREBUILT_UI=OFF',
  '-DLLAMA_BUILD_UI=OFF',
  '-DLLAMA_BUILD_TESTS=OFF',
  '-DLLAMA_BUILD_EXAMPLES=OFF',
];

/** Written (atomically) only after a build whose binary answered `--version`. */
export interface ReadyMarker {
  version: string;
  commit: string;
  binary: string;
  builtAt: string;
  versionOutput: string;
}

export interface LlamaBuildPaths {
  dir: string;
  tarball: string;
  bundle: string;
  src: string;
  build: string;
  binary: string;
  marker: string;
  lock: string;
  configureLog: string;
  buildLog: string;
}

export interface EnsureLlamaOptions {
  /** Progress lines (the build takes minutes: CI logs should show it is alive). */
  onProgress?: (line: string) => void;
  /** node-llama-cpp version whose bundled llama.cpp is built. */
  version?: string;
  /** Parallel compile jobs (default: CPU count). */
  jobs?: number;
}

export function llamaBuildPaths(version: string = NODE_LLAMA_CPP_VERSION): LlamaBuildPaths {
  const dir = llamaVersionDir(version);
  const build = path.join(dir, 'build');
  return {
    dir,
    tarball: path.join(cacheRoot(), `node-llama-cpp-${version}.tgz`),
    bundle: path.join(dir, 'package', 'llama', 'gitRelease.bundle'),
    src: path.join(dir, 'src'),
    build,
    binary: path.join(build, 'bin', 'llama-server'),
    marker: path.join(dir, 'ready.json'),
    lock: path.join(dir, 'build.lock'),
    configureLog: path.join(dir, 'configure.log'),
    buildLog: path.join(dir, 'build.log'),
  };
}

/** The marker of a finished build whose binary still exists, else undefined. */
export function readReadyMarker(version: string = NODE_LLAMA_CPP_VERSION): ReadyMarker | undefined {
  const p = llamaBuildPaths(version);
  try {
    const marker = JSON.parse(fs.readFileSync(p.marker, 'utf8')) as ReadyMarker;
    if (marker.version !== version || !fs.existsSync(marker.binary)) return undefined;
    return marker;
  } catch {
    return undefined;
  }
}

/** Runs `binary --version`; returns its output (llama-server prints it on stderr). Throws when it fails. */
export async function llamaServerVersion(binary: string): Promise<string> {
  const { stdout, stderr } = await runCommand(binary, ['--version']);
  return `${stdout}\n${stderr}`.trim();
}

/**
 * The llama-server binary to use: `$LLAMA_SERVER_BIN`, else the cached build, else builds it now
 * (minutes, once per machine and version).
 */
export async function ensureLlamaServer(options: EnsureLlamaOptions = {}): Promise<string> {
  const fromEnv = process.env.LLAMA_SERVER_BIN;
  if (fromEnv) {
    if (!fs.existsSync(fromEnv)) throw new Error(`LLAMA_SERVER_BIN=${fromEnv} does not exist`);
    return path.resolve(fromEnv);
  }
  const version = options.version ?? NODE_LLAMA_CPP_VERSION;
  const cached = await verifiedMarker(version);
  if (cached) return cached.binary;
  const p = llamaBuildPaths(version);
  fs.mkdirSync(p.dir, { recursive: true });
  return withLock(p.lock, options.onProgress, async () => {
    // Another process may have finished the build while we waited for the lock.
    const done = await verifiedMarker(version);
    if (done) return done.binary;
    await prepareSource(version, options.onProgress);
    return buildServer(version, options);
  });
}

/** The llama.cpp source tree (for the vocab files), fetched and cloned if needed, without building. */
export async function ensureLlamaSource(options: EnsureLlamaOptions = {}): Promise<string> {
  const version = options.version ?? NODE_LLAMA_CPP_VERSION;
  const p = llamaBuildPaths(version);
  if (fs.existsSync(path.join(p.src, '.git'))) return p.src;
  fs.mkdirSync(p.dir, { recursive: true });
  return withLock(p.lock, options.onProgress, async () => {
    await prepareSource(version, options.onProgress);
    return p.src;
  });
}

async function verifiedMarker(version: string): Promise<ReadyMarker | undefined> {
  const marker = readReadyMarker(version);
  if (!marker) return undefined;
  try {
    await llamaServerVersion(marker.binary);
    return marker;
  } catch {
    // e.g. a .so beside it was removed: rebuild (incremental) rather than fail later.
    return undefined;
  }
}

async function prepareSource(version: string, onProgress?: (line: string) => void): Promise<void> {
  const p = llamaBuildPaths(version);
  if (fs.existsSync(path.join(p.src, '.git'))) return;
  if (!(await commandExists('git'))) throw missingTool('git');
  if (!fs.existsSync(p.bundle)) {
    if (!fs.existsSync(p.tarball)) {
      onProgress?.(`llama-server: npm pack node-llama-cpp@${version} (~36 MB, holds the llama.cpp source)`);
      const tmpDir = fs.mkdtempSync(path.join(cacheRoot(), '.pack-'));
      try {
        const { stdout } = await runCommand('npm', ['pack', `node-llama-cpp@${version}`, '--pack-destination', tmpDir, '--silent'], {
          cwd: tmpDir,
        });
        const name = stdout.trim().split('\n').pop() ?? '';
        const packed = path.join(tmpDir, name);
        if (!name || !fs.existsSync(packed)) throw new Error(`npm pack did not produce a tarball (output: ${stdout})`);
        fs.renameSync(packed, p.tarball);
      } finally {
        fs.rmSync(tmpDir, { recursive: true, force: true });
      }
    }
    onProgress?.(`llama-server: extracting the llama.cpp bundle from ${path.basename(p.tarball)}`);
    await runCommand('tar', ['-xzf', p.tarball, '-C', p.dir, 'package/llama/gitRelease.bundle', 'package/llama/llama.cpp.info.json']);
  }
  onProgress?.('llama-server: cloning the llama.cpp source from the bundle');
  const tmpSrc = `${p.src}.tmp-${process.pid}`;
  fs.rmSync(tmpSrc, { recursive: true, force: true });
  fs.rmSync(p.src, { recursive: true, force: true });
  await runCommand('git', ['clone', '--quiet', p.bundle, tmpSrc]);
  fs.renameSync(tmpSrc, p.src);
}

async function buildServer(version: string, options: EnsureLlamaOptions): Promise<string> {
  const p = llamaBuildPaths(version);
  const say = options.onProgress ?? (() => undefined);
  if (!(await commandExists('cmake'))) throw missingTool('cmake');
  if (!(await commandExists('g++')) && !(await commandExists('c++'))) throw missingTool('g++');
  if (!fs.existsSync(path.join(p.build, 'CMakeCache.txt')) || !fs.existsSync(path.join(p.build, 'Makefile'))) {
    say(`llama-server: configuring (${p.build})`);
    await runCommand('cmake', ['-S', p.src, '-B', p.build, ...LLAMA_CMAKE_FLAGS], { logFile: p.configureLog });
  }
  const jobs = options.jobs ?? Math.max(1, os.availableParallelism?.() ?? os.cpus().length);
  say(`llama-server: building with -j${jobs} (first time only; ~5 min on 2 cores; log: ${p.buildLog})`);
  const started = Date.now();
  let lastPercent = '';
  let lastSaid = 0;
  const heartbeat = setInterval(() => {
    say(`llama-server: still building (${Math.round((Date.now() - started) / 1000)} s, ${lastPercent || 'starting'})`);
  }, 30_000);
  try {
    await runCommand('cmake', ['--build', p.build, '--target', 'llama-server', `-j${jobs}`], {
      logFile: p.buildLog,
      onLine: (line) => {
        const m = /^\[\s*(\d+)%\]/.exec(line);
        if (!m) return;
        const percent = `${m[1]}%`;
        // One line per percent step, at most every 5 s: alive but not noisy.
        if (percent !== lastPercent && Date.now() - lastSaid > 5000) {
          lastSaid = Date.now();
          say(`llama-server: [${percent.padStart(4)}] ${line.replace(/^\[\s*\d+%\]\s*/, '')}`);
        }
        lastPercent = percent;
      },
    });
  } finally {
    clearInterval(heartbeat);
  }
  if (!fs.existsSync(p.binary)) throw new Error(`build finished but ${p.binary} is missing (see ${p.buildLog})`);
  const versionOutput = await llamaServerVersion(p.binary);
  const commit = (await runCommand('git', ['-C', p.src, 'rev-parse', 'HEAD'])).stdout.trim();
  writeMarker(p.marker, { version, commit, binary: p.binary, builtAt: new Date().toISOString(), versionOutput });
  say(`llama-server: built in ${Math.round((Date.now() - started) / 1000)} s: ${p.binary}`);
  return p.binary;
}

function writeMarker(file: string, marker: ReadyMarker): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, JSON.stringify(marker, null, 2) + '\n');
  fs.renameSync(tmp, file);
}

function missingTool(tool: string): Error {
  return new Error(
    `${tool} is needed to build llama-server but was not found on PATH. ` +
      `Install it (Debian: apt-get install -y cmake g++ git, or run scripts/ensure-system.sh as root), ` +
      `or point LLAMA_SERVER_BIN at an existing llama-server binary.`,
  );
}

/** A lock file holding our PID; a lock whose owner is dead is taken over. Waits (with progress) otherwise. */
async function withLock<T>(lockFile: string, onProgress: ((line: string) => void) | undefined, fn: () => Promise<T>): Promise<T> {
  let waitedSince = 0;
  for (;;) {
    try {
      const fd = fs.openSync(lockFile, 'wx');
      fs.writeSync(fd, String(process.pid));
      fs.closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = Number.parseInt(readOrEmpty(lockFile), 10);
      if (!Number.isFinite(owner) || !isProcessAlive(owner)) {
        fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (!waitedSince || Date.now() - waitedSince > 30_000) {
        onProgress?.(`llama-server: waiting for another build (pid ${owner}, lock ${lockFile})`);
        waitedSince = Date.now();
      }
      await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    if (readOrEmpty(lockFile) === String(process.pid)) fs.rmSync(lockFile, { force: true });
  }
}

function readOrEmpty(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return '';
  }
}
