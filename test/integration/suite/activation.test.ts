import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { activateExtension, waitFor } from './support';

interface Manifest {
  contributes: {
    commands: { command: string; title: string; category?: string }[];
    configuration: { properties: Record<string, { default?: unknown }> };
    viewsContainers: { activitybar: { id: string; title: string }[] };
    views: Record<string, { id: string; type?: string }[]>;
  };
}

describe('activation', () => {
  it('activates and registers every contributed command', async () => {
    const { extension } = await activateExtension();
    assert.equal(extension.isActive, true);
    const manifest = JSON.parse(fs.readFileSync(path.join(extension.extensionPath, 'package.json'), 'utf8')) as Manifest;
    const contributed = manifest.contributes.commands.map((c) => c.command);
    assert.ok(contributed.length >= 16, `only ${contributed.length} commands contributed`);
    const registered = new Set(await vscode.commands.getCommands(true));
    const missing = contributed.filter((c) => !registered.has(c));
    assert.deepEqual(missing, [], `contributed but not registered: ${missing.join(', ')}`);
    // The manifest's strings are %keys% into package.nls.json (English; VS Code substitutes the user's language).
    const nls = JSON.parse(fs.readFileSync(path.join(extension.extensionPath, 'package.nls.json'), 'utf8')) as Record<string, string>;
    const text = (value: string | undefined): string | undefined => value?.replace(/^%(.+)%$/, (whole, key: string) => nls[key] ?? whole);
    for (const c of manifest.contributes.commands) assert.equal(text(c.category), 'Llama Chat', `${c.command} has no category`);
  });

  it('contributes the Llama Chat container with the chat webview', async () => {
    const { extension } = await activateExtension();
    const m = extension.packageJSON as Manifest;
    assert.deepEqual(
      m.contributes.viewsContainers.activitybar.map((c) => [c.id, c.title]),
      [['llamaChat', 'Llama Chat']],
    );
    assert.deepEqual(
      m.contributes.views.llamaChat?.map((v) => [v.id, v.type]),
      [['llamaChat.chatView', 'webview']],
    );
    assert.equal(m.contributes.configuration.properties['llamaChat.staleSeconds']?.default, 60);
    assert.equal(m.contributes.configuration.properties['llamaChat.serverUrl']?.default, 'http://127.0.0.1:8080');
  });

  it('opens the chat view, which completes the ready handshake and gets its snapshot', async () => {
    const { api } = await activateExtension();
    await vscode.commands.executeCommand('llamaChat.focus');
    await waitFor('the chat view to be live', () => api.viewIsLive(), 30_000);
  });

  it('sets the context keys used by when clauses', async () => {
    const { api } = await activateExtension();
    const keys = api.contextKeys();
    assert.equal(keys['llamaChat.streaming'], false);
    assert.equal(keys['llamaChat.stale'], false);
  });

  it('new chat, export and delete work from commands', async () => {
    const { api } = await activateExtension();
    await vscode.commands.executeCommand('llamaChat.newChat');
    const chatId = await waitFor('a new active chat', () => api.activeChatId());
    assert.ok(api.repository.listChats().some((c) => c.id === chatId));
    assert.equal(api.contextKeys()['llamaChat.hasActiveChat'], true);

    // Export writes the Markdown where the save dialog points (a target Uri stands in for the dialog here).
    const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
    assert.ok(folder, 'the test workspace has a folder');
    const target = vscode.Uri.joinPath(folder, `export-${Date.now()}.md`);
    await vscode.commands.executeCommand('llamaChat.exportChat', chatId, target);
    const saved = new TextDecoder().decode(await vscode.workspace.fs.readFile(target));
    assert.match(saved, /^# New chat/);
    const doc = await waitFor('the exported file in an editor', () => {
      const d = vscode.window.activeTextEditor?.document;
      return d && d.uri.toString() === target.toString() ? d : undefined;
    });
    assert.equal(doc.isUntitled, false);
    await vscode.commands.executeCommand('workbench.action.closeActiveEditor');
    await vscode.workspace.fs.delete(target);

    // Delete removes the chat at once and offers Undo, which brings it back.
    const seen = api.notifications().length;
    await vscode.commands.executeCommand('llamaChat.deleteChat');
    assert.ok(!api.repository.listChats().some((c) => c.id === chatId), 'the chat is gone');
    const toast = await waitFor('the Undo notification', () => api.notifications().slice(seen).find((n) => n.items.includes('Undo')));
    assert.match(toast.message, /deleted the chat “New chat”/);
    const before = api.repository.listChats().length;
    toast.choose('Undo');
    await waitFor('the chat back', () => (api.repository.listChats().length === before + 1 ? true : undefined));
    const back = api.repository.listChats()[0];
    assert.equal(back.title, 'New chat');
    await waitFor('the restored chat in view', () => (api.activeChatId() === back.id ? true : undefined));
  });
});
