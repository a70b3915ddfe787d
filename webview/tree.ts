/**
 * The webview's one door to the shared message-tree helpers (src/core/chats/chatTree.ts: pure, type-only imports), so
 * the view derives the same active path and version lists as the host.
 */
export { activePath, childrenOf, indexTree, leafForVersion, siblingsOf, versionOf } from '../src/core/chats/chatTree';
export type { TreeIndex } from '../src/core/chats/chatTree';
