/**
 * General process and network helpers shared by every harness (llama-server, code-server, benchmarks):
 * spawning with a log file, stopping by PID (optionally the whole process group), free ports, waiting for HTTP.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as readline from 'node:readline';

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StopOptions {
  /** Time between SIGTERM and SIGKILL. */
  graceMs?: number;
}

export interface SpawnedProcess {
  readonly pid: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited (never rejects). */
  readonly exit: Promise<ExitInfo>;
  /** The exit info once it has exited, else undefined. */
  exitInfo(): ExitInfo | undefined;
  /** SIGTERM (to the group when spawned detached), SIGKILL after the grace, resolves once it has exited. */
  stop(options?: StopOptions): Promise<ExitInfo>;
}

export interface SpawnOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** stdout and stderr are appended here; without it they are ignored (or piped when `pipe` is set). */
  logFile?: string;
  /** Keep stdout/stderr as pipes on `child` for the caller to read (ignored when logFile is set). */
  pipe?: boolean;
  /** New process group, so stop() also reaches grandchildren (e.g. code-server's workers). */
  detached?: boolean;
  /** SIGKILL the process if this Node process exits first (default true), so crashed test runs leave no orphans. */
  killOnExit?: boolean;
}

const DEFAULT_GRACE_MS = 5000;

