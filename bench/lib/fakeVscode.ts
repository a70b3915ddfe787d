/**
 * A minimal stand-in for the `vscode` module, enough for activate() to run in plain Node: real objects where the
 * extension reads values (configuration defaults, URIs, secrets, mementos, events), and an inert "anything" for
 * the rest (status bar items, output channels, registrations).
 */
import { formatMessage } from '../../src/core/base/l10n';
import type { L10nArg } from '../../src/core/base/l10n';
import * as path from 'node:path';

type Listener = (value: unknown) => void;

/** Callable, constructible, every property another inert value; never a thenable. */
function inert(): unknown {
  const target = function () {
    return undefined;
  };
  const handler: ProxyHandler<typeof target> = {
    get: (_t, key) => {
      if (key === 'then') return undefined;
      if (key === Symbol.toPrimitive) return () => '';
      if (key === 'dispose') return () => undefined;
      return proxy;
    },
    set: () => true,
    apply: () => proxy,
    construct: () => proxy as object,
  };
  const proxy: unknown = new Proxy(target, handler);
  return proxy;
}

class EventEmitter<T> {
  private listeners = new Set<Listener>();
  readonly event = (listener: (value: T) => void): { dispose(): void } => {
    this.listeners.add(listener as Listener);
    return { dispose: () => this.listeners.delete(listener as Listener) };
  };
  fire(value: T): void {
    for (const l of [...this.listeners]) l(value);
  }
  dispose(): void {
    this.listeners.clear();
  }
}

class Disposable {
  constructor(private readonly fn: () => void) {}
  static from(...items: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => items.forEach((i) => i.dispose()));
  }
  dispose(): void {
    this.fn();
  }
}

interface FakeUri {
  scheme: string;
  fsPath: string;
  path: string;
  toString(): string;
  with(change: { scheme?: string; path?: string }): FakeUri;
}

function fileUri(fsPath: string): FakeUri {
  return {
    scheme: 'file',
    fsPath,
    path: fsPath,
    toString: () => `file://${fsPath}`,
    with: (change) => fileUri(change.path ?? fsPath),
  };
}

const noEvent = (): { dispose(): void } => ({ dispose: () => undefined });

function memento(): { get<T>(key: string, def?: T): T | undefined; update(key: string, value: unknown): Promise<void>; keys(): string[] } {
  const values = new Map<string, unknown>();
  return {
    get: <T>(key: string, def?: T) => (values.has(key) ? (values.get(key) as T) : def),
    update: (key, value) => {
      values.set(key, value);
      return Promise.resolve();
    },
    keys: () => [...values.keys()],
  };
}

/** The fake module; `settings` overrides configuration values (everything else returns the caller's default). */
export function createFakeVscode(settings: Record<string, unknown>): Record<string, unknown> {
  const anything = inert() as Record<string, unknown>;
  const outputChannel = (): unknown => {
    const channel = inert() as Record<string, unknown>;
    return new Proxy(channel, {
      get: (t, key) => (key === 'onDidChangeLogLevel' ? noEvent : key === 'logLevel' ? 2 : t[key as string]),
    });
  };
  return {
    EventEmitter,
    Disposable,
    Uri: {
      file: fileUri,
      parse: (value: string) => fileUri(value.replace(/^file:\/\//, '')),
      joinPath: (base: FakeUri, ...parts: string[]) => fileUri(path.join(base.fsPath, ...parts)),
    },
    ConfigurationTarget: { Global: 1, Workspace: 2, WorkspaceFolder: 3 },
    ExtensionMode: { Production: 1, Development: 2, Test: 3 },
    StatusBarAlignment: { Left: 1, Right: 2 },
    ProgressLocation: { SourceControl: 1, Window: 10, Notification: 15 },
    ViewColumn: { Active: -1, One: 1 },
    ThemeColor: class {
      constructor(readonly id: string) {}
    },
    MarkdownString: class {
      isTrusted = false;
      supportThemeIcons = false;
      constructor(public value = '') {}
      appendMarkdown(text: string): this {
        this.value += text;
        return this;
      }
    },
    window: new Proxy(anything, {
      get: (t, key) => {
        if (key === 'createOutputChannel') return outputChannel;
        if (key === 'activeTextEditor') return undefined;
        if (key === 'visibleTextEditors') return [];
        if (typeof key === 'string' && key.startsWith('onDid')) return noEvent;
        return t[key as string];
      },
    }),
    workspace: new Proxy(anything, {
      get: (t, key) => {
        if (key === 'getConfiguration') {
          return (section: string) => ({
            get: (k: string, def?: unknown) => settings[`${section}.${k}`] ?? def,
            has: () => false,
            inspect: () => undefined,
            update: () => Promise.resolve(),
          });
        }
        if (key === 'textDocuments' || key === 'workspaceFolders') return [];
        if (typeof key === 'string' && key.startsWith('onDid')) return noEvent;
        return t[key as string];
      },
    }),
    commands: {
      registerCommand: () => ({ dispose: () => undefined }),
      executeCommand: () => Promise.resolve(undefined),
    },
    env: anything,
    // English, as vscode.l10n is without a language pack.
    l10n: { t: (message: string, ...args: L10nArg[]): string => formatMessage(message, args), bundle: undefined },
  };
}

/** An ExtensionContext with real storage paths. */
export function createFakeContext(extensionDir: string, storageDir: string): Record<string, unknown> {
  const secrets = new Map<string, string>();
  const onSecrets = new EventEmitter<{ key: string }>();
  return {
    subscriptions: [] as { dispose(): unknown }[],
    extensionUri: fileUri(extensionDir),
    extensionPath: extensionDir,
    storageUri: fileUri(storageDir),
    globalStorageUri: fileUri(path.join(storageDir, 'global')),
    logUri: fileUri(path.join(storageDir, 'logs')),
    workspaceState: memento(),
    globalState: { ...memento(), setKeysForSync: () => undefined },
    secrets: {
      get: (key: string) => Promise.resolve(secrets.get(key)),
      store: (key: string, value: string) => {
        secrets.set(key, value);
        onSecrets.fire({ key });
        return Promise.resolve();
      },
      delete: (key: string) => {
        secrets.delete(key);
        onSecrets.fire({ key });
        return Promise.resolve();
      },
      onDidChange: onSecrets.event,
    },
    extensionMode: 1,
  };
}
