/**
 * Text for the status bar, its tooltip and prefilled chat input. Pure; the words go through the l10n seam (`t`),
 * the numbers stay locale-independent, so the same figures read the same on every machine and in tests.
 */
import type { ChatMessage } from '../chats/chat';
import type { LiveStats } from '../session/sessionEvents';
import { t } from './l10n';

/** 1234567 -> "1,234,567"; negative and fractional input is rounded first. */
export function formatInt(n: number): string {
  if (!Number.isFinite(n)) return '?';
  const rounded = Math.round(n);
  const sign = rounded < 0 ? '-' : '';
  return sign + String(Math.abs(rounded)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Tokens per second: one decimal below 10 (a slow model's 3.4 tok/s matters), whole numbers above. */
export function formatTps(tps: number | undefined): string {
  if (tps === undefined || !Number.isFinite(tps) || tps < 0) return '…';
  if (tps < 10) return (Math.round(tps * 10) / 10).toFixed(1);
  return formatInt(tps);
}

/** 350 -> "350 ms", 1234 -> "1.2 s", 83000 -> "83 s". */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '?';
  if (ms < 1000) return t('{0} ms', Math.round(ms));
  if (ms < 10_000) return t('{0} s', (Math.round(ms / 100) / 10).toFixed(1));
  return t('{0} s', formatInt(ms / 1000));
}

/** What the status bar shows for one stream; `count` is the number of chats streaming right now. */
export interface StatusInput {
  stats: LiveStats;
  stale: boolean;
  /** ms since the last token, shown while stale. */
  silentMs?: number;
  count: number;
}

/**
 * `$(pulse) 42 tok/s · 1,234/8,192` while generating, `$(pulse) Prompt 42%` while the prompt is processed,
 * `$(warning) stalled 63 s` when no token arrived for longer than the stale limit. A suffix counts other streams.
 */
export function formatStatusText(input: StatusInput): string {
  const { stats, stale, count } = input;
  let text: string;
  if (stale) {
    text = `$(warning) ${t('stalled {0} s', formatInt(Math.max(0, (input.silentMs ?? 0) / 1000)))}`;
  } else if (stats.reconnecting) {
    text = `$(sync~spin) ${t('Reconnecting…')}`;
  } else if (stats.queued) {
    text = `$(watch) ${t('Waiting for a free slot ({0} of {1} busy)', formatInt(stats.queued.busy), formatInt(stats.queued.total))}`;
  } else if (stats.busyMs !== undefined) {
    text = `$(watch) ${t('Server busy · {0} s', formatInt(stats.busyMs / 1000))}`;
  } else if (stats.phase === 'prompt') {
    text =
      stats.promptProgress !== undefined && Number.isFinite(stats.promptProgress)
        ? `$(pulse) ${t('Prompt {0}%', formatInt(Math.min(1, Math.max(0, stats.promptProgress)) * 100))}`
        : `$(pulse) ${t('Prompt…')}`;
  } else {
    text = `$(pulse) ${t('{0} tok/s', formatTps(stats.tps))}`;
    const used = stats.ctxUsed;
    if (used !== undefined && Number.isFinite(used)) {
      text += ` · ${formatInt(used)}`;
      if (stats.ctxMax !== undefined && Number.isFinite(stats.ctxMax) && stats.ctxMax > 0) text += `/${formatInt(stats.ctxMax)}`;
    }
  }
  if (count > 1) text += ` · ${t('{0} chats', count)}`;
  return text;
}

/** Escapes text for a Markdown tooltip so a model name cannot inject links or formatting. */
export function escapeMarkdown(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>~]/g, (c) => `\\${c}`);
}

function phaseName(phase: LiveStats['phase']): string {
  switch (phase) {
    case 'waiting':
      return t('waiting');
    case 'prompt':
      return t('prompt');
    case 'generating':
      return t('generating');
    case 'done':
      return t('done');
  }
}

export interface TooltipInput {
  stats: LiveStats;
  serverUrl: string;
  chatTitle?: string;
  stale: boolean;
  silentMs?: number;
  count: number;
}

