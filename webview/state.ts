/**
 * The webview's view model and the pure reducer that applies every host message to it. No DOM, no Preact:
 * tested directly. The host owns chats; this is only a mirror plus the bookkeeping that keeps it consistent.
 */
import type { ErrorInfo } from '../src/core/base/errors';
import type { Attachment, Chat, ChatMessage } from '../src/core/chats/chat';
import type { PromptSize, RequestResult, StreamingInfo, ToWebviewMessage, UsageFigures, ViewState } from '../src/protocol';
import { activePath, indexTree, leafForVersion } from './tree';

/** The host's snapshot (ViewState) plus the webview's own bookkeeping. */
export interface ViewModel extends ViewState {
  /** False until the first snapshot answers our `ready`. */
  loaded: boolean;
  /**
   * Last applied delta seq per message id. A delta with seq <= this is a duplicate (already part of a snapshot
   * or applied before) and is dropped, so a snapshot followed by late deltas never doubles text.
   */
  lastSeq: Readonly<Record<string, number>>;
  /** An error not tied to a message (e.g. storage), shown until dismissed. */
  notice: ErrorInfo | undefined;
  /** Bumped when the host asks to focus the composer. */
  focusRequest: number;
  /** Bumped when our text disagrees with the host's (a `done` with other lengths): the app asks for a snapshot. */
  resyncRequest: number;
  /**
   * The host's answers to our requests (send, edit and resend) by request id; the composer and the edit box
   * watch the id they sent. Only the latest few are kept.
   */
  results: Readonly<Record<string, RequestResult>>;
  /**
   * Leaves we chose locally (a version switch applied at once) that the host has not confirmed with `leaf` yet,
   * oldest first. A `leaf` confirming an older choice must not undo a newer one.
   */
  chosenLeaves: readonly string[];
  /**
   * The host's last count of the next request (answer to a `draft`). The composer shows it only when its
   * `draftId` is the draft it posted last, so a late answer to an older draft changes nothing.
   */
  promptSize: PromptSize | undefined;
  /**
   * Chips the host asked the composer to add (`attach`), numbered by `seq` so several in one tick all arrive;
   * the composer takes those above the last seq it took. Only the latest few are kept.
   */
  attachQueue: readonly AttachRequest[];
}

/** One `attach` from the host, numbered. */
export interface AttachRequest {
  seq: number;
  attachment: Attachment;
}

/** How many host attach requests the model keeps (one composer takes them at once). */
export const KEPT_ATTACHES = 64;

export const initialModel: ViewModel = {
  loaded: false,
  chats: [],
  activeChatId: undefined,
  activeChat: undefined,
  streaming: [],
  connection: { state: 'unknown' },
  model: undefined,
  lastSeq: {},
  notice: undefined,
  focusRequest: 0,
  resyncRequest: 0,
  results: {},
  chosenLeaves: [],
  promptSize: undefined,
  attachQueue: [],
};

/** How many request results the model keeps (a request is answered within moments). */
export const KEPT_RESULTS = 32;

/** Pseudo-action for UI-only changes that do not come from the host. */
export type LocalAction =
  | { type: 'dismissNotice' }
  /** The user picked another version of `messageId`'s turn: show it at once (the host confirms with `leaf`). */
  | { type: 'chooseVersion'; chatId: string; messageId: string }
  /** The user turned thinking on or off for a chat: shown at once (the host's next snapshot wins). */
  | { type: 'chooseThinking'; chatId: string; enabled: boolean };

export function fromSnapshot(state: ViewState, prev: ViewModel): ViewModel {
  const lastSeq: Record<string, number> = {};
  for (const s of state.streaming) lastSeq[s.messageId] = s.seq;
  return {
    ...prev,
    loaded: true,
    chats: state.chats,
    activeChatId: state.activeChatId,
    activeChat: state.activeChat,
    streaming: state.streaming,
    connection: state.connection,
    model: state.model,
    reasoning: state.reasoning,
    server: state.server,
    lastSeq,
    chosenLeaves: [],
  };
}

