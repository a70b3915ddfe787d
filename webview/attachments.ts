/**
 * Attachments in the webview: labels for chips, a long paste turned into a `paste` attachment, and image files
 * read as data: URIs. No Preact here.
 */
import type { Attachment } from '../src/core/chats/chat';
import { LIMITS } from '../src/protocol';
import { formatInt } from './format';
import { t } from './l10n';

/** A paste longer than this offers "Attach as file" / "Keep as text". */
export const LONG_PASTE = 2_000;

/** Why images are refused (read when shown: the strings arrive with the page). */
export const noVision = (): string => t('This model has no vision: images cannot be sent');

export const tooMany = (): string => t('At most {0} attachments can be sent with one message.', LIMITS.maxAttachments);

/** "lines 3–10" (or "line 3") for a selection; undefined otherwise. */
export function lineRange(a: Attachment): string | undefined {
  if (a.kind === 'image' || a.startLine === undefined) return undefined;
  const end = a.endLine ?? a.startLine;
  return end === a.startLine ? t('line {0}', a.startLine) : t('lines {0}–{1}', a.startLine, end);
}

/** The chip's whole label, for titles and the remove button: "src/a.ts lines 3–10". */
export function attachmentLabel(a: Attachment): string {
  const range = lineRange(a);
  return range ? `${a.name} ${range}` : a.name;
}

export function tokensText(tokens: number | undefined): string | undefined {
  return tokens === undefined ? undefined : tokens === 1 ? t('1 token') : t('{0} tokens', formatInt(tokens));
}

export function codiconFor(a: Attachment): string {
  switch (a.kind) {
    case 'file':
      return 'file';
    case 'selection':
      return 'selection';
    case 'paste':
      return 'clippy';
    case 'image':
      return 'file-media';
    default: {
      const unknown: never = a;
      void unknown;
      return 'file';
    }
  }
}

export function pasteAttachment(text: string): Attachment {
  return { kind: 'paste', name: t('Pasted text ({0} chars)', formatInt(text.length)), text };
}

const IMAGE_MIME = /^image\/[a-z0-9.+-]+$/;

export function isImageFile(file: File): boolean {
  return IMAGE_MIME.test(file.type);
}

/** The image files among a paste's or a drop's files. */
export function imageFiles(data: DataTransfer | null | undefined): File[] {
  if (!data) return [];
  const files = Array.from(data.files ?? []);
  if (files.length === 0 && data.items) {
    for (const item of Array.from(data.items)) {
      if (item.kind !== 'file') continue;
      const file = item.getAsFile();
      if (file) files.push(file);
    }
  }
  return files.filter(isImageFile);
}

/** Reads an image file as a data: URI attachment, or says why it cannot be attached. */
export function readImage(file: File): Promise<Attachment | string> {
  const name = file.name || t('Pasted image');
  if (!isImageFile(file)) return Promise.resolve(t('{0} is not an image.', name));
  // base64 is 4/3 of the bytes: refuse before reading a file that cannot fit.
  if ((file.size * 4) / 3 > LIMITS.maxImage) return Promise.resolve(tooLargeImage(name));
  return new Promise((resolve) => {
    const reader = new FileReader();
    reader.onload = () => {
      const uri = typeof reader.result === 'string' ? reader.result : '';
      if (uri.length > LIMITS.maxImage) resolve(tooLargeImage(name));
      else if (!uri.startsWith(`data:${file.type};base64,`)) resolve(t('{0} could not be read as an image.', name));
      else resolve({ kind: 'image', name, mime: file.type, dataUri: uri });
    };
    reader.onerror = () => resolve(t('{0} could not be read.', name));
    reader.readAsDataURL(file);
  });
}

function tooLargeImage(name: string): string {
  return t('{0} is too large to send (the limit is about {1} MB).', name, formatInt(Math.floor((LIMITS.maxImage * 3) / 4 / 1_000_000)));
}
