import { randomBytes } from 'node:crypto';

/** A sortable, URL- and file-name-safe id: time in base36 + 8 random bytes in hex. */
export function newId(now: number = Date.now()): string {
  return `${Math.floor(now).toString(36).padStart(9, '0')}-${randomBytes(8).toString('hex')}`;
}

const ID_RE = /^[A-Za-z0-9_-]{1,200}$/;

/** Ids become file names: accept only what newId can produce (and what the protocol validates). */
export function isValidId(id: string): boolean {
  return ID_RE.test(id);
}
