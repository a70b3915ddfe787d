/** Scenario 3: stop mid-stream frees the server's slot and keeps the partial answer as stopped. */
import * as assert from 'node:assert/strict';
import { e2e, openWorkbench, setProxyMode } from './env';
import { pollUntil } from './workbench';

interface Slot {
  id: number;
  is_processing: boolean;
}

async function busySlots(): Promise<number> {
  const res = await fetch(`${e2e().backends.server.url}/slots`);
  const slots = (await res.json()) as Slot[];
  return slots.filter((s) => s.is_processing).length;
}

describe('stop mid-stream', () => {
  it('frees the slot on the server and keeps the partial answer marked stopped', async () => {
    // No token limit: the answer runs until the 16k context is full, seconds of work for the server.
    const wb = await openWorkbench('stop', { settings: { 'llamaChat.maxTokens': 0 } });
    await wb.openChatView();
    setProxyMode({ kind: 'pass' });
    await wb.send('Write a very long essay.');
    await pollUntil(() => wb.answerText(), (t) => t.length > 20, 20_000, 'streamed text');
    assert.ok((await busySlots()) >= 1, 'a slot is generating');
    await wb.stopButton().click();
    await wb.assistantIn('stopped').waitFor({ timeout: 10_000 });
    await pollUntil(busySlots, (n) => n === 0, 5_000, '/slots: every slot idle');
    assert.ok((await wb.answerText(wb.assistantIn('stopped'))).length > 20, 'the partial answer is kept');
    assert.equal(await wb.assistantIn('streaming').count(), 0);
    await wb.sendButton().waitFor();
  });
});
