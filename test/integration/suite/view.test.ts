import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activateExtension, env, nextEvent, streamEndedIn, useServer, waitFor } from './support';

const SERVER = env('LLAMA_CHAT_TEST_SERVER_URL');

describe('the chat view bridge', function () {
  this.timeout(60_000);

  it('posts nothing while the view is hidden, and catches up with a snapshot when shown again', async function () {
    if (!SERVER) this.skip();
    const { api } = await activateExtension();
    await useServer(api, SERVER);
    await vscode.commands.executeCommand('llamaChat.focus');
    await waitFor('the chat view to be live', () => api.viewIsLive(), 30_000);

    await vscode.commands.executeCommand('workbench.action.closeSidebar');
    await waitFor('the chat view to go dark', () => !api.viewIsLive());
    const before = api.viewPosts();
    const chat = await api.session.newChat();
    const ended = nextEvent(api, streamEndedIn(chat.id));
    assert.equal((await api.session.send(chat.id, 'Tell me about the sea.')).ok, true);
    const { message } = await ended;
    assert.equal(message.status, 'complete');
    assert.equal(api.viewPosts(), before, 'a hidden view is sent nothing');

    await vscode.commands.executeCommand('llamaChat.focus');
    await waitFor('the chat view to be live again', () => api.viewIsLive(), 30_000);
    assert.ok(api.viewPosts() > before, 'the shown view got its snapshot');
  });
});
