/**
 * Llama Chat: Start / Stop Local Server. Runs llama-server (src/core/server/localServerProcess.ts) with the
 * `llamaChat.localServer.*` settings, its output in the `llama-server` channel, a cancellable progress
 * notification until /health is ok, a status bar item, and a crash report with Restart.
 */
import * as path from 'node:path';
import * as vscode from 'vscode';
import { describeExit, LocalServerError, resolveBinary, startLocalServer } from '../core/server/localServerProcess';
import type { LocalServerExit, LocalServerProcess } from '../core/server/localServerProcess';
import { errorText } from '../core/base/errors';
import type { Logger } from '../core/base/logger';
import type { Notifier } from './notifications';
import { SECTION } from './settings';

export type LocalServerStateName = 'stopped' | 'starting' | 'running' | 'crashed';

export interface LocalServerState {
  state: LocalServerStateName;
  url?: string;
  pid?: number;
}

export interface LocalServerApi {
  state(): LocalServerState;
  /** Starts the server (or says it runs already); resolves its URL, undefined when it did not start. */
  start(): Promise<string | undefined>;
  stop(): Promise<void>;
}

export interface LocalServerDeps {
  logger: Logger;
  notifier: Notifier;
  onStarted(url: string): void | Promise<void>;
  onStopped(): void;
}

const CRASH_LINES = 5;

interface LocalServerSettings {
  binary: string;
  model: string;
  modelsDir: string;
  args: string[];
  autoStart: boolean;
}

/** The server's last output lines after a crash report, or nothing. */
function lastLines(tail: string): string {
  return tail ? ` ${vscode.l10n.t('Last lines:\n{0}', tail)}` : '';
}

function readLocalSettings(): LocalServerSettings {
  const c = vscode.workspace.getConfiguration(`${SECTION}.localServer`);
  const args = c.get<unknown>('args', []);
  return {
    binary: c.get<string>('binary', '').trim(),
    model: c.get<string>('model', '').trim(),
    modelsDir: c.get<string>('modelsDir', '').trim(),
    args: Array.isArray(args) ? args.filter((a): a is string => typeof a === 'string') : [],
    autoStart: c.get<boolean>('autoStart', false) === true,
  };
}

