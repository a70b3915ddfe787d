/**
 * Command line for the harness, used by scripts/test.sh and `npm start`:
 *   node out/test/harness/cli.js ensure [--json]     build/find llama-server and the tiny model, print their paths
 *   node out/test/harness/cli.js ensure-code-server  install code-server once (cached), print its entry point
 *   node out/test/harness/cli.js serve [--ctx N] [--parallel N] [--alias NAME] [--model PATH] [-- extra args]
 *                                                     start a server, print its URL, stop it on SIGINT/SIGTERM
 */
import { ensureCodeServer } from './codeServer';
import { ensureLlamaServer, llamaServerVersion } from './llamaBuild';
import { startLlamaServer } from './llamaServer';
import { ensureTinyModel } from './tinyModel';

const progress = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

interface ParsedArgs {
  flags: Map<string, string | true>;
  rest: string[];
}

function parseArgs(args: readonly string[]): ParsedArgs {
  const flags = new Map<string, string | true>();
  const dash = args.indexOf('--');
  const own = dash >= 0 ? args.slice(0, dash) : args;
  for (let i = 0; i < own.length; i++) {
    const a = own[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const next = own[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      flags.set(a.slice(2), next);
      i++;
    } else {
      flags.set(a.slice(2), true);
    }
  }
  return { flags, rest: dash >= 0 ? args.slice(dash + 1) : [] };
}

function intFlag(flags: ParsedArgs['flags'], name: string): number | undefined {
  const v = flags.get(name);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} needs a positive integer`);
  return n;
}

function stringFlag(flags: ParsedArgs['flags'], name: string): string | undefined {
  const v = flags.get(name);
  if (v === true) throw new Error(`--${name} needs a value`);
  return v;
}

async function ensure(args: ParsedArgs): Promise<void> {
  const binary = await ensureLlamaServer({ onProgress: progress });
  const version = (await llamaServerVersion(binary)).split('\n').find((l) => l.startsWith('version')) ?? '';
  const model = await ensureTinyModel({ onProgress: progress });
  if (args.flags.has('json')) {
    process.stdout.write(JSON.stringify({ binary, model, version }) + '\n');
  } else {
    process.stdout.write(`llama-server: ${binary} (${version})\nmodel: ${model}\n`);
  }
}

async function ensureCodeServerCommand(args: ParsedArgs): Promise<void> {
  const install = await ensureCodeServer({ onProgress: progress });
  process.stdout.write(args.flags.has('json') ? JSON.stringify(install) + '\n' : `code-server: ${install.entry}\n`);
}

async function serve(args: ParsedArgs): Promise<void> {
  const server = await startLlamaServer({
    ctx: intFlag(args.flags, 'ctx'),
    parallel: intFlag(args.flags, 'parallel'),
    alias: stringFlag(args.flags, 'alias'),
    model: stringFlag(args.flags, 'model'),
    extraArgs: args.rest,
    onProgress: progress,
  });
  process.stdout.write(`LLAMA_SERVER_URL=${server.url}\n`);
  progress(`llama-server ready at ${server.url} (pid ${server.pid ?? 'external'}, log ${server.logFile ?? '-'}); Ctrl+C stops it`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      void server.stop().then(resolve);
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

const COMMANDS: Record<string, (args: ParsedArgs) => Promise<void>> = { ensure, 'ensure-code-server': ensureCodeServerCommand, serve };

/** Runs one CLI command; resolves with the process exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  const run = command ? COMMANDS[command] : undefined;
  if (!run) {
    process.stderr.write(`usage: cli.js <${Object.keys(COMMANDS).join('|')}> [options]\n`);
    return 2;
  }
  try {
    await run(parseArgs(rest));
    return 0;
  } catch (err) {
    process.stderr.write(`${command}: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (require.main === module) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
