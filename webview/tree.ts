/**
 * The webview's one door to the shared message-tree helpers (src/core/chatTree.ts: pure, type-only imports), so
 * the view derives the same active path and version lists as the host.
 */
// eslint-disable-next-line no-restricted-imports -- chatTree is pure shared code, like protocol.ts (see the brief / README)
export { activePath, childrenOf, indexTree, leafForVersion, siblingsOf, versionOf } from '../src/core/chatTree';
// eslint-disable-next-line no-restricted-imports -- as above
export type { TreeIndex } from '../src/core/chatTree';
