/** Scenario 5: reloading the window mid-stream keeps the chat; the cut answer is marked interrupted. */
import * as assert from 'node:assert/strict';
import { openWorkbench } from './env';
import { pollUntil } from './workbench';

describe('reload mid-stream', () => {
  it('restores the chat and its messages, with the cut answer interrupted', async () => {
    // No token limit at 20 events/s: the answer is still streaming when the window reloads.
    const wb = await openWorkbench('reload', { settings: { 'llamaChat.maxTokens': 0 } });
    await wb.openChatView();
    const prompt = 'Explain the history of computing in detail.';
    await wb.send(prompt);
    await pollUntil(() => wb.answerText(), (t) => t.length > 10, 20_000, 'streamed text');
    await wb.assistantIn('streaming').waitFor();

    await wb.page.reload({ waitUntil: 'domcontentloaded' });
    await wb.waitForWorkbench();
    await wb.openChatView();
    await wb.userMessages().filter({ hasText: prompt }).waitFor({ timeout: 30_000 });
    const cut = wb.assistantIn('interrupted');
    await cut.waitFor({ timeout: 30_000 });
    assert.ok((await wb.answerText(cut)).length > 0, 'the partial answer survived the reload');
    assert.equal(await wb.assistantIn('streaming').count(), 0);
  });
});
