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
  | { kind: 'status'; status: number; body?: string; contentType?: string; headers?: Record<string, string>; path?: string };

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
  /** Events (or non-SSE chunks) written to clients. */
  forwardedEvents: number;
  /** Events received from upstream and currently held back (stall/slow). */
  heldEvents: number;
  /** Upstream requests we closed because the client went away or was cut. */
  upstreamClosed: number;
  cuts: number;
  statusReplies: number;
}

export interface FaultProxy {
  /** Base URL of the proxy, e.g. http://127.0.0.1:41235 */
  url: string;
  port: number;
  /** Applies to new requests and to responses in flight (a stall is released by switching to pass). */
  setMode(mode: FaultMode): void;
  mode(): FaultMode;
  stats(): FaultProxyStats;
  /** Polls stats until `predicate` holds; rejects after `timeoutMs` (default 10 s) with the last stats. */
  waitFor(predicate: (stats: FaultProxyStats) => boolean, timeoutMs?: number): Promise<FaultProxyStats>;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'proxy-authenticate', 'upgrade', 'te', 'trailer']);

interface Flow {
  path: string;
  pump(): void;
  abort(): void;
  held(): number;
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  let mode: FaultMode = options.mode ?? { kind: 'pass' };
  const flows = new Set<Flow>();
  const agent = new http.Agent({ keepAlive: false });
  const counters = { requests: 0, forwardedEvents: 0, upstreamClosed: 0, cuts: 0, statusReplies: 0 };

  const modeFor = (path: string): FaultMode => (mode.path === undefined || path.startsWith(mode.path) ? mode : { kind: 'pass' });

  const server = http.createServer((req, res) => {
    counters.requests++;
    const path = req.url ?? '/';
    const initial = modeFor(path);
    if (initial.kind === 'status') {
      counters.statusReplies++;
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
    let forwarded = 0;
    let flushed = 0;
    let lastWrite = 0;
    let timer: NodeJS.Timeout | undefined;
    let finished = false;
    let upRes: http.IncomingMessage | undefined;

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
          const m = modeFor(path);
          if (m.kind === 'cut' && forwarded >= (m.afterEvents ?? 0)) {
            // Let the events before the cut reach the client first; the write callback pumps again.
            if (flushed < forwarded) return;
            counters.cuts++;
            flow.abort();
            counters.upstreamClosed++;
            return;
          }
          if (m.kind === 'stall' && forwarded >= (m.afterEvents ?? 0)) return;
          if (queue.length === 0) break;
          if (m.kind === 'slow') {
            const gap = 1000 / Math.max(m.eventsPerSecond, 0.001);
            const wait = lastWrite + gap - Date.now();
            if (wait > 0) {
              if (!timer) timer = setTimeout(() => ((timer = undefined), flow.pump()), wait);
              return;
            }
          }
          res.write(queue.shift(), () => {
            flushed++;
            if (flushed === forwarded) flow.pump();
          });
          forwarded++;
          counters.forwardedEvents++;
          lastWrite = Date.now();
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
      flows.delete(flow);
    }

    flows.add(flow);
    req.pipe(upReq);

    upReq.on('response', (r) => {
      upRes = r;
      const outHeaders: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(r.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) outHeaders[k] = v;
      sse = /text\/event-stream/i.test(String(r.headers['content-type'] ?? ''));
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
    return { ...counters, active: flows.size, heldEvents: held };
  };

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    setMode(next: FaultMode): void {
      mode = next;
      for (const f of [...flows]) f.pump();
    },
    mode: () => mode,
    stats,
    async waitFor(predicate, timeoutMs = 10_000): Promise<FaultProxyStats> {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = stats();
        if (predicate(s)) return s;
        if (Date.now() > deadline) throw new Error(`fault proxy: condition not reached in ${timeoutMs} ms (stats ${JSON.stringify(s)})`);
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