function updateMessage(model: ViewModel, chatId: string, messageId: string, fn: (m: ChatMessage) => ChatMessage): ViewModel {
  const chat = model.activeChat;
  if (!chat || chat.id !== chatId) return model;
  const index = chat.messages.findIndex((m) => m.id === messageId);
  if (index < 0) return model;
  const messages = chat.messages.slice();
  messages[index] = fn(messages[index]);
  return { ...model, activeChat: { ...chat, messages } };
}

function withoutStreaming(model: ViewModel, messageId: string): Pick<ViewModel, 'streaming' | 'lastSeq'> {
  const { [messageId]: _dropped, ...lastSeq } = model.lastSeq;
  return { streaming: model.streaming.filter((s) => s.messageId !== messageId), lastSeq };
}

function withUsage(m: ChatMessage, u: UsageFigures): ChatMessage {
  const patched: ChatMessage = { ...m, completionTokens: u.completionTokens };
  if (u.ctxUsed !== undefined) patched.ctxUsed = u.ctxUsed;
  if (u.ctxMax !== undefined) patched.ctxMax = u.ctxMax;
  if (u.promptTokens !== undefined) patched.promptTokens = u.promptTokens;
  if (u.tps !== undefined || u.ttftMs !== undefined) {
    patched.timings = { ...m.timings };
    if (u.tps !== undefined) patched.timings.predictedPerSecond = u.tps;
    if (u.ttftMs !== undefined) patched.timings.ttftMs = u.ttftMs;
  }
  return patched;
}

function hasMessage(model: ViewModel, chatId: string, messageId: string): boolean {
  return model.activeChat?.id === chatId && model.activeChat.messages.some((m) => m.id === messageId);
}

