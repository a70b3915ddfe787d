/**
 * Reasoning against a real llama-server on the tiny reasoning model (Qwen3 template): reasoning_content arrives as
 * the answer's reasoning, the per-chat thinking switch reaches the template, and Skip thinking ends the thinking on
 * the server. The suite starts its own server (the shared one runs the Phi-3 tiny model) and stops it by PID.
 *
 * A random-weight model only thinks when a grammar makes it: the client here is the real LlamaClient with a grammar
 * added to each request body (the session has no grammar setting).
 */
import * as assert from 'node:assert/strict';
import type { Context } from 'mocha';
import { request } from 'undici';
import type { ChatMessage } from '../../src/core/chats/chat';
import type { ChatRequest } from '../../src/core/server/client';
import type { StreamEvent } from '../../src/core/base/events';
import { reasoningCaps } from '../../src/core/base/format';
import { LlamaClient } from '../../src/core/server/llamaClient';
import { ChatSession } from '../../src/core/session/session';
import type { SessionSettings } from '../../src/core/session/sessionApi';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import { startLlamaServer } from '../harness/llamaServer';
import type { LlamaServerHandle } from '../harness/llamaServer';
import { ensureReasoningModel, reasoningGrammar } from '../harness/reasoningModel';
import { MemoryRepository } from '../support/memoryRepository';

type Ended = Extract<SessionEvent, { type: 'streamEnded' }>;

const ANSWER = 'The answer is **42**.';
/** Long enough that an uncut answer thinks for seconds (~60 tok/s here: the 151,936-token output layer). */
const LONG_THINK = 1200;

/** The real client, with a grammar put into every chat request and every request body kept. */
class GrammarClient extends LlamaClient {
  grammar: string | undefined;
  readonly sent: ChatRequest[] = [];

  override streamChatBatches(req: ChatRequest, signal?: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    const withGrammar: ChatRequest = this.grammar === undefined ? req : { ...req, extra: { ...req.extra, grammar: this.grammar } };
    this.sent.push(withGrammar);
    return super.streamChatBatches(withGrammar, signal);
  }
}