/** Spawns a process whose output goes to a log file, and returns a handle that stops it by PID. */
export function spawnProcess(command: string, args: readonly string[], options: SpawnOptions = {}): SpawnedProcess {
  let logFd: number | undefined;
  if (options.logFile) logFd = fs.openSync(options.logFile, 'a');
  const out = logFd ?? (options.pipe ? 'pipe' : 'ignore');
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', out, out],
    detached: options.detached ?? false,
  });
  // The child holds its own copy of the descriptor.
  if (logFd !== undefined) fs.closeSync(logFd);
  let info: ExitInfo | undefined;
  let spawnError: Error | undefined;
  const exit = new Promise<ExitInfo>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      // A failed spawn emits no 'exit'.
      if (child.pid === undefined) {
        info = { code: -1, signal: null };
        resolve(info);
      }
    });
    child.once('exit', (code, signal) => {
      info = { code, signal };
      resolve(info);
    });
  });
  if (child.pid === undefined) {
    throw new Error(`could not start ${command}: ${spawnError?.message ?? 'spawn failed'}`);
  }
  const pid = child.pid;
  const group = options.detached ?? false;
  const onExit = (): void => {
    if (!info) signalPid(pid, 'SIGKILL', group);
  };
  if (options.killOnExit ?? true) {
    process.on('exit', onExit);
    void exit.then(() => process.off('exit', onExit));
  }
  return {
    pid,
    child,
    exit,
    exitInfo: () => info,
    async stop(stopOptions?: StopOptions): Promise<ExitInfo> {
      if (info) return info;
      signalPid(pid, 'SIGTERM', group);
      const timer = setTimeout(() => {
        if (!info) signalPid(pid, 'SIGKILL', group);
      }, stopOptions?.graceMs ?? DEFAULT_GRACE_MS);
      try {
        return await exit;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** Sends a signal to a PID (or its process group); false when it no longer exists. */
export function signalPid(pid: number, signal: NodeJS.Signals, group = false): boolean {
  try {
    process.kill(group ? -pid : pid, signal);
    return true;
  } catch {
    if (group) {
      try {
        process.kill(pid, signal);
        return true;
      } catch {
        return false;
      }
    }
    return false;
  }
}

/**
 * True while a process with this PID runs. A zombie does not count (read from /proc where there is one): in a
 * container without a reaping init, a killed orphan stays a zombie forever.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return true; // no /proc: kill(0) succeeded, so it exists
  }
}

/**
 * Stops a process that is not our child (e.g. recorded in a PID file): SIGTERM, then SIGKILL after the grace.
 * Resolves true once it is gone.
 */
export async function killPid(pid: number, options: StopOptions & { group?: boolean; pollMs?: number } = {}): Promise<boolean> {
  if (!isProcessAlive(pid)) return true;
  signalPid(pid, 'SIGTERM', options.group ?? false);
  const grace = options.graceMs ?? DEFAULT_GRACE_MS;
  const poll = options.pollMs ?? 50;
  const deadline = Date.now() + grace;
  while (Date.now() < deadline) {
    if (!isProcessAlive(pid)) return true;
    await sleep(poll);
  }
  signalPid(pid, 'SIGKILL', options.group ?? false);
  for (let i = 0; i < 40; i++) {
    if (!isProcessAlive(pid)) return true;
    await sleep(poll);
  }
  return !isProcessAlive(pid);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** A port that was free a moment ago on `host` (the OS picks it). Callers retry on EADDRINUSE. */
export { findFreePort } from '../../src/core/server/localServerProcess';

export interface WaitForHttpOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Which status ends the wait (default: 200-299). */
  accept?: (status: number) => boolean;
  /** Called before each attempt; a returned string aborts the wait with that reason (e.g. "process exited"). */
  abortIf?: () => string | undefined;
  headers?: Record<string, string>;
}

/** Polls `url` until it answers with an accepted status; rejects with the last status/error on timeout. */
export async function waitForHttp(url: string, options: WaitForHttpOptions = {}): Promise<number> {
  const timeoutMs = options.timeoutMs ?? 30_000;
  const interval = options.intervalMs ?? 100;
  const accept = options.accept ?? ((s: number) => s >= 200 && s < 300);
  const deadline = Date.now() + timeoutMs;
  let last = 'no attempt';
  for (;;) {
    const reason = options.abortIf?.();
    if (reason) throw new Error(`gave up waiting for ${url}: ${reason}`);
    try {
      const res = await fetch(url, { headers: options.headers, signal: AbortSignal.timeout(Math.max(500, interval * 10)) });
      await res.arrayBuffer().catch(() => undefined);
      if (accept(res.status)) return res.status;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = describeFetchError(err);
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${url} (last: ${last})`);
    await sleep(interval);
  }
}

function describeFetchError(err: unknown): string {
  if (err instanceof Error) {
    const cause = (err as Error & { cause?: unknown }).cause;
    if (cause instanceof Error) return `${err.message}: ${cause.message}`;
    return err.message;
  }
  return String(err);
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Each output line (stdout and stderr), e.g. to print progress. */
  onLine?: (line: string) => void;
  /** Output is also appended here. */
  logFile?: string;
}

export interface RunResult {
  stdout: string;
  stderr: string;
}

/** Runs a command to completion; rejects with the exit code and the output's tail when it fails. */
export function runCommand(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const log = options.logFile ? fs.createWriteStream(options.logFile, { flags: 'a' }) : undefined;
    const out: string[] = [];
    const err: string[] = [];
    const tail: string[] = [];
    const collect = (stream: NodeJS.ReadableStream, sink: string[]): void => {
      readline.createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
        // Keep memory bounded for long builds: full output goes to the log file.
        if (sink.length < 20_000) sink.push(line);
        tail.push(line);
        if (tail.length > 40) tail.shift();
        log?.write(line + '\n');
        options.onLine?.(line);
      });
    };
    collect(child.stdout, out);
    collect(child.stderr, err);
    child.once('error', (e) => {
      log?.end();
      reject(new Error(`could not run ${command}: ${e.message}`));
    });
    child.once('close', (code, signal) => {
      log?.end();
      if (code === 0) {
        resolve({ stdout: out.join('\n'), stderr: err.join('\n') });
      } else {
        const how = signal ? `signal ${signal}` : `exit code ${code}`;
        reject(new Error(`${command} ${args.join(' ')} failed (${how})\n${tail.join('\n')}`));
      }
    });
  });
}

/** True when `command` can be run (looked up on PATH). */
export async function commandExists(command: string, versionArg = '--version'): Promise<boolean> {
  try {
    await runCommand(command, [versionArg]);
    return true;
  } catch (err) {
    return !(err instanceof Error && err.message.startsWith('could not run'));
  }
}

/** The last `lines` lines of a (log) file, or '' when it cannot be read. */
export function readTail(file: string, lines = 30): string {
  try {
    const stat = fs.statSync(file);
    const size = Math.min(stat.size, 64 * 1024);
    const fd = fs.openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size);
      fs.readSync(fd, buf, 0, size, stat.size - size);
      return buf.toString('utf8').split('\n').slice(-lines - 1).join('\n').trimEnd();
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return '';
  }
}

/**
 * After a group leader has exited its children may linger (Chromium's renderers, code-server's extension hosts):
 * waits for the process group to empty, SIGKILLing what is left after `graceMs`. Zombies do not count: in a
 * container without an init that reaps, killed orphans stay zombies forever.
 */
export async function killGroup(pgid: number, graceMs = 2000): Promise<void> {
  const deadline = Date.now() + graceMs;
  while (groupAlive(pgid) && Date.now() < deadline) await sleep(50);
  if (!groupAlive(pgid)) return;
  signalPid(pgid, 'SIGKILL', true);
  for (let i = 0; i < 40 && groupAlive(pgid); i++) await sleep(50);
}

/** True while a live (non-zombie) process is in the group; read from /proc where there is one. */
export function groupAlive(pgid: number): boolean {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    try {
      process.kill(-pgid, 0);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'EPERM';
    }
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[2]) === pgid && fields[0] !== 'Z' && fields[0] !== 'X') return true;
  }
  return false;
}
