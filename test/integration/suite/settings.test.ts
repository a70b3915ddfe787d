import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { activateExtension, env, getSetting, setSetting, useServer, waitFor } from './support';

const SERVER = env('LLAMA_CHAT_TEST_SERVER_URL');

function allFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? allFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

describe('settings and secrets', function () {
  this.timeout(60_000);
  let original: string | undefined;

  before(() => {
    original = getSetting<string>('serverUrl');
  });

  after(async () => {
    await setSetting('serverUrl', original);
  });

  it('a changed serverUrl applies without reload and re-checks the connection', async function () {
    if (!SERVER) this.skip();
    const { api } = await activateExtension();
    await useServer(api, SERVER);
    assert.equal(api.connection().state, 'connected');

    // Nothing listens on port 9 here: the view must say the server is unreachable, with a hint.
    await setSetting('serverUrl', 'http://127.0.0.1:9/');
    const failed = await waitFor('the re-check of the new URL to fail', () => {
      const s = api.connection();
      return s.state === 'error' && s.url === 'http://127.0.0.1:9' ? s : undefined;
    });
    assert.equal(failed.error.kind, 'unreachable');
    assert.ok(failed.error.hint, 'an unreachable server comes with a next step');
    assert.equal(api.serverUrl(), 'http://127.0.0.1:9');

    await setSetting('serverUrl', SERVER);
    await waitFor('the connection to come back', () => {
      const s = api.connection();
      return s.state === 'connected' && s.url === SERVER.replace(/\/+$/, '');
    });
  });

  it('keeps the API key in secret storage only: never in settings, logs or chat files', async function () {
    const { api } = await activateExtension();
    const key = `sk-test-${Date.now().toString(36)}-do-not-log`;
    await api.setApiKey(key);
    try {
      assert.equal(await api.hasApiKey(), true);
      const config = JSON.stringify(vscode.workspace.getConfiguration('llamaChat'));
      assert.ok(!config.includes(key), 'the key is not in the settings');
      if (SERVER) {
        // Requests now carry the key (llama-server without --api-key ignores it): exercise the logging paths.
        await useServer(api, SERVER);
        const chat = await api.session.newChat();
        assert.equal((await api.session.send(chat.id, 'hi')).ok, true);
        await waitFor('the answer to end', () => !api.session.isStreaming(chat.id), 30_000);
        await api.repository.flush();
      }
      const logs = api.recentLogs();
      assert.ok(logs.length > 0, 'something was logged');
      assert.ok(!logs.some((l) => l.includes(key)), 'the key is not in the log');
      assert.ok(!logs.some((l) => /authorization:\s*bearer\s+\S/i.test(l) && !l.includes('[redacted]')), 'no Authorization header in the log');
      for (const file of allFiles(api.storageDir)) {
        assert.ok(!fs.readFileSync(file, 'utf8').includes(key), `the key is not in ${file}`);
      }
    } finally {
      await api.clearApiKey();
    }
    assert.equal(await api.hasApiKey(), false);
  });
});
