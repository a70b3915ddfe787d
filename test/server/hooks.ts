/**
 * Mocha root hooks for the server suite: ONE real llama-server (tiny model, ctx 2048, 4 slots) for every test,
 * started before the first and stopped (by PID) after the last. `$LLAMA_SERVER_URL` uses an external server.
 */
import type { Context } from 'mocha';
import { startLlamaServer } from '../harness/llamaServer';
import type { LlamaServerHandle } from '../harness/llamaServer';

/** The model name the suite's server reports (`--alias`). */
export const SERVER_ALIAS = 'tiny';
export const SERVER_CTX = 2048;
export const SERVER_SLOTS = 4;

let server: LlamaServerHandle | undefined;

/** The running server; only valid inside tests (after the root beforeAll). */
export function serverUnderTest(): LlamaServerHandle {
  if (!server) throw new Error('llama-server is not running: load test/server/hooks.js via .mocharc.server.json');
  return server;
}

export const mochaHooks = {
  async beforeAll(this: Context): Promise<void> {
    // The first run on a machine builds llama-server (minutes); `cli.js ensure` normally did that already.
    this.timeout(30 * 60_000);
    server = await startLlamaServer({
      ctx: SERVER_CTX,
      parallel: SERVER_SLOTS,
      alias: SERVER_ALIAS,
      onProgress: (line) => console.error(line),
    });
  },
  async afterAll(this: Context): Promise<void> {
    this.timeout(15_000);
    await server?.stop();
    server = undefined;
  },
};
