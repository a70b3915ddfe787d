/**
 * A pseudo-locale for localization tests: every ASCII letter of a message becomes an accented look-alike
 * ("Send" -> "Šéñđ"), placeholders `{0}` stay. Text that still holds plain English words after the test's own data
 * (URLs, model names, chat titles) is taken out was never translated: it is hard-coded.
 */
import { formatMessage } from '../../src/core/base/l10n';
import type { L10nArg } from '../../src/core/base/l10n';

const LOWER = 'áƀçđéƒĝĥíĵķĺɱñóƥʠŕšţúṽŵẋýž';
const UPPER = 'ÁƁÇĐÉƑĜĤÍĴĶĹṀÑÓƤǪŔŠŢÚṼŴẊÝŽ';

function accent(c: string): string {
  const code = c.charCodeAt(0);
  if (code >= 97 && code <= 122) return [...LOWER][code - 97] ?? c;
  if (code >= 65 && code <= 90) return [...UPPER][code - 65] ?? c;
  return c;
}

/** The pseudo translation of one message: letters accented, `{n}` kept. */
export function pseudo(message: string): string {
  return message
    .split(/(\{\d+\})/)
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/[A-Za-z]/g, accent)))
    .join('');
}

/** A translator for the core seam (`setTranslator`) that answers in the pseudo-locale. */
export function pseudoTranslator(message: string, ...args: L10nArg[]): string {
  return formatMessage(pseudo(message), args);
}

/** A bundle (as `vscode.l10n.bundle` would be) translating every key into the pseudo-locale. */
export function pseudoBundle(english: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of Object.keys(english)) out[key] = pseudo(key);
  return out;
}

/**
 * English words left in `text` once `data` (the test's own values: URLs, names, codes) and codicons (`$(name)`)
 * are removed. Two letters or more count as a word, so unit letters ("5 s" in a formula) need no exception.
 */
export function englishIn(text: string, data: readonly string[] = []): string[] {
  let rest = text.replace(/\$\([A-Za-z0-9~-]+\)/g, ' ');
  for (const d of [...data].sort((a, b) => b.length - a.length)) if (d) rest = rest.split(d).join(' ');
  return rest.match(/[A-Za-z]{2,}/g) ?? [];
}
