/**
 * The servers a user can pick from: `llamaChat.servers` (name, url, optional context size), else the one
 * `llamaChat.serverUrl`, plus a local llama-server the extension started. Pure: the adapter persists the choice.
 */
export interface ServerSetting {
  name: string;
  url: string;
  contextSize?: number;
}

export interface ServerEntry {
  /** The normalised URL: what identifies a server (and its API key). */
  id: string;
  name: string;
  url: string;
  contextSize?: number;
  /** Started by the extension (Start Local Server). */
  local?: boolean;
}

export const LOCAL_SERVER_NAME = 'Local llama-server';

/** Valid entries of the setting (bad ones are skipped, duplicates by URL kept once), the default when empty. */
export function serverList(
  settings: readonly unknown[],
  defaultUrl: string,
  normalize: (url: string) => string,
  local?: string,
): ServerEntry[] {
  const out: ServerEntry[] = [];
  const seen = new Set<string>();
  const add = (e: ServerEntry): void => {
    if (seen.has(e.id)) return;
    seen.add(e.id);
    out.push(e);
  };
  for (const raw of settings) {
    if (typeof raw !== 'object' || raw === null) continue;
    const s = raw as Partial<ServerSetting>;
    if (typeof s.url !== 'string' || !/^https?:\/\/\S+$/.test(s.url.trim())) continue;
    let id: string;
    try {
      id = normalize(s.url.trim());
    } catch {
      continue;
    }
    const entry: ServerEntry = { id, url: id, name: typeof s.name === 'string' && s.name.trim() ? s.name.trim() : id };
    if (typeof s.contextSize === 'number' && Number.isInteger(s.contextSize) && s.contextSize > 0) entry.contextSize = s.contextSize;
    add(entry);
  }
  if (out.length === 0) {
    const id = normalize(defaultUrl);
    add({ id, url: id, name: id.replace(/^https?:\/\//, '') });
  }
  if (local !== undefined) add({ id: local, url: local, name: LOCAL_SERVER_NAME, local: true });
  return out;
}

/** The entry for a remembered choice, else the first (the setting's order is the user's). */
export function pickActive(list: readonly ServerEntry[], remembered: string | undefined): ServerEntry {
  return list.find((e) => e.id === remembered) ?? list[0];
}
