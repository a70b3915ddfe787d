/**
 * An HTTP control port for a fault proxy, so code that runs in another process (tests inside the VS Code extension
 * host, e2e scenarios, a person poking at `npm start`) can switch its mode. Separate from the proxy's own port so
 * every path on the proxy still reaches llama-server.
 *
 *   GET  /mode           -> current FaultMode
 *   POST /mode  {mode}   -> sets it (body: a FaultMode as JSON), answers the new mode
 *   GET  /stats          -> FaultProxyStats (counters, the last cut's byte offset, every request's method + path)
 *
 * Every FaultMode kind is accepted, e.g. {"kind":"emptyFrames","every":1,"count":5,"intervalMs":200},
 * {"kind":"pingSilence","afterEvents":3,"pingMs":250} or {"kind":"cutResume","afterEvents":8,"path":"/v1/chat/completions"}.
 * POSTing a cutResume mode (again) arms it for the next matching request.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FaultMode, FaultProxy, FaultProxyStats } from './faultProxy';

export interface FaultProxyControl {
  /** e.g. http://127.0.0.1:41236 */
  url: string;
  stop(): Promise<void>;
}

const KINDS = new Set<FaultMode['kind']>(['pass', 'stall', 'slow', 'cut', 'status', 'emptyFrames', 'pingSilence', 'cutResume']);

const isCount = (v: unknown, min: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min;

/** Checks the shape of a mode that arrived as JSON; returns a message when it is not one. */
export function invalidMode(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null) return 'mode must be an object';
  const m = value as Record<string, unknown>;
  if (typeof m.kind !== 'string' || !KINDS.has(m.kind as FaultMode['kind'])) return `unknown kind ${JSON.stringify(m.kind)}`;
  if (m.path !== undefined && typeof m.path !== 'string') return 'path must be a string';
  if (m.kind === 'slow' && !(typeof m.eventsPerSecond === 'number' && m.eventsPerSecond > 0)) return 'slow needs eventsPerSecond > 0';
  if (m.kind === 'status' && !(typeof m.status === 'number' && m.status >= 100 && m.status < 600)) return 'status needs an HTTP status';
  if (m.afterEvents !== undefined && !(typeof m.afterEvents === 'number' && m.afterEvents >= 0)) return 'afterEvents must be >= 0';
  if (m.kind === 'emptyFrames') {
    if (m.every !== undefined && !isCount(m.every, 1)) return 'every must be an integer >= 1';
    if (m.count !== undefined && !isCount(m.count, 1)) return 'count must be an integer >= 1';
    if (m.intervalMs !== undefined && !(typeof m.intervalMs === 'number' && m.intervalMs >= 0)) return 'intervalMs must be >= 0';
  }
  if (m.kind === 'pingSilence' && !(typeof m.pingMs === 'number' && m.pingMs > 0)) return 'pingSilence needs pingMs > 0';
  if (m.kind === 'cutResume' && m.afterEvents === undefined) return 'cutResume needs afterEvents';
  return undefined;
}

export async function startFaultProxyControl(proxy: FaultProxy, port = 0): Promise<FaultProxyControl> {
  const server = http.createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      const text = JSON.stringify(body);
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    const url = req.url ?? '/';
    if (req.method === 'GET' && url === '/mode') return send(200, proxy.mode());
    if (req.method === 'GET' && url === '/stats') return send(200, proxy.stats());
    if (req.method === 'POST' && url === '/mode') {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        let mode: unknown;
        try {
          mode = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          return send(400, { error: 'body is not JSON' });
        }
        const problem = invalidMode(mode);
        if (problem) return send(400, { error: problem });
        proxy.setMode(mode as FaultMode);
        send(200, proxy.mode());
      });
      return;
    }
    send(404, { error: `no route ${req.method ?? ''} ${url}` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const actual = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${actual}`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Client side (usable from any Node process, e.g. the extension host): switch the proxy's mode. */
export async function setProxyMode(controlUrl: string, mode: FaultMode): Promise<FaultMode> {
  const res = await fetch(`${controlUrl}/mode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(mode),
  });
  const body = (await res.json()) as unknown;
  if (!res.ok) throw new Error(`fault proxy control: HTTP ${res.status} ${JSON.stringify(body)}`);
  return body as FaultMode;
}

export async function getProxyMode(controlUrl: string): Promise<FaultMode> {
  const res = await fetch(`${controlUrl}/mode`);
  if (!res.ok) throw new Error(`fault proxy control: HTTP ${res.status}`);
  return (await res.json()) as FaultMode;
}

export async function getProxyStats(controlUrl: string): Promise<FaultProxyStats> {
  const res = await fetch(`${controlUrl}/stats`);
  if (!res.ok) throw new Error(`fault proxy control: HTTP ${res.status}`);
  return (await res.json()) as FaultProxyStats;
}
