/**
 * Activation only wires: services are built here and handed to each other through constructors; every
 * registration goes into context.subscriptions. The returned object lets extension-host tests observe state.
 */
import * as vscode from 'vscode';
import type { ChatRepository } from './core/chats/chatRepository';
import type { StoreProblem } from './core/chats/chatRepository';
import { ChatStore } from './core/store/chatStore';
import { chatStorageDir } from './core/store/storeDir';
import { ConnectionMonitor } from './core/server/connection';
import { LlamaClient, normalizeBaseUrl } from './core/server/llamaClient';
import { ChatSession } from './core/session/session';
import type { ChatSessionApi } from './core/session/sessionApi';
import { setTranslator } from './core/base/l10n';
import type { ConnectionState } from './protocol';
import { CHAT_VIEW_ID, ChatViewProvider } from './vscode/chatViewProvider';
import { ChatCommands } from './vscode/commands';
import { ContextKeys } from './vscode/contextKeys';
import type { ContextKeyValues } from './vscode/contextKeys';
import { ChannelLogger } from './vscode/log';
import { Notifier } from './vscode/notifications';
import type { NotificationRecord } from './vscode/notifications';
import { ApiKeyStore } from './vscode/secrets';
import { ServerClientHolder } from './vscode/serverClient';
import type { ServerClientConfig } from './vscode/serverClient';
import { SECTION, readSettings } from './vscode/settings';
import { ServerDiscovery } from './vscode/serverDiscovery';
import { ServerRegistry } from './vscode/serverRegistry';
import { StaleNotifier } from './vscode/staleNotifier';
import { registerLocalServer } from './vscode/localServer';
import type { LocalServerApi } from './vscode/localServer';
import { ChatStatusBar } from './vscode/statusBar';
import { setWebviewL10n } from './vscode/webviewHtml';
import { LmStreams, mergeStreamSources } from './core/session/lmRequest';
import { registerLanguageModels } from './vscode/languageModels';

/** What activate() returns in test runs (ExtensionMode.Test) only: enough for tests to drive the session and observe what the user would see. */
export interface LlamaChatApi {
  readonly session: ChatSessionApi;
  readonly repository: ChatRepository;
  /** Where chats are stored (context.storageUri, else globalStorageUri). */
  readonly storageDir: string;
  /** The status bar text, undefined while the item is hidden. */
  statusBarText(): string | undefined;
  statusBarTooltip(): string | undefined;
  lastNotification(): NotificationRecord | undefined;
  notifications(): readonly NotificationRecord[];
  connection(): ConnectionState;
  /** Same as the command, without the notification. */
  checkConnection(): Promise<ConnectionState>;
  /** The normalised server URL the client uses now. */
  serverUrl(): string;
  activeChatId(): string | undefined;
  showChat(chatId: string): Promise<void>;
  /** True while a chat webview is resolved, visible and has had its snapshot. */
  viewIsLive(): boolean;
  /** Messages posted to chat webviews so far (nothing is posted while the view is hidden). */
  viewPosts(): number;
  setApiKey(key: string): Promise<void>;
  clearApiKey(): Promise<void>;
  hasApiKey(): Promise<boolean>;
  /** The last log lines as written (after redaction). */
  recentLogs(): readonly string[];
  contextKeys(): Readonly<ContextKeyValues>;
  localServer(): LocalServerApi;
  /** True when llama-server models are offered to VS Code's own chat (VS Code 1.104+). */
  nativeChatRegistered(): boolean;
}

let shutdown: (() => Promise<void>) | undefined;

function clientConfig(): ServerClientConfig {
  const s = readSettings();
  return { baseUrl: normalizeBaseUrl(s.serverUrl), requestTimeoutMs: s.requestTimeoutMs };
}

