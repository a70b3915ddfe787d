import type { Logger } from '../../src/core/base/logger';
import type { StreamEvent } from '../../src/core/base/events';

function show(value: unknown): string {
  return value instanceof Error ? `${value.message} ${value.stack ?? ''}` : typeof value === 'string' ? value : JSON.stringify(value);
}

/** A Logger that keeps every line (level, message, arguments, error stacks) so tests can search what was logged. */
export class RecordingLogger implements Logger {
  readonly lines: string[] = [];
  private add(level: string, message: string | Error, args: unknown[]): void {
    this.lines.push([level, show(message), ...args.map(show)].join(' '));
  }
  trace = (m: string, ...a: unknown[]): void => this.add('trace', m, a);
  debug = (m: string, ...a: unknown[]): void => this.add('debug', m, a);
  info = (m: string, ...a: unknown[]): void => this.add('info', m, a);
  warn = (m: string, ...a: unknown[]): void => this.add('warn', m, a);
  error = (m: string | Error, ...a: unknown[]): void => this.add('error', m, a);
}

/** Drains a client stream into an array. */
export async function collectEvents(stream: AsyncIterable<StreamEvent>): Promise<StreamEvent[]> {
  const out: StreamEvent[] = [];
  for await (const e of stream) out.push(e);
  return out;
}
