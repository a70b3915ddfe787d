/** Scenario 1: open the chat on a folder, send a prompt, watch the answer stream and the status bar. */
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { e2e, openWorkbench } from './env';
import { pollUntil } from './workbench';

describe('chat streams into the view', () => {
  it('shows the streaming answer, then live tok/s and used/max in the status bar that clear after', async () => {
    const wb = await openWorkbench('stream');
    await wb.openChatView();
    await wb.send('Say hello in three words.');

    await wb.assistantIn('streaming').waitFor({ timeout: 20_000 });
    // Text grows while the proxy paces the stream at 20 events/s.
    const first = await pollUntil(() => wb.answerText(), (t) => t.length > 0, 15_000, 'first streamed text');
    const status = await pollUntil(() => wb.statusText(), (t) => /\d[\d.,]* tok\/s/.test(t) && /\d\/\d/.test(t), 15_000, 'status bar tok/s and used/max');
    assert.match(status, /\d[\d.,]* tok\/s/);
    assert.match(status, /[\d,]+\/[\d,]+/);
    // Mid-stream, with the live figures in the status bar: the README's screenshot comes from here.
    await wb.screenshot(path.join(e2e().artifacts, 'chat-streaming.png'));
    const later = await pollUntil(() => wb.answerText(), (t) => t.length > first.length, 15_000, 'more streamed text');

    await wb.assistantIn('complete').waitFor({ timeout: 30_000 });
    assert.equal(await wb.assistantIn('streaming').count(), 0);
    const final = await wb.answerText();
    assert.ok(final.length >= later.length);
    // The figures linger briefly after the end, then the item hides.
    await pollUntil(() => wb.statusText(), (t) => !/tok\/s/.test(t) || /final/i.test(t), 15_000, 'status bar cleared');
    await pollUntil(() => wb.statusText(), (t) => !/tok\/s/.test(t), 15_000, 'status bar hidden');
    await wb.screenshot(path.join(e2e().artifacts, 'chat-complete.png'));
  });
});
