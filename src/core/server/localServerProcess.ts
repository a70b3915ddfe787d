/**
 * Runs a local llama-server as a child process on 127.0.0.1 and a free port, in its own process group, and waits
 * until /health answers 200. No vscode import: the adapter is src/vscode/localServer.ts.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { t } from '../base/l10n';

export const LOCAL_HOST = '127.0.0.1';
const RING_SIZE = 50;

export interface LocalServerOptions {
  /** The binary (a path, or a bare name looked up on PATH). */
  binary: string;
  /** `-m MODEL`. */
  model?: string;
  /** `--models-dir DIR` (router mode; no `-m`). */
  modelsDir?: string;
  args?: readonly string[];
  /** Each stdout/stderr line. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** An exit nobody asked for (stop() not called). */
  onExit?: (info: LocalServerExit) => void;
  /** Between /health probes (default 250 ms). */
  pollMs?: number;
  /** Extra environment (the rest is inherited). */
  env?: NodeJS.ProcessEnv;
}

export interface LocalServerExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  lastLines: readonly string[];
}

export class LocalServerError extends Error {
  constructor(
    message: string,
    readonly lastLines: readonly string[] = [],
  ) {
    super(message);
    this.name = 'LocalServerError';
  }
}

/** Listens on port 0, closes, and returns the port it got. */
export function findFreePort(host = LOCAL_HOST): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => (port ? resolve(port) : reject(new Error('no port assigned'))));
    });
  });
}

