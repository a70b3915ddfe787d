/** The conversation as a tree, through the session: nothing an action does may lose an answer. */
import * as assert from 'node:assert/strict';
import type { ChatMessage } from '../../src/core/chats/chat';
import { activePath } from '../../src/core/chats/chatTree';
import type { ActionOutcome, SessionSettings } from '../../src/core/session/sessionApi';
import { sessionRig, tick } from '../support/sessionRig';

function setup(settingsInit: Partial<SessionSettings> = {}) {
  const rig = sessionRig(settingsInit);
  const { streamer, repo, session } = rig;
  /** Sends `q`, answers it with `a` and waits for the end. */
  const turn = async (chatId: string, q: string, a: string): Promise<string> => {
    const id = okId(await session.send(chatId, q));
    streamer.last.content(a).finish();
    await tick();
    return id;
  };
  const path = (chatId: string): string[] => activePath(repo.peek(chatId)!).map((m) => m.content);
  const all = (chatId: string): ChatMessage[] => repo.peek(chatId)!.messages;
  return { ...rig, turn, path, all };
}

function okId(out: ActionOutcome): string {
  assert.ok(out.ok, `expected ok, got ${JSON.stringify(out)}`);
  assert.ok(out.messageId);
  return out.messageId;
}

const reasonOf = (out: { ok: boolean; reason?: string }): string | undefined => (out.ok ? undefined : out.reason);

