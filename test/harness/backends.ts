/**
 * The servers an extension under test talks to: a real llama-server, the fault proxy in front of it, and the
 * proxy's HTTP control port. Shared by the extension-host suite (code-server and test-electron) and the e2e run.
 */
import { startFaultProxy } from './faultProxy';
import type { FaultMode, FaultProxy } from './faultProxy';
import { startFaultProxyControl } from './faultProxyControl';
import type { FaultProxyControl } from './faultProxyControl';
import { startLlamaServer } from './llamaServer';
import type { LlamaServerHandle } from './llamaServer';

export interface Backends {
  server: LlamaServerHandle;
  proxy: FaultProxy;
  control: FaultProxyControl;
  /** What the extension host needs to find them (its environment is inherited from code-server's). */
  env: Record<string, string>;
  stop(): Promise<void>;
}

export interface StartBackendsOptions {
  /** The proxy's first mode (default: pass). */
  mode?: FaultMode;
  /** llama-server context (`-c`, shared by the slots; default 2048). */
  ctx?: number;
  /** llama-server slots (default 4). */
  parallel?: number;
  /** Model file (default: the tiny model). */
  model?: string;
  /** The model name the server reports (default `tiny-llama`; the file path otherwise). */
  alias?: string;
  /** More llama-server arguments (e.g. `--grammar` for every request). */
  extraArgs?: readonly string[];
  onProgress?: (line: string) => void;
}

export async function startBackends(options: StartBackendsOptions = {}): Promise<Backends> {
  const server = await startLlamaServer({ model: options.model, ctx: options.ctx, parallel: options.parallel, alias: options.alias ?? 'tiny-llama', extraArgs: options.extraArgs, onProgress: options.onProgress });
  let proxy: FaultProxy | undefined;
  try {
    proxy = await startFaultProxy({ target: server.url, mode: options.mode });
    const control = await startFaultProxyControl(proxy);
    const started = proxy;
    return {
      server,
      proxy,
      control,
      env: {
        LLAMA_CHAT_TEST_SERVER_URL: server.url,
        LLAMA_CHAT_TEST_PROXY_URL: proxy.url,
        LLAMA_CHAT_TEST_PROXY_CONTROL: control.url,
      },
      async stop(): Promise<void> {
        await control.stop().catch(() => undefined);
        await started.stop().catch(() => undefined);
        await server.stop();
      },
    };
  } catch (err) {
    await proxy?.stop().catch(() => undefined);
    await server.stop();
    throw err;
  }
}
