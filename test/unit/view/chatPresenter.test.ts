/**
 * The chat view's presentation without VS Code: a real ChatSession on the fakes, and a recording surface in place
 * of the webview. What the webview is sent, when, and what it is not sent (hidden, other chats, repeats).
 */
import * as assert from 'node:assert/strict';
import { Emitter } from '../../../src/core/base/disposable';
import type { ConnectionState } from '../../../src/core/server/connection';
import type { ToWebviewMessage } from '../../../src/protocol';
import { ChatPresenter, refusalText, resultMessage } from '../../../src/view/chatPresenter';
import { RecordingLogger } from '../../support/recordingLogger';
import { sessionRig, tick } from '../../support/sessionRig';

type Of<T extends ToWebviewMessage['type']> = Extract<ToWebviewMessage, { type: T }>;

function setup(options: { initialChatId?: string; staleSeconds?: number } = {}) {
  const rig = sessionRig({ staleSeconds: options.staleSeconds ?? 10 });
  const posted: ToWebviewMessage[] = [];
  const surface = { isAttached: true, isVisible: true };
  const connectionChanged = new Emitter<ConnectionState>();
  const connection = { state: { state: 'unknown' } as ConnectionState, onDidChange: connectionChanged.event };
  const notices: string[] = [];
  const logger = new RecordingLogger();
  const make = (initialChatId = options.initialChatId) =>
    new ChatPresenter({
      session: rig.session,
      repository: rig.repo,
      connection,
      logger,
      surface: { attached: () => surface.isAttached, visible: () => surface.isVisible, post: (m) => posted.push(m) },
      notify: (text) => notices.push(text),
      currentModel: () => 'tiny',
      thinking: (chatId) => (chatId === 'never' ? undefined : true),
      ...(initialChatId !== undefined ? { initialChatId } : {}),
      clock: rig.clock,
    });
  const of = <T extends ToWebviewMessage['type']>(type: T): Of<T>[] => posted.filter((m): m is Of<T> => m.type === type);
  return { ...rig, posted, surface, connection, connectionChanged, notices, logger, make, ofPosted: of };
}

