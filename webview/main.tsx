/** Webview entry: registers the few @vscode-elements components we use, takes the host's strings and mounts the app. */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-icon/index.js';
import '@vscode-elements/elements/dist/vscode-progress-ring/index.js';
import { render } from 'preact';
import { App } from './components/app';
import { createVsCodeHostApi, HostContext } from './hostApi';
import { readBundle, setBundle } from './l10n';

const root = document.getElementById('root');
if (root) {
  setBundle(readBundle(root));
  render(
    <HostContext.Provider value={createVsCodeHostApi()}>
      <App />
    </HostContext.Provider>,
    root,
  );
}
