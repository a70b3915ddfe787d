/**
 * Scenario 10: several servers. With `llamaChat.servers` listing two, the header names the active one, Select
 * Server shows each with its live state, and picking the second makes a new chat's answer come from it (the
 * answer records the server's name).
 */
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseChatLog } from '../../src/core/store/storeFormat';
import { e2e, openWorkbench, withUserSettings } from './env';
import { pollUntil } from './workbench';

function savedAnswers(root: string): { server?: string; status: string }[] {
  const out: { server?: string; status: string }[] = [];
  const walk = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.jsonl') && path.basename(d) === 'chats') {
        const parsed = parseChatLog(fs.readFileSync(p, 'utf8'), path.basename(p, '.jsonl'));
        if (parsed.ok) for (const m of parsed.state.chat.messages) if (m.role === 'assistant' && m.server) out.push({ server: m.server, status: m.status });
      }
    }
  };
  walk(root);
  return out;
}

describe('several servers', () => {
  it('Select Server switches a new chat to the second server', async () => {
    const { backends } = e2e();
    await withUserSettings(
      {
        'llamaChat.servers': [
          { name: 'Through the proxy', url: backends.proxy.url },
          { name: 'Straight to llama-server', url: backends.server.url },
        ],
      },
      async () => {
        const wb = await openWorkbench('servers');
        await wb.openChatView();
        const header = wb.chat().locator('.server-name-text');
        await pollUntil(() => header.innerText().catch(() => ''), (t) => t === 'Through the proxy', 20_000, 'the first server in the header');

        await wb.runCommand('Llama Chat: Select Server');
        const input = wb.page.locator('.quick-input-widget input');
        await input.waitFor({ state: 'visible', timeout: 10_000 });
        const row = wb.page.locator('.quick-input-widget .monaco-list-row', { hasText: 'Straight to llama-server' });
        // Each server's live state is checked: the direct one answers with its context size.
        await pollUntil(() => row.innerText().catch(() => ''), (t) => /connected · .* · n_ctx [\d,]+/.test(t), 15_000, 'the live state of the second server');
        await input.fill('Straight');
        await input.press('Enter');
        await pollUntil(() => header.innerText().catch(() => ''), (t) => t === 'Straight to llama-server', 10_000, 'the second server in the header');

        const before = backends.proxy.stats().requestLog.filter((r) => r.path.startsWith('/v1/chat/completions') && r.method === 'POST').length;
        await wb.runCommand('Llama Chat: New Chat');
        await wb.send('Which server answers this?');
        await wb.assistantIn('complete').first().waitFor({ timeout: 30_000 });
        const after = backends.proxy.stats().requestLog.filter((r) => r.path.startsWith('/v1/chat/completions') && r.method === 'POST').length;
        assert.equal(after, before, 'the answer did not go through the first server');
        const answers = await pollUntil(() => Promise.resolve(savedAnswers(e2e().root)), (a) => a.some((x) => x.server === 'Straight to llama-server' && x.status === 'complete'), 15_000, 'the saved answer with its server');
        assert.ok(answers.length > 0);
      },
    );
  });
});
