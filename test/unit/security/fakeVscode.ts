/**
 * A minimal stand-in for the `vscode` module, installed into Node's module loader, so host adapters that import
 * `vscode` at run time (the chat view provider) can be tested in plain Node. Import this before those modules.
 * It records what the adapter asks of the editor: commands run, links opened, clipboard writes.
 */
import * as nodeModule from 'node:module';
import { formatMessage } from '../../../src/core/base/l10n';
import type { L10nArg } from '../../../src/core/base/l10n';

export class FakeUri {
  private constructor(
    readonly scheme: string,
    readonly path: string,
  ) {}
  static file(p: string): FakeUri {
    return new FakeUri('file', p);
  }
  static parse(value: string): FakeUri {
    const i = value.indexOf(':');
    return new FakeUri(value.slice(0, i), value.slice(i + 1));
  }
  static joinPath(base: FakeUri, ...parts: string[]): FakeUri {
    return new FakeUri(base.scheme, [base.path.replace(/\/+$/, ''), ...parts].join('/'));
  }
  get fsPath(): string {
    return this.path;
  }
  toString(): string {
    return this.scheme === 'file' ? `file://${this.path}` : `${this.scheme}:${this.path}`;
  }
}

export const editorCalls = {
  commands: [] as { id: string; args: unknown[] }[],
  opened: [] as string[],
  clipboard: [] as string[],
  reset(): void {
    this.commands.length = 0;
    this.opened.length = 0;
    this.clipboard.length = 0;
  },
};

export class FakeThemeIcon {
  constructor(readonly id: string) {}
}

export class FakeThemeColor {
  constructor(readonly id: string) {}
}

export class FakeMarkdownString {
  supportThemeIcons = false;
  constructor(readonly value: string) {}
}

/** A status bar item that remembers what it shows. */
export class FakeStatusBarItem {
  text = '';
  name = '';
  command: string | undefined;
  tooltip: string | FakeMarkdownString | undefined;
  backgroundColor: FakeThemeColor | undefined;
  visible = false;
  constructor(
    readonly id: string,
    readonly alignment: number,
    readonly priority: number,
  ) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.visible = false;
  }
}

export const statusBarItems: FakeStatusBarItem[] = [];

export const fakeVscode = {
  Uri: FakeUri,
  ThemeIcon: FakeThemeIcon,
  ThemeColor: FakeThemeColor,
  MarkdownString: FakeMarkdownString,
  StatusBarAlignment: { Left: 1, Right: 2 },
  commands: {
    executeCommand: (id: string, ...args: unknown[]): Promise<undefined> => {
      editorCalls.commands.push({ id, args });
      return Promise.resolve(undefined);
    },
  },
  env: {
    clipboard: {
      writeText: (text: string): Promise<void> => {
        editorCalls.clipboard.push(text);
        return Promise.resolve();
      },
    },
    openExternal: (uri: FakeUri): Promise<boolean> => {
      editorCalls.opened.push(uri.toString());
      return Promise.resolve(true);
    },
  },
  // English, as vscode.l10n is without a language pack: the message with its {n} filled in.
  l10n: { t: (message: string, ...args: L10nArg[]): string => formatMessage(message, args), bundle: undefined },
  window: {
    activeTextEditor: undefined,
    visibleTextEditors: [],
    createStatusBarItem: (id: string, alignment: number, priority: number): FakeStatusBarItem => {
      const item = new FakeStatusBarItem(id, alignment, priority);
      statusBarItems.push(item);
      return item;
    },
  } as Record<string, unknown>,
  workspace: {},
};

type Loader = (request: string, parent: unknown, isMain: boolean) => unknown;
const mod = (nodeModule as unknown as { default?: unknown }).default ?? nodeModule;
const loader = mod as unknown as { _load: Loader };
const original = loader._load;
loader._load = function load(this: unknown, request: string, parent: unknown, isMain: boolean): unknown {
  if (request === 'vscode') return fakeVscode;
  return original.call(this, request, parent, isMain);
};
