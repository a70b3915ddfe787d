import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { activateExtension } from './support';

describe("VS Code's own chat where the API may be missing", () => {
  it('registers the llama-server provider exactly when this VS Code has the Language Model Chat Provider API', async () => {
    const { api } = await activateExtension();
    const hasApi = typeof vscode.lm.registerLanguageModelChatProvider === 'function';
    assert.equal(api.nativeChatRegistered(), hasApi);
    if (!hasApi) assert.ok(api.recentLogs().some((l) => l.includes('no Language Model Chat Provider API')), 'the log says why');
  });
});
