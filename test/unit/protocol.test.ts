/**
 * The webview -> host protocol: each message is defined once (valibot schemas in src/protocol.ts) and its type is
 * derived from that definition. These tests pin the rules: every message type has a schema that accepts it, fields
 * a message does not define are dropped, a missing or mistyped field rejects the message with a reason that says
 * where, and the compile-time guards fail when a type and its validation disagree.
 */
import * as assert from 'node:assert/strict';
import type { Attachment } from '../../src/core/chats/chat';
import { LIMITS, parseFromWebview } from '../../src/protocol';
import type { Assert, FromWebviewMessage, FromWebviewType, SameShape } from '../../src/protocol';

type Of<K extends FromWebviewType> = Extract<FromWebviewMessage, { type: K }>;

/** One valid message of every type, with every optional field: the record must name them all to compile. */
const EXAMPLES: { [K in FromWebviewType]: Of<K> } = {
  ready: { type: 'ready' },
  send: {
    type: 'send',
    requestId: 'r1',
    chatId: 'c1',
    text: 'hi',
    attachments: [
      { kind: 'selection', name: 'src/a.ts', text: 'let x = 1;', language: 'typescript', startLine: 3, endLine: 4, tokens: 7 },
      { kind: 'image', name: 'shot.png', mime: 'image/png', dataUri: 'data:image/png;base64,iVBORw0KGgo=' },
    ],
  },
  draft: { type: 'draft', draftId: 'd1', chatId: 'c1', text: 'h', attachments: [{ kind: 'paste', name: 'Pasted text', text: 'x' }] },
  pickFile: { type: 'pickFile', chatId: 'c1' },
  continueAnswer: { type: 'continueAnswer', requestId: 'r2', chatId: 'c1', messageId: 'm1' },
  continueInNewChat: { type: 'continueInNewChat', chatId: 'c1', messageId: 'm1' },
  compactChat: { type: 'compactChat', chatId: 'c1' },
  editSummary: { type: 'editSummary', chatId: 'c1', messageId: 'm1', text: 'summary' },
  setThinking: { type: 'setThinking', chatId: 'c1', enabled: false },
  skipThinking: { type: 'skipThinking', chatId: 'c1', messageId: 'm1' },
  stop: { type: 'stop', chatId: 'c1', messageId: 'm1' },
  retry: { type: 'retry', requestId: 'r3', chatId: 'c1', messageId: 'm1' },
  discardStale: { type: 'discardStale', chatId: 'c1', messageId: 'm1' },
  regenerate: { type: 'regenerate', requestId: 'r4', chatId: 'c1', messageId: 'm1' },
  editResend: { type: 'editResend', requestId: 'r5', chatId: 'c1', messageId: 'm1', text: 'again', attachments: [{ kind: 'file', name: 'b.md', text: '# b' }] },
  selectVersion: { type: 'selectVersion', chatId: 'c1', messageId: 'm1' },
  deleteMessage: { type: 'deleteMessage', chatId: 'c1', messageId: 'm1', scope: 'branch' },
  newChat: { type: 'newChat' },
  switchChat: { type: 'switchChat', chatId: 'c2' },
  renameChat: { type: 'renameChat', chatId: 'c1', title: 'A title' },
  deleteChat: { type: 'deleteChat', chatId: 'c1' },
  forkChat: { type: 'forkChat', chatId: 'c1', messageId: 'm1' },
  exportChat: { type: 'exportChat', chatId: 'c1' },
  copy: { type: 'copy', text: 'code' },
  insert: { type: 'insert', text: 'code', language: 'ts' },
  openLink: { type: 'openLink', href: 'https://example.com/' },
  retryConnection: { type: 'retryConnection' },
  openSettings: { type: 'openSettings' },
  selectModel: { type: 'selectModel' },
  selectServer: { type: 'selectServer' },
};

function refused(raw: unknown): { reason: string; requestId?: string } {
  const parsed = parseFromWebview(raw);
  assert.ok(!parsed.ok, `refused: ${JSON.stringify(raw).slice(0, 120)}`);
  return parsed;
}

