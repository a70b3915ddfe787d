/** Context through the session: fitting on send, cut answers, continue, summaries, attachments, the draft meter. */
import * as assert from 'node:assert/strict';
import type { ChatMessage } from '../../src/core/chats/chat';
import { activePath } from '../../src/core/chats/chatTree';
import { ChatSession } from '../../src/core/session/session';
import { COUNT_WAIT_MS } from '../../src/core/session/sessionContext';
import type { ActionOutcome, SessionSettings } from '../../src/core/session/sessionApi';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import { FakeClock } from '../support/fakeClock';
import { FakeStreamer } from '../support/fakeStreamer';
import { MemoryRepository } from '../support/memoryRepository';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

function setup(settingsInit: Partial<SessionSettings> = {}, nCtx = 2048) {
  const clock = new FakeClock();
  const streamer = new FakeStreamer();
  streamer.props = { nCtx, modelAlias: 'tiny' };
  const repo = new MemoryRepository(clock);
  const settings: SessionSettings = { staleSeconds: 10, contextOverflow: 'trimOldest', ...settingsInit };
  const session = new ChatSession({ streamer, repository: repo, clock, settings: () => settings });
  const events: SessionEvent[] = [];
  session.onEvent((e) => events.push(e));
  const ended = (): Extract<SessionEvent, { type: 'streamEnded' }>[] => events.filter((e): e is Extract<SessionEvent, { type: 'streamEnded' }> => e.type === 'streamEnded');
  return { clock, streamer, repo, settings, session, events, ended };
}

function okId(out: ActionOutcome): string {
  assert.ok(out.ok, `expected ok, got ${JSON.stringify(out)}`);
  assert.ok(out.messageId);
  return out.messageId;
}

/** A linear chat of `turns` question/answer pairs, each question `chars` long. */
async function longChat(repo: MemoryRepository, turns: number, chars: number): Promise<string> {
  const messages: ChatMessage[] = [];
  for (let i = 0; i < turns; i++) {
    const q: ChatMessage = { id: `q${i}`, role: 'user', content: `q${i} ${'x'.repeat(chars)}`, status: 'complete', createdAt: i * 2 };
    if (i > 0) q.parentId = `a${i - 1}`;
    messages.push(q, { id: `a${i}`, parentId: `q${i}`, role: 'assistant', content: `a${i}`, status: 'complete', createdAt: i * 2 + 1 });
  }
  return (await repo.createChat({ title: 'long', messages })).id;
}

