/**
 * Builds llama-server SSE streams from the captured real chunks (test/fixtures/llama-server-frames.txt): the same
 * JSON objects with the token text and running `timings` replaced, exactly as a `timings_per_token` +
 * `include_usage` stream (what LlamaClient asks for) looks on the wire.
 */
import { findFrame, parseFrames } from '../../test/support/frames';

export interface StreamSpec {
  tokens: number;
  /** Token text for index i; default: the captured tokens, cycled. */
  text?: 'captured' | 'ids';
  /** The server-side rate written into `timings` (tok/s); the fast source ignores it for pacing. */
  reportedRate: number;
}

type Json = Record<string, unknown>;

interface Templates {
  role: Json;
  content: Json;
  finish: Json;
  usage: Json;
  tokens: string[];
}

let cached: Templates | undefined;

function dataObjects(body: Buffer): Json[] {
  return body
    .toString('utf8')
    .split('\n')
    .filter((line) => line.startsWith('data: {'))
    .map((line) => JSON.parse(line.slice(6)) as Json);
}

function templates(): Templates {
  if (cached) return cached;
  const sections = parseFrames();
  const perToken = dataObjects(findFrame(sections, 'STREAM: timings_per_token=true').body);
  const tokens: string[] = [];
  for (const section of sections) {
    if (!section.isSse) continue;
    for (const obj of dataObjects(section.body)) {
      const choice = (obj.choices as { delta?: { content?: unknown } }[] | undefined)?.[0];
      const text = choice?.delta?.content;
      if (typeof text === 'string' && text !== '') tokens.push(text);
    }
  }
  const withContent = perToken.filter((o) => typeof (o.choices as { delta?: { content?: unknown } }[])[0]?.delta?.content === 'string');
  cached = {
    role: perToken[0],
    content: withContent[withContent.length - 1],
    finish: perToken.find((o) => (o.choices as { finish_reason?: unknown }[])[0]?.finish_reason != null)!,
    usage: perToken.find((o) => o.usage !== undefined)!,
    tokens,
  };
  return cached;
}

/** The text of token i: a captured token, or an id token " k<i>" that the latency benchmark can find in the DOM. */
export function tokenText(spec: StreamSpec, i: number): string {
  if (spec.text === 'ids') return ` k${i}`;
  const { tokens } = templates();
  return tokens[i % tokens.length];
}

/** Every token's text joined: what the answer must read in the end. */
export function answerText(spec: StreamSpec): string {
  let text = '';
  for (let i = 0; i < spec.tokens; i++) text += tokenText(spec, i);
  return text;
}

function timings(base: Json, n: number, rate: number): Json {
  const ms = n <= 1 ? 0.001 : ((n - 1) * 1000) / rate;
  return {
    ...base,
    predicted_n: n,
    predicted_ms: ms,
    predicted_per_token_ms: n <= 1 ? 0 : ms / (n - 1),
    predicted_per_second: n <= 1 ? 0 : ((n - 1) * 1000) / ms,
  };
}

/**
 * The stream as SSE events (each `data: …\n\n`): `head` (role chunk), one event per token, and `tail` (finish,
 * usage, [DONE]).
 */
export function buildEvents(spec: StreamSpec): { head: string; tokens: string[]; tail: string } {
  const t = templates();
  const baseTimings = t.content.timings as Json;
  const choice = (t.content.choices as Json[])[0];
  const tokens: string[] = new Array<string>(spec.tokens);
  for (let i = 0; i < spec.tokens; i++) {
    const chunk: Json = {
      ...t.content,
      choices: [{ ...choice, delta: { content: tokenText(spec, i) } }],
      timings: timings(baseTimings, i + 1, spec.reportedRate),
    };
    tokens[i] = `data: ${JSON.stringify(chunk)}\n\n`;
  }
  const finalTimings = timings(baseTimings, spec.tokens, spec.reportedRate);
  const usage = {
    ...t.usage,
    usage: { ...(t.usage.usage as Json), completion_tokens: spec.tokens, total_tokens: spec.tokens + 11 },
    timings: finalTimings,
  };
  const tail = `data: ${JSON.stringify(t.finish)}\n\ndata: ${JSON.stringify(usage)}\n\ndata: [DONE]\n\n`;
  return { head: `data: ${JSON.stringify(t.role)}\n\n`, tokens, tail };
}

/** The captured GET /props body (n_ctx, alias), for a fake server's /props. */
export function propsBody(): Buffer {
  return findFrame(parseFrames(), 'GET /props').body;
}
