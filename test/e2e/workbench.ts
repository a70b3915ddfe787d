/**
 * What a user sees and does in the workbench, as Playwright locators: the chat webview (two iframes deep, in an
 * overlay at the workbench root, not inside the sidebar), the command palette, notifications and the status bar.
 */
import type { BrowserContext, FrameLocator, Locator, Page } from 'playwright-core';

export const EXTENSION_ID = 'llama-server-chat.llama-server-chat';

export class Workbench {
  constructor(
    readonly page: Page,
    readonly context: BrowserContext,
    readonly folder: string,
  ) {}

  /** The chat view's content frame. */
  chat(): FrameLocator {
    return this.page
      .frameLocator(`iframe.webview.ready[src*="extensionId=${EXTENSION_ID}"]`)
      .frameLocator('iframe#active-frame');
  }

  async waitForWorkbench(timeoutMs = 60_000): Promise<void> {
    await this.page.locator('.monaco-workbench .part.statusbar').waitFor({ timeout: timeoutMs });
  }

  /**
   * F1, type the command's title, Enter: exactly what a user does. Commands contributed by an extension show up
   * once the extension host has registered them, so a palette opened too early is closed and opened again.
   */
  async runCommand(title: string, timeoutMs = 30_000): Promise<void> {
    const input = this.page.locator('.quick-input-widget input');
    const match = this.page.locator('.quick-input-widget .monaco-list-row').first().filter({ hasText: title });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        // The palette can close again right after opening when an editor takes the focus: retry the whole step.
        await this.page.keyboard.press('F1');
        await input.waitFor({ state: 'visible', timeout: 5000 });
        await input.fill(`>${title}`, { timeout: 5000 });
        await match.waitFor({ timeout: 3000 });
        await input.press('Enter', { timeout: 5000 });
        return;
      } catch (err) {
        await this.page.keyboard.press('Escape');
        if (Date.now() > deadline) throw new Error(`command "${title}" not run within ${timeoutMs} ms`, { cause: err });
        await this.page.waitForTimeout(500);
      }
    }
  }

  async openChatView(): Promise<void> {
    await this.runCommand('Llama Chat: Open Chat');
    await this.composer().waitFor({ timeout: 30_000 });
  }

  composer(): Locator {
    return this.chat().getByRole('textbox', { name: 'Message' });
  }

  async send(prompt: string): Promise<void> {
    const box = this.composer();
    await box.click();
    await box.fill(prompt);
    await box.press('Enter');
  }

  stopButton(): Locator {
    return this.chat().locator('vscode-button[aria-label^="Stop generating"]');
  }

  sendButton(): Locator {
    return this.chat().locator('vscode-button[aria-label^="Send"]');
  }

  userMessages(): Locator {
    return this.chat().locator('.message.message-user');
  }

  messages(): Locator {
    return this.chat().getByRole('log', { name: 'Messages' });
  }

  assistantMessages(): Locator {
    return this.chat().locator('.message.message-assistant');
  }

  lastAssistant(): Locator {
    return this.assistantMessages().last();
  }

  /** Assistant messages in a status: streaming, complete, stopped, failed, interrupted. */
  assistantIn(status: string): Locator {
    return this.chat().locator(`.message.message-assistant.is-${status}`);
  }

  /** The answer's Markdown text only (no status line, footer or buttons). */
  async answerText(message: Locator = this.lastAssistant()): Promise<string> {
    const md = message.locator('.markdown');
    return (await md.count()) ? (await md.first().innerText()).trim() : '';
  }

  /** The extension's status bar entry (id `<extension id>.llamaChat.status`). */
  statusItem(): Locator {
    return this.page.locator('.part.statusbar [id$="llamaChat.status"]');
  }

  async statusText(): Promise<string> {
    // The item comes and goes while we read it: a missing or detached item reads as empty.
    const item = this.statusItem().first();
    if (!(await item.isVisible().catch(() => false))) return '';
    return (await item.innerText({ timeout: 1000 }).catch(() => '')).trim();
  }

  /** Opens a workspace file with Quick Open (Ctrl+P) and waits for its editor. */
  async openFile(name: string): Promise<void> {
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 10_000 });
    await input.fill(name);
    await this.page.locator('.quick-input-widget .monaco-list-row').first().filter({ hasText: name }).waitFor({ timeout: 10_000 });
    await input.press('Enter');
    await this.page.locator('.editor-group-container .monaco-editor').first().waitFor({ timeout: 10_000 });
  }

  notification(text: string | RegExp): Locator {
    return this.page.locator('.notifications-toasts .notification-toast', { hasText: text });
  }

  notificationButton(toast: Locator, label: string): Locator {
    return toast.locator('.monaco-button', { hasText: label });
  }

  async screenshot(file: string): Promise<void> {
    await this.page.screenshot({ path: file, timeout: 10_000 }).catch(() => undefined);
  }
}

/** Polls `read` until `accept` holds; returns the value that matched, or throws with the last one seen. */
export async function pollUntil<T>(read: () => Promise<T>, accept: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await read();
    if (accept(last)) return last;
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${timeoutMs} ms (last: ${JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
