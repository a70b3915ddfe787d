/** The file operations of the chat store (injectable for fault tests) and small helpers shared by its parts. */
import { randomBytes } from 'node:crypto';
import * as fsp from 'node:fs/promises';
import * as os from 'node:os';
import { t } from '../base/l10n';

export interface FileStat {
  size: number;
  mtimeMs: number;
  /** The inode, when the platform has one: a rename-based rewrite by another writer changes it. */
  ino?: number;
}

/** The file operations the store uses; injectable so tests can count bytes and simulate ENOSPC/EACCES. */
export interface StoreFs {
  mkdir(dir: string): Promise<void>;
  readdir(dir: string): Promise<string[]>;
  readFile(file: string): Promise<Buffer>;
  /** Up to maxBytes from the start of the file. */
  readHead(file: string, maxBytes: number): Promise<Buffer>;
  stat(file: string): Promise<FileStat>;
  /** Appends, syncs the data to disk, returns the file's new size and mtime. */
  append(file: string, data: Buffer): Promise<FileStat>;
  /** Creates or truncates, writes, fsyncs, returns the file's size and mtime. */
  writeDurable(file: string, data: Buffer): Promise<FileStat>;
  rename(from: string, to: string): Promise<void>;
  unlink(file: string): Promise<void>;
  /** Makes a rename in dir durable (best effort: some platforms cannot fsync a directory). */
  syncDir(dir: string): Promise<void>;
  /**
   * Creates the file only if it does not exist (O_EXCL), with data; EEXIST when it does. Optional so older test
   * doubles keep compiling: the store falls back to the node implementation.
   */
  createExclusive?(file: string, data: Buffer): Promise<void>;
}

async function withHandle<T>(file: string, flags: string, fn: (fh: fsp.FileHandle) => Promise<T>): Promise<T> {
  const fh = await fsp.open(file, flags);
  try {
    return await fn(fh);
  } finally {
    await fh.close();
  }
}

function statOf(s: { size: number; mtimeMs: number; ino: number }): FileStat {
  return { size: s.size, mtimeMs: s.mtimeMs, ino: s.ino };
}

export const nodeStoreFs: StoreFs = {
  mkdir: async (dir) => {
    await fsp.mkdir(dir, { recursive: true });
  },
  readdir: (dir) => fsp.readdir(dir),
  readFile: (file) => fsp.readFile(file),
  readHead: (file, maxBytes) =>
    withHandle(file, 'r', async (fh) => {
      const buf = Buffer.alloc(maxBytes);
      const { bytesRead } = await fh.read(buf, 0, maxBytes, 0);
      return buf.subarray(0, bytesRead);
    }),
  stat: async (file) => statOf(await fsp.stat(file)),
  append: (file, data) =>
    withHandle(file, 'a', async (fh) => {
      await fh.writeFile(data);
      await fh.datasync();
      return statOf(await fh.stat());
    }),
  writeDurable: (file, data) =>
    withHandle(file, 'w', async (fh) => {
      await fh.writeFile(data);
      await fh.sync();
      return statOf(await fh.stat());
    }),
  rename: (from, to) => fsp.rename(from, to),
  unlink: (file) => fsp.unlink(file),
  syncDir: async (dir) => {
    try {
      await withHandle(dir, 'r', (fh) => fh.sync());
    } catch {
      // Windows cannot open a directory for fsync; its rename is already as durable as it gets.
    }
  },
  createExclusive: (file, data) =>
    withHandle(file, 'wx', async (fh) => {
      await fh.writeFile(data);
    }),
};

/** Same file contents as far as a stat can tell (the inode only when both sides know it). */
export function sameStat(a: FileStat | undefined, b: FileStat | undefined): boolean {
  if (!a || !b) return false;
  if (a.size !== b.size || a.mtimeMs !== b.mtimeMs) return false;
  return a.ino === undefined || b.ino === undefined || a.ino === b.ino;
}

export { errorText } from '../base/errors';

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

export const HOST = os.hostname();

/** Whether a process with this pid runs on this machine (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errorCode(err) === 'EPERM';
  }
}

/** `<file>.<pid>.<random>.tmp`: unique per writer, and the pid tells start-up cleanup whether its writer is alive. */
export function tmpNameFor(file: string): string {
  return `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
}

const TMP_RE = /\.(\d+)\.[0-9a-f]+\.tmp$/;

/**
 * Whether start-up cleanup may delete this temp file: its writer is dead, it is older than maxAgeMs, or it has the
 * pid-less name of a build that wrote one fixed `*.tmp` name (such a build never shares the folder safely anyway).
 */
export function tmpIsAbandoned(name: string, stat: FileStat | undefined, nowMs: number, maxAgeMs: number): boolean {
  const m = TMP_RE.exec(name);
  if (!m) return true;
  if (!pidAlive(Number(m[1]))) return true;
  return stat !== undefined && nowMs - stat.mtimeMs > maxAgeMs;
}

export function hintFor(err: unknown): string {
  switch (errorCode(err)) {
    case 'ENOSPC':
    case 'EDQUOT':
      return t('The disk is full. Free some space: the chat is kept in memory and saved when writing works again.');
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
      return t('Check the permissions of the extension storage folder: the chat is kept in memory meanwhile.');
    default:
      return t('The chat is kept in memory and saving is retried.');
  }
}
