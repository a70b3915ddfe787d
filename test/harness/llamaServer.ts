/** Starts and stops a real llama-server on a free loopback port (or uses `$LLAMA_SERVER_URL`). */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureLlamaServer } from './llamaBuild';
import { runDir, runStamp } from './paths';
import { findFreePort, readTail, spawnProcess, waitForHttp } from './process';
import type { SpawnedProcess } from './process';
import { ensureTinyModel } from './tinyModel';

export interface StartLlamaServerOptions {
  /** Context size (`-c`). With the unified KV cache (default) every slot reports this n_ctx. Default 2048. */
  ctx?: number;
  /** Slots (`-np`). Default 4. */
  parallel?: number;
  /**
   * `--kv-unified` (default true): slots share one KV buffer of `ctx` tokens, as llama-server does by default when
   * `-np` is not given. False splits it (`ctx / parallel` per slot).
   */
  kvUnified?: boolean;
  /**
   * CPU threads (`-t`/`-tb`). Default 1: the tiny model needs no more, and on a busy 2-core machine two threads
   * spinning on ggml's barrier measured ~4 tok/s against ~700 tok/s with one.
   */
  threads?: number;
  /** `--alias`: the model name the server reports. */
  alias?: string;
  /** Model file; default: the tiny model. */
  model?: string;
  /**
   * Router mode: `--models-dir DIR` and no `-m` (each .gguf in DIR is a model, id = file name without .gguf, loaded on
   * demand in a child llama-server). `ctx` is then passed only when given (each model keeps its own n_ctx otherwise).
   */
  modelsDir?: string;
  /** Binary; default: ensureLlamaServer(). */
  binary?: string;
  extraArgs?: readonly string[];
  /** How long to wait for /health 200. Default 60 s. */
  startTimeoutMs?: number;
  /** Log file; default `<run dir>/llama-server/<stamp>-<port>.log`. */
  logFile?: string;
  onProgress?: (line: string) => void;
}

export interface LlamaServerHandle {
  /** Base URL without a trailing slash, e.g. http://127.0.0.1:41234 */
  url: string;
  port: number;
  /** Undefined for an external server ($LLAMA_SERVER_URL). */
  pid: number | undefined;
  /** Undefined for an external server. */
  logFile: string | undefined;
  model: string | undefined;
  external: boolean;
  /** SIGTERM, SIGKILL after a grace, resolves once the process has exited. A no-op for an external server. */
  stop(): Promise<void>;
}

const PORT_ATTEMPTS = 4;

/** Starts llama-server and waits until /health answers 200. */
export async function startLlamaServer(options: StartLlamaServerOptions = {}): Promise<LlamaServerHandle> {
  const external = process.env.LLAMA_SERVER_URL;
  if (external) {
    const url = external.replace(/\/+$/, '');
    await waitForHttp(`${url}/health`, { timeoutMs: options.startTimeoutMs ?? 10_000 });
    const parsed = new URL(url);
    const port = Number(parsed.port || (parsed.protocol === 'https:' ? 443 : 80));
    return { url, port, pid: undefined, logFile: undefined, model: undefined, external: true, stop: () => Promise.resolve() };
  }
  const binary = options.binary ?? (await ensureLlamaServer({ onProgress: options.onProgress }));
  const model = options.modelsDir !== undefined ? undefined : (options.model ?? (await ensureTinyModel({ onProgress: options.onProgress })));
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < PORT_ATTEMPTS; attempt++) {
    const port = await findFreePort();
    const logFile = options.logFile ?? path.join(logDir(), `${runStamp()}-${port}.log`);
    const args = [
      ...(model !== undefined ? ['-m', model] : ['--models-dir', options.modelsDir!]),
      '--host', '127.0.0.1',
      '--port', String(port),
      ...(model !== undefined || options.ctx !== undefined ? ['-c', String(options.ctx ?? 2048)] : []),
      ...(model !== undefined || options.parallel !== undefined ? ['-np', String(options.parallel ?? 4)] : []),
      ...(model !== undefined ? [options.kvUnified === false ? '--no-kv-unified' : '--kv-unified'] : []),
      '--no-ui',
      '-t', String(options.threads ?? 1),
      '-tb', String(options.threads ?? 1),
      ...(options.alias ? ['--alias', options.alias] : []),
      ...(options.extraArgs ?? []),
    ];
    fs.appendFileSync(logFile, `# ${binary} ${args.join(' ')}\n`);
    const proc = spawnProcess(binary, args, { logFile });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}/health`, {
        timeoutMs: options.startTimeoutMs ?? 60_000,
        intervalMs: 50,
        abortIf: () => exitedReason(proc),
      });
      return {
        url,
        port,
        pid: proc.pid,
        logFile,
        model,
        external: false,
        stop: async () => {
          await proc.stop({ graceMs: 3000 });
        },
      };
    } catch (err) {
      await proc.stop({ graceMs: 1000 });
      const tail = readTail(logFile, 25);
      lastError = new Error(`llama-server did not become healthy on ${url}: ${(err as Error).message}\n--- ${logFile} (tail)\n${tail}`);
      // Someone took the port between our probe and the server's bind: try another one.
      if (!/bind|address already in use|EADDRINUSE/i.test(tail)) break;
    }
  }
  throw lastError ?? new Error('llama-server did not start');
}

const KEEP_LOGS = 40;

/** The log folder, pruned to the newest KEEP_LOGS files (plus any written in the last hour). */
function logDir(): string {
  const dir = runDir('llama-server');
  try {
    const logs = fs.readdirSync(dir).filter((f) => f.endsWith('.log')).sort();
    const hourAgo = Date.now() - 3_600_000;
    for (const old of logs.slice(0, Math.max(0, logs.length - KEEP_LOGS))) {
      // Only old ones: a long-running server elsewhere may still be writing to a log that sorts early.
      const file = path.join(dir, old);
      if (fs.statSync(file).mtimeMs < hourAgo) fs.rmSync(file, { force: true });
    }
  } catch {
    // Pruning is best effort.
  }
  return dir;
}

function exitedReason(proc: SpawnedProcess): string | undefined {
  const info = proc.exitInfo();
  if (!info) return undefined;
  return `llama-server exited (${info.signal ? `signal ${info.signal}` : `code ${info.code}`})`;
}