export function registerLocalServer(context: vscode.ExtensionContext, deps: LocalServerDeps): LocalServerApi {
  const { logger, notifier } = deps;
  const output = vscode.window.createOutputChannel('llama-server');
  const status = vscode.window.createStatusBarItem('llamaChat.localServer', vscode.StatusBarAlignment.Left, 99);
  status.name = vscode.l10n.t('llama-server');
  let proc: LocalServerProcess | undefined;
  let stateName: LocalServerStateName = 'stopped';
  let label = '';
  let starting: Promise<string | undefined> | undefined;
  let disposed = false;

  const render = (): void => {
    if (stateName === 'stopped') {
      status.hide();
      return;
    }
    if (stateName === 'starting') {
      status.text = `$(server) ${vscode.l10n.t('llama-server starting…')}`;
      status.tooltip = vscode.l10n.t('Loading {0}', label);
      status.command = 'workbench.action.output.toggleOutput';
    } else if (stateName === 'running') {
      status.text = `$(server) ${vscode.l10n.t('llama-server :{0}', proc?.port ?? '')}`;
      status.tooltip = vscode.l10n.t('llama-server on {0} with {1}. Click to stop.', proc?.url ?? '', label);
      status.command = 'llamaChat.stopServer';
    } else {
      status.text = `$(error) ${vscode.l10n.t('llama-server crashed')}`;
      status.tooltip = vscode.l10n.t('The local llama-server exited. Click to start it again.');
      status.command = 'llamaChat.startServer';
    }
    status.show();
  };
  const setState = (next: LocalServerStateName): void => {
    stateName = next;
    render();
  };

  const onCrash = (p: LocalServerProcess, exit: LocalServerExit): void => {
    if (proc !== p || disposed) return;
    const wasRunning = stateName === 'running';
    proc = undefined;
    setState('crashed');
    if (!wasRunning) return; // a failed start is reported by start() itself
    deps.onStopped();
    const tail = exit.lastLines.slice(-CRASH_LINES).join('\n');
    logger.error(`llama-server crashed (${describeExit(exit)})`);
    output.appendLine(`[llama-server exited: ${describeExit(exit)}]`);
    const [restart, showOutput] = [vscode.l10n.t('Restart'), vscode.l10n.t('Show Output')];
    void notifier.error(`${vscode.l10n.t('llama-server crashed ({0}).', describeExit(exit))}${lastLines(tail)}`, restart, showOutput).then((choice) => {
      if (choice === restart) void start();
      else if (choice === showOutput) output.show(true);
    });
  };

  const pickModel = async (): Promise<string | undefined> => {
    const picked = await vscode.window.showOpenDialog({
      canSelectFiles: true,
      canSelectFolders: false,
      canSelectMany: false,
      openLabel: vscode.l10n.t('Start llama-server'),
      title: vscode.l10n.t('Choose a GGUF model for llama-server'),
      filters: { [vscode.l10n.t('GGUF models')]: ['gguf'] },
    });
    return picked?.[0]?.fsPath;
  };

  const doStart = async (): Promise<string | undefined> => {
    const settings = readLocalSettings();
    let binary: string;
    try {
      binary = resolveBinary(settings.binary);
    } catch (err) {
      const message = errorText(err);
      logger.error(message);
      void notifier.error(message);
      return undefined;
    }
    let model = settings.modelsDir ? undefined : settings.model || undefined;
    if (!settings.modelsDir && !model) {
      model = await pickModel();
      if (!model) return undefined;
    }
    label = settings.modelsDir ? vscode.l10n.t('models in {0}', path.basename(settings.modelsDir)) : path.basename(model ?? '');
    const p = await startLocalServer({
      binary,
      model,
      modelsDir: settings.modelsDir || undefined,
      args: settings.args,
      onLine: (line) => output.appendLine(line),
      onExit: (exit) => onCrash(p, exit),
    });
    proc = p;
    setState('starting');
    logger.info(`Starting llama-server (pid ${p.pid ?? '?'}) on ${p.url} with ${label}`);
    output.appendLine(`[starting ${path.basename(binary)} on ${p.url} with ${label}]`);
    const ac = new AbortController();
    try {
      await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: vscode.l10n.t('Starting llama-server with {0}', label), cancellable: true },
        async (progress, token) => {
          const sub = token.onCancellationRequested(() => ac.abort());
          try {
            progress.report({ message: vscode.l10n.t('loading the model…') });
            await p.waitReady(ac.signal);
          } finally {
            sub.dispose();
          }
        },
      );
    } catch (err) {
      if (proc === p) proc = undefined;
      if (ac.signal.aborted || disposed) {
        logger.info('Starting llama-server was cancelled');
        if (stateName === 'starting') setState('stopped');
        return undefined;
      }
      setState('crashed');
      const lines = err instanceof LocalServerError ? err.lastLines.slice(-CRASH_LINES).join('\n') : '';
      const message = errorText(err);
      logger.error(message);
      const [restart, showOutput] = [vscode.l10n.t('Restart'), vscode.l10n.t('Show Output')];
      void notifier.error(`${message}.${lastLines(lines)}`, restart, showOutput).then((choice) => {
        if (choice === restart) void start();
        else if (choice === showOutput) output.show(true);
      });
      return undefined;
    }
    if (proc !== p || !p.running) return undefined;
    setState('running');
    logger.info(`llama-server is ready on ${p.url}`);
    try {
      await deps.onStarted(p.url);
    } catch (err) {
      logger.error(`Using the local server failed: ${errorText(err)}`);
    }
    void notifier.info(vscode.l10n.t('llama-server is running on port {0} with {1}', p.port, label));
    return p.url;
  };

  const start = async (): Promise<string | undefined> => {
    if (disposed) return undefined;
    if (starting) return starting;
    if (proc && stateName === 'running') {
      void notifier.info(vscode.l10n.t('llama-server runs already on port {0} with {1}: stop it first to start another', proc.port, label));
      return proc.url;
    }
    starting = doStart().finally(() => (starting = undefined));
    return starting;
  };

  const stop = async (): Promise<void> => {
    const p = proc;
    proc = undefined;
    const wasUp = stateName === 'running' || stateName === 'starting';
    setState('stopped');
    if (!p) return;
    logger.info(`Stopping llama-server (pid ${p.pid ?? '?'})`);
    const exit = await p.stop();
    output.appendLine(`[llama-server stopped: ${describeExit(exit)}]`);
    if (wasUp) deps.onStopped();
  };

  context.subscriptions.push(
    output,
    status,
    vscode.commands.registerCommand('llamaChat.startServer', () => start()),
    vscode.commands.registerCommand('llamaChat.stopServer', async () => {
      if (!proc) {
        if (stateName === 'crashed') setState('stopped');
        void notifier.info(vscode.l10n.t('No local llama-server is running'));
        return;
      }
      await stop();
    }),
    {
      dispose: () => {
        disposed = true;
        const p = proc;
        proc = undefined;
        // Deactivation cannot wait long: SIGTERM the group now, SIGKILL after the grace.
        if (p) void p.stop();
      },
    },
  );

  if (readLocalSettings().autoStart) void start();

  return {
    state: () => ({ state: stateName, url: stateName === 'running' ? proc?.url : undefined, pid: proc?.pid }),
    start,
    stop,
  };
}
