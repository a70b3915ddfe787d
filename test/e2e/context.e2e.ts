/**
 * Scenario 8: context that fits. The composer's meter shows the size of the next request while typing (counted by
 * the server, before Enter); a chat pushed past its context still answers and says what was left out; two
 * attachments and a typed question are sent together.
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openWorkbench } from './env';
import type { Workbench } from './workbench';
import { pollUntil } from './workbench';

/** The meter's figure (the next request's tokens), e.g. `1,234 / 32,768` → 1234. */
async function meterTokens(wb: Workbench): Promise<number> {
  const text = (await wb.chat().locator('.composer .context-text').first().innerText().catch(() => '')).trim();
  const m = /^≈?([\d,]+)\s*\/\s*[\d,]+/.exec(text);
  return m ? Number(m[1].replace(/,/g, '')) : Number.NaN;
}

async function completeAnswers(wb: Workbench, n: number): Promise<void> {
  await pollUntil(() => wb.assistantIn('complete').count(), (c) => c >= n, 60_000, `${n} complete answers`);
  await pollUntil(() => wb.assistantIn('streaming').count(), (c) => c === 0, 60_000, 'no answer streaming');
}

/** About `n` tokens of plain words. */
function words(n: number, seed: number): string {
  const vocab = ['river', 'stone', 'garden', 'window', 'yellow', 'market', 'winter', 'silver', 'forest', 'candle'];
  return Array.from({ length: n }, (_, i) => vocab[(i * 7 + seed) % vocab.length]).join(' ');
}

describe('context that fits', () => {
  it('the meter moves while typing, before Enter', async () => {
    const wb = await openWorkbench('meter');
    await wb.openChatView();
    const box = wb.composer();
    await box.click();
    await box.fill('Hi');
    const small = await pollUntil(() => meterTokens(wb), (n) => Number.isFinite(n) && n > 0, 15_000, 'a counted size for a short draft');
    await box.fill(`Hi. ${words(400, 1)}`);
    const big = await pollUntil(() => meterTokens(wb), (n) => n > small + 300, 15_000, 'the meter to grow with the draft');
    assert.ok(big > small + 300, `${small} → ${big}`);
    assert.equal(await wb.userMessages().count(), 0, 'nothing was sent');
  });

  it('a chat pushed past its context still answers, and shows the divider', async function () {
    // The answers are short; the questions are long: three of ~11,000 tokens overflow a 32,768-token context.
    // Prefilling ~33,000 tokens takes most of a minute on a busy 2-core machine: this one gets more than the default.
    this.timeout(240_000);
    const wb = await openWorkbench('overflow', { settings: { 'llamaChat.maxTokens': 16 } });
    await wb.openChatView();
    for (let i = 0; i < 3; i++) {
      await wb.send(`Question ${i}: ${words(11_000, i)}`);
      await completeAnswers(wb, i + 1);
    }
    await wb.send('And the last, short question?');
    await completeAnswers(wb, 4);
    const divider = wb.chat().locator('.context-divider-text');
    await divider.first().waitFor({ timeout: 15_000 });
    assert.match(await divider.first().innerText(), /^\d+ earlier messages? not sent \(context 32,768 tokens\)$/);
    assert.equal(await wb.assistantIn('failed').count(), 0, 'no answer failed on the context');
  });

  it('two attachments and a typed question are sent together', async () => {
    const wb = await openWorkbench('attachments');
    fs.writeFileSync(path.join(wb.folder, 'notes.txt'), 'Remember the milk.\n');
    fs.writeFileSync(path.join(wb.folder, 'plan.md'), '# Plan\n\n1. Buy milk\n');
    await wb.openChatView();
    for (const name of ['notes.txt', 'plan.md']) {
      await wb.openFile(name);
      await wb.runCommand('Llama Chat: Add File to Chat');
      await pollUntil(() => wb.chat().locator('.composer .chip-name', { hasText: name }).count(), (c) => c === 1, 15_000, `the ${name} chip`);
    }
    assert.equal(await wb.chat().locator('.composer .chip').count(), 2);
    await wb.send('What do these two files say?');
    await completeAnswers(wb, 1);
    const bubble = wb.userMessages().last();
    await bubble.getByText('What do these two files say?').waitFor();
    assert.equal(await bubble.locator('.attachment').count(), 2, 'both attachments in the question');
    assert.equal(await wb.chat().locator('.composer .chip').count(), 0, 'the composer is cleared after the send');
    // Expanding a chip shows the file's text.
    await bubble.locator('.attachment summary').first().click();
    await bubble.getByText('Remember the milk.').waitFor({ timeout: 5_000 });
  });
});