/** The status bar tooltip as Markdown lines: model, time to first token, prompt tok/s, cache, server URL. */
export function formatStatusTooltip(input: TooltipInput): string {
  const { stats } = input;
  const lines: string[] = [];
  lines.push(`**${t('Llama Chat')}**${input.chatTitle ? ` — ${escapeMarkdown(input.chatTitle)}` : ''}`);
  lines.push('');
  if (input.stale) {
    lines.push(t('No tokens for {0}: Retry or Discard from the chat view.', formatDuration(input.silentMs ?? 0)));
    lines.push('');
  } else if (stats.queued) {
    lines.push(t('Every slot of the server is busy ({0} of {1}): the request waits its turn.', stats.queued.busy, stats.queued.total));
    lines.push('');
  } else if (stats.busyMs !== undefined) {
    lines.push(t('The connection is alive, but nothing new for {0}: the server is busy (e.g. a long prompt).', formatDuration(stats.busyMs)));
    lines.push('');
  }
  const rows: [string, string][] = [];
  rows.push([t('Model'), stats.model ? escapeMarkdown(stats.model) : t('server default')]);
  rows.push([t('Phase'), phaseName(stats.phase)]);
  rows.push([t('Generation'), t('{0} tok/s, {1} tokens', formatTps(stats.tps), formatInt(stats.completionTokens))]);
  if (stats.ttftMs !== undefined) rows.push([t('Time to first token'), formatDuration(stats.ttftMs)]);
  if (stats.promptTokens !== undefined) rows.push([t('Prompt tokens'), formatInt(stats.promptTokens)]);
  if (stats.promptPerSecond !== undefined) rows.push([t('Prompt processing'), t('{0} tok/s', formatTps(stats.promptPerSecond))]);
  if (stats.cachedTokens !== undefined) {
    const reuse = stats.promptTokens ? ` (${t('cache reuse {0} %', formatInt((stats.cachedTokens / stats.promptTokens) * 100))})` : '';
    rows.push([t('Cached tokens'), `${formatInt(stats.cachedTokens)}${reuse}`]);
  }
  if (stats.ctxUsed !== undefined) {
    rows.push([t('Context'), stats.ctxMax ? `${formatInt(stats.ctxUsed)} / ${formatInt(stats.ctxMax)}` : formatInt(stats.ctxUsed)]);
  }
  rows.push([t('Server'), escapeMarkdown(input.serverUrl)]);
  if (input.count > 1) rows.push([t('Streaming chats'), String(input.count)]);
  for (const [k, v] of rows) lines.push(`${t('{0}: {1}', k, v)}  `);
  lines.push('');
  lines.push(t('Click to open the chat.'));
  return lines.join('\n');
}

/** A Markdown code fence that cannot be closed early by backticks inside the code. */
export function fenceCode(code: string, language?: string, label?: string): string {
  let longest = 0;
  for (const m of code.matchAll(/`+/g)) longest = Math.max(longest, m[0].length);
  const fence = '`'.repeat(Math.max(3, longest + 1));
  const lang = (language ?? '').replace(/[^A-Za-z0-9_+#.-]/g, '');
  const body = code.endsWith('\n') ? code : `${code}\n`;
  const head = label ? `${label}\n\n` : '';
  return `${head}${fence}${lang}\n${body}${fence}`;
}

/** The status bar text for a few seconds after the last answer ended: marked as final, never a live figure. */
export function formatFinalText(message: Pick<ChatMessage, 'status' | 'timings' | 'ctxUsed' | 'ctxMax' | 'completionTokens'>): string {
  const icon = message.status === 'complete' ? '$(check)' : message.status === 'stopped' ? '$(debug-stop)' : '$(error)';
  const tps = message.timings?.predictedPerSecond;
  let text = `${icon} ${tps !== undefined ? t('{0} tok/s', formatTps(tps)) : t('{0} tokens', formatInt(message.completionTokens ?? 0))}`;
  if (message.ctxUsed !== undefined) {
    text += ` · ${formatInt(message.ctxUsed)}`;
    if (message.ctxMax !== undefined && message.ctxMax > 0) text += `/${formatInt(message.ctxMax)}`;
  }
  return text;
}

/**
 * A model's name as users see it: an alias as given, but a file path (llama-server reports the `-m` argument as
 * the name when it has no `--alias`) shrinks to its file name without `.gguf`: never a full local path.
 */
export function displayModelName(name: string): string {
  if (!/[\\/]/.test(name) && !/\.gguf$/i.test(name)) return name;
  const base = name.split(/[\\/]/).pop() ?? name;
  return base.replace(/\.gguf$/i, '') || base;
}

/** What a chat template can do with reasoning: a thinking switch (enable_thinking), and ending thinking early. */
export function reasoningCaps(chatTemplate: string | undefined): { canToggle: boolean; canSkip: boolean } | undefined {
  if (!chatTemplate) return undefined;
  const canToggle = chatTemplate.includes('enable_thinking');
  const canSkip = canToggle || chatTemplate.includes('<think>');
  return canToggle || canSkip ? { canToggle, canSkip } : undefined;
}
