/**
 * Turns network failures and HTTP error responses into LlamaErrors that say what happened, quote the server, and
 * suggest the next step. Messages name the URL (with any credentials removed), never an API key.
 */
import { LlamaError } from '../base/errors';
import type { ErrorInfo, LlamaErrorKind } from '../base/errors';
import { t } from '../base/l10n';

export const SET_API_KEY_COMMAND = "'Llama Chat: Set API Key'";
/** The command's name as the palette shows it in the user's language. */
const setApiKeyCommand = (): string => t("'Llama Chat: Set API Key'");
export const SERVER_URL_SETTING = 'llamaChat.serverUrl';

export interface ErrorContext {
  /** The server base URL the user configured (shown in hints). */
  serverUrl: string;
  /** The request URL (shown in messages). Defaults to serverUrl. */
  url?: string;
  /** The response had already started: a dropped connection means a cut-off answer, not an unreachable server. */
  midStream?: boolean;
  /** Our own AbortSignal fired: whatever undici reports, this is a cancellation. */
  aborted?: boolean;
  /** Whether an Authorization header was sent (changes the 401 hint). */
  sentApiKey?: boolean;
}

/** A URL safe to show: no user:password, no query. Falls back to the input with anything before '@' cut. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    u.search = '';
    u.hash = '';
    const s = u.toString();
    return s.endsWith('/') && u.pathname === '/' ? s.slice(0, -1) : s;
  } catch {
    const at = url.lastIndexOf('@');
    return at >= 0 ? url.slice(at + 1) : url;
  }
}

/** A short, single-line, quoted excerpt of untrusted text for a message. */
export function excerpt(text: string, max = 80): string {
  let s = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').replace(/\s+/g, ' ').trim();
  if (s.length > max) s = `${s.slice(0, max)}…`;
  return `"${s}"`;
}

export function isHtml(body: string, contentType?: string): boolean {
  if (contentType !== undefined && /\bhtml\b/i.test(contentType)) return true;
  return /^\s*(<!doctype html|<html|<head|<body)/i.test(body.slice(0, 512));
}

/** The visible text of an HTML error page, preferring its <title>/<h1>. */
export function htmlSummary(body: string): string {
  const title = /<title[^>]*>([\s\S]*?)<\/title>/i.exec(body)?.[1] ?? /<h1[^>]*>([\s\S]*?)<\/h1>/i.exec(body)?.[1];
  const text = (title ?? body.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/gi, ' ').replace(/<[^>]*>/g, ' '))
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > 120 ? `${text.slice(0, 120)}…` : text;
}

/** llama-server's error object: `{"error": {code, message, type, n_prompt_tokens, n_ctx}}`. */
export interface ServerErrorBody {
  message?: string;
  type?: string;
  code?: number;
  nPromptTokens?: number;
  nCtx?: number;
}

function readServerError(value: unknown): ServerErrorBody | undefined {
  if (typeof value === 'string') return { message: value };
  if (value === null || typeof value !== 'object') return undefined;
  const o = value as Record<string, unknown>;
  const out: ServerErrorBody = {};
  if (typeof o.message === 'string') out.message = o.message;
  if (typeof o.type === 'string') out.type = o.type;
  if (typeof o.code === 'number') out.code = o.code;
  if (typeof o.n_prompt_tokens === 'number') out.nPromptTokens = o.n_prompt_tokens;
  if (typeof o.n_ctx === 'number') out.nCtx = o.n_ctx;
  return out;
}

/** Parses a JSON error body (`{"error": {...}}`, `{"error": "..."}` or `{"message": "..."}`); undefined if not one. */
export function parseServerErrorBody(body: string): ServerErrorBody | undefined {
  const trimmed = body.trim();
  if (!trimmed.startsWith('{')) return undefined;
  try {
    const json = JSON.parse(trimmed) as Record<string, unknown>;
    if (json === null || typeof json !== 'object') return undefined;
    if ('error' in json) return readServerError(json.error);
    if (typeof json.message === 'string') return readServerError(json);
  } catch {
    // not JSON
  }
  return undefined;
}

const CONTEXT_RE = /\((\d+) tokens\) exceeds the available context size \((\d+) tokens\)/;

function contextHint(nPrompt: number | undefined, nCtx: number | undefined): string {
  const what =
    nPrompt !== undefined && nCtx !== undefined
      ? t('The prompt has {0} tokens but the context is {1}', nPrompt, nCtx)
      : t('The conversation does not fit in the server context');
  return t('{0}: start a new chat, shorten the message, or restart llama-server with a larger -c', what);
}

