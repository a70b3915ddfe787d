/** Scenario 2: the stream stalls; the user is asked Retry or Discard, and each does what it says. */
import * as assert from 'node:assert/strict';
import { e2e, openWorkbench, setProxyMode, SLOW_MODE, STALE_SECONDS } from './env';
import type { Workbench } from './workbench';
import { pollUntil } from './workbench';

/** Sends a prompt through a proxy that holds everything after a few events; resolves when text has arrived. */
async function sendAndStall(wb: Workbench, prompt: string): Promise<{ partial: string; seenAt: number }> {
  setProxyMode({ kind: 'stall', afterEvents: 6 });
  await wb.send(prompt);
  const partial = await pollUntil(() => wb.answerText(), (t) => t.length > 0, 20_000, 'partial answer before the stall');
  return { partial, seenAt: Date.now() };
}

describe('a stalled stream', () => {
  it('asks Retry or Discard within the stale limit + 2 s; Retry streams a new complete answer, Discard keeps the partial one as failed', async () => {
    const wb = await openWorkbench('stale');
    await wb.openChatView();

    // Retry.
    const first = await sendAndStall(wb, 'Tell me a story.');
    const toast = wb.notification(/no tokens for/);
    // The stall began before the first text was seen, so this bounds the delay from the last token.
    await toast.waitFor({ timeout: STALE_SECONDS * 1000 + 2000 - (Date.now() - first.seenAt) });
    await wb.notificationButton(toast, 'Discard').waitFor();
    const requestsBefore = e2e().backends.proxy.stats().requests;
    await wb.notificationButton(toast, 'Retry').click();
    // Release the proxy once the retried request is on its way (the abandoned one was closed by the client).
    await e2e().backends.proxy.waitFor((s) => s.requests > requestsBefore, 15_000);
    setProxyMode(SLOW_MODE);
    await wb.assistantIn('complete').last().waitFor({ timeout: 30_000 });
    assert.equal(await wb.assistantIn('streaming').count(), 0);
    assert.ok((await wb.answerText(wb.assistantIn('complete').last())).length > 0, 'the new answer has text');

    // Discard.
    const second = await sendAndStall(wb, 'And another one.');
    const toast2 = wb.notification(/no tokens for/);
    await toast2.waitFor({ timeout: STALE_SECONDS * 1000 + 2000 - (Date.now() - second.seenAt) });
    await wb.notificationButton(toast2, 'Discard').click();
    const failed = wb.assistantIn('failed').last();
    await failed.waitFor({ timeout: 10_000 });
    assert.ok((await wb.answerText(failed)).length > 0, 'the partial answer is kept');
    assert.equal(await wb.assistantIn('streaming').count(), 0);
    // Idle: no stop button, a send button, and the status bar no longer counts tokens.
    await wb.sendButton().waitFor();
    assert.equal(await wb.stopButton().count(), 0);
    await pollUntil(() => wb.statusText(), (t) => !/tok\/s|stalled/.test(t) || /final/i.test(t), 10_000, 'status bar idle');
    setProxyMode(SLOW_MODE);
  });
});
