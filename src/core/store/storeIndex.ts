/**
 * index.json, shared by every window on the folder: read it, and write it under its own lock, keeping the rows of
 * chats this window does not know (another window's) as long as their files exist.
 */
import * as path from 'node:path';
import type { Logger } from '../base/logger';
import type { FileStat, StoreFs } from './storeFs';
import { errorCode, errorText, tmpNameFor } from './storeFs';
import type { IndexRow } from './storeFormat';
import { encodeIndex, parseIndex } from './storeFormat';
import type { FileLocks } from './storeLock';

export class StoreIndex {
  readonly file: string;
  private readonly lockFile: string;

  constructor(
    dir: string,
    private readonly chatsDir: string,
    private readonly fs: StoreFs,
    private readonly locks: FileLocks,
    private readonly logger: Logger,
  ) {
    this.file = path.join(dir, 'index.json');
    this.lockFile = path.join(dir, 'index.lock');
  }

  async read(): Promise<IndexRow[] | undefined> {
    try {
      return parseIndex((await this.fs.readFile(this.file)).toString('utf8'));
    } catch (err) {
      if (errorCode(err) !== 'ENOENT') this.logger.warn(`ChatStore: cannot read ${this.file}: ${errorText(err)}`);
      return undefined;
    }
  }

  /**
   * Writes our rows plus the rows on disk for chats we do not know (`known`), unless we deleted them (`forgotten`)
   * or their file is gone. Throws on failure.
   */
  async write(ours: IndexRow[], known: ReadonlySet<string>, forgotten: ReadonlySet<string>): Promise<void> {
    await this.locks.withLock(this.lockFile, async () => {
      const rows = [...ours];
      const onDisk = await this.read();
      for (const r of onDisk ?? []) {
        if (known.has(r.id) || forgotten.has(r.id)) continue;
        if (await this.exists(path.join(this.chatsDir, `${r.id}.jsonl`))) rows.push(r);
      }
      await writeAtomic(this.fs, this.file, Buffer.from(encodeIndex(rows), 'utf8'));
    });
  }

  private async exists(file: string): Promise<boolean> {
    try {
      await this.fs.stat(file);
      return true;
    } catch {
      return false;
    }
  }
}

/** tmp (unique per writer) + fsync + rename + fsync(dir): a crash leaves either the old file or the new one. */
export async function writeAtomic(fs: StoreFs, file: string, data: Buffer): Promise<FileStat> {
  const tmp = tmpNameFor(file);
  try {
    const stat = await fs.writeDurable(tmp, data);
    await fs.rename(tmp, file);
    await fs.syncDir(path.dirname(file));
    return stat;
  } catch (err) {
    try {
      await fs.unlink(tmp);
    } catch {
      // never created
    }
    throw err;
  }
}