function isContextError(e: ServerErrorBody | undefined): boolean {
  return (
    e !== undefined &&
    (e.type === 'exceed_context_size_error' || (e.message !== undefined && /exceeds the available context size/i.test(e.message)))
  );
}

function withServerFields(info: ErrorInfo, e: ServerErrorBody | undefined): ErrorInfo {
  if (e?.message !== undefined) info.serverMessage = e.message;
  if (e?.type !== undefined) info.serverType = e.type;
  if (e?.nPromptTokens !== undefined) info.nPromptTokens = e.nPromptTokens;
  if (e?.nCtx !== undefined) info.nCtx = e.nCtx;
  return info;
}

/** Context-size numbers from the fields, or failing that from the message text. */
function contextNumbers(e: ServerErrorBody): ServerErrorBody {
  if (e.nPromptTokens !== undefined && e.nCtx !== undefined) return e;
  const m = e.message !== undefined ? CONTEXT_RE.exec(e.message) : null;
  if (m === null) return e;
  return { ...e, nPromptTokens: e.nPromptTokens ?? Number(m[1]), nCtx: e.nCtx ?? Number(m[2]) };
}

/** Maps a non-2xx response into a LlamaError. `body` is the (possibly cut) response text. */
export function httpStatusError(status: number, body: string, ctx: ErrorContext & { contentType?: string; statusText?: string }): LlamaError {
  const url = displayUrl(ctx.url ?? ctx.serverUrl);
  const server = displayUrl(ctx.serverUrl);
  let parsed = parseServerErrorBody(body);
  let said: string | undefined = parsed?.message;
  if (said === undefined && body.trim().length > 0) {
    said = isHtml(body, ctx.contentType) ? htmlSummary(body) : excerpt(body, 200).slice(1, -1);
    if (said.length === 0) said = undefined;
  }
  const suffix = said !== undefined ? `: ${said}` : '';
  const statusLabel = `HTTP ${status}${ctx.statusText ? ` ${ctx.statusText}` : ''}`;
  const base = (kind: LlamaErrorKind, message: string, hint: string): LlamaError => {
    const info = withServerFields({ kind, message, hint, status }, parsed);
    if (info.serverMessage === undefined && said !== undefined) info.serverMessage = said;
    return new LlamaError(info);
  };

  if (status === 401) {
    return base(
      'unauthorized',
      t('llama-server at {0} refused the request ({1}){2}', url, statusLabel, suffix),
      ctx.sentApiKey
        ? t('The API key was not accepted: set the right one with {0}', setApiKeyCommand())
        : t('The server needs an API key: set one with {0}', setApiKeyCommand()),
    );
  }
  if (status === 403) {
    return base(
      'forbidden',
      t('llama-server at {0} denied access ({1}){2}', url, statusLabel, suffix),
      t('Check the API key ({0}) and any proxy in front of llama-server', setApiKeyCommand()),
    );
  }
  if (isContextError(parsed)) {
    parsed = contextNumbers(parsed!);
    return base(
      'context_exceeded',
      t('The conversation is too long for the server context{0}', suffix),
      contextHint(parsed.nPromptTokens, parsed.nCtx),
    );
  }
  if (status === 404 || status === 405 || status === 501) {
    return base(
      'bad_request',
      t('{0} is not supported by this server ({1}){2}', url, statusLabel, suffix),
      status === 501
        ? t('This llama-server has the endpoint turned off or is too old; update or restart it with the needed option')
        : t('Check that {0} ({1}) points at llama-server, without a path such as /v1', SERVER_URL_SETTING, server),
    );
  }
  if (status === 503) {
    const loading = said !== undefined && /loading/i.test(said);
    return base(
      'server_error',
      t('llama-server at {0} is not ready ({1}){2}', url, statusLabel, suffix),
      loading ? t('llama-server is still loading the model: try again in a moment') : t('The server is busy or unavailable: try again in a moment'),
    );
  }
  if (status >= 500) {
    const proxy = status === 502 || status === 504;
    return base(
      'server_error',
      t('llama-server at {0} failed ({1}){2}', url, statusLabel, suffix),
      proxy ? t('A proxy between you and llama-server could not reach it: check that llama-server is running') : t('Check the llama-server log, then try again'),
    );
  }
  if (status >= 400) {
    return base(
      'bad_request',
      t('llama-server at {0} rejected the request ({1}){2}', url, statusLabel, suffix),
      t('Check the generation settings (temperature, max tokens, extra parameters) and try again'),
    );
  }
  return base(
    'unknown',
    t('Unexpected response from {0} ({1}){2}', url, statusLabel, suffix),
    t('Check that {0} ({1}) points at llama-server', SERVER_URL_SETTING, server),
  );
}

