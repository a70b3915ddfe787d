/** Where the harness keeps its cached builds, models and per-run files. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** The npm package whose bundled llama.cpp source we build; pinned so the cache key is stable. */
export const NODE_LLAMA_CPP_VERSION = '3.22.1';

/** `$LLAMA_CHAT_CACHE`, else `${XDG_CACHE_HOME:-~/.cache}/llama-server-chat`. Shared by every checkout. */
export function cacheRoot(): string {
  const explicit = process.env.LLAMA_CHAT_CACHE;
  if (explicit) return path.resolve(explicit);
  const xdg = process.env.XDG_CACHE_HOME;
  return path.join(xdg ? path.resolve(xdg) : path.join(os.homedir(), '.cache'), 'llama-server-chat');
}

/** Per-version folder: `src/`, `build/`, `build/bin/llama-server`, `ready.json`, tiny models. */
export function llamaVersionDir(version: string = NODE_LLAMA_CPP_VERSION): string {
  return path.join(cacheRoot(), `llama-server-${version}`);
}

/** The repository root (the folder holding package.json), found from this file in `test/` or `out/test/`. */
export function repoRoot(): string {
  let dir = __dirname;
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json')) && fs.existsSync(path.join(dir, 'test'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`repository root not found above ${__dirname}`);
    dir = parent;
  }
}

/** Per-run scratch (logs, temp files): `$LLAMA_CHAT_RUN_DIR` or `<repo>/.run` (git-ignored). Created on demand. */
export function runDir(...sub: string[]): string {
  const base = process.env.LLAMA_CHAT_RUN_DIR ? path.resolve(process.env.LLAMA_CHAT_RUN_DIR) : path.join(repoRoot(), '.run');
  const dir = path.join(base, ...sub);
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** A sortable, file-name-safe time stamp plus our PID, so parallel runs never share a log file. */
export function runStamp(date: Date = new Date()): string {
  return `${date.toISOString().replace(/[:.]/g, '-')}-${process.pid}`;
}
