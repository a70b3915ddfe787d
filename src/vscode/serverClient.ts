/**
 * The current llama-server client behind a stable face: the session and the connection monitor hold this holder,
 * and a changed URL or timeout swaps the client underneath. An old client is disposed once its last stream ends,
 * so changing settings never cuts an answer that is being generated.
 */
import type { ChatRequest, ChatStreamer, ModelInfo, PromptCount, RouterModel, ServerProps, SlotInfo } from '../core/server/client';
import type { ConnectionProbe } from '../core/server/connection';
import type { IDisposable } from '../core/base/disposable';
import type { StreamEvent } from '../core/base/events';
import { t } from '../core/base/l10n';

export interface ServerClient extends ChatStreamer {
  health(signal?: AbortSignal): Promise<unknown>;
  listModels(signal?: AbortSignal): Promise<ModelInfo[]>;
  /** Forgets cached /props. */
  invalidate?(): void;
  dispose(): void;
}

export interface ServerClientConfig {
  baseUrl: string;
  requestTimeoutMs: number;
}

interface Slot {
  client: ServerClient;
  config: ServerClientConfig;
  streams: number;
  retired: boolean;
}

export class ServerClientHolder implements ChatStreamer, ConnectionProbe, IDisposable {
  private slot: Slot;

  constructor(
    private readonly create: (config: ServerClientConfig) => ServerClient,
    config: ServerClientConfig,
  ) {
    this.slot = { client: create(config), config, streams: 0, retired: false };
  }

  get config(): ServerClientConfig {
    return this.slot.config;
  }

  /** Replaces the client when the URL or timeout changed; returns whether it did. */
  update(config: ServerClientConfig): boolean {
    const old = this.slot;
    if (old.config.baseUrl === config.baseUrl && old.config.requestTimeoutMs === config.requestTimeoutMs) return false;
    this.slot = { client: this.create(config), config, streams: 0, retired: false };
    this.retire(old);
    return true;
  }

  health(signal?: AbortSignal): Promise<unknown> {
    return this.slot.client.health(signal);
  }

  getProps(signal?: AbortSignal, model?: string): Promise<ServerProps> {
    return this.slot.client.getProps(signal, model);
  }

  listRouterModels(signal?: AbortSignal): Promise<RouterModel[] | undefined> {
    const client = this.slot.client;
    return client.listRouterModels ? client.listRouterModels(signal) : Promise.resolve(undefined);
  }

  loadModel(id: string, signal?: AbortSignal): Promise<void> {
    const client = this.slot.client;
    if (!client.loadModel) return Promise.reject(new Error(t('This server does not load models on request.')));
    return client.loadModel(id, signal);
  }

  unloadModel(id: string, signal?: AbortSignal): Promise<void> {
    const client = this.slot.client;
    if (!client.unloadModel) return Promise.reject(new Error(t('This server does not unload models on request.')));
    return client.unloadModel(id, signal);
  }

  listModels(signal?: AbortSignal): Promise<ModelInfo[]> {
    return this.slot.client.listModels(signal);
  }

  getSlots(signal?: AbortSignal): Promise<SlotInfo[]> {
    const client = this.slot.client;
    if (!client.getSlots) return Promise.reject(new Error(t('This client cannot list slots.')));
    return client.getSlots(signal);
  }

  invalidate(): void {
    this.slot.client.invalidate?.();
  }

  countPrompt(request: ChatRequest, signal?: AbortSignal): Promise<PromptCount> {
    const client = this.slot.client;
    if (!client.countPrompt) return Promise.reject(new Error(t('This client cannot count prompts.')));
    return client.countPrompt(request, signal);
  }

  controlReasoning(completionId: string, action: 'reasoning_end', signal?: AbortSignal): Promise<void> {
    const client = this.slot.client;
    if (!client.controlReasoning) return Promise.reject(new Error(t('This client cannot control a running completion.')));
    return client.controlReasoning(completionId, action, signal);
  }

  tokenCount(text: string, signal?: AbortSignal): Promise<PromptCount> {
    const client = this.slot.client;
    if (!client.tokenCount) return Promise.reject(new Error(t('This client cannot count tokens.')));
    return client.tokenCount(text, signal);
  }

  async *streamChat(request: ChatRequest, signal?: AbortSignal): AsyncGenerator<StreamEvent, void, undefined> {
    const slot = this.slot;
    slot.streams++;
    try {
      yield* slot.client.streamChat(request, signal);
    } finally {
      slot.streams--;
      if (slot.retired && slot.streams === 0) slot.client.dispose();
    }
  }

  async *streamChatBatches(request: ChatRequest, signal?: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    const slot = this.slot;
    slot.streams++;
    try {
      if (slot.client.streamChatBatches) {
        yield* slot.client.streamChatBatches(request, signal);
      } else {
        for await (const event of slot.client.streamChat(request, signal)) yield [event];
      }
    } finally {
      slot.streams--;
      if (slot.retired && slot.streams === 0) slot.client.dispose();
    }
  }

  lookupStreams(ids: string[], signal?: AbortSignal): Promise<{ id: string; done: boolean; totalBytes: number }[]> {
    const client = this.slot.client;
    return client.lookupStreams ? client.lookupStreams(ids, signal) : Promise.resolve([]);
  }

  async *resumeStream(id: string, signal?: AbortSignal): AsyncGenerator<StreamEvent[], void, undefined> {
    const slot = this.slot;
    if (!slot.client.resumeStream) {
      yield [{ type: 'error', error: { kind: 'truncated', message: t('This server cannot resume a stream.') } }];
      return;
    }
    slot.streams++;
    try {
      yield* slot.client.resumeStream(id, signal);
    } finally {
      slot.streams--;
      if (slot.retired && slot.streams === 0) slot.client.dispose();
    }
  }

  dispose(): void {
    this.slot.client.dispose();
  }

  private retire(slot: Slot): void {
    slot.retired = true;
    if (slot.streams === 0) slot.client.dispose();
  }
}
