/**
 * A loopback HTTP proxy in front of a real llama-server that injects the faults a client must survive: stalls,
 * slow streams, cut connections and error statuses. SSE bodies are handled event by event (split on blank lines),
 * so faults land between events the way a real network or server would put them.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

export type FaultMode =
  | { kind: 'pass'; path?: string }
  /** Forward headers (and the first `afterEvents` events, default 0), then hold everything until the mode changes. */
  | { kind: 'stall'; afterEvents?: number; path?: string }
  /** Re-pace events to at most `eventsPerSecond`. */
  | { kind: 'slow'; eventsPerSecond: number; path?: string }
  /** Destroy the client connection after `afterEvents` events (default 0: right after the headers). */
  | { kind: 'cut'; afterEvents?: number; path?: string }
  /** Answer new requests with this status and body without contacting the upstream. */
  | { kind: 'status'; status: number; body?: string; contentType?: string; headers?: Record<string, string>; path?: string }
  /**
   * SSE only: forward the stream and, after every `every` real events (default 1), insert `count` frames (default 1)
   * that decode to nothing: llama-server's own `delta: {"role":"assistant","content":null}` chunk, with the `id`,
   * `created`, `model` (and `system_fingerprint`) of the last real event. `intervalMs` (default 0) waits that long
   * before each inserted frame (the real events behind it wait too), so with `count` > 1 a stream's only activity for
   * `count * intervalMs` is frames that decode to nothing. Nothing is inserted after `data: [DONE]`.
   */
  | { kind: 'emptyFrames'; every?: number; count?: number; intervalMs?: number; path?: string }
  /**
   * "Alive but busy": forward headers and the first `afterEvents` events (default 0), then hold every later real
   * event (like `stall`) while writing an SSE comment frame `:\n\n` to the client every `pingMs`, until the mode
   * changes; then the held events flow. Non-SSE responses are only held (a comment would corrupt them).
   */
  | { kind: 'pingSilence'; afterEvents?: number; pingMs: number; path?: string }
  /**
   * Like `cut` (destroy the client connection after `afterEvents` events), but only for the FIRST matching request
   * that arrives after the mode is set (each `setMode` arms it again); every later request, e.g. the client's resume
   * `GET /v1/stream?conv_id=…&from=…` and new chats, passes untouched. Give it a `path` (e.g.
   * `/v1/chat/completions`) so a health poll does not take the cut. `stats().lastCut.bytes` is the number of body
   * bytes the client got before the cut: with whole events forwarded, exactly the resume offset.
   */
  | { kind: 'cutResume'; afterEvents: number; path?: string };

export interface FaultProxyOptions {
  /** Upstream base URL, e.g. http://127.0.0.1:8080 */
  target: string;
  mode?: FaultMode;
  /** Port to listen on (default: a free one). */
  port?: number;
}

export interface FaultProxyStats {
  requests: number;
  /** Responses in flight. */
  active: number;
  /** Real events (or non-SSE chunks) written to clients; inserted frames and pings are not counted here. */
  forwardedEvents: number;
  /** Events received from upstream and currently held back (stall/slow/pingSilence). */
  heldEvents: number;
  /** Upstream requests we closed because the client went away or was cut. */
  upstreamClosed: number;
  /** Connections destroyed by `cut` or `cutResume`. */
  cuts: number;
  /** Of those, by `cutResume`. */
  cutResumes: number;
  statusReplies: number;
  /** Frames that decode to nothing inserted by `emptyFrames`. */
  emptyFramesInserted: number;
  /** `:` comment frames written by `pingSilence`. */
  pingsWritten: number;
  /** Body bytes written to clients (real events, inserted frames and pings). */
  bytesForwarded: number;
  /** The most recent cut: which request, after how many real events and body bytes (the resume offset). */
  lastCut: FaultProxyCut | null;
  /** Every request, in arrival order (the newest {@link REQUEST_LOG_LIMIT}), with the status once known. */
  requestLog: FaultProxyRequest[];
}

export interface FaultProxyCut {
  kind: 'cut' | 'cutResume';
  method: string;
  path: string;
  /** Real events the client received before the cut. */
  events: number;
  /** Body bytes the client received before the cut. */
  bytes: number;
}