export function reduce(model: ViewModel, msg: ToWebviewMessage | LocalAction): ViewModel {
  switch (msg.type) {
    case 'snapshot':
      return fromSnapshot(msg.state, model);

    case 'chats': {
      // Another active chat: drop the old one (its snapshot brings the new one), so we never show the old
      // chat's messages under the new chat's title.
      const activeChat = model.activeChat?.id === msg.activeChatId ? model.activeChat : undefined;
      return { ...model, chats: msg.chats, activeChatId: msg.activeChatId, activeChat };
    }

    case 'messageAdded': {
      const chat = model.activeChat;
      if (!chat || chat.id !== msg.chatId) return model;
      if (chat.messages.some((m) => m.id === msg.message.id)) return model;
      const next: ViewModel = {
        ...model,
        // A new message extends the active path: it becomes the leaf.
        activeChat: { ...chat, messages: [...chat.messages, msg.message], messageCount: chat.messageCount + 1, leafId: msg.message.id },
      };
      if (msg.message.status !== 'streaming') return next;
      const info: StreamingInfo = { chatId: msg.chatId, messageId: msg.message.id, seq: -1, stale: false, phase: 'waiting' };
      return {
        ...next,
        streaming: [...model.streaming.filter((s) => s.messageId !== msg.message.id), info],
        lastSeq: { ...model.lastSeq, [msg.message.id]: model.lastSeq[msg.message.id] ?? -1 },
      };
    }

    case 'delta': {
      // Only a streaming message takes deltas: a late one after `done` would otherwise double the end.
      const target = model.activeChat?.id === msg.chatId ? model.activeChat.messages.find((m) => m.id === msg.messageId) : undefined;
      if (target?.status !== 'streaming') return model;
      const last = model.lastSeq[msg.messageId] ?? -1;
      if (msg.seq <= last) return model;
      const next = updateMessage(model, msg.chatId, msg.messageId, (m) => {
        const patched: ChatMessage = { ...m, content: m.content + msg.text };
        if (msg.reasoning) patched.reasoning = (m.reasoning ?? '') + msg.reasoning;
        return msg.usage ? withUsage(patched, msg.usage) : patched;
      });
      return {
        ...next,
        lastSeq: { ...model.lastSeq, [msg.messageId]: msg.seq },
        // Tokens are flowing: the prompt phase is over and the stream is no longer stale (nor busy, queued or
        // reconnecting, when the frame carries text).
        streaming: model.streaming.map((s) => (s.messageId === msg.messageId ? flowing(s, msg.seq, msg.text.length > 0 || !!msg.reasoning) : s)),
      };
    }

    case 'usage':
      return updateMessage(model, msg.chatId, msg.messageId, (m) => withUsage(m, msg));

    case 'status': {
      if (!hasMessage(model, msg.chatId, msg.messageId)) return model;
      const next = updateMessage(model, msg.chatId, msg.messageId, (m) => ({ ...m, status: msg.status }));
      if (msg.status !== 'streaming') return { ...next, ...withoutStreaming(model, msg.messageId) };
      const prev = model.streaming.find((s) => s.messageId === msg.messageId);
      const info: StreamingInfo = {
        chatId: msg.chatId,
        messageId: msg.messageId,
        seq: prev?.seq ?? model.lastSeq[msg.messageId] ?? -1,
        stale: msg.stale ?? prev?.stale ?? false,
        phase: msg.phase ?? prev?.phase ?? 'waiting',
      };
      const progress = msg.promptProgress ?? prev?.promptProgress;
      if (progress !== undefined) info.promptProgress = progress;
      if (info.stale) {
        const silent = msg.silentMs ?? prev?.silentMs;
        if (silent !== undefined) info.silentMs = silent;
        const diagnosis = msg.diagnosis ?? prev?.diagnosis;
        if (diagnosis !== undefined) info.diagnosis = diagnosis;
      }
      // Busy and queued: absent = unchanged, null = over.
      const busyMs = msg.busyMs === undefined ? prev?.busyMs : msg.busyMs;
      if (busyMs !== undefined && busyMs !== null) info.busyMs = busyMs;
      const queued = msg.queued === undefined ? prev?.queued : msg.queued;
      if (queued !== undefined && queued !== null) info.queued = queued;
      if (msg.reconnecting ?? prev?.reconnecting) info.reconnecting = true;
      const streaming = prev
        ? model.streaming.map((s) => (s.messageId === msg.messageId ? info : s))
        : [...model.streaming, info];
      return {
        ...next,
        streaming,
        lastSeq: { ...model.lastSeq, [msg.messageId]: model.lastSeq[msg.messageId] ?? info.seq },
      };
    }

    case 'done': {
      // The final message replaces whatever the deltas built.
      const chat = model.activeChat;
      const cleared = { ...model, ...withoutStreaming(model, msg.messageId) };
      if (!chat || chat.id !== msg.chatId) return cleared;
      const current = chat.messages.find((m) => m.id === msg.messageId);
      const lengths = msg.textLengths;
      if (lengths !== undefined) {
        // The host sent the final fields without the text we already have; if ours differs, ask for a snapshot.
        const same =
          current !== undefined && current.content.length === lengths.content && (current.reasoning ?? '').length === lengths.reasoning;
        if (!same) return { ...cleared, resyncRequest: model.resyncRequest + 1 };
        const final: ChatMessage = { ...msg.message, content: current.content };
        if (current.reasoning !== undefined) final.reasoning = current.reasoning;
        return updateMessage(cleared, msg.chatId, msg.messageId, () => final);
      }
      if (!current) {
        return { ...cleared, activeChat: { ...chat, messages: [...chat.messages, msg.message] } };
      }
      return updateMessage(cleared, msg.chatId, msg.messageId, () => msg.message);
    }

    case 'error': {
      if (msg.chatId !== undefined && msg.messageId !== undefined && hasMessage(model, msg.chatId, msg.messageId)) {
        const next = updateMessage(model, msg.chatId, msg.messageId, (m) => ({ ...m, status: 'failed', error: msg.error }));
        return { ...next, ...withoutStreaming(model, msg.messageId) };
      }
      return { ...model, notice: msg.error };
    }

    case 'result':
      return { ...model, results: withResult(model.results, msg) };

    case 'leaf': {
      const chat = model.activeChat;
      if (!chat || chat.id !== msg.chatId) return model;
      // A leaf we do not have: our copy of the tree is behind; ask for a snapshot.
      if (!chat.messages.some((m) => m.id === msg.leafId)) return { ...model, resyncRequest: model.resyncRequest + 1 };
      const confirmed = model.chosenLeaves.lastIndexOf(msg.leafId);
      if (confirmed >= 0) {
        // The host confirms one of our own choices; a newer choice still in flight stays on screen.
        const chosenLeaves = model.chosenLeaves.slice(confirmed + 1);
        if (chosenLeaves.length > 0) return { ...model, chosenLeaves };
        return { ...model, chosenLeaves, activeChat: withLeaf(chat, msg.leafId) };
      }
      // Another cause (another window, the host's own choice): the host wins.
      return { ...model, chosenLeaves: [], activeChat: withLeaf(chat, msg.leafId) };
    }

    case 'chooseVersion': {
      const chat = model.activeChat;
      if (!chat || chat.id !== msg.chatId) return model;
      const leafId = leafForVersion(indexTree(chat.messages), msg.messageId);
      if (leafId === undefined) return model;
      return { ...model, activeChat: withLeaf(chat, leafId), chosenLeaves: [...model.chosenLeaves, leafId] };
    }

    case 'connection':
      return { ...model, connection: msg.connection, model: msg.model ?? model.model };

    case 'promptSize': {
      const { type: _type, ...size } = msg;
      return { ...model, promptSize: size };
    }

    case 'attach': {
      const seq = (model.attachQueue[model.attachQueue.length - 1]?.seq ?? 0) + 1;
      const queue = [...model.attachQueue, { seq, attachment: msg.attachment }];
      return { ...model, attachQueue: queue.slice(Math.max(0, queue.length - KEPT_ATTACHES)) };
    }

    case 'focusInput':
      return { ...model, focusRequest: model.focusRequest + 1 };

    case 'dismissNotice':
      return { ...model, notice: undefined };

    case 'chooseThinking': {
      const chat = model.activeChat;
      if (!chat || chat.id !== msg.chatId || chat.thinking === msg.enabled) return model;
      return { ...model, activeChat: { ...chat, thinking: msg.enabled } };
    }

    default: {
      // Exhaustive: a new message type is a compile error here; at run time an unknown one is ignored.
      const unknown: never = msg;
      void unknown;
      return model;
    }
  }
}

