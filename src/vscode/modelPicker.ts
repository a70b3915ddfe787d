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

export const LOAD_TOOLTIP = 'Load';
export const UNLOAD_TOOLTIP = 'Unload';
const LOAD_BUTTON: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('cloud-download'), tooltip: LOAD_TOOLTIP };
const UNLOAD_BUTTON: vscode.QuickInputButton = { iconPath: new vscode.ThemeIcon('debug-stop'), tooltip: UNLOAD_TOOLTIP };
/** How long Load waits for `loaded` while refreshing the list. */
const LOAD_WAIT_MS = 120_000;
const POLL_MS = 500;

function describePlain(m: ModelInfo): string {
  return [m.nCtx ? `context ${formatInt(m.nCtx)}` : undefined, m.nParams ? `${formatInt(m.nParams / 1e6)}M params` : undefined, m.size ? `${formatInt(m.size / 1e6)} MB` : undefined]
    .filter(Boolean)
    .join(' · ');
}

/** The item of one router model: state, input modalities and n_ctx when known. */
export function routerItem(m: RouterModel, current: string | undefined, nCtx: number | undefined): Item {
  const detail = [m.state, m.inputModalities.length > 0 ? m.inputModalities.join(', ') : undefined, nCtx ? `context ${formatInt(nCtx)}` : undefined]
    .filter(Boolean)
    .join(' · ');
  const buttons: vscode.QuickInputButton[] = [];
  if (m.state === 'unloaded' || m.state === 'sleeping') buttons.push(LOAD_BUTTON);
  if (m.state === 'loaded' || m.state === 'loading' || m.state === 'sleeping') buttons.push(UNLOAD_BUTTON);
  return { label: m.id, description: m.id === current ? '(current)' : undefined, detail, buttons, model: m.id };
}

export async function pickModel(deps: ModelPickerDeps): Promise<string | undefined> {
  const { client, logger } = deps;
  const current = deps.current ?? '';
  const fail = async (what: string, err: unknown): Promise<void> => {
    const message = `Llama Chat: ${what}: ${errorText(err)}`;
    logger.warn(message);
    await deps.notifier.error(message);
  };

  let router: RouterModel[] | undefined;
  let plain: ModelInfo[] = [];
  try {
    router = client.listRouterModels ? await client.listRouterModels() : undefined;
    if (router === undefined) plain = await client.listModels();
  } catch (err) {
    await fail("could not list the server's models", err);
    return undefined;
  }

  const qp = vscode.window.createQuickPick<Item>();
  qp.title = 'Select Model';
  qp.placeholder = router ? 'Model for this chat (Load / Unload with the buttons)' : 'Model for new answers (llamaChat.model)';
  qp.matchOnDetail = true;
  const nCtx = new Map<string, number>();

  const render = (): void => {
    if (router) {
      qp.items = router.map((m) => routerItem(m, current, nCtx.get(m.id)));
    } else {
      qp.items = [
        { label: 'Server default', description: current === '' ? '(current)' : undefined, detail: 'Send no model name: the server uses its loaded model', model: '' },
        ...plain.map((m) => ({ label: m.id, description: m.id === current ? '(current)' : undefined, detail: describePlain(m) || undefined, model: m.id })),
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
    const load = button.tooltip === LOAD_TOOLTIP;
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
      await fail(`could not ${load ? 'load' : 'unload'} ${item.model}`, err);
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
