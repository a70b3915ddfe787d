import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ChatStore } from '../../../src/core/store/chatStore';
import { setProxyMode } from '../../harness/faultProxyControl';
import * as vscode from 'vscode';
import { activePath } from '../../../src/core/chats/chatTree';
import { activateExtension, env, nextEvent, streamEndedIn, useServer, waitFor } from './support';

const SERVER = env('LLAMA_CHAT_TEST_SERVER_URL');
const PROXY = env('LLAMA_CHAT_TEST_PROXY_URL');
const CONTROL = env('LLAMA_CHAT_TEST_PROXY_CONTROL');

describe('chatting with llama-server', function () {
  this.timeout(60_000);

  it('streams an answer and persists the chat to the workspace storage', async function () {
    if (!SERVER) this.skip();
    const { api } = await activateExtension();
    await useServer(api, SERVER);
    const chat = await api.session.newChat();
    const ended = nextEvent(api, streamEndedIn(chat.id));
    const outcome = await api.session.send(chat.id, 'Write a short poem about llamas.');
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    const { message } = await ended;
    assert.equal(message.status, 'complete', JSON.stringify(message.error));
    assert.ok(message.content.length > 0, 'the answer has text');
    assert.ok((message.completionTokens ?? 0) > 0);

    await api.repository.flush();
    const file = path.join(api.storageDir, 'chats', `${chat.id}.jsonl`);
    assert.ok(fs.existsSync(file), `${file} exists`);

    // A second store over the same folder (what the next window opens) sees the same chat.
    const reopened = new ChatStore({ dir: api.storageDir });
    try {
      const problems = await reopened.open();
      assert.deepEqual(problems, []);
      const again = await reopened.getChat(chat.id);
      assert.ok(again, 'the chat is found again');
      assert.equal(again.title, 'Write a short poem about llamas.');
      assert.deepEqual(
        again.messages.map((m) => [m.role, m.status]),
        [
          ['user', 'complete'],
          ['assistant', 'complete'],
        ],
      );
      assert.equal(again.messages[1].content, message.content);
    } finally {
      await reopened.dispose();
    }
  });

  it('shows tok/s and context in the status bar while streaming, then hides it when idle', async function () {
    if (!PROXY || !CONTROL) this.skip();
    const { api } = await activateExtension();
    await setProxyMode(CONTROL, { kind: 'pass' });
    await useServer(api, PROXY);
    const connection = api.connection();
    const nCtx = connection.state === 'connected' ? connection.nCtx : undefined;
    // Slow the stream down so there is time to look at the status bar.
    await setProxyMode(CONTROL, { kind: 'slow', eventsPerSecond: 20, path: '/v1/chat/completions' });
    try {
      const chat = await api.session.newChat();
      await api.showChat(chat.id);
      const ended = nextEvent(api, streamEndedIn(chat.id));
      assert.equal((await api.session.send(chat.id, 'Count to one hundred.')).ok, true);
      assert.equal(api.contextKeys()['llamaChat.streaming'], true);
      const text = await waitFor('a measured rate with context in the status bar', () => {
        const t = api.statusBarText();
        return t && /^\$\(pulse\) [\d.,]+ tok\/s · [\d,]+\/[\d,]+$/.test(t) ? t : undefined;
      });
      const [, used, max] = /· ([\d,]+)\/([\d,]+)$/.exec(text)!;
      assert.ok(Number(used.replace(/,/g, '')) > 0);
      if (nCtx !== undefined) assert.equal(Number(max.replace(/,/g, '')), nCtx, 'the maximum is n_ctx from /props');
      if (nCtx !== undefined && nCtx >= 1000) assert.match(max, /,/, 'thousands are separated');
      const tooltip = api.statusBarTooltip() ?? '';
      assert.match(tooltip, /Model: /);
      assert.match(tooltip, /Server: /);

      assert.equal((await api.session.stop(chat.id)).ok, true);
      const { message } = await ended;
      assert.equal(message.status, 'stopped');
      assert.equal(api.contextKeys()['llamaChat.streaming'], false);
      assert.match(api.statusBarText() ?? '', /^\$\(debug-stop\) /, 'the final figures are marked as final');
      await waitFor('the status bar to hide', () => api.statusBarText() === undefined, 10_000);
    } finally {
      await setProxyMode(CONTROL, { kind: 'pass' });
    }
  });

  it('Delete Message removes one message (its reply moves up) and Undo in the notification brings it back', async function () {
    if (!SERVER) this.skip();
    const { api } = await activateExtension();
    await useServer(api, SERVER);
    const chat = await api.session.newChat();
    for (const q of ['First question', 'Second question']) {
      const ended = nextEvent(api, streamEndedIn(chat.id));
      assert.equal((await api.session.send(chat.id, q)).ok, true);
      await ended;
    }
    const before = structuredClone((await api.repository.getChat(chat.id))!);
    const firstAnswer = before.messages[1];
    const seen = api.notifications().length;
    await vscode.commands.executeCommand('llamaChat.deleteMessage', chat.id, firstAnswer.id, 'message');
    const shown = activePath((await api.repository.getChat(chat.id))!);
    assert.deepEqual(shown.map((m) => m.role), ['user', 'user', 'assistant'], 'the answer is gone, its reply moved up');
    const toast = await waitFor('the Undo notification', () => api.notifications().slice(seen).find((n) => n.items.includes('Undo')));
    assert.match(toast.message, /deleted 1 message/);
    toast.choose('Undo');
    await waitFor('the message back', async () => ((await api.repository.getChat(chat.id))!.messages.length === before.messages.length ? true : undefined));
    const after = (await api.repository.getChat(chat.id))!;
    assert.deepEqual(activePath(after).map((m) => [m.id, m.parentId]), activePath(before).map((m) => [m.id, m.parentId]));
  });
});

