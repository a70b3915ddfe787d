/**
 * The model picker: on a router-mode llama-server (`--models-dir`) every model with its state, input modalities and
 * n_ctx, with Load / Unload buttons; on a plain server the /v1/models list plus "Server default". Resolves to the
 * picked model id ('' for the server default), or undefined when dismissed. The caller stores it as the chat's model.
 */
import * as vscode from 'vscode';
import type { ModelInfo, RouterModel, ServerProps } from '../core/server/client';
import { errorText } from '../core/base/errors';
import type { Logger } from '../core/base/logger';
import { formatInt } from '../core/base/format';

export interface ModelPickerClient {
  listRouterModels?(signal?: AbortSignal): Promise<RouterModel[] | undefined>;
  listModels(): Promise<ModelInfo[]>;
  loadModel?(id: string, signal?: AbortSignal): Promise<void>;
  unloadModel?(id: string, signal?: AbortSignal): Promise<void>;
  getProps(signal?: AbortSignal, model?: string): Promise<ServerProps>;
}

export interface ModelPickerDeps {
  client: ModelPickerClient;
  current: string | undefined;
  logger: Logger;
  notifier: { error(message: string, ...actions: string[]): Thenable<string | undefined> | Promise<string | undefined> };
}

type Item = vscode.QuickPickItem & { model: string };

/** The buttons' tooltips in English (shown translated). */
export const LOAD_TOOLTIP = 'Load';
export const UNLOAD_TOOLTIP = 'Unload';
const loadButton = (): vscode.QuickInputButton => ({ iconPath: new vscode.ThemeIcon('cloud-download'), tooltip: vscode.l10n.t('Load') });
const unloadButton = (): vscode.QuickInputButton => ({ iconPath: new vscode.ThemeIcon('debug-stop'), tooltip: vscode.l10n.t('Unload') });
/** How long Load waits for `loaded` while refreshing the list. */
const LOAD_WAIT_MS = 120_000;
const POLL_MS = 500;

function describePlain(m: ModelInfo): string {
  return [
    m.nCtx ? vscode.l10n.t('context {0}', formatInt(m.nCtx)) : undefined,
    m.nParams ? vscode.l10n.t('{0}M params', formatInt(m.nParams / 1e6)) : undefined,
    m.size ? vscode.l10n.t('{0} MB', formatInt(m.size / 1e6)) : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
}

function stateName(state: RouterModel['state']): string {
  switch (state) {
    case 'loaded':
      return vscode.l10n.t('loaded');
    case 'loading':
      return vscode.l10n.t('loading');
    case 'unloaded':
      return vscode.l10n.t('unloaded');
    case 'sleeping':
      return vscode.l10n.t('sleeping');
    default:
      return state;
  }
}

/** The item of one router model: state, input modalities and n_ctx when known. */
export function routerItem(m: RouterModel, current: string | undefined, nCtx: number | undefined): Item {
  const detail = [
    stateName(m.state),
    m.inputModalities.length > 0 ? m.inputModalities.join(', ') : undefined,
    nCtx ? vscode.l10n.t('context {0}', formatInt(nCtx)) : undefined,
  ]
    .filter(Boolean)
    .join(' · ');
  const buttons: vscode.QuickInputButton[] = [];
  if (m.state === 'unloaded' || m.state === 'sleeping') buttons.push(loadButton());
  if (m.state === 'loaded' || m.state === 'loading' || m.state === 'sleeping') buttons.push(unloadButton());
  return { label: m.id, description: m.id === current ? vscode.l10n.t('(current)') : undefined, detail, buttons, model: m.id };
}

export async function pickModel(deps: ModelPickerDeps): Promise<string | undefined> {
  const { client, logger } = deps;
  const current = deps.current ?? '';
  const fail = async (what: string, err: unknown): Promise<void> => {
    const message = vscode.l10n.t('Llama Chat: {0}: {1}', what, errorText(err));
    logger.warn(message);
    await deps.notifier.error(message);
  };

  let router: RouterModel[] | undefined;
  let plain: ModelInfo[] = [];
  try {
    router = client.listRouterModels ? await client.listRouterModels() : undefined;
    if (router === undefined) plain = await client.listModels();
  } catch (err) {
    await fail(vscode.l10n.t("could not list the server's models"), err);
    return undefined;
  }

  const qp = vscode.window.createQuickPick<Item>();
  qp.title = vscode.l10n.t('Select Model');
  qp.placeholder = router ? vscode.l10n.t('Model for this chat (Load / Unload with the buttons)') : vscode.l10n.t('Model for new answers (llamaChat.model)');
  qp.matchOnDetail = true;
  const nCtx = new Map<string, number>();

  const render = (): void => {
    if (router) {
      qp.items = router.map((m) => routerItem(m, current, nCtx.get(m.id)));
    } else {
      qp.items = [
        {
          label: vscode.l10n.t('Server default'),
          description: current === '' ? vscode.l10n.t('(current)') : undefined,
          detail: vscode.l10n.t('Send no model name: the server uses its loaded model'),
          model: '',
        },
        ...plain.map((m) => ({
          label: m.id,
          description: m.id === current ? vscode.l10n.t('(current)') : undefined,
          detail: describePlain(m) || undefined,
          model: m.id,
        })),
      ];
    }
  };
  /** n_ctx of loaded models only: /props?model=ID would load an unloaded one. */
  const fillContext = async (): Promise<void> => {
    if (!router) return;
    for (const m of router) {
      if (m.state !== 'loaded' || nCtx.has(m.id)) continue;
      try {
        const props = await client.getProps(undefined, m.id);
        if (props.nCtx > 0) nCtx.set(m.id, props.nCtx);
      } catch (err) {
        logger.debug(`Model picker: no n_ctx for ${m.id}: ${errorText(err)}`);
      }
    }
    render();
  };
  const refresh = async (): Promise<void> => {
    if (!client.listRouterModels) return;
    router = (await client.listRouterModels()) ?? router;
    render();
  };

  let closed = false;
  const act = async (item: Item, button: vscode.QuickInputButton): Promise<void> => {
    const load = button.tooltip === vscode.l10n.t('Load');
    const call = load ? client.loadModel?.bind(client) : client.unloadModel?.bind(client);
    if (!call) return;
    qp.busy = true;
    try {
      await call(item.model);
      await refresh();
      if (load) {
        const until = Date.now() + LOAD_WAIT_MS;
        while (!closed && Date.now() < until && router?.find((m) => m.id === item.model)?.state === 'loading') {
          await new Promise((resolve) => setTimeout(resolve, POLL_MS));
          await refresh();
        }
      } else nCtx.delete(item.model);
      await fillContext();
    } catch (err) {
      await fail(load ? vscode.l10n.t('could not load {0}', item.model) : vscode.l10n.t('could not unload {0}', item.model), err);
    } finally {
      qp.busy = false;
    }
  };

  render();
  return new Promise<string | undefined>((resolve) => {
    let result: string | undefined;
    qp.onDidTriggerItemButton((e) => void act(e.item, e.button));
    qp.onDidAccept(() => {
      result = qp.selectedItems[0]?.model;
      if (result !== undefined) qp.hide();
    });
    qp.onDidHide(() => {
      closed = true;
      qp.dispose();
      resolve(result);
    });
    qp.show();
    void fillContext();
  });
}
