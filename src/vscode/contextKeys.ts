/** Context keys for `when` and `enablement` clauses: llamaChat.streaming, .stale, .hasActiveChat, .connected, .canRetry. */
import * as vscode from 'vscode';
import { Disposable } from '../core/base/disposable';
import type { ConnectionMonitor } from '../core/server/connection';
import type { ChatSessionApi } from '../core/session/sessionApi';

export interface ContextKeyValues {
  'llamaChat.streaming': boolean;
  'llamaChat.stale': boolean;
  'llamaChat.hasActiveChat': boolean;
  'llamaChat.connected': boolean;
  /** The open chat's last answer failed, stopped or was interrupted, or its stream is stalled. */
  'llamaChat.canRetry': boolean;
}

export class ContextKeys extends Disposable {
  private readonly values: ContextKeyValues = {
    'llamaChat.streaming': false,
    'llamaChat.stale': false,
    'llamaChat.hasActiveChat': false,
    'llamaChat.connected': false,
    'llamaChat.canRetry': false,
  };
  private retryCheck = 0;

  constructor(
    private readonly session: ChatSessionApi,
    private readonly connection: ConnectionMonitor,
    private readonly activeChatId: () => string | undefined,
  ) {
    super();
    this._register(
      session.onEvent((e) => {
        // Streamed text and figures change no key: only the rest is worth a look (they come many times a second).
        if (e.type === 'delta' || e.type === 'stats' || e.type === 'progress') return;
        this.update();
      }),
    );
    this._register(connection.onDidChange(() => this.update()));
    // Every key is written once at start, so `when` clauses never see an undefined key.
    for (const key of Object.keys(this.values) as (keyof ContextKeyValues)[]) this.write(key, false);
    this.update();
  }

  current(): Readonly<ContextKeyValues> {
    return { ...this.values };
  }

  update(): void {
    const streams = this.session.activeStreams();
    this.set('llamaChat.streaming', streams.length > 0);
    this.set('llamaChat.stale', streams.some((s) => s.stale));
    this.set('llamaChat.hasActiveChat', this.activeChatId() !== undefined);
    this.set('llamaChat.connected', this.connection.state.state === 'connected');
    void this.updateCanRetry();
  }

  /** Resolves once llamaChat.canRetry reflects the open chat as it is now (the newest check wins). */
  async updateCanRetry(): Promise<void> {
    const check = ++this.retryCheck;
    const chatId = this.activeChatId();
    const target = chatId === undefined ? undefined : await this.session.retryTarget(chatId).catch(() => undefined);
    if (check === this.retryCheck) this.set('llamaChat.canRetry', target !== undefined);
  }

  private set(key: keyof ContextKeyValues, value: boolean): void {
    if (this.values[key] === value) return;
    this.values[key] = value;
    this.write(key, value);
  }

  private write(key: keyof ContextKeyValues, value: boolean): void {
    void vscode.commands.executeCommand('setContext', key, value);
  }
}
