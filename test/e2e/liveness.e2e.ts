/**
 * Scenario 9: a busy server and a dead stream never look alike. While llama-server is alive but sends nothing new
 * (only `:` pings, as during a long prefill), the view and the status bar say "Server busy · N s" and nothing is
 * called stale, however long it lasts; a stream with no frame at all is stale, with Retry and Discard.
 */
import * as assert from 'node:assert/strict';
import { e2e, openWorkbench, setProxyMode, SLOW_MODE, STALE_SECONDS } from './env';
import { pollUntil } from './workbench';

describe('busy is not stale', () => {
  it('pings without tokens show Server busy (never stale); silence is stale with Retry / Discard', async () => {
    const wb = await openWorkbench('liveness');
    await wb.openChatView();

    // Alive but silent: the proxy holds the answer after the first events and writes a ping every 500 ms.
    setProxyMode({ kind: 'pingSilence', afterEvents: 2, pingMs: 500, path: '/v1/chat/completions' });
    await wb.send('A question the server takes long to start on.');
    const busy = wb.chat().getByText(/Server busy · \d+ s/);
    await busy.first().waitFor({ timeout: 20_000 });
    await pollUntil(() => wb.statusText(), (t) => /Server busy · \d+ s/.test(t), 10_000, 'Server busy in the status bar');
    // Several stale limits pass: still busy, never stale.
    await new Promise((r) => setTimeout(r, (STALE_SECONDS + 2) * 1000));
    assert.equal(await wb.chat().locator('.stale-banner').count(), 0, 'no stale banner while pings arrive');
    assert.equal(await wb.notification(/no tokens for/).count(), 0, 'no stale notification');
    assert.ok(e2e().backends.proxy.stats().pingsWritten > STALE_SECONDS * 2, 'the proxy really sent pings');
    // The server gets going: the held tokens flow and busy ends.
    setProxyMode(SLOW_MODE);
    await wb.assistantIn('complete').first().waitFor({ timeout: 30_000 });
    assert.equal(await busy.count(), 0);

    // Dead: no frame of any kind after the headers. Stale within the limit, named as such, with the two buttons.
    setProxyMode({ kind: 'stall', afterEvents: 0, path: '/v1/chat/completions' });
    await wb.send('And another one.');
    const banner = wb.chat().locator('.stale-banner');
    await banner.waitFor({ timeout: (STALE_SECONDS + 6) * 1000 });
    assert.match(await banner.innerText(), /No tokens for/);
    assert.equal(await wb.chat().getByText(/Server busy/).count(), 0, 'a dead stream is not called busy');
    const toast = wb.notification(/no tokens for/);
    await toast.waitFor({ timeout: 10_000 });
    // The server was asked what became of the request; it holds the request in a slot behind the stalled proxy.
    assert.match(await toast.innerText(), /llama-server (is still processing this request|has no request running|is not responding)/);
    await wb.notificationButton(toast, 'Retry').waitFor();
    await wb.notificationButton(toast, 'Discard').click();
    await wb.assistantIn('failed').last().waitFor({ timeout: 10_000 });
    await pollUntil(() => wb.statusText(), (t) => !/stalled/.test(t), 10_000, 'the status bar leaves stalled');
    setProxyMode(SLOW_MODE);
  });
});
