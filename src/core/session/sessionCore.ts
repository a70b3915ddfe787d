/**
 * What every part of the chat session shares: its collaborators, the registry of live streams and of chats held by
 * an action under way, the event emitter, and the small helpers that load and save chats and say why an action is
 * refused. The parts (stream, answer, resume, actions) take it; ChatSession wires them behind its public API.
 */
import { errorText } from '../base/errors';
import type { Attachment, Chat, ChatMessage, MessageStatus } from '../chats/chat';
import type { ChatRepository } from '../chats/chatRepository';
import type { ChatStreamer, ServerProps } from '../server/client';
import type { Clock } from '../base/clock';
import { systemClock } from '../base/clock';
import { Emitter } from '../base/disposable';
import type { IDisposable } from '../base/disposable';
import type { ErrorInfo } from '../base/errors';
import { newId } from '../base/ids';
import type { Logger } from '../base/logger';
import { nullLogger } from '../base/logger';
import type { ThroughputMeter } from './meter';
import type { ActionOutcome, SessionSettings } from './sessionApi';
import type { SessionEvent } from './sessionEvents';
import { ContextFitter } from './sessionContext';
import type { StaleWatchdog } from './watchdog';
import { t } from '../base/l10n';

export interface ChatSessionOptions {
  streamer: ChatStreamer;
  repository: ChatRepository;
  /** Per-chat choices kept outside the chat file (the thinking switch). */
  chatOptions?: (chatId: string) => { thinking?: boolean; model?: string };
  clock?: Clock;
  logger?: Logger;
  settings: () => SessionSettings;
}

/** How long the stale diagnosis may take before it is given up. */
export const PROBE_TIMEOUT_MS = 2_000;

export const DEFAULT_TITLE = 'New chat';

/** One live answer: everything the session knows about it while it streams. */
export interface StreamState {
  chatId: string;
  /** Our own copy of the answer (never shared with the repository). */
  message: ChatMessage;
  controller: AbortController;
  meter: ThroughputMeter;
  watchdog: StaleWatchdog;
  stale: boolean;
  /** The stall was announced (a `stale` event went out), with what the server said about it. */
  staleAnnounced: { diagnosis?: string } | undefined;
  /** A `done` or `error` frame arrived: the stream is ending on its own. */
  terminal: boolean;
  finishReason: string | undefined;
  error: ErrorInfo | undefined;
  lastStatsAt: number;
  lastPhase: string;
  storageFailed: boolean;
  /** Set by the first finaliser: the stream's single ending. */
  finalizing: Promise<void> | undefined;
  /** Settles when the final status is saved and announced, however the stream ended. */
  ended: { promise: Promise<void>; resolve: () => void };
  /** Tokens the message had before this stream (a continued answer). */
  baseTokens: number;
  /** Fires when frames arrive but no progress does (the server is busy). */
  progressWatch: StaleWatchdog;
  /** Since when no progress has come, while busy. */
  busySince: number | undefined;
  /** Every slot was busy when the request was sent (until the first progress). */
  queued: { busy: number; total: number } | undefined;
  /** The server's completion id (`chatcmpl-…`), for the control endpoint. */
  completionId: string | undefined;
  /** The client is resuming a dropped connection. */
  reconnecting: boolean;
  /** A replayed stream (after a reload) repeats text the message has: this much is skipped first. */
  skip: { content: number; reasoning: number };
}

export { errorText };

export function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

/** A user message (not saved yet) answering after `parentId`. */
export function newQuestion(clock: Clock, text: string, parentId: string | undefined, attachments?: readonly Attachment[]): ChatMessage {
  const now = clock.now();
  const user: ChatMessage = { id: newId(now), role: 'user', content: text, status: 'complete', createdAt: now };
  if (parentId !== undefined) user.parentId = parentId;
  if (attachments && attachments.length > 0) user.attachments = structuredClone([...attachments]);
  return user;
}

export class SessionCore implements IDisposable {
  readonly streamer: ChatStreamer;
  readonly repository: ChatRepository;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly settings: () => SessionSettings;
  readonly context: ContextFitter;
  readonly chatOptions: (chatId: string) => { thinking?: boolean; model?: string };
  readonly streams = new Map<string, StreamState>();
  /**
   * Chats with an action under way that will start a stream (closes the gap before it is in `streams`); the
   * promise settles when the action is done, so a delete can wait for it.
   */
  readonly reserved = new Map<string, Promise<void>>();
  /** How each chat's last stream ended, to tell 'already-finished' from 'not-streaming'. */
  readonly lastEnded = new Map<string, MessageStatus>();
  lastProps: ServerProps | undefined;
  /** Shutting down: no new action starts. */
  closed = false;
  private readonly emitter = new Emitter<SessionEvent>();
  private disposed = false;