export async function activate(context: vscode.ExtensionContext): Promise<LlamaChatApi | undefined> {
  // One language everywhere: the core's messages and the webview read the same bundle as the host (l10n/).
  setTranslator((message, ...args) => vscode.l10n.t(message, ...args));
  setWebviewL10n({ bundle: vscode.l10n.bundle, lang: vscode.env.language });
  const channel = vscode.window.createOutputChannel(vscode.l10n.t('Llama Chat'), { log: true });
  context.subscriptions.push(channel);
  const logger = new ChannelLogger(channel);
  const notifier = new Notifier();
  let settings = readSettings();
  // Filled in once the registry exists (the key store asks for the active server at every call).
  const ref: { registry?: ServerRegistry } = {};
  const apiKeys = new ApiKeyStore(
    context.secrets,
    () => ref.registry?.active.url,
    (url) => url === normalizeBaseUrl(settings.serverUrl),
  );
  // Known secrets are masked in the log even if some code path were to print one.
  const refreshSecrets = async (): Promise<void> => {
    logger.setSecrets(await apiKeys.all(ref.registry?.list().map((e) => e.url) ?? []));
  };
  context.subscriptions.push(apiKeys.onDidChange(() => void refreshSecrets()));

  const clients = new ServerClientHolder(
    // Each client sends the key of its own server.
    (config) =>
      new LlamaClient({
        baseUrl: config.baseUrl,
        requestTimeoutMs: config.requestTimeoutMs,
        apiKey: () => apiKeys.get(config.baseUrl),
        logger,
        // A gateway that does not report its context: the size given in llamaChat.servers.
        contextSize: ref.registry?.list().find((e) => e.url === config.baseUrl)?.contextSize,
      }),
    clientConfig(),
  );
  context.subscriptions.push(clients);

  const storageDir = chatStorageDir(context);
  const store = new ChatStore({ dir: storageDir, logger });
  const problems = await store.open();

  const THINKING_KEY = 'llamaChat.thinking';
  const thinking = {
    get: (chatId: string): boolean | undefined => context.workspaceState.get<Record<string, boolean>>(THINKING_KEY, {})[chatId],
    set: async (chatId: string, enabled: boolean): Promise<void> => {
      const all = { ...context.workspaceState.get<Record<string, boolean>>(THINKING_KEY, {}), [chatId]: enabled };
      await context.workspaceState.update(THINKING_KEY, all);
    },
  };
  const MODEL_KEY = 'llamaChat.chatModel';
  const chatModels = {
    get: (chatId: string): string | undefined => context.workspaceState.get<Record<string, string>>(MODEL_KEY, {})[chatId],
    set: async (chatId: string, model: string): Promise<void> => {
      const all = { ...context.workspaceState.get<Record<string, string>>(MODEL_KEY, {}) };
      if (model) all[chatId] = model;
      else delete all[chatId];
      await context.workspaceState.update(MODEL_KEY, all);
    },
  };
  const session = new ChatSession({
    streamer: clients,
    repository: store,
    logger,
    settings: () => ({ ...settings.session, ...(ref.registry ? { serverName: ref.registry.active.name } : {}) }),
    chatOptions: (chatId) => ({ thinking: thinking.get(chatId), model: chatModels.get(chatId) }),
  });
  context.subscriptions.push(session);
  const connection = new ConnectionMonitor({ probe: () => clients, url: () => clients.config.baseUrl, logger });
  context.subscriptions.push(connection);
  const servers = new ServerRegistry({
    memento: context.globalState,
    clients,
    connection,
    logger,
    settings: () => ({ servers: settings.servers, serverUrl: settings.serverUrl, requestTimeoutMs: settings.requestTimeoutMs }),
  });
  ref.registry = servers;
  context.subscriptions.push(servers);
  // The remembered active server (another than serverUrl) takes over before the first check.
  servers.refresh();
  const local = registerLocalServer(context, { logger, notifier, onStarted: (url) => servers.useLocal(url), onStopped: () => servers.localStopped() });
  await refreshSecrets();
  const discovery = new ServerDiscovery({
    clients,
    connection,
    logger,
    notifier,
    config: clientConfig,
    use: (url) => servers.useDiscovered(url),
    probe: async (baseUrl) => {
      const probeClient = new LlamaClient({ baseUrl, requestTimeoutMs: 3_000, apiKey: () => apiKeys.get(baseUrl), logger });
      try {
        await probeClient.health();
      } finally {
        probeClient.dispose();
      }
    },
  });
  context.subscriptions.push(discovery);

  const currentModel = (): string | undefined => {
    const state = connection.state;
    const chatId = view.activeChatId;
    const own = chatId !== undefined ? chatModels.get(chatId) : undefined;
    return own || (settings.session.model ?? (state.state === 'connected' ? state.model : undefined));
  };
  const view = new ChatViewProvider({
    extensionUri: context.extensionUri,
    session,
    repository: store,
    connection,
    notifier,
    logger,
    memento: context.workspaceState,
    currentModel,
    thinking,
    server: () => ({ name: servers.active.name, url: servers.active.url }),
  });
  context.subscriptions.push(view, vscode.window.registerWebviewViewProvider(CHAT_VIEW_ID, view, { webviewOptions: { retainContextWhenHidden: false } }));
  // The chat in view stays in memory; the store drops other chats' bodies once many were opened.
  store.setActiveChat(view.activeChatId);
  context.subscriptions.push(view.onDidChangeActiveChat((chatId) => store.setActiveChat(chatId)));

  // VS Code's own chat (1.104+): its requests show in the status bar next to the view's.
  const lmStreams = new LmStreams();
  const languageModels = registerLanguageModels({
    servers: () => servers.list(),
    createClient: (url) =>
      new LlamaClient({
        baseUrl: url,
        requestTimeoutMs: settings.requestTimeoutMs,
        apiKey: () => apiKeys.get(url),
        logger,
        contextSize: servers.list().find((e) => e.url === url)?.contextSize,
      }),
    tracker: lmStreams,
    logger,
    settings: () => settings.session,
  });
  context.subscriptions.push(lmStreams);
  if (languageModels) context.subscriptions.push(languageModels, servers.onDidChange(() => languageModels.provider.refresh()));

  const chatTitle = (chatId: string): string | undefined => store.listChats().find((c) => c.id === chatId)?.title;
  const statusBar = new ChatStatusBar({
    session: mergeStreamSources(session, lmStreams),
    serverUrl: () => (servers.active.name === servers.active.url.replace(/^https?:\/\//, '') ? servers.active.url : `${servers.active.name} (${servers.active.url})`),
    focusedChatId: () => view.activeChatId,
    chatTitle,
  });
  const staleNotifier = new StaleNotifier({ session, notifier, logger, chatTitle });
  const contextKeys = new ContextKeys(session, connection, () => view.activeChatId);
  context.subscriptions.push(
    statusBar,
    staleNotifier,
    contextKeys,
    view.onDidChangeActiveChat(() => {
      contextKeys.update();
      statusBar.refresh();
    }),
  );

  context.subscriptions.push(
    servers.onDidChange(() => {
      view.refreshServer();
      // Another server (or settings that arrived late): answers it still holds for this window are picked up.
      void session.resumeDropped();
    }),
  );
  const commands = new ChatCommands({ session, repository: store, view, connection, clients, apiKeys, notifier, logger, channel, servers, chatModels });
  context.subscriptions.push(...commands.register());

  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(SECTION)) return;
      settings = readSettings();
      if (e.affectsConfiguration(`${SECTION}.model`)) view.refreshModel();
      if (e.affectsConfiguration(`${SECTION}.servers`) || e.affectsConfiguration(`${SECTION}.serverUrl`)) languageModels?.provider.refresh();
      if (servers.refresh()) {
        discovery.reset();
        logger.info(`Server settings changed: ${clients.config.baseUrl}, request timeout ${clients.config.requestTimeoutMs} ms`);
        void connection.recheck();
      }
    }),
  );

  context.subscriptions.push(
    session.onEvent((e) => {
      if (e.type === 'storageError') void reportStorage(notifier, channel, e.error.message);
    }),
  );
  if (problems.length > 0) void reportProblems(notifier, channel, logger, problems);

  void connection.check();
  // Answers the last window left streaming are picked up where llama-server still has them.
  void session.resumeDropped().then((n) => {
    if (n > 0) logger.info(`Resumed ${n} answer${n === 1 ? '' : 's'} the server kept after the window closed`);
  });
  shutdown = async () => {
    await session.shutdown();
    await store.dispose();
  };
  logger.info(`Llama Chat activated: server ${clients.config.baseUrl}, chats in ${storageDir}`);

  // The test API drives the session directly: other extensions get nothing outside test runs.
  if (context.extensionMode !== vscode.ExtensionMode.Test) return undefined;
  return {
    session,
    repository: store,
    storageDir,
    statusBarText: () => statusBar.text,
    statusBarTooltip: () => statusBar.tooltip,
    lastNotification: () => notifier.last(),
    notifications: () => notifier.all(),
    connection: () => connection.state,
    checkConnection: () => connection.recheck(),
    serverUrl: () => clients.config.baseUrl,
    activeChatId: () => view.activeChatId,
    showChat: (chatId) => view.showChat(chatId),
    viewIsLive: () => view.isLive,
    viewPosts: () => view.postCount,
    setApiKey: async (key) => {
      await commands.setApiKey(key);
    },
    clearApiKey: async () => {
      await commands.clearApiKey();
    },
    hasApiKey: () => apiKeys.has(),
    recentLogs: () => logger.recent(),
    contextKeys: () => contextKeys.current(),
    localServer: () => local,
    nativeChatRegistered: () => languageModels !== undefined,
  };
}

