/**
 * The core's one translator seam. Pure code says `t('Cannot connect to {0}', url)`; by default that is the English
 * message with `{n}` filled in, and on activation the extension points it at `vscode.l10n.t`, so the same call
 * reads from the extension's l10n bundle. Keys are the English text (VS Code's convention).
 */

export type L10nArg = string | number | boolean;
export type Translator = (message: string, ...args: L10nArg[]) => string;

/** `{0}`, `{1}`… replaced by the arguments; a placeholder without an argument stays as written. */
export function formatMessage(message: string, args: readonly L10nArg[]): string {
  if (args.length === 0) return message;
  return message.replace(/\{(\d+)\}/g, (whole, index: string) => {
    const value = args[Number(index)];
    return value === undefined ? whole : String(value);
  });
}

const english: Translator = (message, ...args) => formatMessage(message, args);
let current: Translator = english;

/** The message in the user's language (English until `setTranslator`). */
export function t(message: string, ...args: L10nArg[]): string {
  return current(message, ...args);
}

/** Points `t` at another translator (the extension: `vscode.l10n.t`; tests: a pseudo-locale); undefined: English. */
export function setTranslator(translator: Translator | undefined): void {
  current = translator ?? english;
}
