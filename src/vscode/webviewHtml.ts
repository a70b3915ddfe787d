/** The chat webview's HTML and link policy. No vscode import, so plain-Node tests check the CSP. */
import { t } from '../core/base/l10n';

/** The webview's strings: `vscode.l10n.bundle` (undefined in English) and the UI language, set on activation. */
export interface WebviewL10n {
  bundle?: Record<string, string>;
  lang?: string;
}

let activeL10n: WebviewL10n = {};

/** What every page rendered from now on carries (extension.ts: the host's bundle and `vscode.env.language`). */
export function setWebviewL10n(l10n: WebviewL10n): void {
  activeL10n = l10n;
}

/** Text for an HTML attribute value in double quotes. */
function escapeAttribute(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * The webview page: a strict CSP (nothing by default; the one page script only with this load's nonce, the chunks it
 * imports on demand, styles, fonts and images only from the extension's own files; never inline or eval), the codicon
 * sheet under the id <vscode-icon> looks for, and one module script. A translated UI's bundle rides on #root as
 * `data-l10n` (JSON; read by webview/l10n.ts), never as a script.
 */
export function renderHtml(options: {
  cspSource: string;
  nonce: string;
  scriptUri: string;
  styleUri: string;
  codiconUri: string;
  l10n?: WebviewL10n;
}): string {
  const { cspSource, nonce } = options;
  const l10n = options.l10n ?? activeL10n;
  const lang = l10n.lang && /^[A-Za-z0-9-]{1,35}$/.test(l10n.lang) ? l10n.lang : 'en';
  const bundle = l10n.bundle && Object.keys(l10n.bundle).length > 0 ? ` data-l10n="${escapeAttribute(JSON.stringify(l10n.bundle))}"` : '';
  const csp = [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}' ${cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="${lang}">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" id="vscode-codicon-stylesheet" href="${options.codiconUri}">
  <link rel="stylesheet" href="${options.styleUri}">
  <title>${escapeAttribute(t('Llama Chat'))}</title>
</head>
<body>
  <div id="root"${bundle}></div>
  <script type="module" nonce="${nonce}" src="${options.scriptUri}"></script>
</body>
</html>`;
}

/** Only web links leave the editor; everything else (command:, file:, javascript:, vscode:) is refused. */
export function safeExternalUrl(href: string): string | undefined {
  try {
    const u = new URL(href);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u.toString() : undefined;
  } catch {
    return undefined;
  }
}
