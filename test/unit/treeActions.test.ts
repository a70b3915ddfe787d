import * as assert from 'node:assert/strict';
import type { Chat, ChatMessage } from '../../src/core/chats/chat';
import { activePath, indexTree, latestLeafUnder, leafForVersion, pathTo, siblingsOf, subtreeIds, versionOf } from '../../src/core/chats/chatTree';
import { planDelete, planEdit, planNewAnswer, planRestore } from '../../src/core/chats/treeActions';

let clock = 0;
function m(id: string, role: ChatMessage['role'], parentId?: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  const out: ChatMessage = { id, role, content: id, status: 'complete', createdAt: ++clock, ...extra };
  if (parentId !== undefined) out.parentId = parentId;
  return out;
}

/**
 *   u1 ─ a1 ─ u2 ─ a2 (failed)
 *             │  └ a2b ─ u3 ─ a3
 *             │        └ a2c (stopped)
 *             └ u2b ─ a4
 */
function sample(): Pick<Chat, 'messages' | 'leafId'> {
  clock = 0;
  return {
    messages: [
      m('u1', 'user'),
      m('a1', 'assistant', 'u1'),
      m('u2', 'user', 'a1'),
      m('a2', 'assistant', 'u2', { status: 'failed', error: { kind: 'aborted', message: 'x' } }),
      m('a2b', 'assistant', 'u2'),
      m('u3', 'user', 'a2b'),
      m('a3', 'assistant', 'u3'),
      m('a2c', 'assistant', 'u2', { status: 'stopped' }),
      m('u2b', 'user', 'a1'),
      m('a4', 'assistant', 'u2b'),
    ],
    leafId: 'a3',
  };
}

const ids = (list: readonly ChatMessage[]): string[] => list.map((x) => x.id);

describe('chatTree', () => {
  it('derives the active path, versions and branch ends', () => {
    const chat = sample();
    const index = indexTree(chat.messages);
    assert.deepEqual(ids(activePath(chat, index)), ['u1', 'a1', 'u2', 'a2b', 'u3', 'a3']);
    assert.deepEqual(ids(siblingsOf(index, 'a2b')), ['a2', 'a2b', 'a2c']);
    assert.deepEqual(versionOf(index, 'a2b'), { index: 2, count: 3 });
    assert.deepEqual(versionOf(index, 'u2b'), { index: 2, count: 2 });
    assert.deepEqual(versionOf(index, 'u1'), { index: 1, count: 1 });
    assert.equal(latestLeafUnder(index, 'a1'), 'a4', 'the newest child at each step');
    assert.equal(leafForVersion(index, 'a2'), 'a2');
    assert.equal(leafForVersion(index, 'u2'), 'a2c');
    assert.equal(leafForVersion(index, 'nope'), undefined);
    assert.deepEqual(subtreeIds(index, 'u2'), ['u2', 'a2', 'a2b', 'u3', 'a3', 'a2c']);
    assert.deepEqual(ids(pathTo(index, 'a4')), ['u1', 'a1', 'u2b', 'a4']);
  });

  it('falls back to the last message for a missing leaf, and survives a cycle or a lost parent', () => {
    const chat = sample();
    assert.deepEqual(ids(activePath({ messages: chat.messages, leafId: 'gone' })), ['u1', 'a1', 'u2b', 'a4']);
    const cyclic = [m('x', 'user', 'y'), m('y', 'assistant', 'x')];
    assert.ok(activePath({ messages: cyclic }).length <= 2);
    const orphan = [m('o', 'assistant', 'missing-parent')];
    assert.deepEqual(ids(activePath({ messages: orphan })), ['o']);
    assert.deepEqual(ids(siblingsOf(indexTree(orphan), 'o')), ['o'], 'an orphan is a root');
  });

  it('orders versions by creation time, not by list position (an undone delete comes back in its place)', () => {
    const chat = sample();
    const moved = [...chat.messages.filter((x) => x.id !== 'a2'), chat.messages.find((x) => x.id === 'a2')!];
    assert.deepEqual(ids(siblingsOf(indexTree(moved), 'a2')), ['a2', 'a2b', 'a2c']);
  });
});

