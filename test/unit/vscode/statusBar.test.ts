/** The status bar item on a fake `vscode`: its text contract, and the stall it reads from the session. */
import { FakeThemeColor, statusBarItems } from '../security/fakeVscode';
import * as assert from 'node:assert/strict';
import { Emitter } from '../../../src/core/base/disposable';
import type { ActiveStream, ChatSessionApi } from '../../../src/core/session/sessionApi';
import type { SessionEvent } from '../../../src/core/session/sessionEvents';
import { ChatStatusBar } from '../../../src/vscode/statusBar';
import { FakeClock } from '../../support/fakeClock';
import { sessionRig, tick } from '../../support/sessionRig';

function bar(session: ChatSessionApi, clock: FakeClock, focused?: () => string | undefined) {
  const statusBar = new ChatStatusBar({
    session,
    serverUrl: () => 'http://127.0.0.1:8080',
    focusedChatId: focused ?? (() => undefined),
    chatTitle: () => 'My chat',
    clock,
    lingerMs: 5_000,
  });
  return { statusBar, item: statusBarItems.at(-1)! };
}

describe('ChatStatusBar', () => {
  it('shows tok/s and context as "42 tok/s · 1,234/8,192", the focused chat first, then the final figures briefly', () => {
    const clock = new FakeClock();
    const events = new Emitter<SessionEvent>();
    let streams: ActiveStream[] = [];
    const session = { onEvent: events.event, activeStreams: () => streams } as unknown as ChatSessionApi;
    let focused = 'b';
    const { statusBar, item } = bar(session, clock, () => focused);
    assert.equal(statusBar.text, undefined, 'hidden while nothing streams');
    streams = [
      { chatId: 'a', messageId: 'ma', stale: false, stats: { phase: 'generating', completionTokens: 9, tps: 7.25 } },
      { chatId: 'b', messageId: 'mb', stale: false, stats: { phase: 'generating', completionTokens: 9, tps: 42, ctxUsed: 1234, ctxMax: 8192 } },
    ];
    events.fire({ type: 'stats', chatId: 'b', messageId: 'mb', stats: streams[1].stats });
    assert.equal(statusBar.text, '$(pulse) 42 tok/s · 1,234/8,192 · 2 chats');
    assert.equal(item.visible, true);
    focused = 'a';
    statusBar.refresh();
    assert.equal(statusBar.text, '$(pulse) 7.3 tok/s · 2 chats');

    const message = { id: 'mb', role: 'assistant' as const, content: 'x', status: 'complete' as const, createdAt: 1, ctxUsed: 1300, ctxMax: 8192, completionTokens: 70 };
    streams = [];
    events.fire({ type: 'streamEnded', chatId: 'b', messageId: 'mb', message });
    assert.equal(statusBar.text, '$(check) 70 tokens · 1,300/8,192', 'the final figures');
    clock.advance(5_000);
    assert.equal(statusBar.text, undefined, 'then it hides');
    assert.equal(item.visible, false);
    statusBar.dispose();
  });

  it('a stall shows the silence the session counts, keeps counting each second, and clears when tokens come again', async () => {
    const { session, streamer, clock } = sessionRig({ staleSeconds: 5 });
    const { statusBar, item } = bar(session, clock);
    const chat = await session.newChat();
    assert.ok((await session.send(chat.id, 'q')).ok);
    streamer.last.content('a');
    await streamer.last.drained();
    assert.match(statusBar.text ?? '', /^\$\(pulse\) /);
    clock.advance(5_000);
    await tick();
    assert.equal(statusBar.text, '$(warning) stalled 5 s');
    assert.ok(item.backgroundColor instanceof FakeThemeColor);
    assert.equal(item.backgroundColor.id, 'statusBarItem.warningBackground');
    clock.advance(1_000);
    assert.equal(statusBar.text, '$(warning) stalled 6 s', 'redrawn every second with no event');
    clock.advance(2_000);
    assert.equal(statusBar.text, '$(warning) stalled 8 s');
    assert.match(statusBar.tooltip ?? '', /My chat/);

    streamer.last.content('b');
    await streamer.last.drained();
    assert.match(statusBar.text ?? '', /^\$\(pulse\) /, 'the stall is over');
    assert.equal(item.backgroundColor, undefined);
    statusBar.dispose();
    session.dispose();
  });
});
