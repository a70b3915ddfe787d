import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalServerError, resolveBinary, serverArgs, startLocalServer } from '../../src/core/server/localServerProcess';
import type { LocalServerExit, LocalServerProcess } from '../../src/core/server/localServerProcess';

/**
 * A fake llama-server: parses --port, prints lines, answers /health 503 for FAKE_LOAD_MS then 200, /exit exits
 * with code 3, ignores SIGTERM when FAKE_IGNORE_TERM=1, and starts a grandchild (same group) whose pid it prints.
 */
const FAKE = `#!/usr/bin/env node
const http = require('http');
const { spawn } = require('child_process');
const args = process.argv.slice(2);
const port = Number(args[args.indexOf('--port') + 1]);
console.log('fake args ' + JSON.stringify(args));
for (let i = 0; i < 60; i++) console.log('line ' + i);
console.error('loading model');
if (process.env.FAKE_EXIT_NOW) { console.error('bad model'); process.exit(Number(process.env.FAKE_EXIT_NOW)); }
if (process.env.FAKE_IGNORE_TERM === '1') process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
const grand = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
console.log('grandchild ' + grand.pid);
const readyAt = Date.now() + Number(process.env.FAKE_LOAD_MS || 0);
http.createServer((req, res) => {
  if (req.url === '/exit') { res.end('bye'); console.log('exiting'); grand.kill(); setTimeout(() => process.exit(3), 20); return; }
  if (req.url === '/health') { const ok = Date.now() >= readyAt; res.writeHead(ok ? 200 : 503); res.end(ok ? '{"status":"ok"}' : '{"error":"loading"}'); return; }
  res.writeHead(404); res.end();
}).listen(port, '127.0.0.1', () => console.log('listening on ' + port));
`;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(what: string, probe: () => boolean, ms = 5_000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function get(url: string): Promise<number> {
  return new Promise((resolve) => {
    http.get(url, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

describe('localServerProcess', function () {
  let dir: string;
  let fake: string;
  const started: LocalServerProcess[] = [];

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'local-server-'));
    fake = path.join(dir, 'llama-server');
    fs.writeFileSync(fake, FAKE.replace('/usr/bin/env node', process.execPath), { mode: 0o755 });
  });
  afterEach(async () => {
    await Promise.all(started.splice(0).map((p) => p.stop(500)));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function start(env: NodeJS.ProcessEnv = {}, extra: Partial<Parameters<typeof startLocalServer>[0]> = {}): Promise<{ proc: LocalServerProcess; lines: string[]; exits: LocalServerExit[] }> {
    const lines: string[] = [];
    const exits: LocalServerExit[] = [];
    const proc = await startLocalServer({ binary: fake, model: '/models/tiny.gguf', args: ['-c', '2048'], env, pollMs: 50, onLine: (l) => lines.push(l), onExit: (e) => exits.push(e), ...extra });
    started.push(proc);
    return { proc, lines, exits };
  }

  it('builds the arguments: loopback host, the port, -m or --models-dir, then the user args', () => {
    assert.deepEqual(serverArgs(1234, { model: '/m/a.gguf', args: ['-c', '4096'] }), ['--host', '127.0.0.1', '--port', '1234', '-m', '/m/a.gguf', '-c', '4096']);
    assert.deepEqual(serverArgs(1234, { model: '/m/a.gguf', modelsDir: '/m' }), ['--host', '127.0.0.1', '--port', '1234', '--models-dir', '/m']);
  });

  it('finds the binary on PATH, and says clearly when it is not there', () => {
    assert.equal(resolveBinary('', dir), fake);
    assert.equal(resolveBinary(fake, ''), fake);
    assert.throws(() => resolveBinary('', path.join(dir, 'nowhere')), (e: unknown) => e instanceof LocalServerError && /not found on PATH/.test(e.message) && /llamaChat\.localServer\.binary/.test(e.message));
    assert.throws(() => resolveBinary(path.join(dir, 'missing-server'), dir), /not found at/);
  });

  it('waits through 503 (loading) until /health is 200, capturing the output lines in a ring', async () => {
    const { proc, lines } = await start({ FAKE_LOAD_MS: '600' });
    const t0 = Date.now();
    await proc.waitReady();
    assert.ok(Date.now() - t0 >= 400, 'waited for the model to load');
    assert.equal(proc.running, true);
    assert.equal(await get(`${proc.url}/health`), 200);
    assert.match(proc.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    await waitUntil('the listening line', () => lines.some((l) => l.startsWith('listening on')));
    assert.ok(lines.some((l) => l.includes('"--host","127.0.0.1","--port"') && l.includes('"-m","/models/tiny.gguf","-c","2048"')), lines[0]);
    assert.ok(lines.includes('loading model'), 'stderr lines too');
    assert.ok(proc.lastLines().length <= 50);
    assert.ok(!proc.lastLines().includes('line 0'), 'the ring keeps only the last lines');
  });

  it('stop() kills the whole process group and resolves once it has exited; the port is free again', async () => {
    const { proc, lines, exits } = await start();
    await proc.waitReady();
    await waitUntil('the grandchild', () => lines.some((l) => l.startsWith('grandchild ')));
    const grand = Number(lines.find((l) => l.startsWith('grandchild '))!.split(' ')[1]);
    const pid = proc.pid!;
    assert.ok(alive(grand));
    const exit = await proc.stop();
    assert.equal(exit.signal, 'SIGTERM');
    assert.equal(alive(pid), false);
    await waitUntil('the grandchild to die', () => !alive(grand));
    assert.equal(await portFree(proc.port), true);
    assert.deepEqual(exits, [], 'a stop is not reported as an unexpected exit');
  });

  it('SIGKILLs after the grace when SIGTERM is ignored', async () => {
    const { proc } = await start({ FAKE_IGNORE_TERM: '1' });
    await proc.waitReady();
    const t0 = Date.now();
    const exit = await proc.stop(300);
    assert.equal(exit.signal, 'SIGKILL');
    assert.ok(Date.now() - t0 >= 250);
  });

  it('reports an unexpected exit with its code and last lines', async () => {
    const { proc, exits } = await start();
    await proc.waitReady();
    await get(`${proc.url}/exit`);
    await waitUntil('the exit report', () => exits.length === 1);
    assert.equal(exits[0].code, 3);
    assert.ok(exits[0].lastLines.includes('exiting'), JSON.stringify(exits[0].lastLines));
    assert.equal(proc.hasExited, true);
  });

  it('rejects waitReady with the exit and the last lines when the server dies while starting', async () => {
    const { proc } = await start({ FAKE_EXIT_NOW: '7' });
    await assert.rejects(proc.waitReady(), (e: unknown) => e instanceof LocalServerError && /exit code 7/.test(e.message) && e.lastLines.includes('bad model'));
  });

  it('an abort stops the wait and the process', async () => {
    const { proc } = await start({ FAKE_LOAD_MS: '60000' });
    const ac = new AbortController();
    const waiting = proc.waitReady(ac.signal);
    await new Promise((r) => setTimeout(r, 300));
    ac.abort();
    await assert.rejects(waiting, /cancelled/);
    assert.equal(proc.hasExited, true);
    assert.equal(alive(proc.pid!), false);
  });

  it('a binary that cannot be spawned fails the start instead of hanging', async () => {
    const bad = path.join(dir, 'not-executable');
    fs.writeFileSync(bad, 'nothing', { mode: 0o644 });
    const { proc } = await start({}, { binary: bad });
    await assert.rejects(proc.waitReady(), /exited while starting/);
  });
});
