/**
 * A jsdom window installed as the global DOM for webview component tests (one per process, reused), plus a
 * fake HostApi that records what components post.
 */
import { JSDOM } from 'jsdom';
import { h, render } from 'preact';
import type { ComponentChild } from 'preact';
import { act } from 'preact/test-utils';
import type { FromWebviewMessage } from '../../../src/protocol';
import type { Clock } from '../../../webview/clock';
import { HostContext } from '../../../webview/hostApi';
import type { HostApi, PersistedViewState } from '../../../webview/hostApi';

let jsdom: JSDOM | undefined;

const GLOBALS = [
  'window', 'document', 'navigator', 'Node', 'Element', 'HTMLElement', 'HTMLInputElement', 'HTMLTextAreaElement',
  'HTMLButtonElement', 'HTMLAnchorElement', 'SVGElement', 'Text', 'DocumentFragment', 'Event', 'KeyboardEvent',
  'MouseEvent', 'FocusEvent', 'InputEvent', 'CustomEvent', 'MessageEvent', 'MutationObserver', 'getComputedStyle',
  'requestAnimationFrame', 'cancelAnimationFrame', 'FileReader', 'File', 'Blob',
] as const;

let saved: Map<string, PropertyDescriptor | undefined> | undefined;

/**
 * Installs the jsdom window's globals (idempotent). Call `uninstallDom` when a suite ends: other test files in
 * the same mocha process must see plain Node globals again.
 */
export function installDom(): Window {
  jsdom ??= new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true, url: 'https://webview.test/' });
  if (!saved) {
    saved = new Map();
    const win = jsdom.window as unknown as Record<string, unknown>;
    for (const key of GLOBALS) {
      saved.set(key, Object.getOwnPropertyDescriptor(globalThis, key));
      const value = key === 'window' ? jsdom.window : win[key];
      Object.defineProperty(globalThis, key, {
        configurable: true,
        writable: true,
        value: typeof value === 'function' && /^[a-z]/.test(key) ? (value as (...a: unknown[]) => unknown).bind(jsdom.window) : value,
      });
    }
  }
  return jsdom.window as unknown as Window;
}

export function uninstallDom(): void {
  if (!saved) return;
  for (const [key, descriptor] of saved) {
    if (descriptor) Object.defineProperty(globalThis, key, descriptor);
    else delete (globalThis as Record<string, unknown>)[key];
  }
  saved = undefined;
}

/** Installs the DOM for the enclosing `describe` and removes it afterwards. */
export function useDom(): void {
  before(() => {
    installDom();
  });
  afterEach(() => {
    while (live.length) live.pop()!.unmount();
  });
  after(uninstallDom);
}

export class FakeHost implements HostApi {
  readonly posted: FromWebviewMessage[] = [];
  state: PersistedViewState | undefined;

  post(message: FromWebviewMessage): void {
    this.posted.push(message);
  }
  getState(): PersistedViewState | undefined {
    return this.state;
  }
  setState(state: PersistedViewState): void {
    this.state = state;
  }
  ofType<T extends FromWebviewMessage['type']>(type: T): Extract<FromWebviewMessage, { type: T }>[] {
    return this.posted.filter((m): m is Extract<FromWebviewMessage, { type: T }> => m.type === type);
  }
}

export interface Mounted {
  container: HTMLElement;
  host: FakeHost;
  rerender(vnode: ComponentChild): void;
  unmount(): void;
}

const live: Mounted[] = [];

/** Renders `vnode` inside a HostContext with a fake host, flushing effects. Unmounted after each test. */
export function mount(vnode: ComponentChild, host = new FakeHost()): Mounted {
  installDom();
  const container = document.createElement('div');
  document.body.appendChild(container);
  const draw = (v: ComponentChild): void => {
    void act(() => {
      render(h(HostContext.Provider, { value: host }, v), container);
    });
  };
  draw(vnode);
  const mounted: Mounted = {
    container,
    host,
    rerender: draw,
    unmount: () => {
      void act(() => render(null, container));
      container.remove();
    },
  };
  live.push(mounted);
  return mounted;
}

export function click(el: Element | null | undefined): void {
  if (!el) throw new Error('click: element not found');
  void act(() => {
    el.dispatchEvent(new MouseEvent('click', { bubbles: true, cancelable: true }));
  });
}

export function key(el: Element | null | undefined, init: KeyboardEventInit): KeyboardEvent {
  if (!el) throw new Error('key: element not found');
  const ev = new KeyboardEvent('keydown', { bubbles: true, cancelable: true, ...init });
  void act(() => {
    el.dispatchEvent(ev);
  });
  return ev;
}

export function typeInto(el: HTMLTextAreaElement | HTMLInputElement, value: string): void {
  void act(() => {
    el.value = value;
    el.dispatchEvent(new Event('input', { bubbles: true }));
  });
}

/** The element among `root`'s descendants matching `selector` whose text is `text`. */
export function byText(root: ParentNode, selector: string, text: string): HTMLElement | undefined {
  return Array.from(root.querySelectorAll<HTMLElement>(selector)).find((el) => el.textContent?.trim() === text);
}

/** Dispatches a paste with a fake clipboard (jsdom has no DataTransfer): `text` and image `files`. */
export function paste(el: Element | null | undefined, text: string, files: File[] = []): Event {
  if (!el) throw new Error('paste: element not found');
  const ev = new Event('paste', { bubbles: true, cancelable: true });
  Object.defineProperty(ev, 'clipboardData', { value: fakeTransfer(text, files) });
  void act(() => {
    el.dispatchEvent(ev);
  });
  return ev;
}

/** Dispatches a drop of `files` (jsdom has no DataTransfer). */
export function drop(el: Element | null | undefined, files: File[]): Event {
  if (!el) throw new Error('drop: element not found');
  const ev = new Event('drop', { bubbles: true, cancelable: true });
  Object.defineProperty(ev, 'dataTransfer', { value: fakeTransfer('', files) });
  void act(() => {
    el.dispatchEvent(ev);
  });
  return ev;
}

function fakeTransfer(text: string, files: File[]): Partial<DataTransfer> {
  return {
    getData: (type: string) => (type === 'text/plain' ? text : ''),
    files: files as unknown as FileList,
    types: files.length ? ['Files'] : ['text/plain'],
  };
}

/** Lets pending promises, FileReader loads and timers run, then flushes Preact. */
export async function settle(ms = 30): Promise<void> {
  await act(async () => {
    await new Promise((resolve) => setTimeout(resolve, ms));
  });
}

/** A clock for ClockContext that moves only when told; `advance` runs the due `every` callbacks inside act(). */
export class FakeClock implements Clock {
  private time = 1_000_000;
  private timers: { ms: number; next: number; fn: () => void }[] = [];

  now(): number {
    return this.time;
  }
  every(ms: number, fn: () => void): () => void {
    const timer = { ms, next: this.time + ms, fn };
    this.timers.push(timer);
    return () => {
      this.timers = this.timers.filter((t) => t !== timer);
    };
  }
  /** How many `every` timers are running. */
  get running(): number {
    return this.timers.length;
  }
  advance(ms: number): void {
    const end = this.time + ms;
    for (;;) {
      const due = this.timers.filter((t) => t.next <= end).sort((a, b) => a.next - b.next)[0];
      if (!due) break;
      this.time = due.next;
      due.next += due.ms;
      void act(() => due.fn());
    }
    this.time = end;
  }
}
