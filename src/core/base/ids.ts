/**
 * Chat and message ids: made here, validated everywhere with the one pattern below (ids become file names and
 * travel through the webview protocol). Pure, no Node modules: the webview and protocol.ts use isValidId too.
 */

/** What newId makes (and what anything from outside must match): letters, digits, `_` and `-`, 1 to 200 of them. */
const ID_RE = /^[A-Za-z0-9_-]{1,200}$/;

/** A sortable, URL- and file-name-safe id: time in base36 + 8 random bytes in hex. */
export function newId(now: number = Date.now()): string {
  const bytes = globalThis.crypto.getRandomValues(new Uint8Array(8));
  let hex = '';
  for (const b of bytes) hex += b.toString(16).padStart(2, '0');
  return `${Math.floor(now).toString(36).padStart(9, '0')}-${hex}`;
}

/** Ids become file names: accept only what newId can produce (and what the protocol validates). */
export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}