export interface FaultProxyRequest {
  method: string;
  /** Path with query, e.g. `/v1/stream?conv_id=abc&from=1234`. */
  path: string;
  /** Status sent to the client (upstream's, a `status` mode's, or 502); absent while headers are pending. */
  status?: number;
}

export const REQUEST_LOG_LIMIT = 1000;

export interface FaultProxy {
  /** Base URL of the proxy, e.g. http://127.0.0.1:41235 */
  url: string;
  port: number;
  /**
   * Applies to new requests and to responses in flight (a stall is released by switching to pass); a `cutResume`
   * mode applies only to the first request that arrives after it is set.
   */
  setMode(mode: FaultMode): void;
  mode(): FaultMode;
  stats(): FaultProxyStats;
  /** Polls stats until `predicate` holds; rejects after `timeoutMs` (default 10 s) with the last stats. */
  waitFor(predicate: (stats: FaultProxyStats) => boolean, timeoutMs?: number): Promise<FaultProxyStats>;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'proxy-authenticate', 'upgrade', 'te', 'trailer']);

const PING = Buffer.from(':\n\n');
const DONE = /^data:\s*\[DONE\]/;

interface Flow {
  path: string;
  pump(): void;
  abort(): void;
  held(): number;
}

/** The identity a frame that decodes to nothing copies from the stream it is inserted into. */
interface ChunkIdentity {
  id: string;
  created: number;
  model: string;
  systemFingerprint?: string;
}