describe('protocol: webview -> host messages', () => {
  it('every message type is accepted as sent, every optional field included', () => {
    for (const example of Object.values(EXAMPLES)) {
      assert.deepEqual(parseFromWebview(example), { ok: true, message: example });
    }
  });

  it('fields a message does not define are dropped, at every level; the rest is passed on unchanged', () => {
    const parsed = parseFromWebview({
      type: 'send',
      requestId: 'r1',
      text: 'hi',
      admin: true,
      attachments: [{ kind: 'file', name: 'a.ts', text: 'x', path: '/etc/passwd' }],
    });
    assert.deepEqual(parsed, { ok: true, message: { type: 'send', requestId: 'r1', text: 'hi', attachments: [{ kind: 'file', name: 'a.ts', text: 'x' }] } });
    const ready = parseFromWebview({ type: 'ready', chatId: 'c1' });
    assert.deepEqual(ready, { ok: true, message: { type: 'ready' } });
  });

  it('a missing field rejects the message, naming it; a request keeps its id so it can still be answered', () => {
    assert.deepEqual(refused({ type: 'send', requestId: 'r1' }), { ok: false, reason: 'send.text is missing', requestId: 'r1' });
    assert.deepEqual(refused({ type: 'deleteMessage', chatId: 'c1', messageId: 'm1' }), { ok: false, reason: 'deleteMessage.scope is missing' });
    assert.equal(refused({ type: 'send', requestId: 'r1', text: 'x', attachments: [{ kind: 'file', text: 'x' }] }).reason, 'send.attachments[0].name is missing');
    // A request id that is itself invalid is not echoed back.
    assert.deepEqual(refused({ type: 'send', requestId: '../r1' }), { ok: false, reason: 'send.requestId is not a valid id' });
  });

  it('a mistyped or out-of-range field rejects the message with what is wrong', () => {
    const cases: [unknown, string][] = [
      [{ type: 'send', requestId: 'r1', text: 42 }, 'send.text must be a string, got number'],
      [{ type: 'send', requestId: 'r1', text: null }, 'send.text must be a string, got null'],
      [{ type: 'send', requestId: 'r1', text: 'x'.repeat(LIMITS.maxText + 1) }, 'send.text is too long (2000001 > 2000000)'],
      [{ type: 'setThinking', chatId: 'c1', enabled: 'yes' }, 'setThinking.enabled must be true or false'],
      [{ type: 'deleteMessage', chatId: 'c1', messageId: 'm1', scope: 'everything' }, 'deleteMessage.scope must be "message" or "branch"'],
      [{ type: 'stop', chatId: 'c 1' }, 'stop.chatId is not a valid id'],
      [{ type: 'renameChat', chatId: 'c1', title: 't'.repeat(LIMITS.maxTitle + 1) }, 'renameChat.title is too long (501 > 500)'],
      [{ type: 'send', requestId: 'r1', text: 'x', attachments: 'a.ts' }, 'send.attachments must be an array'],
      [{ type: 'send', requestId: 'r1', text: 'x', attachments: [7] }, 'send.attachments[0] is not an object'],
      [{ type: 'send', requestId: 'r1', text: 'x', attachments: [{ kind: 'folder', name: 'a', text: '' }] }, 'send.attachments[0].kind is not a file, selection, paste or image'],
      [{ type: 'draft', draftId: 'd1', text: 'x', attachments: [{ kind: 'selection', name: 'a', text: '', startLine: -1 }] }, 'draft.attachments[0].startLine must not be negative'],
      [{ type: 'draft', draftId: 'd1', text: 'x', attachments: [{ kind: 'selection', name: 'a', text: '', tokens: 1.5 }] }, 'draft.attachments[0].tokens must be a whole number'],
      [{ type: 'send', requestId: 'r1', text: 'x', attachments: [{ kind: 'paste', name: '', text: '' }] }, 'send.attachments[0].name is empty'],
      [
        { type: 'send', requestId: 'r1', text: 'x', attachments: [{ kind: 'image', name: 'a.png', mime: 'text/html', dataUri: 'data:text/html;base64,PA==' }] },
        'send.attachments[0].mime is not an image type',
      ],
      [
        { type: 'send', requestId: 'r1', text: 'x', attachments: [{ kind: 'image', name: 'a.png', mime: 'image/png', dataUri: 'data:image/svg+xml;base64,PA==' }] },
        'send.attachments[0] is not a base64 data URI of its image type',
      ],
      // The count is checked before the items (none of these is even an object).
      [{ type: 'send', requestId: 'r1', text: 'x', attachments: Array.from({ length: LIMITS.maxAttachments + 1 }, () => 0) }, 'send.attachments has too many items (33 > 32)'],
    ];
    for (const [raw, reason] of cases) assert.equal(refused(raw).reason, reason);
  });

  it('what is not a message of a known type is rejected before any schema runs', () => {
    assert.equal(refused(null).reason, 'not an object');
    assert.equal(refused([{ type: 'ready' }]).reason, 'not an object');
    assert.equal(refused({}).reason, 'unknown message type "undefined"');
    for (const type of ['chat', 'prefill', '__proto__', 'constructor', 'hasOwnProperty']) {
      assert.equal(refused({ type }).reason, `unknown message type "${type}"`);
    }
  });

  it('compile-time guards: the derived type is exactly the schema, and the attachment guard catches a drifted field', () => {
    // The derived type of `send` (a change to its schema changes this, and this must then be updated).
    const sendShape: SameShape<Of<'send'>, { type: 'send'; requestId: string; chatId?: string; text: string; attachments?: Attachment[] }> = true;
    // A field the schema does not define is not part of the type.
    // @ts-expect-error `bogus` is not a field of `send`
    const bogus: FromWebviewMessage = { type: 'send', requestId: 'r1', text: 'x', bogus: 1 };
    // The guard that ties the attachment schema to the core Attachment type fails for an extra optional field
    // (what a field added to Attachment without a validator would be)...
    type Drifted = Attachment | { kind: 'file'; name: string; text: string; encoding?: string };
    // @ts-expect-error the guard refuses a type with a field the other lacks
    type DriftedMatches = Assert<SameShape<Drifted, Attachment>>;
    // ...and for a field whose type differs.
    type Retyped = Exclude<Attachment, { kind: 'image' }> | { kind: 'image'; name: string; mime: string; dataUri: number };
    // @ts-expect-error the guard refuses a type whose field types differ
    const retyped: SameShape<Retyped, Attachment> = true;
    const drifted: DriftedMatches | undefined = undefined;
    assert.deepEqual([sendShape, retyped, drifted, bogus.type], [true, true, undefined, 'send']);
  });
});
