/**
 * The status bar item: live tok/s and context while an answer streams, prompt progress before that, "stalled" when
 * the stream went silent. It shows the open chat's stream when that one streams, else the newest, with a count.
 * After the last stream ends it shows the final figures (marked as final) briefly, then hides.
 */
import * as vscode from 'vscode';
import type { Clock, TimerHandle } from '../core/base/clock';
import { systemClock } from '../core/base/clock';
import { Disposable, toDisposable } from '../core/base/disposable';
import { formatFinalText, formatStatusText, formatStatusTooltip } from '../core/base/format';
import type { ActiveStream, ChatSessionApi } from '../core/session/sessionApi';
import type { SessionEvent } from '../core/session/sessionEvents';

export interface ChatStatusBarOptions {
  /** The session's streams (and VS Code chat's, merged in by extension.ts). */
  session: Pick<ChatSessionApi, 'onEvent' | 'activeStreams'>;
  serverUrl: () => string;
  /** The chat open in the view: its stream wins when several run. */
  focusedChatId: () => string | undefined;
  chatTitle: (chatId: string) => string | undefined;
  clock?: Clock;
  /** How long the final figures stay after the last stream ended. Default 5 s (always below 10 s). */
  lingerMs?: number;
}

export class ChatStatusBar extends Disposable {
  private readonly o: ChatStatusBarOptions;
  private readonly clock: Clock;
  private readonly item: vscode.StatusBarItem;
  private tick: TimerHandle | undefined;
  private hideTimer: TimerHandle | undefined;
  private visible = false;
  private tooltipText: string | undefined;

  constructor(options: ChatStatusBarOptions) {
    super();
    this.o = options;
    this.clock = options.clock ?? systemClock;
    this.item = this._register(vscode.window.createStatusBarItem('llamaChat.status', vscode.StatusBarAlignment.Right, 100));
    this.item.name = vscode.l10n.t('Llama Chat');
    this.item.command = 'llamaChat.focus';
    this._register(options.session.onEvent((e) => this.onEvent(e)));
    this._register(
      toDisposable(() => {
        this.stopTick();
        this.cancelHide();
      }),
    );
  }

  /** The text shown now, or undefined while hidden. */
  get text(): string | undefined {
    return this.visible ? this.item.text : undefined;
  }

  get tooltip(): string | undefined {
    return this.visible ? this.tooltipText : undefined;
  }

  /** Re-reads the streams (the focused chat changed). */
  refresh(): void {
    this.update();
  }

  private onEvent(e: SessionEvent): void {
    switch (e.type) {
      case 'stale':
        this.update();
        return;
      case 'messageUpdated':
        // A stalled stream moves again (the session tells how long a stall has lasted, and when it ended).
        if (e.patch.status === 'streaming') this.update();
        return;
      case 'messageAdded':
        if (e.message.role === 'assistant' && e.message.status === 'streaming') this.update();
        return;
      case 'stats':
        this.update();
        return;
      case 'streamEnded':
        if (this.o.session.activeStreams().length === 0) this.showFinal(e.message);
        else this.update();
        return;
      default:
        return;
    }
  }

  private pick(streams: ActiveStream[]): ActiveStream | undefined {
    const focused = this.o.focusedChatId();
    return streams.find((s) => s.chatId === focused) ?? streams.at(-1);
  }

  private update(): void {
    const streams = this.o.session.activeStreams();
    const s = this.pick(streams);
    if (!s) {
      // Nothing streams and no final figures are lingering: never leave a number behind.
      if (this.hideTimer === undefined) this.hide();
      return;
    }
    this.cancelHide();
    const silentMs = s.stale ? s.silentMs : undefined;
    const input = { stats: s.stats, stale: s.stale, count: streams.length, ...(silentMs !== undefined ? { silentMs } : {}) };
    this.item.text = formatStatusText(input);
    const title = this.o.chatTitle(s.chatId);
    this.tooltipText = formatStatusTooltip({ ...input, serverUrl: this.o.serverUrl(), ...(title !== undefined ? { chatTitle: title } : {}) });
    const md = new vscode.MarkdownString(this.tooltipText);
    md.supportThemeIcons = true;
    this.item.tooltip = md;
    this.item.backgroundColor = s.stale ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
    this.show();
    // While stale or busy the silence grows every second with no event to redraw it.
    if (streams.some((x) => x.stale || x.stats.busyMs !== undefined)) this.startTick();
    else this.stopTick();
  }

  private showFinal(message: Parameters<typeof formatFinalText>[0]): void {
    this.stopTick();
    this.item.text = formatFinalText(message);
    this.item.backgroundColor = undefined;
    this.tooltipText = vscode.l10n.t('Llama Chat: the last answer has ended. Click to open the chat.');
    this.item.tooltip = this.tooltipText;
    this.show();
    this.cancelHide();
    this.hideTimer = this.clock.setTimeout(() => {
      this.hideTimer = undefined;
      this.update();
    }, this.o.lingerMs ?? 5_000);
  }

  private show(): void {
    if (!this.visible) this.item.show();
    this.visible = true;
  }

  private hide(): void {
    this.stopTick();
    if (this.visible) this.item.hide();
    this.visible = false;
  }

  private startTick(): void {
    if (this.tick !== undefined) return;
    this.tick = this.clock.setTimeout(() => {
      this.tick = undefined;
      this.update();
    }, 1_000);
  }

  private stopTick(): void {
    if (this.tick !== undefined) this.clock.clearTimeout(this.tick);
    this.tick = undefined;
  }

  private cancelHide(): void {
    if (this.hideTimer !== undefined) this.clock.clearTimeout(this.hideTimer);
    this.hideTimer = undefined;
  }
}
