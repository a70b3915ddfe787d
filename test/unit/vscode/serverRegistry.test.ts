/** The active server: remembered, switched on the client, followed by a started local server; keys per server. */
import '../security/fakeVscode';
import * as assert from 'node:assert/strict';
import type { ServerProps } from '../../../src/core/server/client';
import { ConnectionMonitor } from '../../../src/core/server/connection';
import { ApiKeyStore } from '../../../src/vscode/secrets';
import { ServerClientHolder } from '../../../src/vscode/serverClient';
import type { ServerClient } from '../../../src/vscode/serverClient';
import { ServerRegistry } from '../../../src/vscode/serverRegistry';
import { RecordingLogger } from '../../support/recordingLogger';

class Memento {
  private readonly values = new Map<string, unknown>();
  get<T>(key: string): T | undefined {
    return this.values.get(key) as T | undefined;
  }
  update(key: string, value: unknown): Promise<void> {
    this.values.set(key, value);
    return Promise.resolve();
  }
  keys(): string[] {
    return [...this.values.keys()];
  }
}

function client(url: string): ServerClient {
  return {
    health: () => Promise.resolve({ status: 'ok' }),
    getProps: () => Promise.resolve<ServerProps>({ nCtx: 2048, modelAlias: url }),
    listModels: () => Promise.resolve([]),
    streamChat: () => ({ [Symbol.asyncIterator]: () => ({ next: () => Promise.resolve({ done: true as const, value: undefined }) }) }),
    dispose: () => undefined,
  };
}

function setup(servers: unknown[], memento = new Memento()) {
  const clients = new ServerClientHolder((c) => client(c.baseUrl), { baseUrl: 'http://127.0.0.1:8080', requestTimeoutMs: 1000 });
  const logger = new RecordingLogger();
  const connection = new ConnectionMonitor({ probe: () => clients, url: () => clients.config.baseUrl, logger, retryDelaysMs: [] });
  let setting = servers;
  const registry = new ServerRegistry({
    memento: memento,
    clients,
    connection,
    logger,
    settings: () => ({ servers: setting, serverUrl: 'http://127.0.0.1:8080', requestTimeoutMs: 1000 }),
  });
  registry.refresh();
  return { clients, registry, memento, connection, setServers: (s: unknown[]) => (setting = s) };
}

describe('ServerRegistry', () => {
  const two = [
    { name: 'Laptop', url: 'http://127.0.0.1:8081' },
    { name: 'GPU box', url: 'http://127.0.0.1:8082' },
  ];

  it('starts on the first server, switches the client on select, and remembers the choice for the next window', async () => {
    const a = setup(two);
    assert.equal(a.registry.active.name, 'Laptop');
    assert.equal(a.clients.config.baseUrl, 'http://127.0.0.1:8081');
    const changes: string[] = [];
    a.registry.onDidChange((e) => changes.push(e.name));
    assert.equal(await a.registry.select('http://127.0.0.1:8082'), true);
    assert.equal(a.clients.config.baseUrl, 'http://127.0.0.1:8082');
    assert.deepEqual(changes, ['GPU box']);
    assert.equal(await a.registry.select('http://nowhere:1'), false);
    const b = setup(two, a.memento);
    assert.equal(b.registry.active.name, 'GPU box', 'remembered across windows');
    a.connection.dispose();
    b.connection.dispose();
  });

  it('a started local server joins and becomes active; stopping it goes back to the first server', async () => {
    const { registry, clients, connection } = setup(two);
    await registry.useLocal('http://127.0.0.1:41000');
    assert.equal(registry.active.local, true);
    assert.equal(clients.config.baseUrl, 'http://127.0.0.1:41000');
    assert.ok(registry.list().some((e) => e.local));
    registry.localStopped();
    assert.equal(registry.active.name, 'Laptop');
    assert.ok(!registry.list().some((e) => e.local));
    connection.dispose();
  });

  it('a settings change keeps the active server while it is listed', async () => {
    const { registry, setServers, clients, connection } = setup(two);
    await registry.select('http://127.0.0.1:8082');
    setServers([...two, { name: 'New', url: 'http://127.0.0.1:8083' }]);
    registry.refresh();
    assert.equal(registry.active.name, 'GPU box');
    setServers([two[0]]);
    registry.refresh();
    assert.equal(registry.active.name, 'Laptop');
    assert.equal(clients.config.baseUrl, 'http://127.0.0.1:8081');
    connection.dispose();
  });
});

describe('ApiKeyStore per server', () => {
  function secrets() {
    const m = new Map<string, string>();
    return {
      map: m,
      store: {
        get: (k: string) => Promise.resolve(m.get(k)),
        store: (k: string, v: string) => (m.set(k, v), Promise.resolve()),
        delete: (k: string) => (m.delete(k), Promise.resolve()),
        onDidChange: () => ({ dispose: () => undefined }),
      },
    };
  }

  it('keeps one key per server; the key saved before (one key for all) stays with the default server only', async () => {
    const s = secrets();
    s.map.set('llamaChat.apiKey', 'legacy-key');
    let active = 'http://default:8080';
    const keys = new ApiKeyStore(s.store, () => active, (url) => url === 'http://default:8080');
    assert.equal(await keys.get(), 'legacy-key', 'the default server keeps the old key');
    active = 'http://other:1';
    assert.equal(await keys.get(), undefined, 'another server does not get it');
    await keys.set('other-key');
    assert.equal(await keys.get('http://other:1'), 'other-key');
    assert.equal(await keys.get('http://default:8080'), 'legacy-key');
    assert.deepEqual((await keys.all(['http://other:1'])).sort(), ['legacy-key', 'other-key']);
    await keys.clear();
    assert.equal(await keys.get('http://other:1'), undefined);
    assert.equal(await keys.get('http://default:8080'), 'legacy-key');
  });
});
