import * as assert from 'node:assert/strict';
import { StaleWatchdog } from '../../src/core/session/watchdog';
import { FakeClock } from '../support/fakeClock';

describe('StaleWatchdog', () => {
  let clock: FakeClock;
  let fired: number[];
  let dog: StaleWatchdog;

  beforeEach(() => {
    clock = new FakeClock();
    fired = [];
    dog = new StaleWatchdog(clock, (silentMs) => fired.push(silentMs));
  });

  it('fires once after the timeout of silence, with the silent time', () => {
    dog.arm(10_000);
    clock.advance(9_999);
    assert.deepEqual(fired, []);
    clock.advance(1);
    assert.deepEqual(fired, [10_000]);
    clock.advance(60_000);
    assert.equal(fired.length, 1, 'fires once per arming');
    assert.equal(dog.fired, true);
    assert.equal(dog.armed, false);
  });

  it('never fires while a slow stream keeps sending (a token every 5 s, 10 s threshold, 100 s)', () => {
    dog.arm(10_000);
    for (let t = 0; t < 100_000; t += 5_000) {
      clock.advance(5_000);
      dog.touch();
    }
    assert.deepEqual(fired, []);
    assert.equal(dog.armed, true);
  });

  it('counts activity just before the deadline and fires after the full silence that follows', () => {
    dog.arm(10_000);
    clock.advance(9_000);
    dog.touch();
    clock.advance(9_000);
    assert.deepEqual(fired, []);
    clock.advance(1_000);
    assert.deepEqual(fired, [10_000]);
  });

  it('does not create a timer per touch', () => {
    dog.arm(10_000);
    const before = clock.pendingTimers;
    for (let i = 0; i < 10_000; i++) dog.touch();
    assert.equal(clock.pendingTimers, before);
    assert.equal(before, 1);
  });

  it('rearm() after firing watches again', () => {
    dog.arm(5_000);
    clock.advance(5_000);
    assert.equal(fired.length, 1);
    dog.rearm();
    clock.advance(4_000);
    assert.equal(fired.length, 1);
    clock.advance(1_000);
    assert.equal(fired.length, 2);
  });

  it('cancel() stops it for good and clears its timer', () => {
    dog.arm(5_000);
    clock.advance(3_000);
    dog.cancel();
    clock.advance(100_000);
    assert.deepEqual(fired, []);
    assert.equal(clock.pendingTimers, 0);
  });

  it('reports silentMs since the last activity', () => {
    dog.arm(10_000);
    clock.advance(2_500);
    assert.equal(dog.silentMs(), 2_500);
    dog.touch();
    clock.advance(700);
    assert.equal(dog.silentMs(), 700);
  });

  it('a timeout of 0 disables it', () => {
    dog.arm(0);
    clock.advance(1_000_000);
    assert.deepEqual(fired, []);
    assert.equal(clock.pendingTimers, 0);
  });
});
