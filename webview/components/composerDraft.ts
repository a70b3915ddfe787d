/** The composer's per-chat draft (text and chips) in the persisted view state, and where a long paste goes. */
import type { Attachment } from '../../src/core/chats/chat';
import { updatePersisted } from '../hostApi';
import type { HostApi } from '../hostApi';

const NO_CHIPS: readonly Attachment[] = [];

/** A long paste waiting for "Attach as file" / "Keep as text", with where it was pasted. */
export interface PasteOffer {
  text: string;
  start: number;
  end: number;
}

export const draftKey = (chatId: string | undefined): string => chatId ?? '';

export function savedChips(host: HostApi, key: string): readonly Attachment[] {
  return host.getState()?.attachments?.[key] ?? NO_CHIPS;
}

export function persistDraft(host: HostApi, key: string, text: string, chips: readonly Attachment[]): void {
  updatePersisted(host, (s) => {
    if (text) s.drafts[key] = text;
    else delete s.drafts[key];
    const attachments = (s.attachments ??= {});
    if (chips.length) attachments[key] = chips.slice();
    else delete attachments[key];
  });
}

export function withPaste(text: string, offer: PasteOffer): { text: string; caret: number } {
  const start = Math.min(offer.start, text.length);
  const end = Math.min(Math.max(offer.end, start), text.length);
  return { text: text.slice(0, start) + offer.text + text.slice(end), caret: start + offer.text.length };
}
