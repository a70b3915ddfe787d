/** Pure operations on chats: the request sent for a chat, forks, Markdown export. */
import type { Chat, ChatMessage } from './chat';
import { activePath } from './chatTree';
import type { ChatRequest, ChatRequestMessage } from './client';
import type { SessionSettings } from './sessionApi';

/**
 * The messages sent to the server for a path of the chat (root to the question): the system prompt (if set), then
 * every message with text, except
 * assistant answers that failed or are still streaming (a retried or stuck answer must not feed the next one).
 */
export function buildRequestMessages(
  messages: readonly ChatMessage[],
  settings: Pick<SessionSettings, 'systemPrompt'>,
): ChatRequestMessage[] {
  const out: ChatRequestMessage[] = [];
  const system = settings.systemPrompt?.trim();
  if (system) out.push({ role: 'system', content: settings.systemPrompt! });
  for (const m of messages) {
    if (!m.content) continue;
    if (m.role === 'assistant' && (m.status === 'failed' || m.status === 'streaming')) continue;
    out.push({ role: m.role, content: m.content });
  }
  return out;
}

export function buildChatRequest(
  messages: readonly ChatMessage[],
  settings: SessionSettings,
  model: string | undefined,
): ChatRequest {
  const request: ChatRequest = { messages: buildRequestMessages(messages, settings) };
  if (model) request.model = model;
  if (typeof settings.temperature === 'number' && Number.isFinite(settings.temperature)) {
    request.temperature = settings.temperature;
  }
  if (typeof settings.maxTokens === 'number' && settings.maxTokens > 0) request.maxTokens = settings.maxTokens;
  return request;
}

/**
 * Copies of a path (root first) for a new chat: each with a new id and the previous copy as its parent. A message
 * still streaming is copied as `interrupted`: no stream feeds the fork.
 */
export function forkMessages(path: readonly ChatMessage[], newId: () => string): ChatMessage[] {
  let parent: string | undefined;
  return path.map((m) => {
    const copy: ChatMessage = structuredClone(m);
    copy.id = newId();
    if (parent === undefined) delete copy.parentId;
    else copy.parentId = parent;
    parent = copy.id;
    if (copy.status === 'streaming') copy.status = 'interrupted';
    if (copy.reasoning === undefined) delete copy.reasoning;
    return copy;
  });
}

function formatRate(n: number): string {
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function roleHeading(m: ChatMessage): string {
  if (m.role === 'user') return 'User';
  if (m.role === 'system') return 'System';
  return m.model ? `Assistant (${m.model})` : 'Assistant';
}

function statusNote(m: ChatMessage): string | undefined {
  switch (m.status) {
    case 'stopped':
      return '_Stopped by the user; the answer is incomplete._';
    case 'interrupted':
      return '_Interrupted; the answer is incomplete._';
    case 'streaming':
      return '_Still being generated when exported._';
    case 'failed': {
      const e = m.error;
      if (!e) return '_Failed._';
      return `_Failed: ${e.message}${e.hint ? ` (${e.hint})` : ''}_`;
    }
    case 'complete':
      return m.finishReason === 'length' ? '_Cut off: the token limit was reached._' : undefined;
  }
}

function footer(m: ChatMessage): string | undefined {
  if (m.role !== 'assistant') return undefined;
  const parts: string[] = [];
  if (m.completionTokens !== undefined) parts.push(`${m.completionTokens} tokens`);
  const tps = m.timings?.predictedPerSecond;
  if (tps !== undefined && Number.isFinite(tps)) parts.push(`${formatRate(tps)} tok/s`);
  if (m.ctxUsed !== undefined) parts.push(m.ctxMax ? `context ${m.ctxUsed}/${m.ctxMax}` : `context ${m.ctxUsed}`);
  if (m.timings?.ttftMs !== undefined) parts.push(`first token after ${Math.round(m.timings.ttftMs)} ms`);
  return parts.length ? `<sub>${parts.join(' · ')}</sub>` : undefined;
}

/** The chat's active path as a Markdown document: role headings, reasoning folded away, status notes and figures. */
export function exportMarkdown(chat: Chat): string {
  const blocks: string[] = [`# ${chat.title.replace(/\r?\n/g, ' ')}`];
  for (const m of activePath(chat)) {
    blocks.push(`## ${roleHeading(m)}`);
    if (m.reasoning) {
      // A literal closing tag inside the reasoning would end the fold early.
      const reasoning = m.reasoning.replace(/<\/details>/gi, '&lt;/details>');
      blocks.push(`<details>\n<summary>Reasoning</summary>\n\n${reasoning}\n\n</details>`);
    }
    if (m.content) blocks.push(m.content);
    const note = statusNote(m);
    if (note) blocks.push(note);
    const foot = footer(m);
    if (foot) blocks.push(foot);
  }
  return `${blocks.join('\n\n')}\n`;
}
