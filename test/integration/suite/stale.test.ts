import * as assert from 'node:assert/strict';
import { setProxyMode } from '../../harness/faultProxyControl';
import type { LlamaChatApi } from '../../../src/extension';
import type { NotificationRecord } from '../../../src/vscode/notifications';
import { activateExtension, env, getSetting, nextEvent, setSetting, streamEndedIn, useServer, waitFor } from './support';

const PROXY = env('LLAMA_CHAT_TEST_PROXY_URL');
const CONTROL = env('LLAMA_CHAT_TEST_PROXY_CONTROL');

function staleQuestion(api: LlamaChatApi, title: string, after: number): Promise<NotificationRecord> {
  return waitFor('the stale notification', () => {
    const all = api.notifications();
    return all.slice(after).find((n) => n.severity === 'warning' && n.message.startsWith(`Llama Chat: “${title}” has had no tokens for `));
  });
}

describe('a stalled stream', function () {
  this.timeout(60_000);
  let staleBefore: number | undefined;

  before(async function () {
    if (!PROXY || !CONTROL) this.skip();
    staleBefore = getSetting<number>('staleSeconds');
    await setSetting('staleSeconds', 2);
    const { api } = await activateExtension();
    await setProxyMode(CONTROL, { kind: 'pass' });
    await useServer(api, PROXY);
  });

  afterEach(async () => {
    if (CONTROL) await setProxyMode(CONTROL, { kind: 'pass' });
  });

  after(async () => {
    if (PROXY && CONTROL) await setSetting('staleSeconds', staleBefore);
  });

  /** Starts an answer that the proxy holds back after the response headers. */
  async function stalledChat(api: LlamaChatApi, question: string): Promise<{ chatId: string; seen: number }> {
    await setProxyMode(CONTROL!, { kind: 'stall', path: '/v1/chat/completions' });
    const chat = await api.session.newChat();
    await api.showChat(chat.id);
    const seen = api.notifications().length;
    assert.equal((await api.session.send(chat.id, question)).ok, true);
    return { chatId: chat.id, seen };
  }

  it('is reported with Retry and Discard, marked stalled in the status bar, and Discard keeps it failed', async () => {
    const { api } = await activateExtension();
    const { chatId, seen } = await stalledChat(api, 'Stall then discard');
    const question = await staleQuestion(api, 'Stall then discard', seen);
    // Before asking, the server was asked what became of the request (/health and /slots): the proxy holds the
    // answer back, so the server has it in a slot or has already finished it.
    assert.match(question.message, /has had no tokens for \d+ s: llama-server (is still processing this request \(slots? [\d, ]+\)|has no request running: the answer was dropped)\.$/);
    assert.deepEqual(question.items, ['Retry', 'Discard']);
    assert.match(api.statusBarText() ?? '', /^\$\(warning\) stalled \d+ s/);
    assert.equal(api.contextKeys()['llamaChat.stale'], true);

    const ended = nextEvent(api, streamEndedIn(chatId));
    question.choose('Discard');
    const { message } = await ended;
    assert.equal(message.status, 'failed');
    assert.equal(message.error?.kind, 'aborted');
    assert.equal(api.contextKeys()['llamaChat.stale'], false);
  });

  it('Retry abandons the stalled answer and streams a new one', async () => {
    const { api } = await activateExtension();
    const { chatId, seen } = await stalledChat(api, 'Stall then retry');
    const question = await staleQuestion(api, 'Stall then retry', seen);
    const firstEnded = nextEvent(api, streamEndedIn(chatId));
    // Still stalled when the user answers: the old request is aborted and a new one sent (held by the proxy too,
    // until it is released below).
    question.choose('Retry');
    const first = await firstEnded;
    assert.equal(first.message.status, 'failed');
    await setProxyMode(CONTROL!, { kind: 'pass' });
    const chat = await waitFor('the new answer to finish', async () => {
      const c = await api.repository.getChat(chatId);
      const last = c?.messages.at(-1);
      return last && last.role === 'assistant' && last.id !== first.messageId && last.status === 'complete' ? c : undefined;
    }, 30_000);
    assert.deepEqual(
      chat.messages.map((m) => [m.role, m.status]),
      [
        ['user', 'complete'],
        ['assistant', 'failed'],
        ['assistant', 'complete'],
      ],
    );
  });

  it('answering after the stream finished on its own changes nothing and says so', async () => {
    const { api } = await activateExtension();
    const { chatId, seen } = await stalledChat(api, 'Stall then recover');
    const question = await staleQuestion(api, 'Stall then recover', seen);
    const ended = nextEvent(api, streamEndedIn(chatId));
    await setProxyMode(CONTROL!, { kind: 'pass' });
    const { message } = await ended;
    assert.equal(message.status, 'complete');
    question.choose('Retry');
    await waitFor('the nothing-to-retry message', () => api.notifications().slice(seen).find((n) => n.severity === 'info' && n.message === 'The answer already finished; nothing to retry.'));
    const chat = await api.repository.getChat(chatId);
    assert.equal(chat?.messages.length, 2, 'no new answer was started');
  });

  it('Retry in the notification after Discard in the view changes nothing and says the answer finished', async () => {
    const { api } = await activateExtension();
    const { chatId, seen } = await stalledChat(api, 'Stall then discard in the view');
    const question = await staleQuestion(api, 'Stall then discard in the view', seen);
    const stalledId = api.session.activeStreams().find((s) => s.chatId === chatId)!.messageId;
    // The user discards from the view's banner first; the toast cannot be closed from code and stays on screen.
    const discarded = await api.session.discard(chatId, stalledId);
    assert.ok(discarded.ok);
    await setProxyMode(CONTROL!, { kind: 'pass' });
    question.choose('Retry');
    await waitFor('the already-finished message', () => api.notifications().slice(seen).find((n) => n.severity === 'info' && n.message === 'The answer already finished; nothing to retry.'));
    const chat = await api.repository.getChat(chatId);
    assert.deepEqual(
      chat?.messages.map((m) => [m.role, m.status]),
      [
        ['user', 'complete'],
        ['assistant', 'failed'],
      ],
      'no second answer was started',
    );
    assert.equal(api.session.isStreaming(chatId), false);
  });
});

