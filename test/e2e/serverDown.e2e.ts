/** Scenario 4: the server is down; the view says so with actions, and "Retry connection" works once it is up. */
import * as assert from 'node:assert/strict';
import { startFaultProxy } from '../harness/faultProxy';
import type { FaultProxy } from '../harness/faultProxy';
import { findFreePort } from '../harness/process';
import { e2e, openWorkbench, withUserSettings } from './env';

describe('server down', () => {
  let late: FaultProxy | undefined;
  after(async () => {
    await late?.stop();
  });

  it('shows the connection error with actions, and Retry connection connects once the server is up', async () => {
    // Nothing listens on this port until we start a second proxy (in front of the same llama-server) on it. The
    // server URL is machine-scoped (a workspace cannot redirect it), so it goes into the user settings.
    const port = await findFreePort();
    await withUserSettings({ 'llamaChat.serverUrl': `http://127.0.0.1:${port}` }, () => downThenUp(port));
  });

  async function downThenUp(port: number): Promise<void> {
    const wb = await openWorkbench('server-down');
    await wb.openChatView();
    const banner = wb.chat().locator('.connection-error');
    await banner.waitFor({ timeout: 30_000 });
    assert.match(await banner.innerText(), new RegExp(`127\\.0\\.0\\.1:${port}`));
    const retry = banner.locator('vscode-button', { hasText: 'Retry connection' });
    await retry.waitFor();
    await banner.locator('vscode-button', { hasText: 'Open settings' }).waitFor();

    late = await startFaultProxy({ target: e2e().backends.server.url, port });
    await retry.click();
    await banner.waitFor({ state: 'detached', timeout: 15_000 });
    await wb.chat().getByText(`Connected to http://127.0.0.1:${port}`).waitFor({ timeout: 10_000 });
    await wb.send('Are you there?');
    await wb.assistantIn('complete').waitFor({ timeout: 30_000 });
  }
});