function isExecutable(file: string): boolean {
  try {
    if (!fs.statSync(file).isFile()) return false;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The binary's path: `configured` when it names a path (must exist and be executable), else `configured` or
 * `llama-server` looked up on PATH. Throws a LocalServerError that says what to set.
 */
export function resolveBinary(configured: string | undefined, envPath: string | undefined = process.env.PATH): string {
  const name = configured?.trim() || 'llama-server';
  if (name.includes('/') || name.includes('\\')) {
    if (isExecutable(name)) return name;
    throw new LocalServerError(t('llama-server not found at {0} (setting llamaChat.localServer.binary): it does not exist or is not executable', name));
  }
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const dir of (envPath ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const ext of exts) {
      const candidate = path.join(dir, name + ext);
      if (isExecutable(candidate)) return candidate;
    }
  }
  throw new LocalServerError(t("{0} was not found on PATH: install llama.cpp's llama-server or set llamaChat.localServer.binary to its path", name));
}

export function serverArgs(port: number, options: Pick<LocalServerOptions, 'model' | 'modelsDir' | 'args'>): string[] {
  const args = ['--host', LOCAL_HOST, '--port', String(port)];
  if (options.modelsDir) args.push('--models-dir', options.modelsDir);
  else if (options.model) args.push('-m', options.model);
  return [...args, ...(options.args ?? [])];
}

/** GET url; resolves the status code (0 on a connection error). */
function probe(url: string, timeoutMs = 2_000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

type Phase = 'starting' | 'running' | 'exited';

/** One llama-server process. Use startLocalServer(). */
export class LocalServerProcess {
  readonly port: number;
  readonly url: string;
  private readonly child: ChildProcess;
  private readonly ring: string[] = [];
  private phase: Phase = 'starting';
  private stopping = false;
  private exitInfo: LocalServerExit | undefined;
  private readonly exited: Promise<LocalServerExit>;

  constructor(
    private readonly options: LocalServerOptions,
    port: number,
  ) {
    this.port = port;
    this.url = `http://${LOCAL_HOST}:${port}`;
    this.child = spawn(options.binary, serverArgs(port, options), {
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...options.env },
      windowsHide: true,
    });
    this.exited = new Promise<LocalServerExit>((resolve) => {
      let spawnError: Error | undefined;
      this.child.once('error', (err) => {
        spawnError = err;
        this.pushLine(`failed to start: ${err.message}`, 'stderr');
        // 'exit' may not follow a spawn error.
        if (this.child.pid === undefined) finish(null, null);
      });
      const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this.exitInfo) return;
        this.phase = 'exited';
        this.exitInfo = { code, signal, lastLines: [...this.ring] };
        if (spawnError && code === null && signal === null) this.exitInfo = { code: -1, signal: null, lastLines: [...this.ring] };
        resolve(this.exitInfo);
        if (!this.stopping) this.options.onExit?.(this.exitInfo);
      };
      this.child.once('exit', (code, signal) => finish(code, signal));
    });
    this.readLines(this.child.stdout, 'stdout');
    this.readLines(this.child.stderr, 'stderr');
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.phase === 'running';
  }

  get hasExited(): boolean {
    return this.phase === 'exited';
  }

  /** The last ~50 output lines. */
  lastLines(): readonly string[] {
    return [...this.ring];
  }

  /** Resolves with the exit once the process has exited. */
  whenExited(): Promise<LocalServerExit> {
    return this.exited;
  }

  /**
   * Polls /health until 200 (503 while the model loads: keeps waiting, as long as it takes). Rejects when the
   * process exits first, or when `signal` aborts (then the process is stopped).
   */
  async waitReady(signal?: AbortSignal): Promise<void> {
    const pollMs = this.options.pollMs ?? 250;
    for (;;) {
      if (signal?.aborted) {
        await this.stop();
        throw new LocalServerError(t('Starting llama-server was cancelled'), this.lastLines());
      }
      if (this.exitInfo) throw new LocalServerError(t('llama-server exited while starting ({0})', describeExit(this.exitInfo)), this.exitInfo.lastLines);
      const status = await probe(`${this.url}/health`);
      if (status === 200 && !this.exitInfo) {
        this.phase = 'running';
        return;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, pollMs);
        const onExit = (): void => done();
        function done(): void {
          clearTimeout(timer);
          signal?.removeEventListener('abort', done);
          resolve();
        }
        signal?.addEventListener('abort', done, { once: true });
        void this.exited.then(onExit);
      });
    }
  }

  /** SIGTERM to the whole process group, SIGKILL after `graceMs`; resolves once the process has exited. */
  async stop(graceMs = 3_000): Promise<LocalServerExit> {
    this.stopping = true;
    if (this.exitInfo) return this.exitInfo;
    this.signalGroup('SIGTERM');
    const timer = setTimeout(() => this.signalGroup('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }

  private signalGroup(sig: NodeJS.Signals): void {
    const pid = this.child.pid;
    if (pid === undefined) return;
    try {
      if (process.platform === 'win32') this.child.kill(sig);
      else process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        // already gone
      }
    }
  }

  private pushLine(line: string, stream: 'stdout' | 'stderr'): void {
    this.ring.push(line);
    if (this.ring.length > RING_SIZE) this.ring.shift();
    try {
      this.options.onLine?.(line, stream);
    } catch {
      // a listener's failure is not the process's
    }
  }

  private readLines(readable: NodeJS.ReadableStream | null, stream: 'stdout' | 'stderr'): void {
    if (!readable) return;
    readable.setEncoding('utf8');
    let partial = '';
    readable.on('data', (chunk: string) => {
      const parts = (partial + chunk).split(/\r?\n/);
      partial = parts.pop() ?? '';
      for (const line of parts) if (line.trim()) this.pushLine(line, stream);
    });
    readable.on('end', () => {
      if (partial.trim()) this.pushLine(partial, stream);
      partial = '';
    });
  }
}

export function describeExit(exit: Pick<LocalServerExit, 'code' | 'signal'>): string {
  if (exit.signal) return t('signal {0}', exit.signal);
  return exit.code !== null && exit.code !== undefined ? t('exit code {0}', exit.code) : t('exit code unknown');
}

/** Spawns the server on a free port; call waitReady() on the result. */
export async function startLocalServer(options: LocalServerOptions): Promise<LocalServerProcess> {
  const port = await findFreePort();
  return new LocalServerProcess(options, port);
}
