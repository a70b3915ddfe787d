/**
 * Parts 1 and 2: the host streaming path against the bare floor (same bytes, same loopback source, interleaved),
 * and what reaches the webview at 5,000 tok/s.
 */
import * as http from 'node:http';
import { createParser } from 'eventsource-parser';
import { Agent, request } from 'undici';
import type { ToWebviewMessage } from '../src/protocol';
import { HostPath } from './lib/hostPath';
import { metric, ratioMetric, runPart } from './lib/results';
import type { Metric } from './lib/results';
import { answerText, buildEvents } from './lib/sseBody';
import type { StreamSpec } from './lib/sseBody';
import { LoopbackSse } from './lib/sseSource';
import { interleaved, median, round } from './lib/stats';

const FAST_TOKENS = 50_000;
const FAST_ROUNDS = 15;
/** Events per write of the fast source: big enough that producing the stream costs its thread little. */
const EVENTS_PER_WRITE = 256;
const PACED_RATE = 5_000;
const PACED_SECONDS = 3;
const PACED_RUNS = 3;

/** The floor: undici request → one streaming TextDecoder → eventsource-parser → JSON.parse, nothing else. */
async function floorOnce(agent: Agent, url: string): Promise<{ ms: number; tokens: number; chars: number }> {
  const t0 = performance.now();
  const res = await request(`${url}/v1/chat/completions`, {
    method: 'POST',
    dispatcher: agent,
    headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
    body: JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], stream: true }),
  });
  const decoder = new TextDecoder();
  let tokens = 0;
  let chars = 0;
  const parser = createParser({
    onEvent: (event) => {
      if (event.data === '[DONE]') return;
      const chunk = JSON.parse(event.data) as { choices?: { delta?: { content?: unknown } }[] };
      const text = chunk.choices?.[0]?.delta?.content;
      if (typeof text === 'string') {
        tokens++;
        chars += text.length;
      }
    },
  });
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
  parser.feed(decoder.decode());
  return { ms: performance.now() - t0, tokens, chars };
}

const CHAT_BODY = JSON.stringify({ messages: [{ role: 'user', content: 'Hello' }], stream: true });

interface Counted {
  tokens: number;
  chars: number;
}

/** One `data:` line's JSON (or `[DONE]`): what both extension-style baselines do per line. */
function countLine(line: string, into: Counted): void {
  if (!line.startsWith('data: ')) return;
  const data = line.slice(6).trim();
  if (data === '[DONE]') return;
  const chunk = JSON.parse(data) as { choices?: { delta?: { content?: unknown } }[] };
  const text = chunk.choices?.[0]?.delta?.content;
  if (typeof text === 'string') {
    into.tokens++;
    into.chars += text.length;
  }
}

/**
 * Baseline "fetch + split": global fetch (undici's), a streaming TextDecoder, a string buffer split on "\n", JSON.parse
 * of each `data: ` line. The approach of Continue's OpenAI-compatible streaming (written here from scratch).
 */
async function fetchSplitOnce(url: string): Promise<Counted & { ms: number }> {
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST',
    headers: { accept: 'text/event-stream', 'content-type': 'application/json' },
    body: CHAT_BODY,
  });
  const out: Counted = { tokens: 0, chars: 0 };
  const decoder = new TextDecoder();
  let buffer = '';
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    const lines = buffer.split('\n');
    buffer = lines.pop() ?? '';
    for (const line of lines) countLine(line, out);
  }
  buffer += decoder.decode();
  if (buffer !== '') countLine(buffer, out);
  return { ...out, ms: performance.now() - t0 };
}

/**
 * Baseline "toString + split": node:http, each chunk's `toString()` (no streaming decoder: a character split across
 * chunks becomes U+FFFD), the unfinished last line carried over, JSON.parse of each `data: ` line. The approach of
 * llama.vscode (written here from scratch).
 */
function toStringSplitOnce(agent: http.Agent, url: string): Promise<Counted & { ms: number }> {
  const t0 = performance.now();
  const target = new URL(`${url}/v1/chat/completions`);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: target.hostname, port: target.port, path: target.pathname, method: 'POST', agent, headers: { accept: 'text/event-stream', 'content-type': 'application/json' } },
      (res) => {
        const out: Counted = { tokens: 0, chars: 0 };
        let rest = '';
        res.on('data', (chunk: Buffer) => {
          const lines = (rest + chunk.toString()).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) countLine(line, out);
        });
        res.on('end', () => {
          if (rest !== '') countLine(rest, out);
          resolve({ ...out, ms: performance.now() - t0 });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(CHAT_BODY);
  });
}

