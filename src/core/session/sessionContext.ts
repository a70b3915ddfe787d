/**
 * What the session needs to fit a request into the server's context: n_ctx, the server's exact count of a
 * request, the fitting itself (contextBudget.ts) and a summary of earlier messages. Counting failures never block a
 * send: the request then goes out whole and the server has the last word.
 */
import type { Attachment, ChatMessage } from '../chats/chat';
import { buildChatRequest, buildRequestMessages, formatAttachment } from '../chats/chatOps';
import type { ChatRequest, ChatRequestMessage, ChatStreamer, PromptCount, ServerProps } from '../server/client';
import { estimatePromptTokens, fitRequest, reserveFor } from './contextBudget';
import type { Clock } from '../base/clock';
import type { FitResult, OverflowPolicy } from './contextBudget';
import { LlamaError, errorText } from '../base/errors';
import { t } from '../base/l10n';
import type { Logger } from '../base/logger';
import type { SessionSettings } from './sessionApi';

/** How long a send waits for /props (n_ctx) before it goes out unfitted: a silent server must not block it. */
export const PROPS_WAIT_MS = 3_000;
/** The same for the counting itself (a few requests to the server). */
export const COUNT_WAIT_MS = 5_000;

const SUMMARY_INSTRUCTIONS =
  'Summarize the conversation below for a reader who will continue it. Keep every fact, decision, name, number, ' +
  'code identifier and open question; drop greetings and repetition. Write plain prose or short bullet points, ' +
  'at most about 300 words, in the language of the conversation.';

function roleName(role: ChatRequestMessage['role']): string {
  return role === 'user' ? 'User' : role === 'assistant' ? 'Assistant' : 'System';
}

export interface FitOptions {
  continueFinal?: boolean;
  /** The chat's own model (router mode): its n_ctx and its count. */
  model?: string;
  policy?: OverflowPolicy;
  signal?: AbortSignal;
}

export class ContextFitter {
  private readonly tokenCache = new Map<string, number>();
  /** The last /props read while fitting (template capabilities for the request). */
  props: ServerProps | undefined;

  constructor(
    private readonly streamer: ChatStreamer,
    private readonly settings: () => SessionSettings,
    private readonly logger: Logger,
    private readonly clock: Clock,
  ) {}

  /** The settings as requests use them: reasoning is resent only where the template preserves it. */
  private effectiveSettings(): SessionSettings {
    const settings = this.settings();
    if (!settings.sendReasoning || this.props?.chatTemplateCaps?.supports_preserve_reasoning === true) return settings;
    return { ...settings, sendReasoning: false };
  }

  /** The request the session sends for `path`, before fitting (model, sampling, continue flags). */
  baseRequest(path: readonly ChatMessage[], continueFinal = false): ChatRequest {
    const settings = this.effectiveSettings();
    return buildChatRequest(path, settings, settings.model || undefined, { continueFinal });
  }

  /** n_ctx from /props (the client caches it), or undefined when the server does not say within PROPS_WAIT_MS. */
  async nCtx(signal?: AbortSignal, model?: string): Promise<number | undefined> {
    let timer: ReturnType<Clock['setTimeout']> | undefined;
    const timeout = new Promise<undefined>((resolve) => (timer = this.clock.setTimeout(() => resolve(undefined), PROPS_WAIT_MS)));
    try {
      return await Promise.race([
        this.streamer.getProps(signal, model).then((p) => {
          this.props = p;
          return p.nCtx;
        }),
        timeout,
      ]);
    } catch {
      return undefined;
    } finally {
      if (timer !== undefined) this.clock.clearTimeout(timer);
    }
  }

