/**
 * Part 5: is the tok/s the status bar shows what llama-server itself measures? A real llama-server (tiny model,
 * harness build) streams answers through the full host path; the session's live `stats` (what the status bar
 * formats) are compared with the server's own `timings.predicted_per_second`.
 */
import type { ServerTimings } from '../src/core/base/events';
import { formatStatusText } from '../src/core/base/format';
import { ThroughputMeter } from '../src/core/session/meter';
import { systemClock } from '../src/core/base/clock';
import type { LiveStats } from '../src/core/session/sessionEvents';
import { startLlamaServer } from '../test/harness/llamaServer';
import { HostPath } from './lib/hostPath';
import { metric, runPart } from './lib/results';
import { median, round } from './lib/stats';

const RUNS = 5;
const MAX_TOKENS = 400;

interface RunFigures {
  tokens: number;
  serverFinal: number;
  shownFinal: number;
  /** |shown − server's running figure at that moment| / server running, for live stats while generating. */
  liveErrors: number[];
  /** |shown − server's final figure| / final, for live stats in the second half of the answer. */
  lateErrors: number[];
  /** The meter on the client's own clock only (no server timings), at the end of generation. */
  clientOnly: number;
  statusText: string;
}

void runPart('tokRate', 'tok/s accuracy against llama-server', async (notes) => {
  const server = await startLlamaServer({ parallel: 1 });
  // Held in an object: TypeScript does not see the callbacks' writes to plain locals.
  const seen: { latest?: ServerTimings; final?: ServerTimings } = {};
  let clientMeter = new ThroughputMeter(systemClock);
  const live: { stats: LiveStats; server: number | undefined }[] = [];
  const host = await HostPath.create({
    baseUrl: server.url,
    post: () => undefined,
    settings: { maxTokens: MAX_TOKENS, temperature: 1 },
    tap: (e) => {
      if (e.type === 'timings') seen.latest = e.timings;
      if (e.type === 'usage' && e.timings) seen.final = e.timings;
      // The fallback meter sees tokens only, as with a server that sends no timings.
      if (e.type === 'content' || e.type === 'reasoning') clientMeter.onEvent(e);
    },
    onSessionEvent: (e) => {
      if (e.type === 'stats' && e.stats.phase === 'generating') live.push({ stats: e.stats, server: seen.latest?.predicted_per_second });
    },
  });
  const runs: RunFigures[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      live.length = 0;
      seen.latest = undefined;
      seen.final = undefined;
      clientMeter = new ThroughputMeter(systemClock);
      const r = await host.streamOnce(`Write a long story, part ${i + 1}.`);
      const serverFinal = (seen.final as ServerTimings | undefined)?.predicted_per_second;
      const shownFinal = r.message.timings?.predictedPerSecond;
      if (r.message.status !== 'complete' || serverFinal === undefined || shownFinal === undefined) {
        throw new Error(`run ${i}: ${r.message.status}, server tps ${serverFinal}, shown ${shownFinal}`);
      }
      clientMeter.end();
      const last = live[live.length - 1];
      runs.push({
        tokens: r.message.completionTokens ?? 0,
        serverFinal,
        shownFinal,
        liveErrors: live.filter((l) => l.server && l.stats.tps !== undefined).map((l) => Math.abs(l.stats.tps! - l.server!) / l.server!),
        lateErrors: live
          .filter((l) => l.stats.tps !== undefined && l.stats.completionTokens >= (r.message.completionTokens ?? 0) / 2)
          .map((l) => Math.abs(l.stats.tps! - serverFinal) / serverFinal),
        clientOnly: clientMeter.summary().timings.predictedPerSecond ?? NaN,
        statusText: last ? formatStatusText({ stats: last.stats, stale: false, count: 1 }) : '(no live stats)',
      });
    }
  } finally {
    await host.dispose();
    await server.stop();
  }
  const finalError = median(runs.map((r) => Math.abs(r.shownFinal - r.serverFinal) / r.serverFinal)) * 100;
  const liveErrors = runs.flatMap((r) => r.liveErrors);
  const lateErrors = runs.flatMap((r) => r.lateErrors);
  const clientError = median(runs.map((r) => Math.abs(r.clientOnly - r.serverFinal) / r.serverFinal)) * 100;
  notes.push(
    `A real llama-server (harness build, tiny random-weight model, 1 slot) on 127.0.0.1; ${RUNS} answers of up to ` +
      `${MAX_TOKENS} tokens (${runs.map((r) => r.tokens).join(', ')} tokens) through ChatSession + LlamaClient ` +
      `(timings_per_token on). Server's final predicted_per_second per run: ${runs.map((r) => round(r.serverFinal)).join(', ')}; ` +
      `shown after the answer: ${runs.map((r) => round(r.shownFinal)).join(', ')}.`,
    `Live: ${liveErrors.length} \`stats\` events while generating (what the status bar shows, e.g. \`${runs[0]?.statusText}\`), ` +
      `each compared with the server's running figure on the latest chunk.`,
    `Client-clock fallback (a ThroughputMeter fed only the token events, as for a server without timings): ` +
      `${runs.map((r) => round(r.clientOnly)).join(', ')} tok/s, i.e. a median ${round(clientError)} % off the server's figure ` +
      `(it includes the HTTP and event-loop delivery jitter the server does not see).`,
  );
  return [
    metric('tok/s shown after the answer vs server predicted_per_second: error', finalError, '%', { op: '<=', value: 5 }),
    metric('tok/s shown live (status bar) vs server running figure: median error', liveErrors.length ? median(liveErrors) * 100 : NaN, '%', { op: '<=', value: 5 }),
    metric('tok/s shown live (status bar) vs server running figure: max error', liveErrors.length ? Math.max(...liveErrors) * 100 : NaN, '%'),
    metric('tok/s shown live in the second half of an answer vs server final figure: median error', lateErrors.length ? median(lateErrors) * 100 : NaN, '%'),
    metric('tok/s from the client clock alone vs server: error', clientError, '%'),
  ];
});
