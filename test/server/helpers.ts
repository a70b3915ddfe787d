/** Small helpers shared by the real-server tests. */
import { readFileSync } from 'node:fs';
import { request } from 'undici';
import type { ChatRequestMessage } from '../../src/core/server/client';
import type { StreamEvent } from '../../src/core/base/events';
import type { LlamaClient } from '../../src/core/server/llamaClient';

export interface Collected {
  events: StreamEvent[];
  text: string;
  last: StreamEvent | undefined;
}

/** Drains a stream, keeping every event and the concatenated content. */
export async function collect(stream: AsyncIterable<StreamEvent>, onEvent?: (e: StreamEvent, sofar: Collected) => void): Promise<Collected> {
  const out: Collected = { events: [], text: '', last: undefined };
  for await (const e of stream) {
    out.events.push(e);
    out.last = e;
    if (e.type === 'content') out.text += e.text;
    onEvent?.(e, out);
  }
  return out;
}

/** A non-streamed completion straight over undici: the reference the client's streamed text is compared with. */
export async function completeNonStreamed(baseUrl: string, body: { messages: ChatRequestMessage[]; [k: string]: unknown }): Promise<{ text: string; finishReason: string; completionTokens: number }> {
  const res = await request(`${baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ ...body, stream: false }),
  });
  const json = (await res.body.json()) as {
    choices?: { message: { content: string | null }; finish_reason: string }[];
    usage?: { completion_tokens: number };
  };
  if (res.statusCode !== 200 || !json.choices?.[0]) throw new Error(`HTTP ${res.statusCode}: ${JSON.stringify(json)}`);
  return {
    text: json.choices[0].message.content ?? '',
    finishReason: json.choices[0].finish_reason,
    completionTokens: json.usage?.completion_tokens ?? -1,
  };
}

/** POST /apply-template straight over undici: the prompt text the server makes of `messages`. */
export async function applyTemplate(baseUrl: string, messages: ChatRequestMessage[]): Promise<string> {
  const res = await request(`${baseUrl}/apply-template`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ messages }),
  });
  const json = (await res.body.json()) as { prompt?: unknown };
  if (res.statusCode !== 200 || typeof json.prompt !== 'string') throw new Error(`HTTP ${res.statusCode}: ${JSON.stringify(json)}`);
  return json.prompt;
}

/** Polls /slots until no slot is processing; returns true, or false after `timeoutMs`. */
export async function waitForIdleSlots(client: LlamaClient, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const slots = await client.getSlots();
    if (!slots.some((s) => s.isProcessing)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Polls /slots until some slot is processing; false after `timeoutMs`. */
export async function waitForBusySlot(client: LlamaClient, timeoutMs = 3000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const slots = await client.getSlots();
    if (slots.some((s) => s.isProcessing)) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Events of one type, narrowed. */
export function ofType<T extends StreamEvent['type']>(events: readonly StreamEvent[], type: T): Extract<StreamEvent, { type: T }>[] {
  return events.filter((e): e is Extract<StreamEvent, { type: T }> => e.type === type);
}

/** Counts llama-server's "cancel task" log lines (written when a client goes away mid-generation). */
export function cancelledTasks(logFile: string | undefined): number | undefined {
  if (!logFile) return undefined;
  return (readFileSync(logFile, 'utf8').match(/cancel task/g) ?? []).length;
}

/** Polls until llama-server logged more cancellations than `before` (true), or `timeoutMs` passed (false). */
export async function waitForCancelLogged(logFile: string | undefined, before: number | undefined, timeoutMs = 3000): Promise<boolean> {
  if (logFile === undefined || before === undefined) return true; // external server: no log to read
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((cancelledTasks(logFile) ?? 0) > before) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 25));
  }
}
