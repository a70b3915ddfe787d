/** Select Model's picker: router models with state, modalities and Load / Unload; a plain server's /v1/models. */
import { fakeVscode } from '../security/fakeVscode';
import * as assert from 'node:assert/strict';
import type { ModelInfo, RouterModel, ServerProps } from '../../../src/core/server/client';
import { LOAD_TOOLTIP, UNLOAD_TOOLTIP, pickModel } from '../../../src/vscode/modelPicker';
import type { Notifier } from '../../../src/vscode/notifications';
import { RecordingLogger } from '../../support/recordingLogger';

interface Item {
  label: string;
  description?: string;
  detail?: string;
  buttons?: { tooltip?: string }[];
  model: string;
}

/** A quick pick a test can look at and click. */
class FakeQuickPick {
  items: Item[] = [];
  selectedItems: Item[] = [];
  busy = false;
  title = '';
  placeholder = '';
  matchOnDetail = false;
  private accept: (() => void)[] = [];
  private hides: (() => void)[] = [];
  private button: ((e: { item: Item; button: { tooltip?: string } }) => void)[] = [];
  onDidAccept(fn: () => void): void {
    this.accept.push(fn);
  }
  onDidHide(fn: () => void): void {
    this.hides.push(fn);
  }
  onDidTriggerItemButton(fn: (e: { item: Item; button: { tooltip?: string } }) => void): void {
    this.button.push(fn);
  }
  show(): void {}
  dispose(): void {}
  hideNow(): void {
    for (const f of this.hides) f();
  }
  pick(label: string): void {
    this.selectedItems = this.items.filter((i) => i.label === label);
    for (const f of this.accept) f();
  }
  press(label: string, tooltip: string): void {
    const item = this.items.find((i) => i.label === label)!;
    const button = item.buttons!.find((b) => b.tooltip === tooltip)!;
    for (const f of this.button) f({ item, button });
  }
  /** What the picker calls after a pick. */
  hide(): void {
    this.hideNow();
  }
}

let last: FakeQuickPick;
fakeVscode.window.createQuickPick = () => {
  last = new FakeQuickPick();
  return last;
};

const settle = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));
const notifier = { error: () => Promise.resolve(undefined) } as unknown as Notifier;

function routerClient() {
  const models: RouterModel[] = [
    { id: 'qwen', state: 'loaded', inputModalities: ['text', 'image'] },
    { id: 'coder', state: 'unloaded', inputModalities: ['text'] },
  ];
  const calls: string[] = [];
  return {
    calls,
    client: {
      listRouterModels: () => Promise.resolve(structuredClone(models)),
      listModels: (): Promise<ModelInfo[]> => Promise.resolve([]),
      loadModel: (id: string) => {
        calls.push(`load ${id}`);
        models.find((m) => m.id === id)!.state = 'loaded';
        return Promise.resolve();
      },
      unloadModel: (id: string) => {
        calls.push(`unload ${id}`);
        models.find((m) => m.id === id)!.state = 'unloaded';
        return Promise.resolve();
      },
      getProps: (_s?: AbortSignal, model?: string): Promise<ServerProps> => {
        calls.push(`props ${model}`);
        return Promise.resolve({ nCtx: model === 'qwen' ? 8192 : 4096 });
      },
    },
  };
}

describe('pickModel', () => {
  it('router: models with state, modalities and n_ctx (loaded ones only), Load / Unload refresh the list, the pick is returned', async () => {
    const { client, calls } = routerClient();
    const picked = pickModel({ client, current: 'qwen', logger: new RecordingLogger(), notifier });
    await settle();
    const qwen = last.items.find((i) => i.label === 'qwen')!;
    assert.match(qwen.detail ?? '', /loaded · text, image · context 8,192/);
    assert.equal(qwen.description, '(current)');
    assert.deepEqual(qwen.buttons?.map((b) => b.tooltip), [UNLOAD_TOOLTIP]);
    const coder = last.items.find((i) => i.label === 'coder')!;
    assert.match(coder.detail ?? '', /^unloaded · text$/);
    assert.deepEqual(coder.buttons?.map((b) => b.tooltip), [LOAD_TOOLTIP]);
    assert.ok(!calls.includes('props coder'), 'no /props?model= for an unloaded model (it would load it)');

    last.press('coder', LOAD_TOOLTIP);
    await settle(50);
    assert.ok(calls.includes('load coder'));
    assert.match(last.items.find((i) => i.label === 'coder')!.detail ?? '', /^loaded · text · context 4,096$/);
    last.press('qwen', UNLOAD_TOOLTIP);
    await settle(50);
    assert.ok(calls.includes('unload qwen'));
    assert.match(last.items.find((i) => i.label === 'qwen')!.detail ?? '', /^unloaded/);

    last.pick('coder');
    assert.equal(await picked, 'coder');
  });

  it('plain server: Server default and /v1/models, as the setting picker always showed', async () => {
    const client = {
      listRouterModels: () => Promise.resolve(undefined),
      listModels: (): Promise<ModelInfo[]> => Promise.resolve([{ id: 'tiny', nCtx: 2048 }]),
      getProps: (): Promise<ServerProps> => Promise.resolve({ nCtx: 2048 }),
    };
    const picked = pickModel({ client, current: undefined, logger: new RecordingLogger(), notifier });
    await settle();
    assert.deepEqual(last.items.map((i) => i.label), ['Server default', 'tiny']);
    assert.equal(last.items[0].description, '(current)');
    last.pick('Server default');
    assert.equal(await picked, '');
  });

  it('closing the picker returns nothing', async () => {
    const { client } = routerClient();
    const picked = pickModel({ client, current: undefined, logger: new RecordingLogger(), notifier });
    await settle();
    last.hideNow();
    assert.equal(await picked, undefined);
  });
});
