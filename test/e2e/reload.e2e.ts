/**
 * Scenario 5: reloading the window mid-stream keeps the chat, and the answer llama-server still holds (the request
 * carries X-Conversation-Id) is resumed in the new window instead of staying cut.
 */
import * as assert from 'node:assert/strict';
import { e2e, openWorkbench } from './env';
import { pollUntil } from './workbench';

describe('reload mid-stream', () => {
  it('restores the chat, and resumes the answer the server kept to its end', async () => {
    // 200 tokens at 20 events/s: the answer is still streaming when the window reloads.
    const wb = await openWorkbench('reload', { settings: { 'llamaChat.maxTokens': 200 } });
    await wb.openChatView();
    const prompt = 'Explain the history of computing in detail.';
    await wb.send(prompt);
    const before = await pollUntil(() => wb.answerText(), (t) => t.length > 10, 20_000, 'streamed text');
    await wb.assistantIn('streaming').waitFor();

    // code-server now and then starts a reloaded window's extension host before it has the (machine-scoped) user
    // settings, so it talks to the default URL and never hears of the right one; the header shows which server the
    // window uses. Such a window is reloaded again (at most twice): the product is not what is tested there.
    const proxyHost = e2e().backends.proxy.url.replace(/^https?:\/\//, '');
    for (let attempt = 0; ; attempt++) {
      await wb.page.reload({ waitUntil: 'domcontentloaded' });
      await wb.waitForWorkbench();
      await wb.openChatView();
      const server = await pollUntil(
        () => wb.chat().locator('.server-name-text').innerText().catch(() => ''),
        (t) => t.length > 0,
        10_000,
        'the server in the header',
      ).catch(() => '');
      if (server === proxyHost || attempt >= 2) break;
    }
    await wb.userMessages().filter({ hasText: prompt }).waitFor({ timeout: 30_000 });
    // The new window looks the stream up on the server and replays it: it streams again, then completes.
    const done = wb.assistantIn('complete');
    await done.waitFor({ timeout: 60_000 });
    const after = await wb.answerText(done);
    assert.ok(after.length > before.length, `the resumed answer went on (${before.length} → ${after.length} characters)`);
    assert.ok(after.startsWith(before.slice(0, 10)), 'the text the window had is kept, not doubled');
    assert.equal(await wb.assistantIn('interrupted').count(), 0, 'not left cut');
    assert.equal(await wb.assistantIn('streaming').count(), 0);
  });
});
