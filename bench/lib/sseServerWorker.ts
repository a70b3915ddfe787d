/**
 * A loopback llama-server stand-in, run in a worker thread so that producing the stream costs the measured
 * thread nothing: GET /props, GET /health, and POST /v1/chat/completions answered with the configured SSE stream,
 * either as fast as the socket takes it or paced at a token rate (recording when each token left).
 */
import * as http from 'node:http';
import { parentPort } from 'node:worker_threads';
import { buildEvents, propsBody } from './sseBody';
import type { StreamSpec } from './sseBody';

export type SourceMode = { kind: 'fast'; eventsPerWrite: number } | { kind: 'paced'; rate: number };

export type ToWorker = { type: 'configure'; spec: StreamSpec; mode: SourceMode } | { type: 'close' };

export type FromWorker =
  | { type: 'listening'; port: number }
  | { type: 'configured' }
  /** One stream was written; `sendTimes[i]` = epoch ms (performance.timeOrigin + now) when token i was written. */
  | { type: 'streamed'; tokens: number; sendTimes?: number[]; aborted: boolean }
  | { type: 'closed' };

interface Prepared {
  spec: StreamSpec;
  mode: SourceMode;
  head: Buffer;
  tail: Buffer;
  /** Fast mode: blocks of events; paced mode: one buffer per token. */
  chunks: Buffer[];
}

const port = parentPort!;
const props = propsBody();
let current: Prepared | undefined;

function prepare(spec: StreamSpec, mode: SourceMode): Prepared {
  const events = buildEvents(spec);
  const chunks: Buffer[] = [];
  if (mode.kind === 'fast') {
    for (let i = 0; i < events.tokens.length; i += mode.eventsPerWrite) {
      chunks.push(Buffer.from(events.tokens.slice(i, i + mode.eventsPerWrite).join('')));
    }
  } else {
    for (const e of events.tokens) chunks.push(Buffer.from(e));
  }
  return { spec, mode, head: Buffer.from(events.head), tail: Buffer.from(events.tail), chunks };
}

function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

/** Resolves on 'drain' or 'close', removing both listeners. */
function drained(res: http.ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

async function writeFast(res: http.ServerResponse, p: Prepared, closed: () => boolean): Promise<void> {
  for (const chunk of p.chunks) {
    if (closed()) return;
    if (!res.write(chunk)) await drained(res);
  }
}

async function writePaced(res: http.ServerResponse, p: Prepared, rate: number, sendTimes: number[], closed: () => boolean): Promise<void> {
  const start = performance.now();
  let sent = 0;
  while (sent < p.chunks.length && !closed()) {
    const due = Math.min(p.chunks.length, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    if (due > sent) {
      const at = epochMs();
      res.write(due - sent === 1 ? p.chunks[sent] : Buffer.concat(p.chunks.slice(sent, due)));
      for (; sent < due; sent++) sendTimes.push(at);
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

async function stream(res: http.ServerResponse): Promise<void> {
  const p = current;
  if (!p) {
    res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"not configured"}}');
    return;
  }
  let isClosed = false;
  res.on('close', () => (isClosed = true));
  const closed = (): boolean => isClosed;
  res.writeHead(200, { 'content-type': 'text/event-stream', 'keep-alive': 'timeout=5, max=100' });
  res.write(p.head);
  const sendTimes: number[] = [];
  if (p.mode.kind === 'fast') await writeFast(res, p, closed);
  else await writePaced(res, p, p.mode.rate, sendTimes, closed);
  const aborted = closed();
  if (!aborted) res.end(p.tail);
  const msg: FromWorker = { type: 'streamed', tokens: p.spec.tokens, aborted };
  if (p.mode.kind === 'paced') msg.sendTimes = sendTimes;
  port.postMessage(msg);
}

const server = http.createServer((req, res) => {
  req.resume();
  const url = req.url ?? '/';
  if (req.method === 'GET' && url.startsWith('/props')) {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(props);
  } else if (req.method === 'GET' && url === '/health') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  } else if (req.method === 'POST' && url === '/v1/chat/completions') {
    req.on('end', () => void stream(res));
  } else {
    res.writeHead(404).end();
  }
});

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'configure') {
    current = prepare(msg.spec, msg.mode);
    port.postMessage({ type: 'configured' } satisfies FromWorker);
  } else {
    server.closeAllConnections();
    server.close(() => port.postMessage({ type: 'closed' } satisfies FromWorker));
  }
});

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  port.postMessage({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 } satisfies FromWorker);
});
