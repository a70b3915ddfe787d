import type * as vscode from 'vscode';

export function activate(_context: vscode.ExtensionContext): void {
  // wiring arrives with the VS Code adapters
}

export function deactivate(): void {
  // nothing to release yet
}
