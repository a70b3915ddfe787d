/** Pure operations on chats: the request sent for a chat, forks, Markdown export. */
import type { Attachment, Chat, ChatMessage, ContextSummary } from './chat';
import { activePath } from './chatTree';
import type { ChatRequest, ChatRequestMessage } from '../server/client';
import { fenceCode } from '../base/format';
import { t } from '../base/l10n';
import type { SessionSettings } from '../session/sessionApi';

/** Inline code that backticks inside `text` cannot close early. */
function inlineCode(text: string): string {
  let longest = 0;
  for (const m of text.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  const ticks = '`'.repeat(longest + 1);
  const pad = text.startsWith('`') || text.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${text.replace(/\r?\n/g, ' ')}${pad}${ticks}`;
}

function lineRange(a: { startLine?: number; endLine?: number }): string {
  const { startLine: start, endLine: end } = a;
  if (start === undefined) return '';
  if (end === undefined || end === start) return ` (line ${start})`;
  return ` (lines ${start}\u2013${end})`;
}

/**
 * An attachment as the model reads it, after the question's text: a heading naming it, then its text in a code
 * fence longer than any backtick run inside, e.g. ``File `src/a.ts` (lines 3–10):`` and a ```` ```ts ```` fence.
 * Images are not text: they travel as `images` of the request message (this returns '' for them).
 */
export function formatAttachment(a: Attachment): string {
  if (a.kind === 'image') return '';
  const label = a.kind === 'paste' ? `Pasted text ${inlineCode(a.name)}:` : `File ${inlineCode(a.name)}${lineRange(a)}:`;
  return `${label}\n${fenceCode(a.text, a.language)}`;
}

/** A user message's text with its text attachments after it. */
export function formatUserContent(m: Pick<ChatMessage, 'content' | 'attachments'>): string {
  const parts: string[] = [];
  if (m.content) parts.push(m.content);
  for (const a of m.attachments ?? []) if (a.kind !== 'image') parts.push(formatAttachment(a));
  return parts.join('\n\n');
}

/** The heading the summary of left-out messages gets in the system message. */
export const SUMMARY_HEADING = 'Summary of the earlier conversation:';

export function formatSummary(summary: Pick<ContextSummary, 'text'>): string {
  return `${SUMMARY_HEADING}\n${summary.text}`;
}

/** Where a path's summary applies: the index of the message carrying it and the ids it replaces. */
export interface PathSummary {
  index: number;
  summary: ContextSummary;
  covered: ReadonlySet<string>;
}

/**
 * The summary that counts on a path: the last one whose `covers` ids all come earlier on the path (a summary
 * whose messages are not all there, e.g. after an edit above it, stands for nothing on this path).
 */
export function pathSummary(path: readonly ChatMessage[]): PathSummary | undefined {
  for (let i = path.length - 1; i >= 0; i--) {
    const summary = path[i].summary;
    if (!summary || !summary.text.trim()) continue;
    const before = new Set(path.slice(0, i).map((m) => m.id));
    if (summary.covers.length > 0 && summary.covers.every((id) => before.has(id))) {
      return { index: i, summary, covered: new Set(summary.covers) };
    }
  }
  return undefined;
}

export interface RequestMessageOptions {
  /**
   * Send the last path message (an assistant partial answer) as the final assistant message to be continued,
   * whatever its status.
   */
  continueFinal?: boolean;
  /** Leave out the path messages before this index (fitting the context); the summary still applies. */
  startAt?: number;
}

function isContinued(path: readonly ChatMessage[], options: RequestMessageOptions): boolean {
  return options.continueFinal === true && path.length > 0 && path[path.length - 1].role === 'assistant';
}

/**
 * The messages sent to the server for a path of the chat (root to the question): the system prompt (if set, with
 * the path's summary after it), then every message with text, except assistant answers that failed or are still
 * streaming (a retried or stuck answer must not feed the next one) and messages a summary replaces. A user
 * message's attachments follow its text (text kinds formatted by formatAttachment, images as `images`).
 */
export function buildRequestMessages(
  path: readonly ChatMessage[],
  settings: Pick<SessionSettings, 'systemPrompt' | 'sendReasoning'>,
  options: RequestMessageOptions = {},
): ChatRequestMessage[] {
  const out: ChatRequestMessage[] = [];
  const system = settings.systemPrompt?.trim() ? settings.systemPrompt : undefined;
  const summary = pathSummary(path);
  const systemParts: string[] = [];
  if (system) systemParts.push(system);
  if (summary) systemParts.push(formatSummary(summary.summary));
  if (systemParts.length > 0) out.push({ role: 'system', content: systemParts.join('\n\n') });
  const continued = isContinued(path, options);
  const startAt = Math.max(0, options.startAt ?? 0);
  for (let i = startAt; i < path.length; i++) {
    const m = path[i];
    if (summary?.covered.has(m.id)) continue;
    if (continued && i === path.length - 1) {
      out.push({ role: 'assistant', content: m.content });
      continue;
    }
    if (m.role === 'user') {
      const content = formatUserContent(m);
      const images = (m.attachments ?? []).flatMap((a) => (a.kind === 'image' ? [a.dataUri] : []));
      if (!content && images.length === 0) continue;
      const message: ChatRequestMessage = { role: 'user', content };
      if (images.length > 0) message.images = images;
      out.push(message);
      continue;
    }
    if (!m.content) continue;
    if (m.role === 'assistant' && (m.status === 'failed' || m.status === 'streaming')) continue;
    // Reasoning is not resent by default: it costs context and most templates drop it anyway.
    if (m.role === 'assistant' && settings.sendReasoning && m.reasoning) out.push({ role: m.role, content: m.content, reasoning: m.reasoning });
    else out.push({ role: m.role, content: m.content });
  }
  return out;
}

export interface ChatRequestOptions {
  /** Continue the last path message (an assistant partial answer): see RequestMessageOptions.continueFinal. */
  continueFinal?: boolean;
  /** The messages to send (e.g. fitted to the context by fitRequest) instead of the whole path's. */
  messages?: ChatRequestMessage[];
}

export function buildChatRequest(
  path: readonly ChatMessage[],
  settings: SessionSettings,
  model: string | undefined,
  options: ChatRequestOptions = {},
): ChatRequest {
  const continueFinal = isContinued(path, options);
  const request: ChatRequest = { messages: options.messages ?? buildRequestMessages(path, settings, { continueFinal }) };
  if (model) request.model = model;
  if (typeof settings.temperature === 'number' && Number.isFinite(settings.temperature)) {
    request.temperature = settings.temperature;
  }
  if (typeof settings.maxTokens === 'number' && settings.maxTokens > 0) request.maxTokens = settings.maxTokens;
  if (continueFinal) request.continueFinalMessage = true;
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
  if (m.role === 'user') return t('User');
  if (m.role === 'system') return t('System');
  return m.model ? t('Assistant ({0})', m.model) : t('Assistant');
}

function statusNote(m: ChatMessage): string | undefined {
  switch (m.status) {
    case 'stopped':
      return `_${t('Stopped by the user; the answer is incomplete.')}_`;
    case 'interrupted':
      return `_${t('Interrupted; the answer is incomplete.')}_`;
    case 'streaming':
      return `_${t('Still being generated when exported.')}_`;
    case 'failed': {
      const e = m.error;
      if (!e) return `_${t('Failed.')}_`;
      return `_${t('Failed: {0}', `${e.message}${e.hint ? ` (${e.hint})` : ''}`)}_`;
    }
    case 'complete':
      return m.finishReason === 'length' ? `_${t('Cut off: the token limit was reached.')}_` : undefined;
  }
}

function footer(m: ChatMessage): string | undefined {
  if (m.role !== 'assistant') return undefined;
  const parts: string[] = [];
  if (m.completionTokens !== undefined) parts.push(t('{0} tokens', m.completionTokens));
  const tps = m.timings?.predictedPerSecond;
  if (tps !== undefined && Number.isFinite(tps)) parts.push(t('{0} tok/s', formatRate(tps)));
  if (m.ctxUsed !== undefined) parts.push(m.ctxMax ? t('context {0}/{1}', m.ctxUsed, m.ctxMax) : t('context {0}', m.ctxUsed));
  if (m.timings?.ttftMs !== undefined) parts.push(t('first token after {0} ms', Math.round(m.timings.ttftMs)));
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
      blocks.push(`<details>\n<summary>${t('Reasoning')}</summary>\n\n${reasoning}\n\n</details>`);
    }
    if (m.content) blocks.push(m.content);
    const note = statusNote(m);
    if (note) blocks.push(note);
    const foot = footer(m);
    if (foot) blocks.push(foot);
  }
  return `${blocks.join('\n\n')}\n`;
}

/** A file name from a chat title: no path separators, characters Windows refuses or trailing dots; at most 80 characters. */
export function exportFileName(title: string): string {
  const name = title
    .replace(/[\\/:*?"<>|\u0000-\u001f]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^\.+/, '')
    .slice(0, 80)
    .replace(/[.\s]+$/, '');
  return name || 'chat';
}
