/**
 * Scenario 7: versions of an answer. Regenerate, switch back with "Previous version" and continue from it; Retry an
 * old failed answer while a newer answer exists, and the newer answer is untouched.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { FrameLocator, Locator } from 'playwright-core';
import type { ChatMessage } from '../../src/core/chats/chat';
import { activePath, indexTree } from '../../src/core/chats/chatTree';
import { parseChatLog } from '../../src/core/store/storeFormat';
import { e2e, openWorkbench, setProxyMode, SLOW_MODE } from './env';
import type { Workbench } from './workbench';
import { pollUntil } from './workbench';

/** An icon or plain button by its accessible name (codicon action buttons carry it as `label`). */
function button(scope: Locator | FrameLocator, name: string): Locator {
  return scope.locator(`:is(button[aria-label="${name}"], vscode-icon[label="${name}"], vscode-button[aria-label="${name}"])`);
}

/** The chat files this workspace's extension wrote (its storageUri lives under code-server's user data). */
function chatFilesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.jsonl') && path.basename(d) === 'chats') out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** The saved chat whose messages include `text` (read the way the extension reads it). */
async function savedChatWith(text: string): Promise<{ messages: ChatMessage[]; leafId?: string }> {
  return pollUntil(
    () => {
      for (const file of chatFilesUnder(e2e().root)) {
        const parsed = parseChatLog(fs.readFileSync(file, 'utf8'), path.basename(file, '.jsonl'));
        if (parsed.ok && parsed.state.chat.messages.some((m) => m.content === text)) return Promise.resolve(parsed.state.chat);
      }
      return Promise.resolve(undefined);
    },
    (c) => c !== undefined,
    15_000,
    `a saved chat with "${text}"`,
  ).then((c) => c!);
}

async function completeAnswers(wb: Workbench, n: number): Promise<void> {
  await pollUntil(() => wb.assistantIn('complete').count(), (c) => c >= n, 30_000, `${n} complete answers`);
  await pollUntil(() => wb.assistantIn('streaming').count(), (c) => c === 0, 30_000, 'no answer streaming');
}

describe('versions of an answer', () => {
  it('regenerate, switch back with Previous version, and continue from version 1', async () => {
    const wb = await openWorkbench('versions');
    await wb.openChatView();
    await wb.send('First question');
    await completeAnswers(wb, 1);
    const v1 = await wb.answerText();
    assert.ok(v1.length > 0);
    const v1Id = (await savedChatWith('First question')).messages.find((m) => m.role === 'assistant' && m.status === 'complete')!.id;

    await button(wb.lastAssistant(), 'Regenerate answer').click();
    await pollUntil(() => wb.chat().getByText('2/2').count(), (c) => c > 0, 30_000, 'the 2/2 version switcher');
    await completeAnswers(wb, 1);
    assert.equal(await wb.assistantMessages().count(), 1, 'one reply shown, its versions behind the switcher');
    const v2 = await wb.answerText();

    const previous = button(wb.chat(), 'Previous version');
    await previous.first().click();
    await pollUntil(() => wb.chat().getByText('1/2').count(), (c) => c > 0, 5_000, 'the 1/2 version');
    assert.equal(await wb.answerText(), v1, 'version 1 is shown again');
    assert.notEqual(v1, v2);

    await wb.send('Follow-up on version one');
    await completeAnswers(wb, 2);
    assert.equal(await wb.userMessages().count(), 2);
    assert.equal(await wb.answerText(wb.assistantMessages().first()), v1, 'the follow-up continues version 1');

    const saved = await savedChatWith('Follow-up on version one');
    const shown = activePath(saved);
    assert.deepEqual(
      shown.slice(0, 3).map((m) => (m.role === 'user' ? m.content : m.id)),
      ['First question', v1Id, 'Follow-up on version one'],
      'the follow-up was asked under version 1',
    );
    const index = indexTree(saved.messages);
    assert.equal(index.byId.size, 5, 'both versions are kept');
  });

  it('Retry on an old failed answer while a newer answer exists leaves the newer answer untouched', async () => {
    const wb = await openWorkbench('retry-old');
    await wb.openChatView();
    // The first answer fails: the server answers 500.
    setProxyMode({ kind: 'status', status: 500, body: '{"error":{"code":500,"message":"boom","type":"server_error"}}', contentType: 'application/json', path: '/v1/chat/completions' });
    await wb.send('Question that fails');
    await wb.assistantIn('failed').first().waitFor({ timeout: 20_000 });
    setProxyMode(SLOW_MODE);
    // A newer question gets a good answer.
    await wb.send('Newer question');
    await completeAnswers(wb, 1);
    const newer = await wb.answerText(wb.assistantIn('complete').last());
    const before = await savedChatWith('Newer question');
    const newerSaved = before.messages.find((m) => m.role === 'assistant' && m.status === 'complete')!;

    // Retry the old failed answer (it is above the newer one).
    await wb.assistantIn('failed').first().locator('vscode-button', { hasText: 'Retry' }).click();
    await pollUntil(() => wb.chat().getByText('2/2').count(), (c) => c > 0, 30_000, 'the retried reply as version 2/2');
    await completeAnswers(wb, 1);
    assert.equal(await wb.userMessages().count(), 1, 'the retry branch shows the first question and its new answer');

    const after = await savedChatWith('Newer question');
    const kept = after.messages.find((m) => m.id === newerSaved.id);
    assert.deepEqual(kept, newerSaved, 'the newer answer is byte for byte what it was');
    // And it is one switch away: Previous version brings back the failed attempt and the newer branch under it.
    await button(wb.chat(), 'Previous version').first().click();
    await pollUntil(() => wb.userMessages().count(), (c) => c === 2, 5_000, 'the older branch with the newer question');
    assert.equal(await wb.answerText(wb.assistantIn('complete').last()), newer);
  });
});