describe('ChatSession and the context', () => {
  it('trimOldest: leaves out the oldest turns so the request fits with room for the answer, and records it', async () => {
    const { streamer, repo, session, ended } = setup({}, 1000);
    // 10 turns of ~200 tokens each: 2,000 tokens, the context holds 1,000 with 256 kept for the answer.
    const chatId = await longChat(repo, 10, 800);
    okId(await session.send(chatId, 'latest question'));
    const request = streamer.last.request;
    assert.ok(FakeStreamer.tokensOf(request) + 256 <= 1000, `the request fits (${FakeStreamer.tokensOf(request)})`);
    assert.equal(request.messages.at(-1)?.content, 'latest question');
    assert.equal(request.messages[0].role, 'user');
    streamer.last.content('ok').finish();
    await tick();
    const answer = ended()[0].message;
    assert.ok(answer.context);
    assert.equal(answer.context.nCtx, 1000);
    assert.equal(answer.context.omitted, 20 - (request.messages.length - 1));
    assert.equal((await repo.getChat(chatId))?.messages.length, 22, 'nothing is deleted');
  });

  it('a question that cannot fit even alone is refused before saving or sending, with the numbers', async () => {
    const { streamer, repo, session } = setup({}, 1000);
    const chat = await session.newChat();
    const out = await session.send(chat.id, 'y'.repeat(8_000));
    assert.equal(!out.ok && out.reason, 'too-large');
    assert.match(!out.ok ? out.detail : '', /needs 2,00\d tokens, but the context holds 1,000/);
    assert.equal(streamer.streams.length, 0);
    assert.equal((await repo.getChat(chat.id))?.messages.length, 0);
  });

  it('an estimate (a server that cannot count) never refuses: the server has the last word', async () => {
    const { streamer, session } = setup({}, 1000);
    streamer.canCount = false;
    const chat = await session.newChat();
    okId(await session.send(chat.id, 'y'.repeat(8_000)));
    assert.equal(streamer.streams.length, 1);
  });

  it('counting that hangs gives up and the request goes out unfitted', async () => {
    const { streamer, session, clock } = setup({}, 1000);
    streamer.countPrompt = () => new Promise(() => undefined);
    const chat = await session.newChat();
    const sending = session.send(chat.id, 'hello');
    for (let i = 0; i < 5; i++) await tick();
    clock.advance(COUNT_WAIT_MS);
    okId(await sending);
    assert.deepEqual(streamer.last.request.messages, [{ role: 'user', content: 'hello' }]);
  });

  it('fail: sends everything as it is (the server refuses what does not fit)', async () => {
    const { streamer, repo, session } = setup({ contextOverflow: 'fail' }, 1000);
    const chatId = await longChat(repo, 10, 800);
    okId(await session.send(chatId, 'q'));
    assert.equal(streamer.last.request.messages.length, 21);
  });

  it('an answer cut by maxTokens says so and Continue appends to the same message with continue_final_message', async () => {
    const { streamer, repo, session, ended } = setup({ maxTokens: 3 });
    const chat = await session.newChat();
    const id = okId(await session.send(chat.id, 'q'));
    streamer.last.content('one two three').finish('length', { promptTokens: 5, completionTokens: 3, totalTokens: 8 });
    await tick();
    assert.equal(ended()[0].message.limit, 'maxTokens');
    const out = await session.continueAnswer(chat.id, id);
    assert.equal(okId(out), id, 'the same message');
    const req = streamer.last.request;
    assert.equal(req.continueFinalMessage, true);
    assert.deepEqual(req.messages.at(-1), { role: 'assistant', content: 'one two three' });
    streamer.last.content(' four').finish('stop', { promptTokens: 9, completionTokens: 1, totalTokens: 10 });
    await tick();
    const msgs = (await repo.getChat(chat.id))!.messages;
    assert.equal(msgs.length, 2, 'no new message');
    assert.equal(msgs[1].content, 'one two three four');
    assert.equal(msgs[1].status, 'complete');
    assert.equal(msgs[1].limit, undefined);
    assert.equal(msgs[1].completionTokens, 4, 'tokens of both parts');
  });

  it('an answer cut by a full context is marked context; Continue in new chat continues it there', async () => {
    const { streamer, repo, session, ended } = setup();
    const chat = await session.newChat();
    const id = okId(await session.send(chat.id, 'tell me everything'));
    streamer.last.content('a very long').finish('length', { promptTokens: 1000, completionTokens: 1048, totalTokens: 2048 });
    await tick();
    assert.equal(ended()[0].message.limit, 'context');
    const out = await session.continueInNewChat(chat.id, id);
    assert.ok(out.ok);
    assert.notEqual(out.chatId, chat.id);
    const fresh = (await repo.getChat(out.chatId))!;
    assert.deepEqual(activePath(fresh).map((m) => m.content), ['tell me everything', 'a very long']);
    assert.equal(streamer.last.request.continueFinalMessage, true);
    streamer.last.content(' story').finish();
    await tick();
    assert.equal((await repo.getChat(out.chatId))!.messages[1].content, 'a very long story');
    assert.equal((await repo.getChat(chat.id))!.messages[1].content, 'a very long', 'the original is untouched');
  });

  it('compactChat: the server summarizes the earlier path; the summary is saved and sent in their place', async () => {
    const { streamer, repo, session } = setup();
    const chatId = await longChat(repo, 3, 10);
    const compacting = session.compactChat(chatId);
    const summaryStream = await streamer.nextStream();
    assert.match(summaryStream.request.messages[0].content, /^Summarize the conversation/);
    summaryStream.content('They talked about x.').finish();
    const out = await compacting;
    assert.ok(out.ok, JSON.stringify(out));
    const chat = (await repo.getChat(chatId))!;
    const host = chat.messages.find((m) => m.summary)!;
    assert.equal(host.id, 'q2', 'on the last question');
    assert.deepEqual(host.summary!.covers, ['q0', 'a0', 'q1', 'a1']);
    okId(await session.regenerate(chatId));
    const sent = streamer.last.request.messages;
    assert.equal(sent[0].role, 'system');
    assert.match(sent[0].content, /They talked about x\./);
    assert.deepEqual(sent.slice(1).map((m) => m.content), [chat.messages.find((m) => m.id === 'q2')!.content]);
    streamer.last.finish();
    await tick();
    assert.ok((await session.editSummary(chatId, 'q2', 'Edited summary.')).ok);
    assert.equal((await repo.getChat(chatId))!.messages.find((m) => m.id === 'q2')!.summary!.text, 'Edited summary.');
    const few = await session.compactChat(await session.newChat().then((c) => c.id));
    assert.equal(!few.ok && few.reason, 'invalid');
  });

  it('summarize policy: a send that does not fit makes a summary first, then streams with it', async () => {
    const { streamer, repo, session } = setup({ contextOverflow: 'summarize' }, 1000);
    const chatId = await longChat(repo, 10, 800);
    const sending = session.send(chatId, 'latest');
    const summaryStream = await streamer.nextStream();
    assert.match(summaryStream.request.messages[0].content, /^Summarize the conversation/);
    summaryStream.content('Short summary.').finish();
    okId(await sending);
    const req = streamer.last.request;
    assert.match(req.messages[0].content, /Short summary\./);
    assert.equal(req.messages.at(-1)?.content, 'latest');
    assert.ok(FakeStreamer.tokensOf(req) + 256 <= 1000);
  });

  it('attachments are stored with the question and sent formatted after its text', async () => {
    const { streamer, repo, session } = setup();
    const chat = await session.newChat();
    okId(
      await session.send(chat.id, 'What do these do?', [
        { kind: 'file', name: 'src/a.ts', text: 'export const a = 1;', language: 'ts' },
        { kind: 'selection', name: 'src/b.ts', text: 'b()', language: 'ts', startLine: 3, endLine: 4 },
      ]),
    );
    const sent = streamer.last.request.messages.at(-1)!;
    assert.match(sent.content, /^What do these do\?/);
    assert.match(sent.content, /src\/a\.ts[\s\S]*export const a = 1;/);
    assert.match(sent.content, /src\/b\.ts[\s\S]*3[\s\S]*4[\s\S]*b\(\)/);
    const stored = (await repo.getChat(chat.id))!.messages[0];
    assert.equal(stored.content, 'What do these do?', 'the text is not pasted into the message');
    assert.equal(stored.attachments?.length, 2);
  });

  it('measureDraft counts the request a draft would send, and its attachments', async () => {
    const { streamer, session } = setup({}, 1000);
    const chat = await session.newChat();
    const m = await session.measureDraft(chat.id, 'hello there', [{ kind: 'paste', name: 'Pasted text', text: 'z'.repeat(400) }]);
    assert.equal(m.exact, true);
    assert.equal(m.nCtx, 1000);
    assert.equal(m.tokens, FakeStreamer.tokensOf(streamer.counted.at(-1)!));
    assert.ok(m.tokens > 100, 'the attachment counts');
    assert.equal(m.fits, true);
    assert.equal(m.attachmentTokens.length, 1);
    assert.ok((m.attachmentTokens[0] ?? 0) >= 100);
    const big = await session.measureDraft(chat.id, 'q'.repeat(8_000));
    assert.equal(big.fits, false);
    assert.ok(big.tooLarge);
    streamer.canCount = false;
    const rough = await session.measureDraft(chat.id, 'hello');
    assert.equal(rough.exact, false, 'an estimate where the server cannot count');
  });
});
