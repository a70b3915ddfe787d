/**
 * Chats that never dead-end, against the real llama-server (context 2,048): the oldest turns are left out and the
 * answer arrives; a summary stands in for them and the next request carries it; a question too large for the
 * context is refused before any chat request. The counts come from the server itself.
 */
import * as assert from 'node:assert/strict';
import type { ChatMessage } from '../../src/core/chats/chat';
import { activePath } from '../../src/core/chats/chatTree';
import type { ChatRequest, ChatStreamer, PromptCount, ServerProps } from '../../src/core/server/client';
import type { StreamEvent } from '../../src/core/base/events';
import { LlamaClient } from '../../src/core/server/llamaClient';
import { ChatSession } from '../../src/core/session/session';
import type { SessionSettings } from '../../src/core/session/sessionApi';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import { MemoryRepository } from '../support/memoryRepository';
import { SERVER_CTX, serverUnderTest } from './hooks';

const SUMMARY = 'Earlier the user pasted long lists of words and asked about them.';

/** The real client; answers and summaries forced by grammars so their text is known. Records every chat request. */
class Recording implements ChatStreamer {
  readonly chats: ChatRequest[] = [];
  readonly summaries: ChatRequest[] = [];
  constructor(private readonly client: LlamaClient) {}
  streamChat(req: ChatRequest, signal?: AbortSignal): AsyncIterable<StreamEvent> {
    return this.client.streamChat(req, signal);
  }
  streamChatBatches(req: ChatRequest, signal?: AbortSignal): AsyncIterable<StreamEvent[]> {
    const summary = req.messages[0]?.role === 'system' && /^Summarize the conversation/.test(req.messages[0].content);
    (summary ? this.summaries : this.chats).push(structuredClone(req));
    const text = summary ? SUMMARY : 'Short answer.';
    return this.client.streamChatBatches({ ...req, extra: { grammar: `root ::= ${JSON.stringify(text)}` } }, signal);
  }
  getProps(signal?: AbortSignal): Promise<ServerProps> {
    return this.client.getProps(signal);
  }
  countPrompt(req: ChatRequest, signal?: AbortSignal): Promise<PromptCount> {
    return this.client.countPrompt(req, signal);
  }
  tokenCount(text: string, signal?: AbortSignal): Promise<PromptCount> {
    return this.client.tokenCount(text, signal);
  }
}

/** About `n` tokens of plain words for the tiny model's tokenizer. */
function words(n: number, seed: number): string {
  const vocab = ['river', 'stone', 'garden', 'window', 'yellow', 'market', 'winter', 'silver', 'forest', 'candle'];
  return Array.from({ length: n }, (_, i) => vocab[(i * 7 + seed) % vocab.length]).join(' ');
}