async function hostOverhead(source: LoopbackSse, notes: string[]): Promise<Metric[]> {
  const spec: StreamSpec = { tokens: FAST_TOKENS, text: 'captured', reportedRate: 1000 };
  const expected = answerText(spec);
  await source.configure(spec, { kind: 'fast', eventsPerWrite: EVENTS_PER_WRITE });
  const eventBytes = buildEvents(spec).tokens.reduce((a, e) => a + Buffer.byteLength(e), 0);
  const agent = new Agent({ keepAliveTimeout: 4_000 });
  const nodeAgent = new http.Agent({ keepAlive: true });
  const host = await HostPath.create({ baseUrl: source.url, post: () => undefined });
  try {
    const samples = await interleaved(
      {
        floor: async () => {
          const r = await floorOnce(agent, source.url);
          if (r.tokens !== FAST_TOKENS || r.chars !== expected.length) throw new Error(`floor saw ${r.tokens} tokens`);
          return r.ms;
        },
        fetchSplit: async () => {
          const r = await fetchSplitOnce(source.url);
          if (r.tokens !== FAST_TOKENS || r.chars !== expected.length) throw new Error(`fetch + split saw ${r.tokens} tokens, ${r.chars} chars`);
          return r.ms;
        },
        toStringSplit: async () => {
          const r = await toStringSplitOnce(nodeAgent, source.url);
          // Characters split across chunks turn into U+FFFD here (one or two each), so only the tokens must match.
          if (r.tokens !== FAST_TOKENS) throw new Error(`toString + split saw ${r.tokens} tokens`);
          return r.ms;
        },
        host: async () => {
          const r = await host.streamOnce();
          if (r.message.status !== 'complete' || r.message.content !== expected) {
            throw new Error(`host path ended ${r.message.status} with ${r.message.content.length} of ${expected.length} chars`);
          }
          return r.ms;
        },
      },
      { warmup: 3, rounds: FAST_ROUNDS, gcBetween: true },
    );
    const floorMs = median(samples.floor);
    const hostMs = median(samples.host);
    const fetchMs = median(samples.fetchSplit);
    const toStringMs = median(samples.toStringSplit);
    const perRound = samples.host.map((h, i) => h / samples.floor[i]);
    notes.push(
      `Source: a worker-thread node:http server on 127.0.0.1 replaying the captured llama-server chunks ` +
        `(timings_per_token + include_usage shape, ${FAST_TOKENS.toLocaleString('en')} captured tokens cycled, ${round(expected.length / FAST_TOKENS)} characters each on average, ~${Math.round(eventBytes / FAST_TOKENS)} bytes per SSE event, ` +
        `${Buffer.byteLength(expected).toLocaleString('en')} bytes of text), ${EVENTS_PER_WRITE} events per write, as fast as the socket takes them.`,
      `Floor = undici request → streaming TextDecoder → eventsource-parser → JSON.parse. Host = ChatSession.send() in a ` +
        `fresh chat until \`streamEnded\`: LlamaClient, ChatStreamDecoder, ThroughputMeter, StaleWatchdog, ChatStore ` +
        `(temp dir, appends + final compaction with fsync), PostCoalescer with a no-op post.`,
      `Two more baselines on the same bytes in the same rounds, both bare parsing as other extensions do it (our own ` +
        `code): "fetch + split" = global fetch → streaming TextDecoder → split on "\\n" → JSON.parse per \`data: \` line ` +
        `(Continue's approach); "toString + split" = node:http → per-chunk \`toString()\` → split → JSON.parse (llama.vscode's; ` +
        `it turns characters split across chunks into U+FFFD, so only its token count is checked).`,
      `${FAST_ROUNDS} interleaved rounds after 3 warm-up rounds. Medians: floor ${round(floorMs)} ms, fetch + split ${round(fetchMs)} ms, ` +
        `toString + split ${round(toStringMs)} ms, host ${round(hostMs)} ms; host/floor per round min ${round(Math.min(...perRound))}, ` +
        `median ${round(median(perRound))}, max ${round(Math.max(...perRound))}.`,
    );
    const floorTps = (FAST_TOKENS * 1000) / floorMs;
    const hostTps = (FAST_TOKENS * 1000) / hostMs;
    return [
      ratioMetric('host stream path: time for 50k tokens', hostMs, 'ms', { name: 'floor (undici+TextDecoder+eventsource-parser+JSON.parse)', value: floorMs }, { op: '<=', value: 1.1 }),
      ratioMetric('host stream path vs fetch + split + JSON.parse (Continue-style)', hostMs, 'ms', { name: 'fetch + split + JSON.parse', value: fetchMs }),
      ratioMetric('host stream path vs per-chunk toString + split (llama.vscode-style)', hostMs, 'ms', { name: 'toString + split + JSON.parse', value: toStringMs }),
      metric('host stream path: sustained throughput', hostTps, 'tok/s', { op: '>=', value: 50_000 }),
      metric('floor: throughput', floorTps, 'tok/s'),
    ];
  } finally {
    await host.dispose();
    await agent.close();
    nodeAgent.destroy();
  }
}

