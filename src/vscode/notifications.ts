/**
 * Every notification goes through here, so the extension-host tests can see what was shown and answer it as a
 * user would (a real click still works: whichever answer comes first wins).
 */
import * as vscode from 'vscode';

export type Severity = 'info' | 'warning' | 'error';

export interface NotificationRecord {
  readonly severity: Severity;
  readonly message: string;
  readonly items: readonly string[];
  readonly modal: boolean;
  /** Answers the notification as if the user clicked `item` (undefined: dismissed). */
  choose(item: string | undefined): void;
  /** The answer, once there is one. */
  readonly answer: Promise<string | undefined>;
}

const MAX_RECORDS = 50;

export class Notifier {
  private readonly records: NotificationRecord[] = [];

  info<T extends string>(message: string, ...items: T[]): Promise<T | undefined> {
    return this.show('info', message, {}, items);
  }

  warn<T extends string>(message: string, ...items: T[]): Promise<T | undefined> {
    return this.show('warning', message, {}, items);
  }

  error<T extends string>(message: string, ...items: T[]): Promise<T | undefined> {
    return this.show('error', message, {}, items);
  }

  /** A modal question; resolves undefined when cancelled. */
  confirm<T extends string>(message: string, detail: string, ...items: T[]): Promise<T | undefined> {
    return this.show('warning', message, { modal: true, detail }, items);
  }

  last(): NotificationRecord | undefined {
    return this.records.at(-1);
  }

  all(): readonly NotificationRecord[] {
    return this.records;
  }

  private show<T extends string>(severity: Severity, message: string, options: vscode.MessageOptions, items: T[]): Promise<T | undefined> {
    let settle!: (value: T | undefined) => void;
    let settled = false;
    const answer = new Promise<T | undefined>((resolve) => {
      settle = (value) => {
        if (settled) return;
        settled = true;
        resolve(value);
      };
    });
    const record: NotificationRecord = {
      severity,
      message,
      items,
      modal: options.modal === true,
      choose: (item) => settle(items.find((i) => i === item)),
      answer,
    };
    this.records.push(record);
    if (this.records.length > MAX_RECORDS) this.records.shift();
    const shown =
      severity === 'info'
        ? vscode.window.showInformationMessage(message, options, ...items)
        : severity === 'warning'
          ? vscode.window.showWarningMessage(message, options, ...items)
          : vscode.window.showErrorMessage(message, options, ...items);
    shown.then(settle, () => settle(undefined));
    return answer;
  }
}
