/**
 * The full host streaming path as the extension runs it, minus VS Code: LlamaClient (undici HTTP) → stream
 * decoder → ChatSession (meter, stale watchdog) → ChatStore appends on a temp dir → PostCoalescer → post().
 * The session→coalescer glue mirrors what the chat view provider does with session events.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChatMessage } from '../../src/core/chats/chat';
import type { ChatStreamer } from '../../src/core/server/client';
import type { StreamEvent } from '../../src/core/base/events';
import { ChatStore } from '../../src/core/store/chatStore';
import { LlamaClient } from '../../src/core/server/llamaClient';
import { PostCoalescer, doneWithoutText } from '../../src/view/postCoalescer';
import { ChatSession } from '../../src/core/session/session';
import type { SessionSettings } from '../../src/core/session/sessionApi';
import type { SessionEvent } from '../../src/core/session/sessionEvents';
import { systemClock } from '../../src/core/base/clock';
import type { ToWebviewMessage } from '../../src/protocol';

export interface HostPathOptions {
  baseUrl: string;
  post: (message: ToWebviewMessage) => void;
  settings?: Partial<SessionSettings>;
  /** Called for every session event (e.g. to watch stats). */
  onSessionEvent?: (e: SessionEvent) => void;
  /** Sees every decoded stream event before the session does (e.g. the server's own timings). */
  tap?: (e: StreamEvent) => void;
}

/** The client with every stream event shown to `tap` on its way to the session. */
function tapped(client: LlamaClient, tap: (e: StreamEvent) => void): ChatStreamer {
  return {
    getProps: (signal) => client.getProps(signal),
    async *streamChat(request, signal) {
      for await (const e of client.streamChat(request, signal)) {
        tap(e);
        yield e;
      }
    },
  };
}

export interface StreamRun {
  ms: number;
  message: ChatMessage;
}

export class HostPath {
  readonly dir: string;
  readonly store: ChatStore;
  readonly client: LlamaClient;
  readonly session: ChatSession;
  readonly coalescer: PostCoalescer;

  private constructor(options: HostPathOptions) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llama-chat-bench-'));
    this.store = new ChatStore({ dir: this.dir });
    this.client = new LlamaClient({ baseUrl: options.baseUrl });
    const settings: SessionSettings = { staleSeconds: 60, ...options.settings };
    const streamer = options.tap ? tapped(this.client, options.tap) : this.client;
    this.session = new ChatSession({ streamer, repository: this.store, settings: () => settings });
    this.coalescer = new PostCoalescer({ clock: systemClock, post: options.post });
    this.session.onEvent((e) => {
      this.forward(e);
      options.onSessionEvent?.(e);
    });
  }

  static async create(options: HostPathOptions): Promise<HostPath> {
    const host = new HostPath(options);
    await host.store.open();
    return host;
  }

  /** Sends one question in a fresh chat and resolves when its answer has ended (stored and posted). */
  async streamOnce(question = 'Hello'): Promise<StreamRun> {
    const chat = await this.session.newChat();
    let resolveEnd!: (m: ChatMessage) => void;
    const ended = new Promise<ChatMessage>((r) => (resolveEnd = r));
    const sub = this.session.onEvent((e) => {
      if (e.type === 'streamEnded' && e.chatId === chat.id) resolveEnd(e.message);
    });
    const t0 = performance.now();
    const outcome = await this.session.send(chat.id, question);
    if (!outcome.ok) throw new Error(`send refused: ${outcome.detail}`);
    const message = await ended;
    const ms = performance.now() - t0;
    sub.dispose();
    await this.session.deleteChat(chat.id);
    return { ms, message };
  }

  async dispose(): Promise<void> {
    await this.session.shutdown();
    this.session.dispose();
    this.coalescer.dispose();
    await this.store.dispose();
    this.client.dispose();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private forward(e: SessionEvent): void {
    const c = this.coalescer;
    switch (e.type) {
      case 'delta':
        c.delta(e.chatId, e.messageId, e.content, e.reasoning);
        return;
      case 'stats': {
        const s = e.stats;
        c.usage({
          chatId: e.chatId,
          messageId: e.messageId,
          completionTokens: s.completionTokens,
          ctxUsed: s.ctxUsed,
          ctxMax: s.ctxMax,
          tps: s.tps,
          promptTokens: s.promptTokens,
          ttftMs: s.ttftMs,
        });
        return;
      }
      case 'messageAdded':
        c.post({ type: 'messageAdded', chatId: e.chatId, message: e.message });
        return;
      case 'streamEnded':
        c.post(doneWithoutText(e.chatId, e.messageId, e.message));
        return;
      default:
        return;
    }
  }
}