interface PostLog {
  at: number;
  type: ToWebviewMessage['type'];
  bytes: number;
}

async function webviewPosts(source: LoopbackSse, notes: string[]): Promise<Metric[]> {
  const tokens = PACED_RATE * PACED_SECONDS;
  const spec: StreamSpec = { tokens, text: 'captured', reportedRate: PACED_RATE };
  const textBytes = Buffer.byteLength(answerText(spec));
  await source.configure(spec, { kind: 'paced', rate: PACED_RATE });
  let log: PostLog[] = [];
  const host = await HostPath.create({
    baseUrl: source.url,
    post: (m) => log.push({ at: performance.now(), type: m.type, bytes: Buffer.byteLength(JSON.stringify(m)) }),
  });
  const runs: { rate: number; peak: number; deltaRate: number; streamRatio: number; totalRatio: number; ms: number }[] = [];
  try {
    for (let run = 0; run < PACED_RUNS; run++) {
      log = [];
      const r = await host.streamOnce();
      if (r.message.status !== 'complete') throw new Error(`paced stream ended ${r.message.status}`);
      // The stream's posts: from the first delta to the final `done` (messageAdded posts come before it).
      const first = log.findIndex((p) => p.type === 'delta');
      const streamPosts = log.slice(first);
      const span = (streamPosts[streamPosts.length - 1].at - streamPosts[0].at) / 1000;
      let peak = 0;
      for (let i = 0, j = 0; i < streamPosts.length; i++) {
        while (streamPosts[i].at - streamPosts[j].at > 1000) j++;
        peak = Math.max(peak, i - j + 1);
      }
      const live = streamPosts.filter((p) => p.type !== 'done');
      const liveBytes = live.reduce((a, p) => a + p.bytes, 0);
      const allBytes = streamPosts.reduce((a, p) => a + p.bytes, 0);
      runs.push({
        rate: streamPosts.length / span,
        peak,
        deltaRate: streamPosts.filter((p) => p.type === 'delta').length / span,
        streamRatio: liveBytes / textBytes,
        totalRatio: allBytes / textBytes,
        ms: span * 1000,
      });
    }
  } finally {
    await host.dispose();
  }
  const pick = (f: (x: (typeof runs)[number]) => number): number => median(runs.map(f));
  notes.push(
    `Paced source: ${PACED_RATE.toLocaleString('en')} tok/s for ${PACED_SECONDS} s (${tokens.toLocaleString('en')} tokens, ` +
      `${textBytes.toLocaleString('en')} bytes of text), written every ~1 ms on the real clock; full host path as above, ` +
      `post() records each message and its JSON size (UTF-8). Median of ${PACED_RUNS} runs; the stream's posts span ` +
      `${round(pick((x) => x.ms))} ms from the first delta to \`done\`.`,
    `The final \`done\` post carries the finished message's fields and text lengths, not its text (the webview has it ` +
      `from the deltas and asks for a snapshot if its lengths differ); counting it the bytes are ` +
      `${round(pick((x) => x.totalRatio))}× the text; the goal is checked on the streaming posts (delta, usage).`,
  );
  return [
    metric('webview posts at 5,000 tok/s: posts per second (all types)', pick((x) => x.rate), 'posts/s', { op: '<=', value: 60 }),
    metric('webview posts at 5,000 tok/s: busiest 1 s window', pick((x) => x.peak), 'posts', { op: '<=', value: 60 }),
    metric('webview posts at 5,000 tok/s: delta posts per second', pick((x) => x.deltaRate), 'posts/s'),
    metric('webview posts at 5,000 tok/s: streaming bytes posted / text bytes', pick((x) => x.streamRatio), '×', { op: '<=', value: 1.2 }),
    metric('webview posts at 5,000 tok/s: all bytes incl. final done / text bytes', pick((x) => x.totalRatio), '×'),
  ];
}

void runPart('streaming', 'Host streaming path and webview posts', async (notes) => {
  const source = await LoopbackSse.start();
  try {
    const overhead = await hostOverhead(source, notes);
    const posts = await webviewPosts(source, notes);
    return [...overhead, ...posts];
  } finally {
    await source.stop();
  }
});
