/**
 * Scenario: a reasoning model (the tiny Qwen3-template model, thinking forced by its server's grammar). The
 * composer offers the Thinking toggle (once the chat exists); while an answer only thinks ("Thinking…", the reasoning text growing) the
 * user clicks Skip thinking, and the server ends the thinking: the answer gets its content and ends complete, with
 * far less reasoning than the grammar's greedy maximum it would otherwise have written.
 */
import * as assert from 'node:assert/strict';
import type { Locator } from 'playwright-core';
import { openWorkbench, REASONING_MAX_CHARS, reasoningBackends, withUserSettings } from './env';
import { pollUntil } from './workbench';

async function text(locator: Locator): Promise<string> {
  // textContent: a closed <details> still holds its text.
  return (await locator.count()) ? ((await locator.first().textContent()) ?? '').trim() : '';
}

describe('a reasoning model', () => {
  it('shows the Thinking toggle; Skip thinking while it thinks ends the reasoning on the server and the answer completes', async function () {
    this.timeout(120_000);
    const backends = await reasoningBackends((line) => console.log(`    ${line}`));
    // serverUrl is machine-scoped: user settings. Greedy sampling: the grammar's thinking then runs to its maximum.
    await withUserSettings({ 'llamaChat.serverUrl': backends.proxy.url, 'llamaChat.temperature': 0, 'llamaChat.maxTokens': 0 }, async () => {
      const wb = await openWorkbench('reasoning');
      await wb.openChatView();
      await wb.send('What is six times seven?');
      // The toggle belongs to a chat: it shows once the question has made one.
      const toggle = wb.chat().getByRole('button', { name: 'Thinking', exact: true });
      await toggle.waitFor({ timeout: 30_000 });
      assert.equal(await toggle.getAttribute('aria-pressed'), 'true', 'thinking is on by default');
      const answer = wb.assistantIn('streaming').last();
      const reasoning = answer.locator('.reasoning .reasoning-body');
      const summary = answer.locator('.reasoning summary');
      await pollUntil(() => text(reasoning), (t) => t.length > 0, 30_000, 'reasoning text while streaming');
      assert.equal(await text(summary), 'Thinking…');
      assert.equal(await text(answer.locator('.markdown:not(.reasoning .markdown)')), '', 'no content yet');

      const skip = answer.locator('vscode-button.skip-thinking', { hasText: 'Skip thinking' });
      await skip.waitFor({ timeout: 10_000 });
      await skip.click();
      const atClick = (await text(reasoning)).length;

      const done = wb.assistantIn('complete').last();
      await done.waitFor({ timeout: 30_000 });
      assert.equal(await text(done.locator('.markdown:not(.reasoning .markdown)')), 'The answer is 42.');
      assert.equal(await text(done.locator('.reasoning summary')), 'Thoughts');
      const final = (await text(done.locator('.reasoning .reasoning-body'))).length;
      console.log(`    reasoning: ${atClick} chars at the click, ${final} at the end (uncut: ${REASONING_MAX_CHARS})`);
      assert.ok(final >= atClick && final < REASONING_MAX_CHARS / 2, `reasoning ${final} chars (${atClick} at the click), uncut ${REASONING_MAX_CHARS}`);
      assert.equal(await wb.assistantIn('streaming').count(), 0);
    });
  });
});
