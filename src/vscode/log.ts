/**
 * The Logger the core uses, on a LogOutputChannel. Credentials that slip into a line (an Authorization header, a
 * Bearer token, user:password in a URL) are masked before anything is written. The last lines are kept in memory
 * for the extension-host tests, which cannot read an output channel.
 */
import type * as vscode from 'vscode';
import type { Logger } from '../core/base/logger';

const MAX_RECENT = 500;

/** Masks secrets in one log line. */
export function redact(text: string): string {
  return text
    .replace(/(authorization["']?\s*[:=]\s*)(["']?)[^\s"',}]+(\s+[^\s"',}]+)?/gi, '$1$2[redacted]')
    .replace(/\bBearer\s+[A-Za-z0-9._~+/=-]+/g, 'Bearer [redacted]')
    .replace(/(\b[a-z][a-z0-9+.-]*:\/\/)[^\s/@:]+:[^\s/@]+@/gi, '$1[redacted]@');
}

function render(message: string | Error, args: unknown[]): string {
  let text = message instanceof Error ? (message.stack ?? message.message) : message;
  for (const a of args) {
    if (a instanceof Error) text += ` ${a.message}`;
    else if (typeof a === 'string') text += ` ${a}`;
    else {
      try {
        text += ` ${JSON.stringify(a)}`;
      } catch {
        text += ` ${String(a)}`;
      }
    }
  }
  return redact(text);
}

export class ChannelLogger implements Logger {
  private readonly recentLines: string[] = [];
  /** Extra strings to mask (the current API key), supplied by the owner. */
  private secrets: readonly string[] = [];

  constructor(private readonly channel: vscode.LogOutputChannel) {}

  setSecrets(secrets: readonly string[]): void {
    this.secrets = secrets.filter((s) => s.length >= 4);
  }

  recent(): readonly string[] {
    return this.recentLines;
  }

  trace(message: string, ...args: unknown[]): void {
    this.channel.trace(this.line('trace', message, args));
  }

  debug(message: string, ...args: unknown[]): void {
    this.channel.debug(this.line('debug', message, args));
  }

  info(message: string, ...args: unknown[]): void {
    this.channel.info(this.line('info', message, args));
  }

  warn(message: string, ...args: unknown[]): void {
    this.channel.warn(this.line('warn', message, args));
  }

  error(message: string | Error, ...args: unknown[]): void {
    this.channel.error(this.line('error', message, args));
  }

  private line(level: string, message: string | Error, args: unknown[]): string {
    let text = render(message, args);
    for (const s of this.secrets) text = text.split(s).join('[redacted]');
    this.recentLines.push(`[${level}] ${text}`);
    if (this.recentLines.length > MAX_RECENT) this.recentLines.splice(0, this.recentLines.length - MAX_RECENT);
    return text;
  }
}
