/** A stored `patch` record sets only the fields a patch may change: unknown or hostile keys are ignored on replay. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ChatStore } from '../../src/core/store/chatStore';

describe('ChatStore replaying a crafted patch record', () => {
  let dir = '';

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'chatstore-patch-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('ignores __proto__, constructor, role, id, createdAt and unknown keys, applies the known ones, and loads the rest of the log', async () => {
    const id = 'crafted-chat';
    const createdAt = 1_700_000_000_000;
    // Written by hand, as an attacker (or a buggy build) could: JSON.parse makes `__proto__` an own key here.
    const lines = [
      JSON.stringify({ t: 'header', v: 2, id, title: 'Crafted', titled: true, createdAt, updatedAt: createdAt, messageCount: 2 }),
      JSON.stringify({ t: 'message', m: { id: 'q', role: 'user', content: 'question', status: 'complete', createdAt } }),
      JSON.stringify({ t: 'message', m: { id: 'a', parentId: 'q', role: 'assistant', content: '', status: 'streaming', createdAt: createdAt + 1 } }),
      '{"t":"patch","at":1700000000005,"id":"a","p":{"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},' +
        '"role":"system","id":"q","createdAt":0,"attachments":[{"kind":"paste","name":"x","text":"injected"}],"unknownKey":"x",' +
        '"content":"patched answer","status":"complete","model":"tiny.gguf"}}',
      JSON.stringify({ t: 'append', id: 'a', c: ' and more' }),
      JSON.stringify({ t: 'message', at: createdAt + 9, m: { id: 'q2', parentId: 'a', role: 'user', content: 'next', status: 'complete', createdAt: createdAt + 9 } }),
    ];
    fs.mkdirSync(path.join(dir, 'chats'), { recursive: true });
    const file = path.join(dir, 'chats', `${id}.jsonl`);
    fs.writeFileSync(file, `${lines.join('\n')}\n`);

    const store = new ChatStore({ dir, watch: false });
    assert.deepEqual(await store.open(), [], 'the file loads, nothing quarantined');
    const chat = await store.getChat(id);
    assert.deepEqual(
      chat?.messages.map((m) => m.id),
      ['q', 'a', 'q2'],
      'records after the patch are applied',
    );
    const a = chat.messages[1];
    // The known keys were applied.
    assert.equal(a.content, 'patched answer and more');
    assert.equal(a.status, 'complete');
    assert.equal(a.model, 'tiny.gguf');
    // The others were not.
    assert.equal(a.id, 'a');
    assert.equal(a.role, 'assistant');
    assert.equal(a.createdAt, createdAt + 1);
    assert.equal(a.attachments, undefined);
    assert.ok(!Object.prototype.hasOwnProperty.call(a, 'unknownKey'));
    assert.ok(!Object.prototype.hasOwnProperty.call(a, '__proto__'));
    assert.ok(!Object.prototype.hasOwnProperty.call(a, 'constructor'));
    assert.equal(Object.getPrototypeOf(a), Object.prototype);
    assert.equal((a as unknown as { polluted?: string }).polluted, undefined);
    assert.equal(({} as { polluted?: string }).polluted, undefined, 'Object.prototype untouched');
    assert.equal(chat.messages[0].content, 'question', 'the message the patch named as its id is untouched');

    // A rewrite keeps what was applied and nothing of the rest.
    await store.renameChat(id, 'Renamed');
    await store.dispose();
    const text = fs.readFileSync(file, 'utf8');
    for (const word of ['unknownKey', 'polluted', 'injected', '"system"']) assert.ok(!text.includes(word), `${word} is not in the rewritten file`);
    const again = new ChatStore({ dir, watch: false });
    assert.deepEqual(await again.open(), []);
    assert.equal((await again.getChat(id))?.messages[1].content, 'patched answer and more');
    await again.dispose();
  });
});