describe('treeActions', () => {
  it('retry of an older failed answer asks the question above it, whatever is shown', () => {
    const plan = planNewAnswer(sample(), 'a2', 'retry');
    assert.ok(plan.ok);
    assert.deepEqual(ids(plan.history), ['u1', 'a1', 'u2']);
    assert.equal(plan.replaces, 'a2');
  });

  it('retry refuses a completed answer, regenerate makes a version of it', () => {
    const retry = planNewAnswer(sample(), 'a3', 'retry');
    assert.equal(!retry.ok && retry.reason, 'already-finished');
    const regen = planNewAnswer(sample(), 'a3', 'regenerate');
    assert.ok(regen.ok);
    assert.deepEqual(ids(regen.history), ['u1', 'a1', 'u2', 'a2b', 'u3']);
  });

  it('without a target: the last answer on the active path, or the unanswered question at its end', () => {
    const chat = sample();
    const plan = planNewAnswer(chat, undefined, 'regenerate');
    assert.ok(plan.ok);
    assert.equal(plan.replaces, 'a3');
    const pending = { messages: [...chat.messages, m('u4', 'user', 'a3')], leafId: 'u4' };
    const answer = planNewAnswer(pending, undefined, 'retry');
    assert.ok(answer.ok);
    assert.deepEqual(ids(answer.history).slice(-2), ['a3', 'u4']);
    assert.equal(answer.replaces, undefined);
  });

  it('refuses unknown, non-answer, streaming and question-less targets with a typed reason', () => {
    const chat = sample();
    const reasons = [
      planNewAnswer(chat, 'missing', 'retry'),
      planNewAnswer(chat, 'u2', 'retry'),
      planNewAnswer({ messages: [...chat.messages, m('live', 'assistant', 'u3', { status: 'streaming' })] }, 'live', 'retry'),
      planNewAnswer({ messages: [m('sys', 'system'), m('lone', 'assistant', 'sys', { status: 'failed' })] }, 'lone', 'retry'),
      planNewAnswer({ messages: [] }, undefined, 'regenerate'),
    ].map((p) => (p.ok ? 'ok' : p.reason));
    assert.deepEqual(reasons, ['unknown-message', 'invalid', 'busy', 'nothing-to-retry', 'nothing-to-retry']);
  });

  it('edit: history is the path above the question; only questions can be edited', () => {
    const plan = planEdit(sample(), 'u3');
    assert.ok(plan.ok);
    assert.deepEqual(ids(plan.history), ['u1', 'a1', 'u2', 'a2b']);
    const bad = planEdit(sample(), 'a3');
    assert.equal(!bad.ok && bad.reason, 'invalid');
    const gone = planEdit(sample(), 'zzz');
    assert.equal(!gone.ok && gone.reason, 'unknown-message');
  });

  it('delete a branch: the shown path moves to the previous version; restore puts everything back', () => {
    const chat = sample();
    const plan = planDelete(chat, 'a2b', 'branch');
    assert.ok(plan.ok);
    assert.deepEqual(plan.edit.remove, ['a2b', 'u3', 'a3']);
    assert.equal(plan.edit.leafId, 'a2', 'the previous version of the deleted answer');
    assert.equal(plan.previousLeaf, 'a3');
    const after = { messages: chat.messages.filter((x) => !plan.edit.remove!.includes(x.id)), leafId: plan.edit.leafId };
    const restore = planRestore(after, plan.removed, plan.relinked, plan.previousLeaf);
    assert.ok(restore.ok);
    assert.deepEqual(ids(restore.edit.add!), ['a2b', 'u3', 'a3']);
    assert.equal(restore.edit.leafId, 'a3');
    const twice = planRestore(chat, plan.removed, plan.relinked, plan.previousLeaf);
    assert.equal(!twice.ok && twice.reason, 'already-finished');
  });

  it('delete one message: its replies move up to its parent, and back on restore', () => {
    const chat = sample();
    const plan = planDelete(chat, 'u3', 'message');
    assert.ok(plan.ok);
    assert.deepEqual(plan.edit.remove, ['u3']);
    assert.deepEqual(plan.edit.relink, [{ id: 'a3', parentId: 'a2b' }]);
    assert.equal(plan.edit.leafId, undefined, 'the shown end (a3) stays');
    assert.deepEqual(plan.relinked, [{ id: 'a3', parentId: 'u3' }]);
    const restore = planRestore({ messages: chat.messages.filter((x) => x.id !== 'u3') }, plan.removed, plan.relinked, plan.previousLeaf);
    assert.ok(restore.ok);
    assert.deepEqual(restore.edit.relink, [{ id: 'a3', parentId: 'u3' }]);
  });

  it('deleting the only version at the end of the path moves it to the parent; a root branch to the next root', () => {
    const chat = sample();
    const last = planDelete(chat, 'a3', 'message');
    assert.ok(last.ok);
    assert.equal(last.edit.leafId, 'u3');
    const all = planDelete(chat, 'u1', 'branch');
    assert.ok(all.ok);
    assert.equal(all.edit.remove!.length, chat.messages.length);
    assert.equal(all.edit.leafId, undefined);
    const unknown = planDelete(chat, 'nope', 'branch');
    assert.equal(!unknown.ok && unknown.reason, 'unknown-message');
  });
});
