import * as assert from 'node:assert/strict';
import type { LiveStats } from '../../../src/core/session/sessionEvents';
import { StreamStatusTracker } from '../../../src/view/streamStatus';

const stats = (s: Partial<LiveStats> = {}): LiveStats => ({ phase: 'generating', completionTokens: 3, ...s });

describe('StreamStatusTracker', () => {
  it('says busy, queued and reconnecting when they start and end, not on every stats event', () => {
    const t = new StreamStatusTracker();
    t.onMessageAdded({ id: 'm', role: 'assistant', content: '', status: 'streaming', createdAt: 1 });
    assert.deepEqual(t.onStats('c', 'm', stats()).map((s) => s.phase), ['generating'], 'waiting → generating');
    assert.deepEqual(t.onStats('c', 'm', stats({ tps: 40 })), [], 'nothing the status line shows changed');
    const busy = t.onStats('c', 'm', stats({ busyMs: 5_000 }));
    assert.deepEqual(busy, [{ type: 'status', chatId: 'c', messageId: 'm', status: 'streaming', busyMs: 5_000, queued: null, reconnecting: false }]);
    assert.deepEqual(t.onStats('c', 'm', stats({ busyMs: 9_000 })), [], 'the view counts the seconds itself');
    const moving = t.onStats('c', 'm', stats());
    assert.deepEqual(moving.map((s) => [s.busyMs, s.queued, s.reconnecting]), [[null, null, false]]);
    assert.equal(t.onStats('c', 'm', stats({ reconnecting: true }))[0].reconnecting, true);
    assert.deepEqual(t.onStats('c', 'm', stats({ queued: { busy: 2, total: 2 } }))[0].queued, { busy: 2, total: 2 });
  });

  it('recovery from a stall is said only for a stall the view was told about, with the phase it had', () => {
    const t = new StreamStatusTracker();
    t.onProgress('c', 'm', { total: 10, processed: 5, cache: 0, timeMs: 1 });
    assert.equal(t.onMessageUpdated('c', 'm', { status: 'streaming' }), undefined, 'no stall was shown');
    assert.deepEqual(t.onStale('c', 'm', 4_000, undefined), { type: 'status', chatId: 'c', messageId: 'm', status: 'streaming', stale: true, silentMs: 4_000 });
    assert.deepEqual(t.onMessageUpdated('c', 'm', { status: 'streaming' }), { type: 'status', chatId: 'c', messageId: 'm', status: 'streaming', stale: false, phase: 'prompt' });
    assert.equal(t.onMessageUpdated('c', 'm', { status: 'streaming' }), undefined, 'said once');
    t.onStale('c', 'm', 4_000, 'llama-server is not responding');
    t.onEnded('m');
    assert.equal(t.onMessageUpdated('c', 'm', { status: 'streaming' }), undefined, 'an ended stream is forgotten');
    assert.equal(t.onProgress('c', 'm', { total: 0, processed: 0, cache: 0, timeMs: 0 }), undefined, 'no total: no percent');
  });
});