/** 2xx without an event stream: quote what came instead. */
export function notSseError(contentType: string | undefined, body: string, ctx: ErrorContext): LlamaError {
  const url = displayUrl(ctx.url ?? ctx.serverUrl);
  const server = displayUrl(ctx.serverUrl);
  const html = isHtml(body, contentType);
  const what = html ? t('an HTML page ({0})', excerpt(htmlSummary(body), 80)) : body.trim().length > 0 ? excerpt(body, 80) : t('an empty body');
  return new LlamaError({
    kind: 'not_sse',
    message: t('{0} answered with {1} instead of an event stream (content-type {2})', url, what, contentType ?? t('missing')),
    hint: html
      ? t('That looks like a web page, not llama-server: check {0} ({1})', SERVER_URL_SETTING, server)
      : t('Check that {0} ({1}) points at llama-server', SERVER_URL_SETTING, server),
  });
}

/** An `{"error": ...}` event inside the stream. */
export function streamErrorInfo(payload: unknown): ErrorInfo {
  let e = readServerError(payload);
  if (isContextError(e)) {
    e = contextNumbers(e!);
    return withServerFields(
      {
        kind: 'context_exceeded',
        message: t('The conversation is too long for the server context{0}', `: ${e.message}`),
        hint: contextHint(e.nPromptTokens, e.nCtx),
      },
      e,
    );
  }
  const said = e?.message ?? (payload !== undefined ? excerpt(JSON.stringify(payload) ?? '', 200).slice(1, -1) : '');
  const info: ErrorInfo = {
    kind: 'stream_error',
    message: t('llama-server reported an error while answering: {0}', said),
    hint: t('Try again; if it repeats, check the llama-server log'),
  };
  if (e?.code !== undefined) info.status = e.code;
  return withServerFields(info, e ?? { message: said });
}

interface ErrorFacts {
  codes: Set<string>;
  names: Set<string>;
  text: string;
}

/** Collects codes, names and messages along the cause chain and AggregateError members. */
function collect(err: unknown): ErrorFacts {
  const facts: ErrorFacts = { codes: new Set(), names: new Set(), text: '' };
  const seen = new Set<unknown>();
  const visit = (e: unknown, depth: number): void => {
    if (e === null || e === undefined || depth > 6 || seen.has(e)) return;
    seen.add(e);
    if (typeof e !== 'object') {
      if (typeof e === 'string' || typeof e === 'number') facts.text += ` ${e}`;
      return;
    }
    const o = e as { code?: unknown; name?: unknown; message?: unknown; cause?: unknown; errors?: unknown; reason?: unknown };
    if (typeof o.code === 'string') facts.codes.add(o.code);
    if (typeof o.name === 'string') facts.names.add(o.name);
    if (typeof o.message === 'string') facts.text += ` ${o.message}`;
    if (typeof o.reason === 'string') facts.text += ` ${o.reason}`;
    visit(o.cause, depth + 1);
    if (Array.isArray(o.errors)) for (const inner of o.errors.slice(0, 4)) visit(inner, depth + 1);
  };
  visit(err, 0);
  return facts;
}

const DNS_CODES = ['ENOTFOUND', 'EAI_AGAIN', 'EAI_NONAME', 'EAI_FAIL', 'EAI_NODATA'];
const CONNECT_TIMEOUT_CODES = ['UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT'];
const RESPONSE_TIMEOUT_CODES = ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT'];
const CERT_CODES = [
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
];
const DROP_CODES = ['ECONNRESET', 'EPIPE', 'ECONNABORTED', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'];
const UNREACHABLE_CODES = ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'EADDRNOTAVAIL', 'ENETDOWN'];

function hasAny(codes: Set<string>, list: readonly string[]): string | undefined {
  return list.find((c) => codes.has(c));
}