  /** Fits `path` (root to the question, or to a partial answer with continueFinal); never throws. */
  async fit(path: readonly ChatMessage[], options: FitOptions = {}): Promise<FitResult> {
    const nCtx = await this.nCtx(options.signal, options.model);
    const settings = this.effectiveSettings();
    const base = this.baseRequest(path, options.continueFinal);
    if (options.model) base.model = options.model;
    const count = (messages: ChatRequestMessage[], signal?: AbortSignal): Promise<PromptCount> =>
      this.streamer.countPrompt ? this.streamer.countPrompt({ ...base, messages }, signal) : Promise.resolve(estimatePromptTokens(messages));
    // Counting that hangs (a stalled server) gives up after COUNT_WAIT_MS; the request then goes out unfitted.
    const limit = new AbortController();
    const timer = this.clock.setTimeout(() => limit.abort(), COUNT_WAIT_MS);
    const onAbort = (): void => limit.abort();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      return await Promise.race([
        fitRequest(
          { path, settings, nCtx, policy: options.policy ?? settings.contextOverflow ?? 'trimOldest', continueFinal: options.continueFinal },
          count,
          limit.signal,
        ),
        new Promise<never>((_, reject) => limit.signal.addEventListener('abort', () => reject(new Error('counting took too long')), { once: true })),
      ]);
    } catch (err) {
      if (options.signal?.aborted) throw err;
      this.logger.debug(`Could not fit the request to the context: ${errorText(err)}`);
      const messages = buildRequestMessages(path, settings, { continueFinal: options.continueFinal });
      const reserve = nCtx !== undefined ? reserveFor(nCtx, settings.maxTokens) : 0;
      const out: FitResult = { messages, ...estimatePromptTokens(messages), reserve, fits: true, omitted: 0, summarized: 0 };
      if (nCtx !== undefined) out.nCtx = nCtx;
      return out;
    } finally {
      this.clock.clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Exact tokens of each attachment's formatted part (cached by content); undefined where it cannot be counted. */
  async attachmentTokens(attachments: readonly Attachment[], signal?: AbortSignal): Promise<(number | undefined)[]> {
    const counter = this.streamer.tokenCount?.bind(this.streamer);
    return Promise.all(
      attachments.map(async (a) => {
        if (a.kind === 'image' || !counter) return undefined;
        const text = formatAttachment(a);
        const cached = this.tokenCache.get(text);
        if (cached !== undefined) return cached;
        try {
          const c = await counter(text, signal);
          if (!c.exact) return undefined;
          if (this.tokenCache.size > 256) this.tokenCache.clear();
          this.tokenCache.set(text, c.tokens);
          return c.tokens;
        } catch {
          return undefined;
        }
      }),
    );
  }

  /** Asks the server for a summary of `messages` (a path segment); rejects with a LlamaError when it fails. */
  async summarize(messages: readonly ChatMessage[], signal?: AbortSignal): Promise<string> {
    const transcript = buildRequestMessages(messages, {})
      .map((m) => `${roleName(m.role)}: ${m.content}`)
      .join('\n\n');
    const settings = this.settings();
    const nCtx = (await this.nCtx(signal)) ?? 4096;
    const request: ChatRequest = {
      messages: [
        { role: 'system', content: SUMMARY_INSTRUCTIONS },
        // Keep the transcript inside the context with room for the summary (a quarter of the context).
        { role: 'user', content: `Conversation:\n\n${transcript.slice(-Math.max(1_000, Math.floor(nCtx * 2.5)))}` },
      ],
      maxTokens: Math.max(64, Math.min(512, Math.floor(nCtx / 4))),
    };
    if (settings.model) request.model = settings.model;
    if (typeof settings.temperature === 'number') request.temperature = settings.temperature;
    let text = '';
    const events = this.streamer.streamChatBatches ? this.streamer.streamChatBatches(request, signal) : oneByOne(this.streamer.streamChat(request, signal));
    for await (const batch of events) {
      for (const e of batch) {
        if (e.type === 'content') text += e.text;
        else if (e.type === 'error') throw new LlamaError(e.error);
      }
    }
    const summary = text.trim();
    if (!summary) throw new LlamaError({ kind: 'unknown', message: t('The server returned an empty summary.') });
    return summary;
  }
}

async function* oneByOne<T>(events: AsyncIterable<T>): AsyncGenerator<T[], void, undefined> {
  for await (const e of events) yield [e];
}
