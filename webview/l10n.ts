/**
 * The webview's one string function. `t('Send')` is the host's translation (the `vscode.l10n.bundle` the page
 * carries on #root as `data-l10n`), else the English; `{0}`, `{1}`… are filled from the arguments. Keys are the
 * English text, the same bundle as the host's (l10n/bundle.l10n*.json).
 */

export type L10nArg = string | number | boolean;

let bundle: Readonly<Record<string, string>> | undefined;

function fill(message: string, args: readonly L10nArg[]): string {
  if (args.length === 0) return message;
  return message.replace(/\{(\d+)\}/g, (whole, index: string) => {
    const value = args[Number(index)];
    return value === undefined ? whole : String(value);
  });
}

export function t(message: string, ...args: L10nArg[]): string {
  const translated = bundle?.[message];
  return fill(typeof translated === 'string' ? translated : message, args);
}

/**
 * A translated message with elements in it: `parts(t('Then set {0} if…'), <code>x</code>)` splits the text at its
 * placeholders and puts the elements there, so the translation decides where they go.
 */
export function parts<T>(message: string, ...items: T[]): (string | T)[] {
  const out: (string | T)[] = [];
  let at = 0;
  for (const m of message.matchAll(/\{(\d+)\}/g)) {
    const item = items[Number(m[1])];
    if (item === undefined) continue;
    if (m.index > at) out.push(message.slice(at, m.index));
    out.push(item);
    at = m.index + m[0].length;
  }
  if (at < message.length) out.push(message.slice(at));
  return out;
}

/** The strings to use from now on; undefined: English. Components read them at render time. */
export function setBundle(next: Readonly<Record<string, string>> | undefined): void {
  bundle = next;
}

/** The bundle a page carries (`<div id="root" data-l10n="{…}">`); a missing or malformed one is English. */
export function readBundle(element: Element | null): Record<string, string> | undefined {
  const raw = element?.getAttribute('data-l10n');
  if (!raw) return undefined;
  try {
    const parsed = JSON.parse(raw) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(parsed)) if (typeof value === 'string') out[key] = value;
    return out;
  } catch {
    return undefined;
  }
}
