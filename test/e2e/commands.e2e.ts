/** Scenario 6: the command palette's "Llama Chat: New Chat" and "Llama Chat: Export Chat" do what they say. */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openWorkbench } from './env';
import { pollUntil } from './workbench';

describe('command palette', () => {
  it('Export Chat saves the chat as Markdown where the save dialog says and opens it; New Chat starts an empty chat', async () => {
    const wb = await openWorkbench('commands');
    await wb.openChatView();
    const prompt = 'Name three primary colours.';
    await wb.send(prompt);
    await wb.assistantIn('complete').waitFor({ timeout: 30_000 });

    await wb.runCommand('Llama Chat: Export Chat');
    // The save dialog (VS Code's own file dialog in the browser) proposes the chat's title in the workspace folder.
    const dialog = wb.page.locator('.quick-input-widget input');
    const proposed = await pollUntil(() => dialog.inputValue().catch(() => ''), (v) => v.endsWith('.md'), 15_000, 'the save dialog with a .md name');
    const name = path.basename(proposed);
    assert.match(name, /^Name three primary colours\.md$/);
    await dialog.press('Enter');
    await pollUntil(() => Promise.resolve(fs.existsSync(path.join(wb.folder, name))), (ok) => ok, 15_000, `${name} written in the workspace`);
    assert.match(fs.readFileSync(path.join(wb.folder, name), 'utf8'), /Name three primary colours\./);
    const editor = wb.page.locator('.editor-instance .monaco-editor .view-lines');
    const text = await pollUntil(
      // The editor renders spaces as no-break spaces.
      async () => ((await editor.count()) ? (await editor.first().innerText()).replace(/\u00a0/g, ' ') : ''),
      (t) => t.includes(prompt),
      15_000,
      'exported Markdown in an editor',
    );
    assert.match(text, /Name three primary colours\./);

    await wb.runCommand('Llama Chat: New Chat');
    await pollUntil(() => wb.userMessages().count(), (n) => n === 0, 10_000, 'an empty chat');
    await wb.chat().getByText('Chat with llama-server').waitFor({ timeout: 10_000 });
    assert.equal(await wb.assistantMessages().count(), 0);
  });
});
