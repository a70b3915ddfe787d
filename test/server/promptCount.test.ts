/**
 * Prompt counting and context fitting against a real llama-server: the client's count of a request is the prompt
 * the server then evaluates (usage.prompt_tokens, and timings.prompt_n with the prompt cache off), by
 * input_tokens and by the apply-template + tokenize fallback; trimOldest fits a long chat that the server then
 * answers; a question too large for the context is refused before any chat request.
 */
import * as assert from 'node:assert/strict';
import type { Attachment, ChatMessage } from '../../src/core/chats/chat';
import { buildChatRequest, buildRequestMessages, formatAttachment } from '../../src/core/chats/chatOps';
import type { ChatRequest, ChatRequestMessage, PromptCount } from '../../src/core/server/client';
import { fitRequest } from '../../src/core/session/contextBudget';
import { LlamaClient } from '../../src/core/server/llamaClient';
import type { SessionSettings } from '../../src/core/session/sessionApi';
import { startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';
import { applyTemplate, collect, ofType } from './helpers';
import { SERVER_CTX, serverUnderTest } from './hooks';

const INPUT_TOKENS = '/v1/chat/completions/input_tokens';

function msg(id: string, role: ChatMessage['role'], content: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return { id, role, content, status: 'complete', createdAt: 1, ...extra };
}

const attachment: Attachment = {
  kind: 'selection',
  name: 'src/util.ts',
  language: 'ts',
  startLine: 3,
  endLine: 6,
  text: 'export const tick = "```";\nfunction add(a: number, b: number) {\n  return a + b; // ünïcödé ✓\n}\n',
};

/** Requests whose prompt sizes are compared with what the server evaluates. */
function samples(): { name: string; req: ChatRequest }[] {
  const settings: SessionSettings = { staleSeconds: 30, systemPrompt: 'You are a terse assistant.' };
  const path = [
    msg('u1', 'user', 'Hello there, how are you?'),
    msg('a1', 'assistant', 'Fine, thanks. 🙂'),
    msg('u2', 'user', 'Explain this code', { attachments: [attachment] }),
  ];
  return [
    { name: 'one question', req: { messages: [{ role: 'user', content: 'Hi' }] } },
    { name: 'system prompt, history and an attachment', req: buildChatRequest(path, settings, undefined) },
    {
      name: 'a summary in place of older messages',
      req: buildChatRequest(
        [...path.slice(0, 2), { ...path[2], summary: { text: 'They greeted each other.', covers: ['u1', 'a1'], createdAt: 2 } }],
        settings,
        undefined,
      ),
    },
    {
      name: 'continuing a partial answer',
      req: buildChatRequest([...path, msg('a2', 'assistant', 'The function add', { status: 'stopped' })], settings, undefined, {
        continueFinal: true,
      }),
    },
  ];
}

/** Streams `req` for one token and returns what the server says it evaluated. */
async function evaluated(client: LlamaClient, req: ChatRequest, cachePrompt: boolean): Promise<{ promptTokens: number; promptN: number | undefined }> {
  const got = await collect(client.streamChat({ ...req, maxTokens: 1, extra: { ...req.extra, cache_prompt: cachePrompt } }));
  assert.deepEqual(got.last, { type: 'done' }, JSON.stringify(got.last));
  const usage = ofType(got.events, 'usage')[0];
  assert.ok(usage, 'usage arrives');
  return { promptTokens: usage.usage.promptTokens, promptN: usage.timings?.prompt_n };
}

/** A chat of `turns` question/answer pairs (~80 tokens each message) and a last question. */
function longChat(turns: number, question = 'And what comes next?'): ChatMessage[] {
  const path: ChatMessage[] = [];
  for (let i = 1; i <= turns; i++) {
    path.push(msg(`u${i}`, 'user', `Question ${i}: ${'tell me more about the river and the mountain '.repeat(4)}`));
    path.push(msg(`a${i}`, 'assistant', `Answer ${i}: ${'the river runs down from the mountain to the sea '.repeat(4)}`));
  }
  path.push(msg('q', 'user', question));
  return path.map((m, i) => (i > 0 ? { ...m, parentId: path[i - 1].id } : m));
}

describe('Prompt counting against a real llama-server', () => {
  let client: LlamaClient;
  let proxy: FaultProxy | undefined;

  beforeEach(() => {
    client = new LlamaClient({ baseUrl: serverUnderTest().url, requestTimeoutMs: 10_000 });
  });
  afterEach(async () => {
    client.dispose();
    await proxy?.stop();
    proxy = undefined;
  });

  it('input_tokens counts exactly the prompt the server evaluates (prompt_tokens; prompt_n without the cache)', async () => {
    for (const { name, req } of samples()) {
      const count = await client.countPrompt(req);
      assert.equal(count.exact, true, name);
      const fresh = await evaluated(client, req, false);
      assert.equal(count.tokens, fresh.promptTokens, `${name}: usage.prompt_tokens`);
      assert.equal(count.tokens, fresh.promptN, `${name}: timings.prompt_n with cache_prompt false`);
      // With the cache on (the client's default) prompt_n is only what was not cached; prompt_tokens stays whole.
      const cached = await evaluated(client, req, true);
      assert.equal(count.tokens, cached.promptTokens, `${name}: usage.prompt_tokens with cache_prompt true`);
    }
    assert.equal(client.countMethod, 'input_tokens');
  });

  it('falls back to apply-template + tokenize when input_tokens is missing, and counts the same', async () => {
    proxy = await startFaultProxy({ target: serverUnderTest().url, mode: { kind: 'status', status: 404, path: INPUT_TOKENS, body: '{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}' } });
    const viaProxy = new LlamaClient({ baseUrl: proxy.url, requestTimeoutMs: 10_000 });
    const forced = new LlamaClient({ baseUrl: serverUnderTest().url, requestTimeoutMs: 10_000, countMethod: 'template' });
    try {
      for (const { name, req } of samples()) {
        const exact = await client.countPrompt(req);
        const fallback = await viaProxy.countPrompt(req);
        assert.equal(viaProxy.countMethod, 'template', 'the 404 switched the method');
        assert.deepEqual(fallback, exact, `${name}: apply-template + tokenize`);
        assert.deepEqual(await forced.countPrompt(req), exact, `${name}: forced template method`);
        assert.equal(exact.tokens, (await evaluated(client, req, false)).promptN, name);
      }
      assert.equal(proxy.stats().statusReplies, 1, 'input_tokens was asked once, then remembered as missing');
      // add_special false would miss the BOS the server adds to every prompt.
      const req = samples()[1].req;
      const prompt = await applyTemplate(serverUnderTest().url, req.messages);
      assert.equal((await client.tokenize(prompt)).length, (await client.countPrompt(req)).tokens - 1);
    } finally {
      viaProxy.dispose();
      forced.dispose();
    }
  });

  it('tokenCount gives an attachment part its tokens (within a few of what it adds to a prompt)', async () => {
    const part = formatAttachment(attachment);
    const one = await client.tokenCount(part);
    assert.equal(one.exact, true);
    const without = await client.countPrompt({ messages: [{ role: 'user', content: 'Explain' }] });
    const withPart = await client.countPrompt({ messages: [{ role: 'user', content: `Explain\n\n${part}` }] });
    assert.ok(Math.abs(withPart.tokens - without.tokens - one.tokens) <= 3, `${one.tokens} vs ${withPart.tokens - without.tokens}`);
  });

  it('trimOldest fits a chat longer than the context with a few counts, and the server answers it', async () => {
    const nCtx = (await client.getProps()).nCtx;
    if (!serverUnderTest().external) assert.equal(nCtx, SERVER_CTX);
    const path = longChat(30);
    const settings: SessionSettings = { staleSeconds: 30, systemPrompt: 'You are a terse assistant.', maxTokens: 64 };
    const whole = await client.countPrompt(buildChatRequest(path, settings, undefined));
    assert.ok(whole.tokens > nCtx, `the whole chat (${whole.tokens} tokens) is larger than the context (${nCtx})`);

    let counts = 0;
    const count = (messages: ChatRequestMessage[], signal?: AbortSignal): Promise<PromptCount> => {
      counts++;
      return client.countPrompt(buildChatRequest(path, settings, undefined, { messages }), signal);
    };
    const fit = await fitRequest({ path, settings, nCtx, policy: 'trimOldest' }, count);
    assert.equal(fit.fits, true);
    assert.equal(fit.exact, true);
    assert.ok(fit.omitted > 0 && fit.omitted % 2 === 0, `omitted ${fit.omitted}`);
    assert.ok(fit.tokens + fit.reserve <= nCtx, `${fit.tokens} + ${fit.reserve} <= ${nCtx}`);
    assert.ok(counts <= 8, `${counts} counts`);
    assert.equal(fit.messages[0].role, 'system');
    assert.equal(fit.messages[1].role, 'user');
    assert.equal(fit.messages[fit.messages.length - 1].content, 'And what comes next?');
    // The smallest cut: one more turn would not fit.
    const more = buildRequestMessages(path, settings, { startAt: fit.omitted - 2 });
    assert.ok((await count(more)).tokens + fit.reserve > nCtx);

    const got = await collect(client.streamChat({ ...buildChatRequest(path, settings, undefined, { messages: fit.messages }), temperature: 0 }));
    assert.deepEqual(got.last, { type: 'done' });
    assert.ok(got.text.length > 0, 'a streamed answer arrives');
    assert.equal(ofType(got.events, 'usage')[0]?.usage.promptTokens, fit.tokens);
  });

  it('summarize names the messages to summarize; with the summary stored the chat fits whole', async () => {
    const nCtx = (await client.getProps()).nCtx;
    const path = longChat(20);
    const settings: SessionSettings = { staleSeconds: 30, maxTokens: 64 };
    const count = (messages: ChatRequestMessage[], signal?: AbortSignal): Promise<PromptCount> =>
      client.countPrompt({ messages, maxTokens: 64 }, signal);
    const first = await fitRequest({ path, settings, nCtx, policy: 'summarize' }, count);
    assert.equal(first.fits, false);
    const covers = first.toSummarize!;
    assert.ok(covers.length > 0);
    const keptAt = covers.length;
    const summarized = path.map((m, i) => (i === keptAt ? { ...m, summary: { text: 'They discussed rivers and mountains at length.', covers, createdAt: 2 } } : m));
    const second = await fitRequest({ path: summarized, settings, nCtx, policy: 'summarize' }, count);
    assert.equal(second.fits, true);
    assert.equal(second.omitted, 0);
    assert.equal(second.summarized, covers.length);
    const got = await collect(client.streamChat({ messages: second.messages, maxTokens: 8 }));
    assert.deepEqual(got.last, { type: 'done' });
  });

  it('refuses a question too large for the context before any chat request, with the server\'s own numbers', async () => {
    proxy = await startFaultProxy({ target: serverUnderTest().url });
    const viaProxy = new LlamaClient({ baseUrl: proxy.url, requestTimeoutMs: 10_000 });
    let chatRequests = 0;
    const streamChat = viaProxy.streamChat.bind(viaProxy);
    viaProxy.streamChat = (req, signal) => {
      chatRequests++;
      return streamChat(req, signal);
    };
    try {
      const nCtx = (await viaProxy.getProps()).nCtx;
      const path = [...longChat(2).slice(0, 4), msg('big', 'user', 'hello '.repeat(3000))];
      const settings: SessionSettings = { staleSeconds: 30 };
      const before = proxy.stats().requests;
      const fit = await fitRequest({ path, settings, nCtx, policy: 'trimOldest' }, (messages, signal) => viaProxy.countPrompt({ messages }, signal));
      assert.equal(fit.fits, false);
      assert.ok(fit.tooLarge, 'tooLarge says why');
      assert.equal(chatRequests, 0, 'no chat request was made');
      assert.equal(proxy.stats().requests - before, 2, 'two counts: the whole chat and the question alone');
      // The numbers are the server's: sending it anyway is refused with the same prompt size.
      const alone = buildRequestMessages(path.slice(-1), settings);
      const got = await collect(client.streamChat({ messages: alone }));
      assert.equal(got.last?.type, 'error');
      const error = got.last?.type === 'error' ? got.last.error : undefined;
      assert.equal(error?.kind, 'context_exceeded');
      assert.equal(fit.tokens, error?.nPromptTokens);
      assert.equal(
        fit.tooLarge,
        `The message needs ${error.nPromptTokens!.toLocaleString('en-US')} tokens, but the context holds ${nCtx.toLocaleString('en-US')} and 512 are kept for the answer.`,
      );
    } finally {
      viaProxy.dispose();
    }
  });
});
