import * as assert from 'node:assert/strict';
import type { Chat, ChatMessage } from '../../src/core/chat';
import { buildChatRequest, buildRequestMessages, exportMarkdown, forkMessages } from '../../src/core/chatOps';

function msg(id: string, role: ChatMessage['role'], content: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return { id, role, content, status: 'complete', createdAt: 1, ...extra };
}

const history: ChatMessage[] = [
  msg('u1', 'user', 'first question'),
  msg('a1', 'assistant', 'first answer'),
  msg('u2', 'user', 'second question'),
  msg('a2', 'assistant', 'partial junk', { status: 'failed', error: { kind: 'aborted', message: 'Retried' } }),
  msg('a3', 'assistant', 'stopped part', { status: 'stopped' }),
  msg('a4', 'assistant', '', { status: 'complete' }),
  msg('u3', 'user', 'third'),
  msg('a5', 'assistant', '', { status: 'streaming' }),
];

describe('chatOps', () => {
  describe('buildRequestMessages', () => {
    it('puts the system prompt first and skips failed, empty and streaming answers', () => {
      const out = buildRequestMessages(history, { systemPrompt: 'Be brief.' });
      assert.deepEqual(out, [
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'first question' },
        { role: 'assistant', content: 'first answer' },
        { role: 'user', content: 'second question' },
        { role: 'assistant', content: 'stopped part' },
        { role: 'user', content: 'third' },
      ]);
    });

    it('leaves out a blank system prompt', () => {
      const out = buildRequestMessages([msg('u1', 'user', 'hi')], { systemPrompt: '   ' });
      assert.deepEqual(out, [{ role: 'user', content: 'hi' }]);
    });

    it('maps settings onto the request; maxTokens <= 0 means no limit', () => {
      const msgs = [msg('u1', 'user', 'hi')];
      const r = buildChatRequest(msgs, { staleSeconds: 30, temperature: 0.2, maxTokens: 0 }, 'm1');
      assert.deepEqual(r, { messages: [{ role: 'user', content: 'hi' }], model: 'm1', temperature: 0.2 });
      const r2 = buildChatRequest(msgs, { staleSeconds: 30, maxTokens: 64 }, undefined);
      assert.deepEqual(r2, { messages: [{ role: 'user', content: 'hi' }], maxTokens: 64 });
    });
  });

  describe('forkMessages', () => {
    it('copies a path with new ids, each the child of the one before', () => {
      let n = 0;
      const out = forkMessages(history.slice(0, 3), () => `new${++n}`);
      assert.deepEqual(
        out.map((m) => [m.id, m.content]),
        [
          ['new1', 'first question'],
          ['new2', 'first answer'],
          ['new3', 'second question'],
        ],
      );
      assert.deepEqual(
        out.map((m) => m.parentId),
        [undefined, 'new1', 'new2'],
      );
      out[0].content = 'changed';
      assert.equal(history[0].content, 'first question', 'a deep copy');
    });

    it('marks a streaming message as interrupted', () => {
      let n = 0;
      const out = forkMessages(history, () => `x${++n}`);
      assert.equal(out.length, history.length);
      assert.equal(out[out.length - 1].status, 'interrupted');
    });
  });

  describe('exportMarkdown', () => {
    const chat: Chat = {
      id: 'c1',
      title: 'Sorting lists',
      createdAt: 1,
      updatedAt: 2,
      messageCount: 5,
      messages: [
        msg('u1', 'user', 'How do I sort?'),
        msg('a1', 'assistant', 'Use `sort()`.', {
          model: 'tiny.gguf',
          reasoning: 'They want JS. </details> trick',
          completionTokens: 12,
          ctxUsed: 32,
          ctxMax: 2048,
          timings: { predictedPerSecond: 123.456, ttftMs: 40 },
        }),
        msg('u2', 'user', 'And reverse?'),
        msg('a2', 'assistant', 'Use rev', { status: 'stopped', completionTokens: 2 }),
        msg('a3', 'assistant', '', {
          status: 'failed',
          error: { kind: 'unreachable', message: 'Cannot reach llama-server', hint: 'Start it.' },
        }),
      ].map((m, i, all) => (i > 0 ? { ...m, parentId: all[i - 1].id } : m)),
    };

    it('exports the active path only: another version of an answer stays out', () => {
      const other = msg('a1b', 'assistant', 'Another version of the first answer', { parentId: 'u1', createdAt: 2 });
      const md = exportMarkdown({ ...chat, messages: [...chat.messages, other], leafId: 'a3' });
      assert.doesNotMatch(md, /Another version/);
      assert.match(md, /Use `sort\(\)`\./);
      const switched = exportMarkdown({ ...chat, messages: [...chat.messages, other], leafId: 'a1b' });
      assert.match(switched, /Another version/);
      assert.doesNotMatch(switched, /And reverse\?/);
    });

    it('writes a title, role headings, folded reasoning, status notes and token footers', () => {
      const md = exportMarkdown(chat);
      assert.ok(md.startsWith('# Sorting lists\n\n## User\n\nHow do I sort?\n\n## Assistant (tiny.gguf)\n\n'), md);
      assert.match(md, /<details>\n<summary>Reasoning<\/summary>\n\nThey want JS\. &lt;\/details> trick\n\n<\/details>/);
      assert.equal(md.match(/<\/details>/g)!.length, 1, 'reasoning cannot close the fold early');
      assert.match(md, /Use `sort\(\)`\./);
      assert.match(md, /<sub>12 tokens · 123 tok\/s · context 32\/2048 · first token after 40 ms<\/sub>/);
      assert.match(md, /Use rev\n\n_Stopped by the user; the answer is incomplete\._\n\n<sub>2 tokens<\/sub>/);
      assert.match(md, /_Failed: Cannot reach llama-server \(Start it\.\)_/);
      assert.ok(md.endsWith('\n'));
    });
  });
});
