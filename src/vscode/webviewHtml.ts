/** The chat webview's HTML and link policy. No vscode import, so plain-Node tests check the CSP. */

/**
 * The webview page: a strict CSP (nothing by default; the one page script only with this load's nonce, the chunks it
 * imports on demand, styles, fonts and images only from the extension's own files; never inline or eval), the codicon
 * sheet under the id <vscode-icon> looks for, and one module script.
 */
export function renderHtml(options: { cspSource: string; nonce: string; scriptUri: string; styleUri: string; codiconUri: string }): string {
  const { cspSource, nonce } = options;
  const csp = [
    "default-src 'none'",
    `img-src ${cspSource} data:`,
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `script-src 'nonce-${nonce}' ${cspSource}`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="UTF-8">
  <meta http-equiv="Content-Security-Policy" content="${csp}">
  <meta name="viewport" content="width=device-width, initial-scale=1.0">
  <link rel="stylesheet" id="vscode-codicon-stylesheet" href="${options.codiconUri}">
  <link rel="stylesheet" href="${options.styleUri}">
  <title>Llama Chat</title>
</head>
<body>
  <div id="root"></div>
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
