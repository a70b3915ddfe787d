/**
 * After a window reload: answers the last window left streaming (now `interrupted`) that llama-server still holds
 * are picked up again instead of staying cut. The replay starts at the first byte; what the message kept is skipped.
 */
import type { ChatMessage, MessagePatch } from '../chats/chat';
import type { ChatStreamer } from '../server/client';
import type { SessionCore } from './sessionCore';
import type { StreamRunner } from './sessionStream';

/** Looks at chats changed in the last `maxAgeMs`; returns how many answers were picked up. */
export async function resumeDropped(core: SessionCore, runner: StreamRunner, maxAgeMs: number): Promise<number> {
  const { streamer } = core;
  if (!streamer.lookupStreams || !streamer.resumeStream) return 0;
  const now = core.clock.now();
  const candidates: { chatId: string; message: ChatMessage }[] = [];
  for (const summary of core.repository.listChats()) {
    if (now - summary.updatedAt > maxAgeMs) break; // newest first
    if (summary.readOnly) continue;
    const chat = await core.loadChat(summary.id);
    for (const m of chat?.messages ?? []) {
      if (m.role === 'assistant' && m.status === 'interrupted' && now - m.createdAt <= maxAgeMs) candidates.push({ chatId: summary.id, message: m });
    }
  }
  if (candidates.length === 0) return 0;
  const held = await core.probe((signal) => streamer.lookupStreams?.(candidates.map((c) => c.message.id), signal));
  let resumed = 0;
  for (const { id } of held ?? []) {
    const c = candidates.find((x) => x.message.id === id);
    if (!c || core.checkBusy(c.chatId)) continue;
    const release = core.reserve(c.chatId);
    try {
      if (await resumeAnswer(core, runner, c.chatId, c.message, (id, signal) => streamer.resumeStream!(id, signal))) resumed++;
    } finally {
      release();
    }
  }
  return resumed;
}

async function resumeAnswer(
  core: SessionCore,
  runner: StreamRunner,
  chatId: string,
  stored: ChatMessage,
  resume: NonNullable<ChatStreamer['resumeStream']>,
): Promise<boolean> {
  const message = structuredClone(stored);
  message.status = 'streaming';
  for (const k of ['finishReason', 'limit', 'error', 'finishedAt'] as const) delete message[k];
  const patch: MessagePatch = { status: 'streaming', finishReason: undefined, limit: undefined, error: undefined, finishedAt: undefined };
  if (!(await core.persisted(() => core.repository.updateMessage(chatId, message.id, patch)))) return false;
  const state = runner.newStream(chatId, message, core.clock.now(), message.model, 0);
  // The replay starts at the first byte: the text the message kept is skipped, the rest appended.
  state.skip = { content: message.content.length, reasoning: message.reasoning?.length ?? 0 };
  core.logger.info(`Resuming answer ${message.id} in chat ${chatId}: llama-server still has its stream`);
  core.fire({ type: 'chatChanged', chatId });
  runner.fetchProps(state, core.settings());
  void runner.run(state, resume(message.id, state.controller.signal));
  return true;
}
