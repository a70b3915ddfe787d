/**
 * Where a window keeps its chats: its workspace's storage folder, or, in a window without a folder, the global
 * storage folder. Every window without a folder shares that one, so their stores write the same files; they
 * coordinate exactly as two windows on one workspace folder do (lock per write, merge first, watcher; storeLock.ts).
 */
export interface StorageLocations {
  storageUri?: { fsPath: string };
  globalStorageUri: { fsPath: string };
}

export function chatStorageDir(context: StorageLocations): string {
  return context.storageUri?.fsPath ?? context.globalStorageUri.fsPath;
}
