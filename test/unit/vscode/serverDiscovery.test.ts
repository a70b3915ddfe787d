/** Port 9931 (llama.cpp's newer default) is tried only when serverUrl is unset and nothing answers on 8080. */
import '../security/fakeVscode';
import * as assert from 'node:assert/strict';
import type { ServerProps } from '../../../src/core/server/client';
import { ConnectionMonitor } from '../../../src/core/server/connection';
import type { Notifier } from '../../../src/vscode/notifications';
import { ServerClientHolder } from '../../../src/vscode/serverClient';
import type { ServerClient, ServerClientConfig } from '../../../src/vscode/serverClient';
import { NEW_DEFAULT_URL, ServerDiscovery } from '../../../src/vscode/serverDiscovery';
import { DEFAULT_SERVER_URL } from '../../../src/vscode/settings';
import { RecordingLogger } from '../../support/recordingLogger';

/** A client for `config` that answers only when its URL is one of `up`. */
function fakeClient(config: ServerClientConfig, up: Set<string>): ServerClient {
  const ok = (): boolean => up.has(config.baseUrl);
  const refuse = (): Promise<never> => Promise.reject(new Error(`ECONNREFUSED ${config.baseUrl}`));
  return {
    health: () => (ok() ? Promise.resolve({ status: 'ok' }) : refuse()),
    getProps: () => (ok() ? Promise.resolve<ServerProps>({ nCtx: 4096, modelAlias: 'found' }) : refuse()),
    listModels: () => Promise.resolve([]),
    streamChat: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true as const, value: undefined }) }) }),
    dispose: () => undefined,
  };
}

function setup(up: string[], isUserSet: boolean) {
  const alive = new Set(up);
  const clients = new ServerClientHolder((c) => fakeClient(c, alive), { baseUrl: DEFAULT_SERVER_URL, requestTimeoutMs: 1000 });
  const logger = new RecordingLogger();
  const connection = new ConnectionMonitor({ probe: () => clients, url: () => clients.config.baseUrl, logger, retryDelaysMs: [] });
  const infos: string[] = [];
  const notifier = { info: (m: string) => (infos.push(m), Promise.resolve(undefined)) } as unknown as Notifier;
  const discovery = new ServerDiscovery({
    clients,
    connection,
    logger,
    notifier,
    config: () => ({ baseUrl: DEFAULT_SERVER_URL, requestTimeoutMs: 1000 }),
    probe: (url) => (alive.has(url) ? Promise.resolve() : Promise.reject(new Error('refused'))),
    isUserSet: () => isUserSet,
  });
  return { clients, connection, discovery, infos, logger };
}

const settle = (): Promise<void> => new Promise((r) => setTimeout(r, 20));

describe('ServerDiscovery', () => {
  it('nothing on 8080, a server on 9931, serverUrl unset: uses 9931 and says so', async () => {
    const { clients, connection, infos } = setup([NEW_DEFAULT_URL], false);
    await connection.check();
    await settle();
    assert.equal(clients.config.baseUrl, NEW_DEFAULT_URL);
    assert.equal(connection.state.state, 'connected');
    assert.match(infos.join('\n'), /port 9931/);
    connection.dispose();
  });

  it('a serverUrl the user set is never second-guessed', async () => {
    const { clients, connection, infos } = setup([NEW_DEFAULT_URL], true);
    await connection.check();
    await settle();
    assert.equal(clients.config.baseUrl, DEFAULT_SERVER_URL);
    assert.equal(connection.state.state, 'error');
    assert.deepEqual(infos, []);
    connection.dispose();
  });

  it('nothing on either port: stays on 8080 and tries 9931 once', async () => {
    const { clients, connection, logger } = setup([], false);
    await connection.check();
    await settle();
    await connection.recheck();
    await settle();
    assert.equal(clients.config.baseUrl, DEFAULT_SERVER_URL);
    assert.equal(logger.lines.filter((l) => l.includes('Nothing answers on')).length, 1);
    connection.dispose();
  });

  it('a server on 8080: 9931 is never tried', async () => {
    const { clients, connection, infos } = setup([DEFAULT_SERVER_URL, NEW_DEFAULT_URL], false);
    await connection.check();
    await settle();
    assert.equal(clients.config.baseUrl, DEFAULT_SERVER_URL);
    assert.deepEqual(infos, []);
    connection.dispose();
  });
});