describe('ChatPresenter', () => {
  it('opens the remembered chat, else the newest; posts nothing until the view is ready, then a full snapshot', async () => {
    const t = setup();
    const older = await t.session.newChat();
    t.clock.advance(1_000);
    const newer = await t.session.newChat();
    assert.equal(t.make(older.id).activeChatId, older.id);
    assert.equal(t.make('gone').activeChatId, newer.id, 'a chat that no longer exists is not reopened');
    const p = t.make();
    assert.equal(p.activeChatId, newer.id);
    assert.equal(p.isLive, false);
    p.post({ type: 'focusInput' });
    assert.equal(t.posted.length, 0, 'not live: nothing is posted');

    await p.ready();
    assert.equal(p.isLive, true);
    const [snap] = t.ofPosted('snapshot');
    assert.deepEqual(snap.state.chats.map((c) => c.id), [newer.id, older.id]);
    assert.equal(snap.state.activeChatId, newer.id);
    assert.equal(snap.state.activeChat?.id, newer.id);
    assert.equal(snap.state.activeChat?.thinking, true, 'the per-chat thinking switch rides in the snapshot');
    assert.equal(snap.state.model, 'tiny');
    assert.deepEqual(snap.state.streaming, []);
  });

  it('streams the open chat as deltas batched per frame with rising seq, then done without the text', async () => {
    const t = setup();
    const chat = await t.session.newChat();
    const p = t.make();
    await p.ready();
    const out = await p.send('hi');
    assert.ok(out.ok);
    const id = out.messageId!;
    assert.deepEqual(t.ofPosted('messageAdded').map((m) => m.message.role), ['user', 'assistant']);
    const stream = t.streamer.last;
    stream.content('Hel');
    await stream.drained();
    t.clock.advance(25);
    const first = t.ofPosted('delta').length;
    stream.content('lo');
    await stream.drained();
    stream.content(' world');
    await stream.drained();
    t.clock.advance(25);
    const deltas = t.ofPosted('delta');
    assert.equal(deltas.length, first + 1, 'the text of one frame goes in one delta');
    assert.deepEqual(deltas.at(-1)?.text, 'lo world');
    assert.deepEqual(deltas.map((d) => d.seq), deltas.map((_, i) => i + 1));
    assert.ok(deltas.every((d) => d.messageId === id));
    assert.equal(deltas.map((d) => d.text).join(''), 'Hello world');
    stream.content('!').finish('stop');
    await stream.drained();
    await tick();
    const [done] = t.ofPosted('done');
    assert.equal(done.message.content, '', 'the text is not sent twice');
    assert.deepEqual(done.textLengths, { content: 12, reasoning: 0 });
    assert.equal(t.ofPosted('delta').at(-1)?.text, '!', 'pending text goes before done');
    assert.equal(chat.id, out.chatId);
  });

  it('another chat streaming sends no text to the open one, and a hidden view gets nothing until its next snapshot', async () => {
    const t = setup();
    const other = await t.session.newChat();
    t.clock.advance(1_000);
    const open = await t.session.newChat();
    const p = t.make(open.id);
    await p.ready();
    const out = await t.session.send(other.id, 'elsewhere');
    assert.ok(out.ok);
    t.streamer.last.content('not for you');
    await t.streamer.last.drained();
    t.clock.advance(100);
    assert.equal(t.ofPosted('delta').length, 0);
    assert.equal(t.ofPosted('messageAdded').length, 0);

    await p.showChat(other.id);
    const before = t.posted.length;
    t.surface.isVisible = false;
    p.goDark();
    t.streamer.last.content(' more');
    await t.streamer.last.drained();
    t.clock.advance(100);
    assert.equal(t.posted.length, before, 'hidden: nothing is posted');
    t.surface.isVisible = true;
    await p.postSnapshot();
    const snap = t.ofPosted('snapshot').at(-1)!;
    assert.equal(snap.state.activeChat?.messages.at(-1)?.content, 'not for you more', 'the snapshot carries what was missed');
    assert.deepEqual(snap.state.streaming.map((s) => [s.messageId, s.seq]), [[out.messageId, 0]]);
  });

  it('prompt progress is posted once per whole percent, with the phase', async () => {
    const t = setup();
    await t.session.newChat();
    const p = t.make();
    await p.ready();
    const out = await p.send('long prompt');
    assert.ok(out.ok);
    const stream = t.streamer.last;
    for (const processed of [10, 11, 19, 500, 1000]) stream.push({ type: 'progress', progress: { total: 1000, cache: 0, processed, timeMs: 1 } });
    await stream.drained();
    const prompt = t.ofPosted('status').filter((s) => s.promptProgress !== undefined && s.phase === 'prompt');
    assert.deepEqual(prompt.map((s) => s.promptProgress), [0.01, 0.5, 1], '1.1 % and 1.9 % are still 1 %');
  });

  it('a stall is posted with its silence and diagnosis; a snapshot meanwhile tells the silence so far; recovery clears it', async () => {
    const t = setup({ staleSeconds: 5 });
    await t.session.newChat();
    const p = t.make();
    await p.ready();
    t.streamer.withProbes('ok', [{ id: 0, isProcessing: false }]);
    const out = await p.send('q');
    assert.ok(out.ok);
    const stream = t.streamer.last;
    stream.content('a');
    await stream.drained();
    t.clock.advance(5_000);
    for (let i = 0; i < 5 && t.of('stale').length === 0; i++) await tick();
    const stale = t.ofPosted('status').filter((s) => s.stale === true);
    assert.equal(stale.length, 1);
    assert.equal(stale[0].silentMs, 5_000);
    assert.equal(stale[0].diagnosis, 'llama-server has no request running: the answer was dropped');

    t.clock.advance(3_000);
    await p.postSnapshot();
    const [info] = t.ofPosted('snapshot').at(-1)!.state.streaming;
    assert.equal(info.stale, true);
    assert.equal(info.silentMs, 8_000);
    assert.equal(info.diagnosis, 'llama-server has no request running: the answer was dropped');

    stream.content('b');
    await stream.drained();
    const recovered = t.ofPosted('status').filter((s) => s.stale === false);
    assert.equal(recovered.length, 1);
    assert.equal(recovered[0].phase, 'generating', 'the phase it had comes back');
    t.clock.advance(100);
    await p.postSnapshot();
    const [after] = t.ofPosted('snapshot').at(-1)!.state.streaming;
    assert.deepEqual([after.stale, after.silentMs, after.diagnosis], [false, undefined, undefined]);
  });

  it('a refused send is returned to a request, else said as an error; other refusals are notices', async () => {
    const t = setup();
    const chat = await t.session.newChat();
    const p = t.make();
    await p.ready();
    assert.ok((await p.send('first')).ok);
    const busy = await p.send('second', chat.id);
    assert.equal(busy.ok, false);
    assert.equal(t.ofPosted('error').length, 1, 'no request to answer: an error message');
    p.answer('r1', busy, 'send');
    assert.deepEqual(t.ofPosted('result').at(-1), resultMessage('r1', busy));
    assert.equal(t.notices.length, 0);
    p.answer(undefined, busy, 'retry');
    assert.equal(t.notices.length, 1, 'without a request id the refusal is a notice');
    p.report({ ok: true, chatId: chat.id }, 'retry');
    assert.equal(t.notices.length, 1, 'success is no news');
  });

  it('the open chat deleted: the newest opens, the change is announced and a snapshot follows', async () => {
    const t = setup();
    const keep = await t.session.newChat();
    t.clock.advance(1_000);
    const doomed = await t.session.newChat();
    const p = t.make();
    const changes: (string | undefined)[] = [];
    p.onDidChangeActiveChat((id) => changes.push(id));
    await p.ready();
    assert.equal(p.activeChatId, doomed.id);
    await t.session.deleteChat(doomed.id);
    await tick();
    assert.deepEqual(changes, [keep.id]);
    assert.equal(t.ofPosted('snapshot').at(-1)?.state.activeChatId, keep.id);
  });

  it('chips and focus wait for the snapshot when the view is not live', async () => {
    const t = setup();
    await t.session.newChat();
    const p = t.make();
    p.queueAttachment({ kind: 'selection', name: 'a.ts', text: 'x' });
    p.queueFocus();
    p.deliverPending();
    assert.equal(t.posted.length, 0);
    await p.ready();
    assert.deepEqual(t.posted.map((m) => m.type), ['snapshot', 'attach', 'focusInput']);
  });

  it('a new server or model with other reasoning abilities gets a fresh snapshot; the same ones only a connection message', async () => {
    const t = setup();
    await t.session.newChat();
    const p = t.make();
    await p.ready();
    const connected: ConnectionState = { state: 'connected', url: 'http://x', reasoning: { canToggle: true, canSkip: false } };
    t.connection.state = connected;
    t.connectionChanged.fire(connected);
    await tick();
    assert.equal(t.ofPosted('snapshot').length, 2);
    t.connectionChanged.fire(connected);
    await tick();
    assert.equal(t.ofPosted('snapshot').length, 2);
    assert.equal(t.ofPosted('connection').length, 2);
    p.dispose();
  });

  it('says a parse refusal in words a user can act on', () => {
    assert.match(refusalText('send.text is too long (300000 > 200000)'), /300,000 characters; the limit is 200,000/);
    assert.equal(refusalText('bad type'), 'The chat view sent a request the extension cannot read (bad type).');
  });
});