/** Stops every stream (their answers become `interrupted`) and flushes the chat files. */
export async function deactivate(): Promise<void> {
  const s = shutdown;
  shutdown = undefined;
  await s?.();
}

let lastStorageReport = 0;

async function reportStorage(notifier: Notifier, channel: vscode.LogOutputChannel, message: string): Promise<void> {
  // One warning a minute at most: a full disk fails every write.
  const now = Date.now();
  if (now - lastStorageReport < 60_000) return;
  lastStorageReport = now;
  const choice = await notifier.warn(vscode.l10n.t('Llama Chat: chats could not be saved: {0}', message), vscode.l10n.t('Show Logs'));
  if (choice) channel.show(true);
}

async function reportProblems(notifier: Notifier, channel: vscode.LogOutputChannel, logger: ChannelLogger, problems: StoreProblem[]): Promise<void> {
  for (const p of problems) {
    logger.warn(`Chat storage: ${p.file}: ${p.error.message}${p.quarantinedTo ? ` (moved to ${p.quarantinedTo})` : ''}`);
  }
  const moved = problems.filter((p) => p.quarantinedTo !== undefined).length;
  const text =
    moved > 0
      ? moved === 1
        ? vscode.l10n.t('Llama Chat: 1 chat file was unreadable and moved aside; the other chats are fine.')
        : vscode.l10n.t('Llama Chat: {0} chat files were unreadable and moved aside; the other chats are fine.', moved)
      : problems.length === 1
        ? vscode.l10n.t('Llama Chat: 1 problem reading the saved chats.')
        : vscode.l10n.t('Llama Chat: {0} problems reading the saved chats.', problems.length);
  const choice = await notifier.warn(text, vscode.l10n.t('Show Logs'));
  if (choice) channel.show(true);
}