describe('context that fits, against a real llama-server', () => {
  let client: LlamaClient;
  let streamer: Recording;
  let repo: MemoryRepository;
  let settings: SessionSettings;
  let session: ChatSession;
  const ends: Extract<SessionEvent, { type: 'streamEnded' }>[] = [];

  beforeEach(() => {
    client = new LlamaClient({ baseUrl: serverUnderTest().url, requestTimeoutMs: 10_000 });
    streamer = new Recording(client);
    repo = new MemoryRepository();
    settings = { staleSeconds: 30, maxTokens: 32, temperature: 0, contextOverflow: 'trimOldest' };
    session = new ChatSession({ streamer, repository: repo, settings: () => settings });
    ends.length = 0;
    session.onEvent((e) => e.type === 'streamEnded' && ends.push(e));
  });
  afterEach(async () => {
    await session.shutdown();
    session.dispose();
    client.dispose();
  });

  async function ended(n: number): Promise<void> {
    for (let i = 0; i < 500 && ends.length < n; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(ends.length, n, 'the answer ended');
  }

  /** A chat whose history (8 turns of ~330 tokens) is far beyond the 2,048-token context. */
  async function longChat(): Promise<string> {
    const messages: ChatMessage[] = [];
    for (let i = 0; i < 8; i++) {
      const q: ChatMessage = { id: `q${i}`, role: 'user', content: `Question ${i}: ${words(300, i)}`, status: 'complete', createdAt: i * 2 };
      if (i > 0) q.parentId = `a${i - 1}`;
      messages.push(q, { id: `a${i}`, parentId: `q${i}`, role: 'assistant', content: `Answer ${i}: ${words(30, i + 3)}`, status: 'complete', createdAt: i * 2 + 1 });
    }
    return (await repo.createChat({ title: 'Long', messages })).id;
  }

  it('trimOldest: the oldest turns are left out, the request fits, the answer arrives, and the chat says how many', async () => {
    const chatId = await longChat();
    const out = await session.send(chatId, 'And the last question?');
    assert.ok(out.ok, JSON.stringify(out));
    await ended(1);
    const answer = ends[0].message;
    assert.equal(answer.status, 'complete', JSON.stringify(answer.error));
    assert.equal(answer.content, 'Short answer.');
    assert.ok(answer.context && answer.context.omitted > 0, 'the answer records what was left out');
    assert.equal(answer.context.nCtx, SERVER_CTX);
    const sent = streamer.chats[0].messages;
    assert.equal(sent[sent.length - 1].content, 'And the last question?', 'the question is always sent');
    assert.equal(sent[0].role, 'user', 'the request starts at a user turn');
    assert.equal(16 - (sent.length - 1), answer.context.omitted, 'omitted counts the messages left out');
    // The server's own count of what was sent leaves room for the answer.
    assert.ok(answer.promptTokens !== undefined && answer.promptTokens + 32 <= SERVER_CTX, `prompt ${answer.promptTokens}`);
    const stored = await repo.getChat(chatId);
    assert.equal(stored?.messages.length, 18, 'the stored chat keeps everything');
  });

  it('summarize: a summary stands in for the older turns, is saved on the chat, and the next request carries it', async () => {
    settings = { ...settings, contextOverflow: 'summarize' };
    const chatId = await longChat();
    assert.ok((await session.send(chatId, 'What did I ask about?')).ok);
    await ended(1);
    assert.equal(streamer.summaries.length, 1, 'one summary request');
    const answer = ends[0].message;
    assert.equal(answer.status, 'complete', JSON.stringify(answer.error));
    assert.ok(answer.context?.summarized && answer.context.summarized > 0);
    const chat = (await repo.getChat(chatId))!;
    const host = activePath(chat).find((m) => m.summary);
    assert.ok(host?.summary, 'a message carries the summary');
    assert.equal(host.summary.text, SUMMARY);
    const first = streamer.chats[0].messages;
    assert.equal(first[0].role, 'system');
    assert.match(first[0].content, new RegExp(SUMMARY));
    // The next question carries the same summary (no second summary while it fits).
    assert.ok((await session.send(chatId, 'Thanks. One more?')).ok);
    await ended(2);
    assert.match(streamer.chats[1].messages[0].content, new RegExp(SUMMARY));
    assert.ok(streamer.summaries.length <= 2);
  });

  it('a question too large for the context even alone is refused before any chat request, with the numbers', async () => {
    const chat = await session.newChat();
    const out = await session.send(chat.id, words(3_000, 1));
    assert.equal(out.ok, false);
    assert.ok(!out.ok && out.reason === 'too-large');
    assert.ok(!out.ok && /needs [\d,]+ tokens, but the context holds 2,048/.test(out.detail), !out.ok ? out.detail : '');
    assert.equal(streamer.chats.length, 0, 'no chat request was made');
    assert.equal((await repo.getChat(chat.id))?.messages.length, 0, 'nothing was saved');
  });

  it('the measured draft equals what the server then counts as the prompt', async () => {
    const chat = await session.newChat();
    await session.send(chat.id, 'First question about rivers.');
    await ended(1);
    const draft = 'A second question about stones and gardens.';
    const measured = await session.measureDraft(chat.id, draft);
    assert.equal(measured.exact, true);
    assert.equal(measured.nCtx, SERVER_CTX);
    assert.ok((await session.send(chat.id, draft)).ok);
    await ended(2);
    assert.equal(ends[1].message.promptTokens, measured.tokens, 'the counted size is the prompt the server processed');
  });
});