describe('ChatSession as a tree', () => {
  it('regenerate twice, switch back to version 1, follow up: the request carries version 1 only', async () => {
    const { session, streamer, turn, path, all, of } = setup();
    const chat = await session.newChat();
    const v1 = await turn(chat.id, 'q1', 'version one');
    okId(await session.regenerate(chat.id));
    streamer.last.content('version two').finish();
    await tick();
    okId(await session.regenerate(chat.id, v1));
    streamer.last.content('version three').finish();
    await tick();
    assert.deepEqual(path(chat.id), ['q1', 'version three']);
    assert.equal(all(chat.id).length, 4, 'every version kept');

    const switched = await session.selectVersion(chat.id, v1);
    assert.ok(switched.ok);
    assert.deepEqual(path(chat.id), ['q1', 'version one'], 'switching is persisted');
    assert.deepEqual(of('leafChanged').at(-1), { type: 'leafChanged', chatId: chat.id, leafId: v1 });

    await turn(chat.id, 'follow up', 'answer');
    const sent = streamer.streams.at(-1)!.request.messages.map((m) => m.content);
    assert.deepEqual(sent, ['q1', 'version one', 'follow up']);
    assert.deepEqual(path(chat.id), ['q1', 'version one', 'follow up', 'answer']);
  });

  it('Retry on an older failed answer leaves the newer good answer untouched', async () => {
    const { session, streamer, turn, path, all } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q1'));
    streamer.last.content('half').fail({ kind: 'unreachable', message: 'server went away' });
    await tick();
    const failed = all(chat.id)[1];
    assert.equal(failed.status, 'failed');
    await turn(chat.id, 'q2', 'good newer answer');
    const before = structuredClone(all(chat.id));

    okId(await session.retry(chat.id, failed.id));
    assert.deepEqual(streamer.last.request.messages.map((m) => m.content), ['q1'], 'asks the question above the failed answer');
    streamer.last.content('retried').finish();
    await tick();
    const after = all(chat.id);
    for (const m of before) assert.deepEqual(after.find((x) => x.id === m.id), m, `message ${m.content} untouched`);
    const retried = after.at(-1)!;
    assert.equal(retried.parentId, failed.parentId, 'the retry is a version of the failed reply (1/2 → 2/2)');
    assert.deepEqual(path(chat.id), ['q1', 'retried']);
    // The newer branch is one switch away.
    assert.ok((await session.selectVersion(chat.id, failed.id)).ok);
    assert.deepEqual(path(chat.id), ['q1', 'half', 'q2', 'good newer answer']);
  });

  it('an action aimed at a gone or changed target answers with a typed outcome and changes nothing', async () => {
    const { session, streamer, turn, repo } = setup();
    const chat = await session.newChat();
    const done = await turn(chat.id, 'q1', 'a1');
    okId(await session.send(chat.id, 'q2'));
    const liveId = streamer.last.request && session.activeStreams()[0].messageId;
    const snapshot = structuredClone(repo.peek(chat.id));
    const outcomes = [
      await session.stop(chat.id, done),
      await session.discard(chat.id, done),
      await session.retry(chat.id, done),
      await session.regenerate(chat.id, done),
      await session.selectVersion(chat.id, done),
      await session.editAndResend(chat.id, done, 'x'),
      await session.deleteMessages(chat.id, done, 'message'),
      await session.retry('no-such-chat', 'x'),
    ].map(reasonOf);
    assert.deepEqual(outcomes, ['target-changed', 'target-changed', 'busy', 'busy', 'busy', 'busy', 'busy', 'unknown-chat']);
    assert.equal(session.activeStreams()[0].messageId, liveId, 'the live answer was not touched');
    assert.equal(streamer.last.aborted, false);
    const current = repo.peek(chat.id)!;
    assert.deepEqual(current.messages.slice(0, snapshot!.messages.length - 1), snapshot!.messages.slice(0, -1));
    streamer.last.finish();
    await tick();
    const idle = [
      await session.retry(chat.id, 'missing'),
      await session.regenerate(chat.id, 'missing'),
      await session.selectVersion(chat.id, 'missing'),
      await session.editAndResend(chat.id, 'missing', 'x'),
      await session.deleteMessages(chat.id, 'missing', 'branch'),
      await session.stop(chat.id, liveId),
    ].map(reasonOf);
    assert.deepEqual(idle, ['unknown-message', 'unknown-message', 'unknown-message', 'unknown-message', 'unknown-message', 'already-finished']);
  });

  it('stale Retry after the stalled answer has since failed still makes a new answer; after success it does nothing', async () => {
    const { session, streamer, clock, of, all, path } = setup({ staleSeconds: 5 });
    const chat = await session.newChat();
    const stalled = okId(await session.send(chat.id, 'q'));
    await streamer.last.drained();
    clock.advance(5_000);
    assert.equal(of('stale').length, 1);
    streamer.last.fail({ kind: 'truncated', message: 'cut' });
    await tick();
    assert.equal(all(chat.id)[1].status, 'failed');
    const fresh = okId(await session.retry(chat.id, stalled));
    assert.notEqual(fresh, stalled);
    streamer.last.content('ok now').finish();
    await tick();
    assert.deepEqual(path(chat.id), ['q', 'ok now']);
    const again = await session.retry(chat.id, fresh);
    assert.equal(reasonOf(again), 'already-finished');
    assert.equal(streamer.streams.length, 2);
  });

  it('edit and resend an earlier question: a new version beside it, the old branch intact', async () => {
    const { session, streamer, turn, path, all } = setup();
    const chat = await session.newChat();
    await turn(chat.id, 'q1', 'a1');
    await turn(chat.id, 'q2', 'a2');
    const q2 = all(chat.id)[2];
    okId(await session.editAndResend(chat.id, q2.id, 'q2 better'));
    assert.deepEqual(streamer.last.request.messages.map((m) => m.content), ['q1', 'a1', 'q2 better']);
    streamer.last.content('a2 better').finish();
    await tick();
    assert.deepEqual(path(chat.id), ['q1', 'a1', 'q2 better', 'a2 better']);
    const edited = all(chat.id).find((m) => m.content === 'q2 better')!;
    assert.equal(edited.parentId, q2.parentId);
    assert.ok((await session.selectVersion(chat.id, q2.id)).ok);
    assert.deepEqual(path(chat.id), ['q1', 'a1', 'q2', 'a2']);
  });

  it('delete a message or a branch, then undo: the chat is exactly as before', async () => {
    const { session, turn, repo, of } = setup();
    const chat = await session.newChat();
    await turn(chat.id, 'q1', 'a1');
    await turn(chat.id, 'q2', 'a2');
    const before = structuredClone(repo.peek(chat.id)!);
    const [, a1] = before.messages;

    const one = await session.deleteMessages(chat.id, a1.id, 'message');
    assert.ok(one.ok);
    const mid = repo.peek(chat.id)!;
    assert.deepEqual(activePath(mid).map((m) => m.content), ['q1', 'q2', 'a2'], 'the reply moved up');
    assert.ok(of('chatChanged').some((e) => e.chatId === chat.id));
    assert.ok((await session.undoDelete(one.deleted)).ok);
    assert.deepEqual(activePath(repo.peek(chat.id)!), activePath(before));
    assert.equal(reasonOf(await session.undoDelete(one.deleted)), 'already-finished', 'undo twice changes nothing');

    const branch = await session.deleteMessages(chat.id, a1.id, 'branch');
    assert.ok(branch.ok);
    assert.equal(branch.deleted.messages.length, 3);
    assert.deepEqual(activePath(repo.peek(chat.id)!).map((m) => m.content), ['q1']);
    assert.ok((await session.undoDelete(branch.deleted)).ok);
    const restored = repo.peek(chat.id)!;
    assert.deepEqual(
      activePath(restored).map((m) => [m.id, m.parentId]),
      activePath(before).map((m) => [m.id, m.parentId]),
    );
  });

  it('fork copies the active path up to the chosen message, not the other versions', async () => {
    const { session, streamer, turn, repo } = setup();
    const chat = await session.newChat();
    const v1 = await turn(chat.id, 'q1', 'first');
    okId(await session.regenerate(chat.id, v1));
    streamer.last.content('second').finish();
    await tick();
    await turn(chat.id, 'q2', 'a2');
    const q2 = repo.peek(chat.id)!.messages.find((m) => m.content === 'q2')!;
    const fork = await session.forkChat(chat.id, q2.id);
    const forked = repo.peek(fork.id)!;
    assert.deepEqual(activePath(forked).map((m) => m.content), ['q1', 'second', 'q2']);
    assert.equal(forked.messages.length, 3);
  });

  it('deleteChat during the await window of a send waits, and no ghost stream starts', async () => {
    const { session, streamer, repo } = setup();
    const chat = await session.newChat();
    const sending = session.send(chat.id, 'q');
    const deleting = session.deleteChat(chat.id);
    const [sent, deleted] = await Promise.all([sending, deleting]);
    assert.ok(deleted.ok);
    assert.equal(repo.peek(chat.id), undefined);
    // The send either finished first (its stream is then stopped) or found the chat gone.
    if (sent.ok) assert.equal(streamer.last.aborted, true);
    await tick();
    assert.equal(session.activeStreams().length, 0, 'no stream holds a slot for a deleted chat');
  });

  it('startAnswer bails out when the chat is gone between the question and the answer', async () => {
    const { session, streamer, repo } = setup();
    const chat = await session.newChat();
    await session.send(chat.id, 'q1');
    streamer.last.content('a').finish();
    await tick();
    // The chat vanishes underneath the session (another window deleted it) right as the regenerate runs.
    const realAdd = repo.addMessage.bind(repo);
    repo.addMessage = async (chatId, message) => {
      if (message.role === 'assistant') await repo.deleteChat(chatId);
      return realAdd(chatId, message);
    };
    const out = await session.regenerate(chat.id);
    assert.equal(reasonOf(out), 'unknown-chat');
    assert.equal(streamer.streams.length, 1, 'no request for a chat that is gone');
    assert.equal(session.activeStreams().length, 0);
  });

  it('a read-only chat refuses every change with its reason', async () => {
    const { session, turn, repo, streamer } = setup();
    const chat = await session.newChat();
    const a = await turn(chat.id, 'q', 'a');
    repo.markReadOnly(chat.id, 'Made by a newer version of Llama Server Chat');
    const outcomes = [
      await session.send(chat.id, 'more'),
      await session.regenerate(chat.id, a),
      await session.selectVersion(chat.id, a),
      await session.deleteMessages(chat.id, a, 'message'),
      await session.deleteChat(chat.id),
    ];
    for (const o of outcomes) {
      assert.equal(reasonOf(o), 'read-only');
      assert.ok(!o.ok && /newer version/.test(o.detail));
    }
    assert.equal(streamer.streams.length, 1);
  });

  it('a batch that arrives after a Stop is not applied (the stream already has its final status)', async () => {
    const { session, streamer, all } = setup();
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'q'));
    const stream = streamer.last;
    stream.content('kept');
    await stream.drained();
    const stopping = session.stop(chat.id);
    stream.content(' late');
    await stopping;
    await tick();
    const answer = all(chat.id)[1];
    assert.equal(answer.status, 'stopped');
    assert.equal(answer.content, 'kept');
  });

  it('a chat changed by another window is announced so views reload it', async () => {
    const { session, repo, of } = setup();
    const chat = await session.newChat();
    repo.changeExternally(chat.id, (c) => (c.title = 'changed elsewhere'));
    assert.deepEqual(of('chatChanged').map((e) => e.chatId), [chat.id]);
    assert.ok(of('chatsChanged').length > 0);
  });

  it('retryTarget names a stalled stream or a failed, stopped or interrupted last answer, nothing else', async () => {
    const { session, streamer, clock, turn } = setup({ staleSeconds: 5 });
    const chat = await session.newChat();
    assert.equal(await session.retryTarget(chat.id), undefined);
    await turn(chat.id, 'q', 'fine');
    assert.equal(await session.retryTarget(chat.id), undefined, 'a complete answer is not retried');
    const live = okId(await session.send(chat.id, 'q2'));
    assert.equal(await session.retryTarget(chat.id), undefined, 'a healthy stream is not retried');
    await streamer.last.drained();
    clock.advance(5_000);
    assert.equal(await session.retryTarget(chat.id), live);
    await session.stop(chat.id);
    assert.equal(await session.retryTarget(chat.id), live, 'a stopped answer can be retried');
  });

  it('restoreChat brings back a deleted chat with every version and the same active path; a cut-off answer is interrupted', async () => {
    const { session, streamer, turn, repo } = setup();
    const chat = await session.newChat();
    const v1 = await turn(chat.id, 'q1', 'version one');
    okId(await session.regenerate(chat.id));
    streamer.last.content('version two').finish();
    await tick();
    assert.ok((await session.selectVersion(chat.id, v1)).ok);
    okId(await session.send(chat.id, 'q2'));
    streamer.last.content('half');
    await tick();
    const copy = await repo.getChat(chat.id);
    assert.ok(copy);
    assert.ok((await session.deleteChat(chat.id)).ok);
    assert.equal(repo.listChats().some((c) => c.id === chat.id), false);

    const restored = await session.restoreChat(copy);
    assert.ok(restored.ok);
    const back = repo.peek(restored.chatId)!;
    assert.equal(back.title, copy.title);
    assert.deepEqual(
      back.messages.map((m) => [m.id, m.parentId, m.content]),
      copy.messages.map((m) => [m.id, m.parentId, m.content]),
    );
    assert.equal(back.leafId, copy.leafId);
    assert.deepEqual(activePath(back).map((m) => m.content), ['q1', 'version one', 'q2', 'half']);
    assert.ok(back.messages.every((m) => m.status !== 'streaming'), 'nothing restored as still streaming');
  });
});