describe('reasoning against a real llama-server (tiny Qwen3-template model)', function () {
  let server: LlamaServerHandle | undefined;
  let client: GrammarClient;
  let repo: MemoryRepository;
  let thinking: Map<string, boolean>;
  let session: ChatSession;
  const settings: SessionSettings = { temperature: 0, staleSeconds: 30 };

  before(async function (this: Context) {
    // An external server ($LLAMA_SERVER_URL) runs some other model: these facts are about this one.
    if (process.env.LLAMA_SERVER_URL) this.skip();
    this.timeout(10 * 60_000);
    const model = await ensureReasoningModel({ onProgress: (line) => console.error(line) });
    server = await startLlamaServer({ model, alias: 'tiny-reasoning', ctx: 2048, parallel: 2, onProgress: (line) => console.error(line) });
  });
  after(async function (this: Context) {
    this.timeout(15_000);
    await server?.stop();
    server = undefined;
  });

  beforeEach(() => {
    client = new GrammarClient({ baseUrl: server!.url, requestTimeoutMs: 10_000 });
    repo = new MemoryRepository();
    thinking = new Map();
    session = new ChatSession({ streamer: client, repository: repo, settings: () => settings, chatOptions: (id) => ({ thinking: thinking.get(id) }) });
  });
  afterEach(async () => {
    await session.shutdown();
    session.dispose();
    client.dispose();
  });

  function nextEnd(chatId: string): Promise<Ended> {
    return new Promise((resolve) => {
      const sub = session.onEvent((e) => {
        if (e.type === 'streamEnded' && e.chatId === chatId) {
          sub.dispose();
          resolve(e);
        }
      });
    });
  }

  /** Sends `text` in a new chat and waits for the answer to end; `onDelta` sees every delta on the way. */
  async function ask(text: string, options: { thinking?: boolean; onDelta?: (e: Extract<SessionEvent, { type: 'delta' }>) => void } = {}): Promise<{ message: ChatMessage; deltas: Extract<SessionEvent, { type: 'delta' }>[] }> {
    const chat = await session.newChat();
    if (options.thinking !== undefined) thinking.set(chat.id, options.thinking);
    const deltas: Extract<SessionEvent, { type: 'delta' }>[] = [];
    const sub = session.onEvent((e) => {
      if (e.type !== 'delta' || e.chatId !== chat.id) return;
      deltas.push(e);
      options.onDelta?.(e);
    });
    const ended = nextEnd(chat.id);
    const outcome = await session.send(chat.id, text);
    assert.ok(outcome.ok, JSON.stringify(outcome));
    const end = await ended;
    sub.dispose();
    assert.equal(end.error, undefined, JSON.stringify(end.error));
    return { message: end.message, deltas };
  }

  it('/props reports the Qwen3 template: the thinking switch and Skip thinking are offered', async () => {
    const props = await client.getProps();
    assert.match(props.chatTemplate ?? '', /enable_thinking/);
    assert.match(props.chatTemplate ?? '', /<think>/);
    assert.deepEqual(reasoningCaps(props.chatTemplate), { canToggle: true, canSkip: true });
  });

  it('an answer that thinks: reasoning_content arrives as reasoning, before the content, and reasoning_control is sent', async () => {
    client.grammar = reasoningGrammar({ maxChars: 200 });
    const { message, deltas } = await ask('What is six times seven?');
    assert.equal(message.status, 'complete');
    assert.equal(message.content, ANSWER);
    assert.ok((message.reasoning ?? '').length > 20, `reasoning: ${JSON.stringify(message.reasoning)}`);
    assert.match(message.reasoning ?? '', /^[a-z ]+$/, 'the think tags are not part of the reasoning');
    assert.equal(deltas.map((d) => d.reasoning ?? '').join(''), message.reasoning);
    const firstContent = deltas.findIndex((d) => d.content);
    assert.ok(firstContent > 0 && deltas.slice(firstContent).every((d) => !d.reasoning), 'all reasoning comes before the content');
    const extra = client.sent[0]?.extra ?? {};
    assert.equal(extra.reasoning_control, true);
    assert.equal(extra.chat_template_kwargs, undefined, 'no thinking switch set: the template decides');
  });

  it('thinking switched off: enable_thinking=false reaches the template (an empty think block is prefilled) and the answer has no reasoning', async () => {
    // A grammar that does not force <think>: what a real model does once the template has closed the thinking.
    client.grammar = `root ::= ${JSON.stringify(ANSWER)}`;
    const off = await ask('What is six times seven?', { thinking: false });
    const on = await ask('What is six times seven?', { thinking: true });
    assert.deepEqual(client.sent[0]?.extra?.chat_template_kwargs, { enable_thinking: false });
    assert.deepEqual(client.sent[1]?.extra?.chat_template_kwargs, { enable_thinking: true });
    assert.equal(off.message.content, ANSWER);
    assert.equal(off.message.reasoning ?? '', '');
    // The Qwen3 template appends "<think>\n\n</think>\n\n" to the prompt when thinking is off: 4 more tokens.
    assert.equal((off.message.promptTokens ?? 0) - (on.message.promptTokens ?? 0), 4, `prompt tokens off ${off.message.promptTokens}, on ${on.message.promptTokens}`);
    const applied = await request(`${server!.url}/apply-template`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [{ role: 'user', content: 'hi' }], chat_template_kwargs: { enable_thinking: false } }),
    });
    assert.match(((await applied.body.json()) as { prompt: string }).prompt, /<\|im_start\|>assistant\n<think>\n\n<\/think>\n\n$/);
  });

  it('thinking off but a grammar that forces <think>: the server sends the tags inside delta.content, the client still splits them off', async () => {
    // With the thinking closed by the template the server parses nothing as reasoning; the raw SSE shows it.
    const res = await request(`${server!.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        messages: [{ role: 'user', content: 'What is six times seven?' }],
        stream: true,
        temperature: 0,
        grammar: reasoningGrammar({ maxChars: 60 }),
        chat_template_kwargs: { enable_thinking: false },
      }),
    });
    const body = await res.body.text();
    const deltas = body
      .split('\n')
      .filter((l) => l.startsWith('data: {'))
      .map((l) => (JSON.parse(l.slice(6)) as { choices: { delta: { content?: string | null; reasoning_content?: string } }[] }).choices[0]?.delta ?? {});
    const content = deltas.map((d) => d.content ?? '').join('');
    assert.equal(deltas.map((d) => d.reasoning_content ?? '').join(''), '');
    assert.match(content, /^<think>[a-z ]*<\/think>The answer is \*\*42\*\*\.$/);
    // The session's decoder splits a leading <think>…</think> out of delta.content: the answer has reasoning anyway.
    client.grammar = reasoningGrammar({ maxChars: 60 });
    const { message } = await ask('What is six times seven?', { thinking: false });
    assert.deepEqual(client.sent[0]?.extra?.chat_template_kwargs, { enable_thinking: false });
    assert.equal(message.content, ANSWER);
    assert.equal(`<think>${message.reasoning ?? ''}</think>${message.content}`, content, 'the same text, split on the client');
  });

  it('Skip thinking during the reasoning ends it on the server: shorter reasoning than uncut, then the content', async function (this: Context) {
    this.timeout(60_000);
    client.grammar = reasoningGrammar({ maxChars: LONG_THINK });
    const uncut = await ask('Think hard: what is six times seven?');
    assert.equal(uncut.message.content, ANSWER);
    const uncutLength = uncut.message.reasoning?.length ?? 0;
    assert.ok(uncutLength > LONG_THINK * 0.8, `the uncut answer thinks long (${uncutLength} chars)`);

    let skipped: Promise<unknown> | undefined;
    let target: { chatId: string; messageId: string } | undefined;
    let reasoningAtSkip = 0;
    const cut = await ask('Think hard: what is six times seven?', {
      onDelta: (e) => {
        if (!e.reasoning || skipped) return;
        reasoningAtSkip = e.reasoning.length;
        target = { chatId: e.chatId, messageId: e.messageId };
        skipped = session.skipThinking(e.chatId, e.messageId);
      },
    });
    assert.deepEqual(await skipped, { ok: true, ...target });
    assert.equal(target?.messageId, cut.message.id);
    assert.equal(cut.message.status, 'complete');
    assert.equal(cut.message.content, ANSWER, 'the answer follows the cut thinking');
    const cutLength = cut.message.reasoning?.length ?? 0;
    assert.ok(cutLength >= reasoningAtSkip && cutLength < uncutLength / 2, `cut reasoning ${cutLength} chars, uncut ${uncutLength}`);
  });

  it('the control endpoint answers 200 {"success": …} JSON, also when nothing was ended', async () => {
    const control = async (body: unknown): Promise<{ status: number; json: unknown }> => {
      const res = await request(`${server!.url}/v1/chat/completions/control`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      return { status: res.statusCode, json: await res.body.json() };
    };
    assert.deepEqual(await control({ id: 'chatcmpl-none', action: 'reasoning_end' }), { status: 200, json: { success: false, message: 'no active completion for this id' } });
    const bad = await control({ id: 'chatcmpl-none', action: 'explode' });
    assert.equal(bad.status, 400);
  });
});