/** Maps an undici/Node network error into a LlamaError. */
export function networkError(err: unknown, ctx: ErrorContext): LlamaError {
  if (LlamaError.is(err)) return err;
  const url = displayUrl(ctx.url ?? ctx.serverUrl);
  const server = displayUrl(ctx.serverUrl);
  const facts = collect(err);
  const { codes } = facts;
  const startHint = t('Start llama-server or check the {0} setting ({1})', SERVER_URL_SETTING, server);
  const make = (kind: LlamaErrorKind, message: string, hint?: string): LlamaError => {
    const info: ErrorInfo = { kind, message };
    if (hint !== undefined) info.hint = hint;
    return new LlamaError(info, { cause: err });
  };

  if (ctx.aborted || facts.names.has('AbortError') || codes.has('UND_ERR_ABORTED') || codes.has('ABORT_ERR')) {
    return make('aborted', t('Stopped.'));
  }
  const dns = hasAny(codes, DNS_CODES);
  if (dns !== undefined) {
    let host = server;
    try {
      host = new URL(ctx.serverUrl).hostname;
    } catch {
      // keep the whole URL
    }
    return make(
      'dns',
      t('Cannot find the host "{0}" of {1} ({2})', host, url, dns === 'EAI_AGAIN' ? t('name lookup failed, try again') : t('name not found')),
      t('Check the host name in the {0} setting ({1}) and your network', SERVER_URL_SETTING, server),
    );
  }
  const certCode = hasAny(codes, CERT_CODES);
  if (certCode !== undefined) {
    return make(
      'tls',
      t('The TLS certificate of {0} is not trusted ({1})', url, certCode),
      t('Use a trusted certificate for llama-server, or http:// in {0} for a local server', SERVER_URL_SETTING),
    );
  }
  const tls =
    [...codes].some((c) => c.startsWith('ERR_SSL_') || (c.startsWith('ERR_TLS_') && c !== 'ERR_TLS_CERT_ALTNAME_INVALID') || c === 'EPROTO') ||
    /wrong version number|ssl routines|ssl3_get_record|tls handshake|packet length too long/i.test(facts.text);
  if (tls) {
    return make(
      'tls',
      t('The secure (TLS) connection to {0} failed', url),
      ctx.serverUrl.startsWith('https:')
        ? t('The server does not seem to speak HTTPS: try http:// in the {0} setting ({1})', SERVER_URL_SETTING, server)
        : t('Check the {0} setting ({1})', SERVER_URL_SETTING, server),
    );
  }
  if (hasAny(codes, CONNECT_TIMEOUT_CODES) !== undefined && !ctx.midStream) {
    // A plain-HTTP llama-server never answers a TLS hello: an https:// URL to it times out, it is not a TLS error.
    const why = ctx.serverUrl.startsWith('https:')
      ? t('if llama-server runs without TLS (its default), use http:// instead of https://')
      : t('a firewall may be dropping the connection');
    return make('timeout', t('Connecting to {0} timed out', url), t('{0}; {1}', startHint, why));
  }
  if (hasAny(codes, RESPONSE_TIMEOUT_CODES) !== undefined) {
    return make(
      'timeout',
      t('llama-server at {0} did not answer in time', url),
      t('The server may be busy with another request or a long prompt: try again, or raise the request timeout'),
    );
  }
  const refused = hasAny(codes, UNREACHABLE_CODES);
  if (refused !== undefined && !ctx.midStream) {
    const why = refused === 'ECONNREFUSED' ? t('connection refused') : t('host unreachable');
    return make('unreachable', t('Cannot connect to llama-server at {0} ({1})', url, why), startHint);
  }
  const drop = hasAny(codes, DROP_CODES);
  if (ctx.midStream) {
    return make(
      'truncated',
      t('The connection to {0} was lost before the answer was complete{1}', url, drop !== undefined ? ` (${drop})` : ''),
      t('Send the message again; if it keeps happening, check the llama-server log'),
    );
  }
  if (drop !== undefined) {
    return make('unreachable', t('llama-server at {0} closed the connection without answering ({1})', url, drop), startHint);
  }
  if (codes.has('ERR_INVALID_URL') || codes.has('UND_ERR_INVALID_ARG')) {
    return make('unreachable', t('The server URL {0} is not valid', server), t('Fix the {0} setting, e.g. http://127.0.0.1:8080', SERVER_URL_SETTING));
  }
  const detail = facts.text.trim();
  return make('unknown', t('Request to {0} failed{1}', url, detail ? `: ${detail.slice(0, 200)}` : ''), startHint);
}
