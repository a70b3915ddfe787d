/**
 * Pure operations on a chat's message tree. Shared by the host and the webview (no imports but types), so both
 * sides derive the same active path and the same version lists from the same data.
 *
 * A chat stores every message ever added; each has a `parentId`. The active path runs from a root down to the
 * chat's `leafId`: that is what the user sees and what the next request sends. Siblings (children of one parent)
 * are versions of one turn, in the order they were added.
 */
import type { Chat, ChatMessage } from './chat';

export interface TreeIndex {
  byId: Map<string, ChatMessage>;
  /** Children per parent id, oldest first (by createdAt, then the order added); roots under ''. */
  children: Map<string, ChatMessage[]>;
}

const ROOT = '';

export function indexTree(messages: readonly ChatMessage[]): TreeIndex {
  const byId = new Map<string, ChatMessage>();
  const children = new Map<string, ChatMessage[]>();
  for (const m of messages) byId.set(m.id, m);
  for (const m of messages) {
    // A parent that is not there (a damaged file) makes the message a root rather than an orphan nobody sees.
    const key = m.parentId !== undefined && byId.has(m.parentId) ? m.parentId : ROOT;
    let list = children.get(key);
    if (!list) children.set(key, (list = []));
    list.push(m);
  }
  // Versions in the order they were made, whatever the list order (an undone delete re-adds at the end).
  for (const list of children.values()) {
    for (let i = 1; i < list.length; i++) {
      if (list[i].createdAt < list[i - 1].createdAt) {
        list.sort((a, b) => a.createdAt - b.createdAt);
        break;
      }
    }
  }
  return { byId, children };
}

export function childrenOf(index: TreeIndex, parentId: string | undefined): readonly ChatMessage[] {
  const key = parentId !== undefined && index.byId.has(parentId) ? parentId : ROOT;
  return index.children.get(key) ?? [];
}

/** The versions of a message: its parent's children, itself among them. */
export function siblingsOf(index: TreeIndex, messageId: string): readonly ChatMessage[] {
  const m = index.byId.get(messageId);
  if (!m) return [];
  return childrenOf(index, m.parentId);
}

/** The deepest message under `messageId` following the newest child at each step (the branch's latest end). */
export function latestLeafUnder(index: TreeIndex, messageId: string): string {
  let id = messageId;
  for (let guard = index.byId.size; guard >= 0; guard--) {
    const kids = index.children.get(id);
    const last = kids?.[kids.length - 1];
    if (!last) return id;
    id = last.id;
  }
  return id;
}

/** Root-to-message path; empty when the id is unknown. Cycles (only in a damaged file) end the walk. */
export function pathTo(index: TreeIndex, messageId: string | undefined): ChatMessage[] {
  const out: ChatMessage[] = [];
  const seen = new Set<string>();
  let m = messageId !== undefined ? index.byId.get(messageId) : undefined;
  while (m && !seen.has(m.id)) {
    seen.add(m.id);
    out.push(m);
    m = m.parentId !== undefined ? index.byId.get(m.parentId) : undefined;
  }
  return out.reverse();
}

/** The leaf the chat shows: its `leafId` when valid, else the last message added. */
export function activeLeafId(chat: Pick<Chat, 'messages' | 'leafId'>, index?: TreeIndex): string | undefined {
  if (chat.leafId !== undefined && (index ? index.byId.has(chat.leafId) : chat.messages.some((m) => m.id === chat.leafId))) {
    return chat.leafId;
  }
  return chat.messages[chat.messages.length - 1]?.id;
}

/** The messages shown and sent: root to the active leaf. */
export function activePath(chat: Pick<Chat, 'messages' | 'leafId'>, index: TreeIndex = indexTree(chat.messages)): ChatMessage[] {
  return pathTo(index, activeLeafId(chat, index));
}

/** The message and everything under it, parents before children. */
export function subtreeIds(index: TreeIndex, messageId: string): string[] {
  if (!index.byId.has(messageId)) return [];
  const out: string[] = [];
  const stack = [messageId];
  while (stack.length > 0) {
    const id = stack.pop()!;
    out.push(id);
    const kids = index.children.get(id);
    if (kids) for (let i = kids.length - 1; i >= 0; i--) stack.push(kids[i].id);
  }
  return out;
}

/** The leaf to show after choosing `messageId` among its versions: the latest end of that version's branch. */
export function leafForVersion(index: TreeIndex, messageId: string): string | undefined {
  return index.byId.has(messageId) ? latestLeafUnder(index, messageId) : undefined;
}

/** Version position of a message: 1-based index among its siblings and their count. */
export function versionOf(index: TreeIndex, messageId: string): { index: number; count: number } {
  const sibs = siblingsOf(index, messageId);
  return { index: sibs.findIndex((s) => s.id === messageId) + 1, count: sibs.length };
}
