/**
 * The stale notification on a real session (fakes underneath) and a notifier the test answers as the user would.
 * A notification cannot be closed from code: after the stall is over its buttons must change nothing and say why.
 */
import * as assert from 'node:assert/strict';
import type { ChatMessage } from '../../../src/core/chats/chat';
import type { Notifier } from '../../../src/vscode/notifications';
import { STALE_DISCARD, STALE_RETRY, StaleNotifier } from '../../../src/vscode/staleNotifier';
import { RecordingLogger } from '../../support/recordingLogger';
import { sessionRig, tick } from '../../support/sessionRig';

interface Shown {
  severity: 'info' | 'warning';
  message: string;
  items: string[];
  choose(item: string | undefined): void;
}

function fakeNotifier(): { notifier: Notifier; shown: Shown[] } {
  const shown: Shown[] = [];
  const show = (severity: Shown['severity']) => (message: string, ...items: string[]) =>
    new Promise<string | undefined>((resolve) => shown.push({ severity, message, items, choose: resolve }));
  const notifier = { warn: show('warning'), info: show('info') } as unknown as Notifier;
  return { notifier, shown };
}

async function setup() {
  const rig = sessionRig({ staleSeconds: 5 });
  const { notifier, shown } = fakeNotifier();
  const stale = new StaleNotifier({ session: rig.session, notifier, logger: new RecordingLogger(), chatTitle: () => 'Stuck' });
  const chat = await rig.session.newChat();
  const out = await rig.session.send(chat.id, 'q');
  assert.ok(out.ok);
  const stalledId = out.messageId!;
  rig.streamer.last.content('half');
  await rig.streamer.last.drained();
  rig.clock.advance(5_000);
  await tick();
  const toasts = shown.filter((s) => s.severity === 'warning');
  assert.equal(toasts.length, 1);
  assert.equal(toasts[0].message, 'Llama Chat: “Stuck” has had no tokens for 5 s.');
  assert.deepEqual(toasts[0].items, [STALE_RETRY, STALE_DISCARD], 'the buttons are exactly Retry and Discard');
  /** Clicks the toast and lets the answer's handling finish. */
  const click = async (item: string): Promise<void> => {
    toasts[0].choose(item);
    for (let i = 0; i < 5; i++) await tick();
  };
  const infos = () => shown.filter((s) => s.severity === 'info').map((s) => s.message);
  const answers = (): ChatMessage[] => rig.repo.peek(chat.id)!.messages.filter((m) => m.role === 'assistant');
  return { ...rig, stale, chatId: chat.id, stalledId, click, infos, answers };
}

describe('StaleNotifier', () => {
  it('while the answer is still stalled, Discard keeps it as failed', async () => {
    const t = await setup();
    await t.click(STALE_DISCARD);
    assert.deepEqual(t.answers().map((m) => m.status), ['failed']);
    assert.equal(t.answers()[0].error?.kind, 'aborted');
    assert.deepEqual(t.infos(), []);
  });

  it('while the answer is still stalled, Retry streams a new version of it', async () => {
    const t = await setup();
    await t.click(STALE_RETRY);
    assert.deepEqual(t.answers().map((m) => m.status), ['failed', 'streaming']);
    assert.equal(t.streamer.streams.length, 2);
  });

  for (const button of [STALE_RETRY, STALE_DISCARD]) {
    it(`${button} after Discard in the view's banner: "already finished", no new answer`, async () => {
      const t = await setup();
      assert.ok((await t.session.discard(t.chatId, t.stalledId)).ok);
      await t.click(button);
      assert.deepEqual(t.infos(), [`The answer already finished; nothing to ${button.toLowerCase()}.`]);
      assert.deepEqual(t.answers().map((m) => m.status), ['failed'], 'nothing was retried');
      assert.equal(t.streamer.streams.length, 1);
    });

    it(`${button} after Retry in the view's banner: "already finished"; the new answer is left alone, streaming or done`, async () => {
      const t = await setup();
      assert.ok((await t.session.retry(t.chatId, t.stalledId)).ok);
      await t.click(button);
      assert.deepEqual(t.infos(), [`The answer already finished; nothing to ${button.toLowerCase()}.`]);
      assert.deepEqual(t.answers().map((m) => m.status), ['failed', 'streaming'], 'the new answer still streams');
      assert.equal(t.streamer.streams.length, 2, 'no third request');
      t.streamer.last.content('fine').finish('stop');
      await t.streamer.last.drained();
      await tick();
      assert.deepEqual(t.answers().map((m) => m.status), ['failed', 'complete']);
    });
  }

  it('after the answer completed on its own: "already finished", nothing retried', async () => {
    const t = await setup();
    t.streamer.last.content(' and the rest').finish('stop');
    await t.streamer.last.drained();
    await tick();
    await t.click(STALE_RETRY);
    assert.deepEqual(t.infos(), ['The answer already finished; nothing to retry.']);
    assert.deepEqual(t.answers().map((m) => m.status), ['complete']);
    assert.equal(t.streamer.streams.length, 1);
  });

  it('after the stream failed on its own: "already finished", nothing retried (Retry in the view still can)', async () => {
    const t = await setup();
    t.streamer.last.fail({ kind: 'server_error', message: 'server error' });
    await t.streamer.last.drained();
    await tick();
    await t.click(STALE_RETRY);
    assert.deepEqual(t.infos(), ['The answer already finished; nothing to retry.']);
    assert.deepEqual(t.answers().map((m) => m.status), ['failed']);
    assert.equal(t.streamer.streams.length, 1);
  });

  it('after the stream recovered: it is receiving tokens again, nothing is done', async () => {
    const t = await setup();
    t.streamer.last.content(' more');
    await t.streamer.last.drained();
    await t.click(STALE_DISCARD);
    assert.deepEqual(t.infos(), ['“Stuck” is receiving tokens again; nothing to discard.']);
    assert.deepEqual(t.answers().map((m) => m.status), ['streaming']);
  });
});
