/** The main-thread handle of the loopback SSE source (sseServerWorker.ts in a worker thread). */
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import type { StreamSpec } from './sseBody';
import type { FromWorker, SourceMode, ToWorker } from './sseServerWorker';

export type { SourceMode };

export class LoopbackSse {
  private readonly waiters: { type: FromWorker['type']; resolve: (msg: FromWorker) => void }[] = [];

  private constructor(
    private readonly worker: Worker,
    readonly url: string,
  ) {
    worker.on('message', (msg: FromWorker) => {
      const i = this.waiters.findIndex((w) => w.type === msg.type);
      if (i >= 0) this.waiters.splice(i, 1)[0].resolve(msg);
    });
  }

  static async start(): Promise<LoopbackSse> {
    const worker = new Worker(path.join(__dirname, 'sseServerWorker.js'));
    const port = await new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('message', (msg: FromWorker) => (msg.type === 'listening' ? resolve(msg.port) : reject(new Error(msg.type))));
    });
    return new LoopbackSse(worker, `http://127.0.0.1:${port}`);
  }

  private next<T extends FromWorker['type']>(type: T): Promise<Extract<FromWorker, { type: T }>> {
    return new Promise((resolve) => this.waiters.push({ type, resolve: resolve as (msg: FromWorker) => void }));
  }

  /** Sets the stream every following POST gets; resolves once the worker has built it. */
  async configure(spec: StreamSpec, mode: SourceMode): Promise<void> {
    const done = this.next('configured');
    this.worker.postMessage({ type: 'configure', spec, mode } satisfies ToWorker);
    await done;
  }

  /** Resolves when the worker has finished writing the next stream. */
  streamed(): Promise<Extract<FromWorker, { type: 'streamed' }>> {
    return this.next('streamed');
  }

  async stop(): Promise<void> {
    const closed = this.next('closed');
    this.worker.postMessage({ type: 'close' } satisfies ToWorker);
    await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
    await this.worker.terminate();
  }
}
