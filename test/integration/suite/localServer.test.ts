import * as assert from 'node:assert/strict';
import * as http from 'node:http';
import * as net from 'node:net';
import * as vscode from 'vscode';
import type { LlamaChatApi } from '../../../src/extension';
import type { LocalServerApi } from '../../../src/vscode/localServer';
import { activateExtension, env, getSetting, nextEvent, setSetting, streamEndedIn, useServer, waitFor } from './support';

const BIN = env('LLAMA_CHAT_TEST_SERVER_BIN');
const MODEL = env('LLAMA_CHAT_TEST_MODEL');

function health(url: string): Promise<number> {
  return new Promise((resolve) => {
    http.get(`${url}/health`, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('the local llama-server (Start / Stop Local Server)', function () {
  this.timeout(120_000);
  let api: LlamaChatApi;
  let local: LocalServerApi;
  let previousServerUrl: string | undefined;

  before(async function () {
    if (!BIN || !MODEL) this.skip();
    ({ api } = await activateExtension());
    if (typeof api.localServer !== 'function') throw new Error('the test API has no localServer()');
    local = api.localServer();
    previousServerUrl = getSetting<string>('serverUrl');
    await setSetting('localServer.binary', BIN);
    await setSetting('localServer.model', MODEL);
    await setSetting('localServer.args', ['-c', '2048', '--no-ui', '-t', '1', '-tb', '1']);
  });

  after(async function () {
    if (!local) return;
    await local.stop();
    await setSetting('localServer.binary', undefined);
    await setSetting('localServer.model', undefined);
    await setSetting('localServer.args', undefined);
    if (getSetting<string>('serverUrl') !== previousServerUrl) await setSetting('serverUrl', previousServerUrl);
  });

  it('starts a real llama-server on loopback, chats with it, and stops its process', async function () {
    assert.equal(local.state().state, 'stopped');
    const url = await vscode.commands.executeCommand<string | undefined>('llamaChat.startServer');
    assert.ok(url, 'the command resolved the URL');
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const state = local.state();
    assert.equal(state.state, 'running');
    assert.equal(state.url, url);
    assert.ok(state.pid && alive(state.pid));
    assert.equal(await health(url), 200);

    // With onStarted wired the client switches to the local server by itself; else point it there.
    const wired = await waitFor('the client to use the local server', () => api.serverUrl() === url, 3_000).then(
      () => true,
      () => false,
    );
    if (wired) assert.equal((await api.checkConnection()).state, 'connected');
    else {
      console.log('    (onStarted is not wired to the client yet: chatting via llamaChat.serverUrl)');
      await useServer(api, url);
    }
    const chat = await api.session.newChat();
    const ended = nextEvent(api, streamEndedIn(chat.id), 60_000);
    const outcome = await api.session.send(chat.id, 'Say hello.');
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    const { message } = await ended;
    assert.equal(message.status, 'complete', JSON.stringify(message.error));
    assert.ok(message.content.length > 0);

    // Starting again while it runs says so and starts nothing.
    const before = api.notifications().length;
    assert.equal(await vscode.commands.executeCommand('llamaChat.startServer'), url);
    assert.equal(local.state().pid, state.pid);
    assert.match(api.notifications().slice(before).map((n) => n.message).join('\n'), /runs already/);

    await vscode.commands.executeCommand('llamaChat.stopServer');
    assert.equal(local.state().state, 'stopped');
    assert.equal(alive(state.pid), false, 'the process is gone');
    assert.equal(await portFree(Number(new URL(url).port)), true, 'the port is free again');
    assert.equal(await health(url), 0);
    if (wired) await waitFor('the client to leave the stopped local server', () => api.serverUrl() !== url, 5_000);
  });

  it('reports a crash with its last lines and Restart, which brings it back up', async function () {
    const url = await local.start();
    assert.ok(url);
    const { pid } = local.state();
    assert.ok(pid);
    const before = api.notifications().length;
    process.kill(pid, 'SIGKILL');
    const report = await waitFor('the crash notification', () => api.notifications().slice(before).find((n) => n.items.includes('Restart')), 15_000);
    assert.equal(report.severity, 'error');
    assert.match(report.message, /llama-server crashed \(signal SIGKILL\)/);
    assert.match(report.message, /Last lines:/);
    assert.doesNotMatch(report.message, new RegExp(MODEL!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')), 'no full model path');
    assert.equal(local.state().state, 'crashed');

    report.choose('Restart');
    await waitFor('the restarted server', () => local.state().state === 'running', 60_000);
    const again = local.state();
    assert.notEqual(again.pid, pid);
    assert.equal(await health(again.url!), 200);
    await local.stop();
    assert.equal(local.state().state, 'stopped');
    assert.equal(alive(again.pid!), false);
  });
});