  readonly onEvent: (listener: (e: SessionEvent) => void) => IDisposable = this.emitter.event;

  constructor(options: ChatSessionOptions) {
    this.streamer = options.streamer;
    this.repository = options.repository;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? nullLogger;
    this.settings = options.settings;
    this.chatOptions = options.chatOptions ?? (() => ({}));
    this.context = new ContextFitter(this.streamer, this.settings, this.logger, this.clock);
  }

  dispose(): void {
    this.disposed = true;
    this.emitter.dispose();
  }

  fire(e: SessionEvent): void {
    if (this.disposed) return;
    try {
      this.emitter.fire(e);
    } catch (err) {
      // A faulty listener must not break the stream loop.
      this.logger.error(`Session event listener failed on ${e.type}: ${errorText(err)}`);
    }
  }

  /** Runs `fn` with the chat loaded while holding it against a second action; refuses a busy or unknown chat. */
  async withIdleChat(chatId: string, fn: (chat: Chat) => Promise<ActionOutcome>): Promise<ActionOutcome> {
    const busy = this.checkBusy(chatId);
    if (busy) return busy;
    const release = this.reserve(chatId);
    try {
      const chat = await this.loadChat(chatId);
      if (!chat) return this.unknownChat(chatId);
      if (chat.readOnly) return { ok: false, reason: 'read-only', detail: chat.readOnly };
      return await fn(chat);
    } finally {
      release();
    }
  }

  reserve(chatId: string): () => void {
    let done!: () => void;
    const p = new Promise<void>((resolve) => (done = resolve));
    this.reserved.set(chatId, p);
    return () => {
      if (this.reserved.get(chatId) === p) this.reserved.delete(chatId);
      done();
    };
  }

  checkBusy(chatId: string): ActionOutcome | undefined {
    if (this.closed) return { ok: false, reason: 'busy', detail: t('The session is shutting down.') };
    if (this.streams.has(chatId) || this.reserved.has(chatId)) {
      return { ok: false, reason: 'busy', detail: t('This chat is still answering; stop it or wait for it to finish.') };
    }
    return undefined;
  }

  notStreaming(chatId: string): ActionOutcome {
    const last = this.lastEnded.get(chatId);
    if (last) return { ok: false, reason: 'already-finished', detail: t('The answer already ended ({0}).', last) };
    return { ok: false, reason: 'not-streaming', detail: t('No answer is being generated in this chat.') };
  }

  unknownChat(chatId: string): ActionOutcome {
    return { ok: false, reason: 'unknown-chat', detail: t('There is no chat {0}.', chatId) };
  }

  unsaved(): ActionOutcome {
    return { ok: false, reason: 'invalid', detail: t('The chat could not be saved, so nothing was sent. See the log for the storage error.') };
  }

  hasChat(chatId: string): boolean {
    return this.repository.listChats().some((c) => c.id === chatId);
  }

  async loadChat(chatId: string): Promise<Chat | undefined> {
    try {
      return await this.repository.getChat(chatId);
    } catch (err) {
      this.storageError(err);
      return undefined;
    }
  }

  /**
   * Adds a message; a failed write is reported and the action goes on in memory (the store keeps retrying),
   * unless the chat itself is gone: then the action is refused.
   */
  async addOrBail(chatId: string, message: ChatMessage): Promise<ActionOutcome | undefined> {
    if (await this.persisted(() => this.repository.addMessage(chatId, { ...message }))) return undefined;
    return this.hasChat(chatId) ? undefined : this.unknownChat(chatId);
  }

  /** Like persist(), and says whether the write was taken. */
  async persisted(write: () => Promise<void>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (err) {
      this.storageError(err);
      return false;
    }
  }

  /** Runs a repository write; a failure is logged and reported, never thrown into a stream. */
  async persist(write: () => Promise<void>): Promise<void> {
    try {
      await write();
    } catch (err) {
      this.storageError(err);
    }
  }

  storageError(err: unknown): void {
    const message = errorText(err);
    this.logger.error(`Could not save the chat: ${message}`);
    this.fire({ type: 'storageError', error: { kind: 'storage', message: t('Could not save the chat: {0}', message) } });
  }

  /** A short, bounded question to the server that never throws (undefined when it fails or times out). */
  async probe<T>(ask: (signal: AbortSignal) => Promise<T> | undefined, timeoutMs = PROBE_TIMEOUT_MS): Promise<T | undefined> {
    const controller = new AbortController();
    const timer = this.clock.setTimeout(() => controller.abort(), timeoutMs);
    try {
      const p = ask(controller.signal);
      if (!p) return undefined;
      return await Promise.race([p, new Promise<undefined>((resolve) => controller.signal.addEventListener('abort', () => resolve(undefined), { once: true }))]);
    } catch {
      return undefined;
    } finally {
      this.clock.clearTimeout(timer);
    }
  }
}
