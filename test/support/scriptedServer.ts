/**
 * A tiny loopback HTTP server for unit tests: each request gets a scripted response (status, headers, body chunks
 * with optional delays, a socket destroyed mid-body, a body that never ends). Binds 127.0.0.1 on a free port.
 */
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One piece of a scripted body. */
export type BodyStep =
  | string
  | Uint8Array
  /** Wait before the next step (real time: keep it small). */
  | { delayMs: number }
  /** Destroy the socket here: the client sees the connection drop mid-body. */
  | { destroy: true }
  /** Keep the response open until the client goes away. */
  | { hold: true };

export interface ScriptedResponse {
  status?: number;
  headers?: Record<string, string>;
  body?: BodyStep[] | string;
  /** Destroy the socket before writing anything (connection reset, no response). */
  destroyBeforeResponse?: boolean;
}

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  /** The body parsed as JSON, or undefined when it is not JSON. */
  json: unknown;
  /** Resolves when this request's socket has closed (e.g. the client aborted). */
  socketClosed: Promise<void>;
  /** Resolves when the server finished writing the scripted response or the client went away first. */
  finished: Promise<'completed' | 'client-closed'>;
}

export type Handler = (req: RecordedRequest) => ScriptedResponse | Promise<ScriptedResponse>;

/** `{"GET /props": response | handler}`; unknown routes answer 404 JSON like llama-server. */
export function routes(table: Record<string, ScriptedResponse | Handler>): Handler {
  return (req) => {
    const entry = table[`${req.method} ${req.path.split('?')[0]}`];
    if (entry === undefined) return json(404, { error: { code: 404, message: 'File Not Found', type: 'not_found_error' } });
    return typeof entry === 'function' ? entry(req) : entry;
  };
}

export function json(status: number, value: unknown, headers: Record<string, string> = {}): ScriptedResponse {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8', ...headers }, body: JSON.stringify(value) };
}

export function sseResponse(body: BodyStep[] | string, headers: Record<string, string> = {}): ScriptedResponse {
  return { status: 200, headers: { 'content-type': 'text/event-stream', ...headers }, body };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class ScriptedServer {
  readonly requests: RecordedRequest[] = [];
  private readonly sockets = new Set<Socket>();
  private handler: Handler;

  private constructor(
    private readonly server: http.Server,
    handler: Handler,
  ) {
    this.handler = handler;
  }

  static async start(handler: Handler | ScriptedResponse = {}): Promise<ScriptedServer> {
    const server = http.createServer();
    const scripted = new ScriptedServer(server, toHandler(handler));
    server.on('connection', (socket) => {
      scripted.sockets.add(socket);
      socket.on('close', () => scripted.sockets.delete(socket));
    });
    server.on('request', (req, res) => void scripted.serve(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    return scripted;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Sockets currently open (keep-alive connections count). */
  get openSockets(): number {
    return this.sockets.size;
  }

  setHandler(handler: Handler | ScriptedResponse): void {
    this.handler = toHandler(handler);
  }

  /** Stops listening and destroys every open socket. */
  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const socket = req.socket;
    const socketClosed = new Promise<void>((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });
    let clientGone = false;
    res.on('close', () => {
      if (!res.writableFinished) clientGone = true;
    });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      parsed = undefined;
    }
    let finish!: (how: 'completed' | 'client-closed') => void;
    const finished = new Promise<'completed' | 'client-closed'>((resolve) => (finish = resolve));
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: req.url ?? '/',
      headers: req.headers,
      body,
      json: parsed,
      socketClosed,
      finished,
    };
    this.requests.push(recorded);
    try {
      const script = await this.handler(recorded);
      if (script.destroyBeforeResponse) {
        socket.destroy();
        finish('completed');
        return;
      }
      res.writeHead(script.status ?? 200, script.headers ?? {});
      res.flushHeaders();
      const steps = typeof script.body === 'string' ? [script.body] : (script.body ?? []);
      for (const step of steps) {
        if (clientGone || socket.destroyed) {
          finish('client-closed');
          return;
        }
        if (typeof step === 'string' || step instanceof Uint8Array) {
          res.write(step);
        } else if ('delayMs' in step) {
          await sleep(step.delayMs);
        } else if ('destroy' in step) {
          // Give the written bytes a moment to leave before the reset.
          await new Promise<void>((resolve) => res.write('', () => resolve()));
          socket.destroy();
          finish('completed');
          return;
        } else {
          await socketClosed;
          finish('client-closed');
          return;
        }
      }
      if (clientGone || socket.destroyed) {
        finish('client-closed');
        return;
      }
      res.end();
      finish('completed');
    } catch {
      socket.destroy();
      finish('completed');
    }
  }
}

function toHandler(handler: Handler | ScriptedResponse): Handler {
  return typeof handler === 'function' ? handler : () => handler;
}
