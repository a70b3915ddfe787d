import * as assert from 'node:assert/strict';
import type { Attachment, Chat, ChatMessage } from '../../src/core/chats/chat';
import { buildChatRequest, buildRequestMessages, exportFileName, exportMarkdown, forkMessages, formatAttachment } from '../../src/core/chats/chatOps';

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

  describe('attachments', () => {
    it('formats files, selections and pastes in a fence longer than any backtick run inside', () => {
      assert.equal(
        formatAttachment({ kind: 'file', name: 'src/a.ts', text: 'const a = 1;\n', language: 'ts' }),
        'File `src/a.ts`:\n```ts\nconst a = 1;\n```',
      );
      assert.equal(
        formatAttachment({ kind: 'selection', name: 'src/a.ts', text: 'x()', language: 'typescript', startLine: 3, endLine: 10 }),
        'File `src/a.ts` (lines 3\u201310):\n```typescript\nx()\n```',
      );
      assert.equal(
        formatAttachment({ kind: 'selection', name: 'b.py', text: 'pass', startLine: 7, endLine: 7 }),
        'File `b.py` (line 7):\n```\npass\n```',
      );
      const md = formatAttachment({ kind: 'paste', name: 'notes', text: 'a\n````js\nx\n````\nb', language: 'markdown' });
      assert.ok(md.startsWith('Pasted text `notes`:\n`````markdown\n'), md);
      assert.ok(md.endsWith('\nb\n`````'), md);
      assert.equal(formatAttachment({ kind: 'file', name: 'odd`name', text: '' }).split('\n')[0], 'File ``odd`name``:');
      assert.equal(formatAttachment({ kind: 'image', name: 'a.png', mime: 'image/png', dataUri: 'data:image/png;base64,AA' }), '');
    });

    it('sends a question\'s attachments after its text, images as images of that message', () => {
      const attachments: Attachment[] = [
        { kind: 'file', name: 'src/a.ts', text: 'let x;', language: 'ts' },
        { kind: 'image', name: 'shot.png', mime: 'image/png', dataUri: 'data:image/png;base64,iVBOR' },
        { kind: 'selection', name: 'src/b.ts', text: 'y()', startLine: 1, endLine: 2 },
      ];
      const out = buildRequestMessages(
        [msg('u1', 'user', 'Why?', { attachments }), msg('a1', 'assistant', 'Because.'), msg('u2', 'user', '', { attachments: [attachments[1]] })],
        {},
      );
      assert.deepEqual(out, [
        {
          role: 'user',
          content: 'Why?\n\nFile `src/a.ts`:\n```ts\nlet x;\n```\n\nFile `src/b.ts` (lines 1\u20132):\n```\ny()\n```',
          images: ['data:image/png;base64,iVBOR'],
        },
        { role: 'assistant', content: 'Because.' },
        { role: 'user', content: '', images: ['data:image/png;base64,iVBOR'] },
      ]);
    });
  });

  describe('summaries', () => {
    const path = [
      msg('u1', 'user', 'one'),
      msg('a1', 'assistant', 'uno'),
      msg('u2', 'user', 'two', { summary: { text: 'They counted to one.', covers: ['u1', 'a1'], createdAt: 2 } }),
      msg('a2', 'assistant', 'dos'),
      msg('u3', 'user', 'three'),
    ];

    it('sends the summary after the system prompt in place of the messages it covers', () => {
      assert.deepEqual(buildRequestMessages(path, { systemPrompt: 'Be brief.' }), [
        { role: 'system', content: 'Be brief.\n\nSummary of the earlier conversation:\nThey counted to one.' },
        { role: 'user', content: 'two' },
        { role: 'assistant', content: 'dos' },
        { role: 'user', content: 'three' },
      ]);
    });

    it('gives the summary a system message of its own without a system prompt', () => {
      assert.deepEqual(buildRequestMessages(path, {})[0], {
        role: 'system',
        content: 'Summary of the earlier conversation:\nThey counted to one.',
      });
    });

    it('only the last summary on the path counts', () => {
      const later = path.map((m) =>
        m.id === 'u3' ? { ...m, summary: { text: 'Counted to two.', covers: ['u1', 'a1', 'u2', 'a2'], createdAt: 3 } } : m,
      );
      assert.deepEqual(buildRequestMessages(later, {}), [
        { role: 'system', content: 'Summary of the earlier conversation:\nCounted to two.' },
        { role: 'user', content: 'three' },
      ]);
    });

    it('ignores a summary whose messages are not all earlier on this path', () => {
      const stray = path.map((m) => (m.id === 'u2' ? { ...m, summary: { text: 'S', covers: ['u1', 'zz'], createdAt: 2 } } : m));
      assert.deepEqual(
        buildRequestMessages(stray, {}).map((m) => m.content),
        ['one', 'uno', 'two', 'dos', 'three'],
      );
    });
  });

  describe('continueFinal', () => {
    const path = [msg('u1', 'user', 'Tell a story'), msg('a1', 'assistant', 'Once upon', { status: 'stopped', finishReason: 'length' })];

    it('sends the partial answer as the final assistant message and sets continueFinalMessage', () => {
      const r = buildChatRequest(path, { staleSeconds: 30, maxTokens: 64 }, 'm', { continueFinal: true });
      assert.deepEqual(r, {
        messages: [
          { role: 'user', content: 'Tell a story' },
          { role: 'assistant', content: 'Once upon' },
        ],
        model: 'm',
        maxTokens: 64,
        continueFinalMessage: true,
      });
      const complete = buildChatRequest([path[0], { ...path[1], status: 'complete' }], { staleSeconds: 30 }, undefined, { continueFinal: true });
      assert.equal(complete.continueFinalMessage, true);
      assert.equal(complete.messages.length, 2);
    });

    it('sends a failed partial answer too when continuing it, and never without the option', () => {
      const failed = [path[0], { ...path[1], status: 'failed' as const }];
      assert.equal(buildChatRequest(failed, { staleSeconds: 30 }, undefined, { continueFinal: true }).messages.length, 2);
      const plain = buildChatRequest(failed, { staleSeconds: 30 }, undefined);
      assert.equal(plain.messages.length, 1);
      assert.equal(plain.continueFinalMessage, undefined);
    });

    it('ignores continueFinal when the path ends with a question', () => {
      const r = buildChatRequest([path[0]], { staleSeconds: 30 }, undefined, { continueFinal: true });
      assert.equal(r.continueFinalMessage, undefined);
    });

    it('takes fitted messages in place of the whole path', () => {
      const messages = [{ role: 'user' as const, content: 'fitted' }];
      assert.deepEqual(buildChatRequest(path, { staleSeconds: 30 }, undefined, { messages }).messages, messages);
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

  it('exportFileName makes a safe file name of a title', () => {
    assert.equal(exportFileName('How do I: parse <T> in C/C++?'), 'How do I parse T in C C++');
    assert.equal(exportFileName('..hidden'), 'hidden');
    assert.equal(exportFileName('Name three primary colours.'), 'Name three primary colours');
    assert.equal(exportFileName('a\tb\nc'), 'a b c');
    assert.equal(exportFileName('///'), 'chat');
    assert.equal(exportFileName('x'.repeat(200)).length, 80);
  });
});