/** A stream after a delta: generating, not stale; with text, no longer busy, queued or reconnecting either. */
function flowing(s: StreamingInfo, seq: number, text: boolean): StreamingInfo {
  const { silentMs: _silent, diagnosis: _diagnosis, ...rest } = s;
  if (!text) return { ...rest, seq, phase: 'generating', stale: false };
  const { busyMs: _busy, queued: _queued, reconnecting: _reconnecting, ...kept } = rest;
  return { ...kept, seq, phase: 'generating', stale: false };
}

function withLeaf(chat: Chat, leafId: string): Chat {
  return chat.leafId === leafId ? chat : { ...chat, leafId };
}

function withResult(results: Readonly<Record<string, RequestResult>>, msg: RequestResult & { type: 'result' }): Record<string, RequestResult> {
  const { type: _type, ...result } = msg;
  const ids = Object.keys(results).filter((id) => id !== result.requestId);
  const next: Record<string, RequestResult> = {};
  for (const id of ids.slice(Math.max(0, ids.length - (KEPT_RESULTS - 1)))) next[id] = results[id];
  next[result.requestId] = result;
  return next;
}

/** The messages shown for a chat: root to its active leaf. */
export function pathOf(chat: Chat | undefined): ChatMessage[] {
  return chat ? activePath(chat) : [];
}

/** Why the active chat cannot be changed (from the chat or its summary), if it cannot. */
export function readOnlyReason(model: Pick<ViewModel, 'activeChat' | 'activeChatId' | 'chats'>): string | undefined {
  const id = model.activeChat?.id ?? model.activeChatId;
  return model.activeChat?.readOnly ?? model.chats.find((c) => c.id === id)?.readOnly;
}

/**
 * What the server's template can do with reasoning: the live connection's figure when it has one (it follows a
 * model switch), else the snapshot's.
 */
export function reasoningOf(model: Pick<ViewModel, 'connection' | 'reasoning'>): ViewState['reasoning'] {
  const live = model.connection.state === 'connected' ? model.connection.reasoning : undefined;
  return live ?? model.reasoning;
}

/** The streaming record of the active chat, if it is streaming. */
export function activeStream(model: ViewModel): StreamingInfo | undefined {
  const id = model.activeChat?.id;
  return id === undefined ? undefined : model.streaming.find((s) => s.chatId === id);
}
