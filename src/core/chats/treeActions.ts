/**
 * What each conversation action does to the message tree, decided without I/O: which message a retry, regenerate
 * or edit targets, the history the new request sends, and what a delete removes and re-links. The session runs
 * these plans; tests check them directly. Nothing here truncates: every action adds a version or removes only what
 * the user chose to delete.
 */
import type { Chat, ChatMessage } from './chat';
import { activeLeafId, activePath, indexTree, pathTo, subtreeIds } from './chatTree';
import type { TreeIndex } from './chatTree';
import type { TreeEdit } from './chatRepository';
import type { RefusalReason } from '../session/sessionApi';
import { t } from '../base/l10n';

export type Plan<T> = ({ ok: true } & T) | { ok: false; reason: RefusalReason; detail: string };

const refuse = (reason: RefusalReason, detail: string): { ok: false; reason: RefusalReason; detail: string } => ({ ok: false, reason, detail });

/** Answers that Retry offers to redo: they did not complete. */
export function isRetryable(m: ChatMessage): boolean {
  return m.role === 'assistant' && (m.status === 'failed' || m.status === 'interrupted' || m.status === 'stopped');
}

/** The last assistant answer on the active path, if any. */
export function lastAnswer(chat: Pick<Chat, 'messages' | 'leafId'>): ChatMessage | undefined {
  const path = activePath(chat);
  for (let i = path.length - 1; i >= 0; i--) if (path[i].role === 'assistant') return path[i];
  return undefined;
}

/**
 * A new version of the answer `targetId` (or, without one, of the last answer on the active path; a question left
 * without an answer at the end of the path is simply answered). The history is the path to the answer's parent.
 */
export function planNewAnswer(
  chat: Pick<Chat, 'messages' | 'leafId'>,
  targetId: string | undefined,
  mode: 'retry' | 'regenerate',
): Plan<{ history: ChatMessage[]; replaces?: string }> {
  const index = indexTree(chat.messages);
  let target: ChatMessage | undefined;
  if (targetId !== undefined) {
    target = index.byId.get(targetId);
    if (!target) return refuse('unknown-message', t('That answer is no longer in this chat.'));
    if (target.role !== 'assistant') return refuse('invalid', t('Only an answer can be asked again.'));
  } else {
    const path = activePath(chat, index);
    const tail = path[path.length - 1];
    if (tail?.role === 'user') return { ok: true, history: path };
    target = lastAnswer(chat);
    if (!target) return refuse('nothing-to-retry', t('There is no question to answer again.'));
  }
  if (mode === 'retry' && target.status === 'complete') {
    return refuse('already-finished', t('That answer completed; use Regenerate for another version.'));
  }
  if (target.status === 'streaming') return refuse('busy', t('That answer is still being generated.'));
  const history = pathTo(index, target.parentId);
  if (!history.some((m) => m.role === 'user')) return refuse('nothing-to-retry', t('There is no question to answer again.'));
  return { ok: true, history, replaces: target.id };
}

/** A new version of the question `messageId` with `text`: its history is the path to the question's parent. */
export function planEdit(chat: Pick<Chat, 'messages'>, messageId: string): Plan<{ history: ChatMessage[]; target: ChatMessage }> {
  const index = indexTree(chat.messages);
  const target = index.byId.get(messageId);
  if (!target) return refuse('unknown-message', t('That message is no longer in this chat.'));
  if (target.role !== 'user') return refuse('invalid', t('Only a question can be edited and sent again.'));
  return { ok: true, history: pathTo(index, target.parentId), target };
}

/** The leaf after choosing `messageId` among its versions, and the edit that records it. */
export function planSelectVersion(chat: Pick<Chat, 'messages' | 'leafId'>, index: TreeIndex, leafId: string): TreeEdit | undefined {
  if (!index.byId.has(leafId)) return undefined;
  return activeLeafId(chat, index) === leafId ? {} : { leafId };
}

export interface DeletePlan {
  edit: TreeEdit;
  removed: ChatMessage[];
  relinked: { id: string; parentId: string | undefined }[];
  previousLeaf: string | undefined;
}

/**
 * Deletes one message (its replies move up to its parent) or the whole branch under it. When the shown path loses
 * its end, it moves to a neighbouring version of the deleted message (the previous one, else the next), else to
 * the parent.
 */
export function planDelete(chat: Pick<Chat, 'messages' | 'leafId'>, messageId: string, scope: 'message' | 'branch'): Plan<DeletePlan> {
  const index = indexTree(chat.messages);
  const target = index.byId.get(messageId);
  if (!target) return refuse('unknown-message', t('That message is no longer in this chat.'));
  const ids = scope === 'branch' ? subtreeIds(index, messageId) : [messageId];
  const gone = new Set(ids);
  const removed = chat.messages.filter((m) => gone.has(m.id)).map((m) => structuredClone(m));
  const relinked: DeletePlan['relinked'] = [];
  const relink: NonNullable<TreeEdit['relink']> = [];
  if (scope === 'message') {
    for (const child of index.children.get(messageId) ?? []) {
      relinked.push({ id: child.id, parentId: messageId });
      relink.push({ id: child.id, parentId: target.parentId });
    }
  }
  const previousLeaf = activeLeafId(chat, index);
  const edit: TreeEdit = { remove: ids };
  if (relink.length > 0) edit.relink = relink;
  if (previousLeaf !== undefined && gone.has(previousLeaf)) {
    const next = neighbourLeaf(index, target, gone);
    if (next !== undefined) edit.leafId = next;
  }
  return { ok: true, edit, removed, relinked, previousLeaf };
}

function neighbourLeaf(index: TreeIndex, target: ChatMessage, gone: ReadonlySet<string>): string | undefined {
  const siblings = (target.parentId !== undefined ? index.children.get(target.parentId) : index.children.get('')) ?? [];
  const at = siblings.findIndex((s) => s.id === target.id);
  const candidates = [...siblings.slice(0, at).reverse(), ...siblings.slice(at + 1)].filter((s) => !gone.has(s.id));
  const pick = candidates[0];
  if (pick) {
    // The newest end of that version's branch, skipping anything being deleted.
    let id = pick.id;
    for (;;) {
      const kids = (index.children.get(id) ?? []).filter((k) => !gone.has(k.id));
      const last = kids[kids.length - 1];
      if (!last) return id;
      id = last.id;
    }
  }
  if (target.parentId !== undefined && !gone.has(target.parentId)) return target.parentId;
  return undefined;
}

/** The edit that puts deleted messages back as they were; refused when they are back already. */
export function planRestore(
  chat: Pick<Chat, 'messages'>,
  removed: readonly ChatMessage[],
  relinked: readonly { id: string; parentId: string | undefined }[],
  previousLeaf: string | undefined,
): Plan<{ edit: TreeEdit }> {
  const have = new Set(chat.messages.map((m) => m.id));
  if (removed.some((m) => have.has(m.id))) return refuse('already-finished', t('Those messages are back already.'));
  const restored = new Set(removed.map((m) => m.id));
  const edit: TreeEdit = { add: removed.map((m) => structuredClone(m)) };
  const relink = relinked.filter((r) => have.has(r.id));
  if (relink.length > 0) edit.relink = relink;
  if (previousLeaf !== undefined && (have.has(previousLeaf) || restored.has(previousLeaf))) edit.leafId = previousLeaf;
  return { ok: true, edit };
}
