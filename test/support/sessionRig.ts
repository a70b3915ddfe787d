/** One ChatSession on the fakes (clock, streamer, repository) with every event recorded: the unit suites' rig. */
import { ChatSession } from '../../src/core/session/session';
import type { SessionSettings } from '../../src/core/session/sessionApi';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import { FakeClock } from './fakeClock';
import { FakeStreamer } from './fakeStreamer';
import { MemoryRepository } from './memoryRepository';

/** Lets every pending promise in the fakes settle (they only use microtasks). */
export const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

export function sessionRig(settingsInit: Partial<SessionSettings> = {}) {
  const clock = new FakeClock();
  const streamer = new FakeStreamer();
  const repo = new MemoryRepository(clock);
  const settings: SessionSettings = { staleSeconds: 10, ...settingsInit };
  const session = new ChatSession({ streamer, repository: repo, clock, settings: () => settings });
  const events: SessionEvent[] = [];
  session.onEvent((e) => events.push(e));
  const of = <T extends SessionEvent['type']>(type: T) => events.filter((e): e is Extract<SessionEvent, { type: T }> => e.type === type);
  return { clock, streamer, repo, settings, session, events, of };
}