/** llama-server's own frame that decodes to nothing (test/fixtures/llama-server-frames.txt), for `identity`'s stream. */
export function emptyFrame(identity: ChunkIdentity): string {
  const chunk: Record<string, unknown> = {
    choices: [{ finish_reason: null, index: 0, delta: { role: 'assistant', content: null } }],
    created: identity.created,
    id: identity.id,
    model: identity.model,
  };
  if (identity.systemFingerprint !== undefined) chunk.system_fingerprint = identity.systemFingerprint;
  chunk.object = 'chat.completion.chunk';
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** The `id`/`created`/`model` of a `data: {...}` chunk, or undefined when the event is not one. */
function identityOf(event: Buffer): ChunkIdentity | undefined {
  const m = /^data: ?(\{.*\})\s*$/s.exec(event.toString('utf8'));
  if (!m) return undefined;
  try {
    const j = JSON.parse(m[1]) as Record<string, unknown>;
    if (typeof j.id !== 'string') return undefined;
    return {
      id: j.id,
      created: typeof j.created === 'number' ? j.created : Math.floor(Date.now() / 1000),
      model: typeof j.model === 'string' ? j.model : '',
      systemFingerprint: typeof j.system_fingerprint === 'string' ? j.system_fingerprint : undefined,
    };
  } catch {
    return undefined;
  }
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  let mode: FaultMode = options.mode ?? { kind: 'pass' };
  /** The `cutResume` mode object that no request has claimed yet. */
  let armed: FaultMode | undefined = mode.kind === 'cutResume' ? mode : undefined;
  const flows = new Set<Flow>();
  const agent = new http.Agent({ keepAlive: false });
  const counters = {
    requests: 0,
    forwardedEvents: 0,
    upstreamClosed: 0,
    cuts: 0,
    cutResumes: 0,
    statusReplies: 0,
    emptyFramesInserted: 0,
    pingsWritten: 0,
    bytesForwarded: 0,
  };
  let lastCut: FaultProxyCut | null = null;
  const requestLog: FaultProxyRequest[] = [];

  const PASS: FaultMode = { kind: 'pass' };
  // A mode's `path` is one endpoint (its query aside): '/v1/chat/completions' is not '/v1/chat/completions/input_tokens'.
  const matches = (path: string, want: string): boolean => path === want || path.startsWith(`${want}?`) || (want.endsWith('/') && path.startsWith(want));
  const modeFor = (path: string): FaultMode => (mode.path === undefined || matches(path, mode.path) ? mode : PASS);

  const server = http.createServer((req, res) => {
    counters.requests++;
    const path = req.url ?? '/';
    const method = req.method ?? 'GET';
    const logEntry: FaultProxyRequest = { method, path };
    requestLog.push(logEntry);
    if (requestLog.length > REQUEST_LOG_LIMIT) requestLog.splice(0, requestLog.length - REQUEST_LOG_LIMIT);
    const initial = modeFor(path);
    if (initial.kind === 'status') {
      counters.statusReplies++;
      logEntry.status = initial.status;
      req.resume();
      const body = initial.body ?? '';
      res.writeHead(initial.status, {
        'content-type': initial.contentType ?? (body.trimStart().startsWith('{') ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8'),
        'content-length': Buffer.byteLength(body),
        ...initial.headers,
      });
      res.end(body);
      return;
    }
    // cutResume applies to this request only if it is the first one to match after the mode was set.
    let claimed: FaultMode | undefined;
    if (initial.kind === 'cutResume' && armed === initial) {
      claimed = initial;
      armed = undefined;
    }
    /** The mode as it applies to this flow now. */
    const flowMode = (): FaultMode => {
      const m = modeFor(path);
      return m.kind === 'cutResume' && m !== claimed ? PASS : m;
    };

    const headers: http.OutgoingHttpHeaders = {};
    for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
    headers.host = target.host;
    const upReq = http.request({
      protocol: target.protocol,
      hostname: target.hostname,
      port: target.port,
      method: req.method,
      path,
      headers,
      agent,
    });

    const queue: Buffer[] = [];
    let pending: Buffer = Buffer.alloc(0);
    let sse = false;
    let upstreamEnded = false;
    /** Real events written to the client. */
    let forwarded = 0;
    /** All writes (real events, inserted frames, pings) and how many of them have been flushed. */
    let written = 0;
    let flushed = 0;
    let bytes = 0;
    let lastWrite = 0;
    let timer: NodeJS.Timeout | undefined;
    let pingTimer: NodeJS.Timeout | undefined;
    let pingMode: FaultMode | undefined;
    let finished = false;
    let upRes: http.IncomingMessage | undefined;
    // emptyFrames state
    let identity: ChunkIdentity | undefined;
    let sinceInsert = 0;
    let insertsDue = 0;
    let doneSeen = false;

    const write = (buf: Buffer, real: boolean): void => {
      written++;
      bytes += buf.length;
      counters.bytesForwarded += buf.length;
      if (real) {
        forwarded++;
        counters.forwardedEvents++;
      }
      lastWrite = Date.now();
      res.write(buf, () => {
        flushed++;
        if (flushed === written) flow.pump();
      });
    };

    const stopPings = (): void => {
      if (pingTimer) clearInterval(pingTimer);
      pingTimer = undefined;
      pingMode = undefined;
    };

    const flow: Flow = {
      path,
      held: () => queue.length,
      abort: () => {
        finish();
        upReq.destroy();
        upRes?.destroy();
        res.destroy();
      },
      pump: () => {
        if (finished || !res.headersSent) return;
        for (;;) {
          const m = flowMode();
          if (pingTimer && m !== pingMode) stopPings();
          if (m.kind !== 'emptyFrames') insertsDue = 0;
          if ((m.kind === 'cut' || m.kind === 'cutResume') && forwarded >= (m.afterEvents ?? 0)) {
            // Let the events before the cut reach the client first; the write callback pumps again.
            if (flushed < written) return;
            counters.cuts++;
            if (m.kind === 'cutResume') counters.cutResumes++;
            lastCut = { kind: m.kind, method, path, events: forwarded, bytes };
            flow.abort();
            counters.upstreamClosed++;
            return;
          }
          if (m.kind === 'stall' && forwarded >= (m.afterEvents ?? 0)) return;
          if (m.kind === 'pingSilence' && forwarded >= (m.afterEvents ?? 0)) {
            if (sse && !pingTimer) {
              pingMode = m;
              pingTimer = setInterval(() => {
                if (finished) return stopPings();
                if (flowMode() !== pingMode) return flow.pump();
                counters.pingsWritten++;
                write(PING, false);
              }, Math.max(m.pingMs, 1));
            }
            return;
          }
          if (m.kind === 'emptyFrames' && insertsDue > 0) {
            const wait = lastWrite + (m.intervalMs ?? 0) - Date.now();
            if (wait > 0) {
              if (!timer) timer = setTimeout(() => ((timer = undefined), flow.pump()), wait);
              return;
            }
            insertsDue--;
            counters.emptyFramesInserted++;
            write(Buffer.from(emptyFrame(identity ?? { id: 'chatcmpl-faultproxy', created: Math.floor(Date.now() / 1000), model: '' })), false);
            continue;
          }
          if (queue.length === 0) break;
          if (m.kind === 'slow') {
            const gap = 1000 / Math.max(m.eventsPerSecond, 0.001);
            const wait = lastWrite + gap - Date.now();
            if (wait > 0) {
              if (!timer) timer = setTimeout(() => ((timer = undefined), flow.pump()), wait);
              return;
            }
          }
          const event = queue.shift() as Buffer;
          write(event, true);
          if (sse && m.kind === 'emptyFrames' && !doneSeen) {
            if (DONE.test(event.toString('utf8', 0, Math.min(event.length, 32)))) {
              doneSeen = true;
            } else {
              identity = identityOf(event) ?? identity;
              if (++sinceInsert >= Math.max(1, m.every ?? 1)) {
                sinceInsert = 0;
                insertsDue += Math.max(1, m.count ?? 1);
              }
            }
          }
        }
        if (upstreamEnded) {
          if (pending.length) res.write(pending);
          finish();
          res.end();
        }
      },
    };

    function finish(): void {
      finished = true;
      if (timer) clearTimeout(timer);
      stopPings();
      flows.delete(flow);
    }

    flows.add(flow);
    req.pipe(upReq);

    upReq.on('response', (r) => {
      upRes = r;
      const outHeaders: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(r.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) outHeaders[k] = v;
      sse = /text\/event-stream/i.test(String(r.headers['content-type'] ?? ''));
      logEntry.status = r.statusCode ?? 502;
      res.writeHead(r.statusCode ?? 502, r.statusMessage, outHeaders);
      res.flushHeaders();
      r.on('data', (chunk: Buffer) => {
        if (!sse) {
          queue.push(chunk);
        } else {
          pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
          for (;;) {
            const end = eventEnd(pending);
            if (end < 0) break;
            queue.push(pending.subarray(0, end));
            pending = pending.subarray(end);
          }
        }
        flow.pump();
      });
      r.on('end', () => {
        upstreamEnded = true;
        flow.pump();
      });
      r.on('error', () => flow.abort());
      flow.pump();
    });

    upReq.on('error', (err) => {
      if (finished) return;
      if (!res.headersSent) {
        finish();
        logEntry.status = 502;
        const body = JSON.stringify({ error: { code: 502, message: `fault proxy: upstream error: ${err.message}`, type: 'proxy_error' } });
        res.writeHead(502, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      } else {
        flow.abort();
      }
    });

    // The client went away (or we cut it): close the upstream request so llama-server frees the slot.
    res.on('close', () => {
      if (!res.writableFinished && !upReq.destroyed) {
        counters.upstreamClosed++;
        upReq.destroy();
        upRes?.destroy();
      }
      finish();
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  const stats = (): FaultProxyStats => {
    let held = 0;
    for (const f of flows) held += f.held();
    return {
      ...counters,
      active: flows.size,
      heldEvents: held,
      lastCut: lastCut && { ...lastCut },
      requestLog: requestLog.map((r) => ({ ...r })),
    };
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setMode(next: FaultMode): void {
      mode = next;
      armed = next.kind === 'cutResume' ? next : undefined;
      for (const f of [...flows]) f.pump();
    },
    mode: () => mode,
    stats,
    async waitFor(predicate, timeoutMs = 10_000): Promise<FaultProxyStats> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = stats();
        if (predicate(s)) return s;
        if (Date.now() > deadline) throw new Error(`fault proxy: condition not reached in ${timeoutMs} ms (stats ${JSON.stringify({ ...s, requestLog: s.requestLog.slice(-20) })})`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async stop(): Promise<void> {
      for (const f of [...flows]) f.abort();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      agent.destroy();
    },
  };
}

/** Index just past the blank line that ends the first SSE event in `buf`, or -1. */
function eventEnd(buf: Buffer): number {
  const lf = buf.indexOf('\n\n');
  const crlf = buf.indexOf('\r\n\r\n');
  if (lf < 0 && crlf < 0) return -1;
  if (crlf < 0 || (lf >= 0 && lf < crlf)) return lf + 2;
  return crlf + 4;
}
