/**
 * The session's actions about the context: counting a draft as a send would fit it, continuing an answer (in place
 * or in a new chat), and summarizing earlier messages (Compact, and editing a summary).
 */
import type { Attachment, ContextSummary } from '../chats/chat';
import { forkMessages } from '../chats/chatOps';
import { activePath, indexTree, pathTo } from '../chats/chatTree';
import { newId } from '../base/ids';
import type { AnswerStarter } from './sessionAnswer';
import type { ActionOutcome, DraftMeasure } from './sessionApi';
import { errorText, newQuestion } from './sessionCore';
import type { SessionCore } from './sessionCore';
import { t } from '../base/l10n';

/** The size of the request a draft would send now, fitted as a send would fit it (no summary is made). */
export async function measureDraft(
  core: SessionCore,
  chatId: string | undefined,
  text: string,
  attachments: Attachment[],
  signal: AbortSignal | undefined,
): Promise<DraftMeasure> {
  const chat = chatId !== undefined && core.hasChat(chatId) ? await core.loadChat(chatId) : undefined;
  const path = chat ? activePath(chat) : [];
  const user = newQuestion(core.clock, text, path[path.length - 1]?.id, attachments);
  const [fit, attachmentTokens] = await Promise.all([
    core.context.fit([...path, user], { signal, model: chatId !== undefined ? core.chatOptions(chatId).model : undefined }),
    core.context.attachmentTokens(attachments, signal),
  ]);
  const out: DraftMeasure = {
    tokens: fit.tokens,
    exact: fit.exact,
    reserve: fit.reserve,
    fits: fit.fits || (fit.toSummarize !== undefined && !fit.tooLarge),
    omitted: fit.omitted + (fit.toSummarize?.length ?? 0),
    attachmentTokens,
  };
  if (fit.nCtx !== undefined) out.nCtx = fit.nCtx;
  if (fit.tooLarge) out.tooLarge = fit.tooLarge;
  return out;
}

export function continueAnswer(core: SessionCore, starter: AnswerStarter, chatId: string, messageId: string): Promise<ActionOutcome> {
  return core.withIdleChat(chatId, async (chat) => {
    const index = indexTree(chat.messages);
    const target = index.byId.get(messageId);
    if (!target) return { ok: false, reason: 'unknown-message', detail: t('That answer is no longer in this chat.') };
    if (target.role !== 'assistant' || !target.content) return { ok: false, reason: 'invalid', detail: t('Only an answer with text can be continued.') };
    return await starter.start(chatId, pathTo(index, messageId), { continueOf: target });
  });
}

export async function continueInNewChat(core: SessionCore, starter: AnswerStarter, chatId: string, messageId: string): Promise<ActionOutcome> {
  const chat = await core.loadChat(chatId);
  if (!chat) return core.unknownChat(chatId);
  const path = pathTo(indexTree(chat.messages), messageId);
  const answer = path[path.length - 1];
  if (!answer || answer.role !== 'assistant') return { ok: false, reason: 'unknown-message', detail: t('That answer is no longer in this chat.') };
  let from = path.length - 1;
  while (from > 0 && path[from].role !== 'user') from--;
  const live = core.streams.get(chatId);
  const source = path.slice(from).map((m) => (live && m.id === live.message.id ? { ...m, content: live.message.content } : m));
  const messages = forkMessages(source, () => newId(core.clock.now()));
  const fresh = await core.repository.createChat({ title: `${chat.title} (continued)`, messages });
  core.fire({ type: 'chatsChanged' });
  const outcome = await continueAnswer(core, starter, fresh.id, messages[messages.length - 1].id);
  return outcome.ok ? outcome : { ok: true, chatId: fresh.id };
}

/** Summarizes the active path before its last question into a summary sent in place of those messages. */
export function compactChat(core: SessionCore, starter: AnswerStarter, chatId: string): Promise<ActionOutcome> {
  return core.withIdleChat(chatId, async (chat) => {
    const path = activePath(chat);
    let last = path.length - 1;
    while (last > 0 && path[last].role !== 'user') last--;
    const covered = path.slice(0, last).filter((m) => m.role !== 'system');
    if (last <= 0 || covered.length < 2) {
      return { ok: false, reason: 'invalid', detail: t('There are not enough earlier messages to summarize (the last question and its answer stay as they are).') };
    }
    try {
      await starter.storeSummary(chatId, path[last], covered);
    } catch (err) {
      return { ok: false, reason: 'invalid', detail: t('The server could not summarize the chat: {0}', errorText(err)) };
    }
    return { ok: true, chatId, messageId: path[last].id };
  });
}

export function editSummary(core: SessionCore, chatId: string, messageId: string, text: string): Promise<ActionOutcome> {
  return core.withIdleChat(chatId, async (chat) => {
    const m = chat.messages.find((x) => x.id === messageId);
    if (!m?.summary) return { ok: false, reason: 'unknown-message', detail: t('That summary is no longer in this chat.') };
    const summary: ContextSummary = { ...m.summary, text: text.trim() || m.summary.text };
    if (!(await core.persisted(() => core.repository.updateMessage(chatId, messageId, { summary })))) return core.unsaved();
    core.fire({ type: 'chatChanged', chatId });
    return { ok: true, chatId, messageId };
  });
}
