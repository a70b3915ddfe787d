/**
 * Part 3: the cost of applying one streamed delta to an answer of ~1,000 vs ~100,000 characters (Markdown with
 * code blocks) in jsdom, with the real reducer and components; beside it, in the same run, a naive renderer that
 * lexes and renders the whole Markdown from scratch on every delta.
 */
import { h } from 'preact';
import type { JSX } from 'preact';
import { Lexer } from 'marked';
import type { Chat, ChatMessage } from '../src/core/chats/chat';
import type { ToWebviewMessage, ViewState } from '../src/protocol';
import { MessageList } from '../webview/components/messageList';
import { Markdown } from '../webview/markdown/markdown';
import { renderBlockToken } from '../webview/markdown/render';
import { initialModel, reduce } from '../webview/state';
import type { ViewModel } from '../webview/state';
import { mount } from '../test/unit/webview/dom';
import type { Mounted } from '../test/unit/webview/dom';
import { ratioMetric, metric, runPart } from './lib/results';
import { interleaved, median, percentile, round } from './lib/stats';

const DELTA_CHARS = 80;
const ROUNDS = 20;

/** One section of a typical coding answer; the answer repeats it, so both cut points sit at the same spot. */
const UNIT = [
  '## Reading the config\n\n',
  'The loader reads **settings.json** first, then applies `overrides` from the workspace. ',
  'Missing keys fall back to the defaults, and invalid values are reported once.\n\n',
  '- parse the file with `JSON.parse`\n- validate each key\n- merge with the defaults\n\n',
  '```ts\n',
  'export function loadConfig(path: string): Config {\n',
  '  const raw = fs.readFileSync(path, "utf8");\n',
  '  const parsed = JSON.parse(raw) as Partial<Config>;\n',
  '  // Unknown keys are ignored on purpose.\n',
  '  for (const key of Object.keys(parsed)) {\n',
  '    if (!(key in DEFAULTS)) delete parsed[key as keyof Config];\n',
  '  }\n',
  '  return { ...DEFAULTS, ...parsed, retries: Math.max(0, parsed.retries ?? 3) };\n',
  '}\n',
  '```\n\n',
  'After that, call `loadConfig()` once at start-up and pass the result down; see the [docs](https://example.com/docs) for details.\n\n',
].join('');

/** The text position of the cut inside the unit: in the middle of the code block (an open, growing block). */
const CUT_IN_UNIT = UNIT.indexOf('  for (const key');

function answer(units: number): string {
  return UNIT.repeat(units);
}

/** Base length ≈ target: whole units before the cut point. */
function cutFor(target: number): number {
  const units = Math.max(0, Math.round((target - CUT_IN_UNIT) / UNIT.length));
  return units * UNIT.length + CUT_IN_UNIT;
}

function NaiveMarkdown({ text }: { text: string }): JSX.Element {
  const tokens = new Lexer({ gfm: true, breaks: false }).lex(text);
  return h(
    'div',
    { class: 'markdown' },
    tokens.map((t) => h('div', { class: 'md-block' }, renderBlockToken(t))),
  );
}

/** A mounted message list fed through the real reducer: a snapshot of `base` characters, then deltas. */
class ListCase {
  private model: ViewModel = initialModel;
  private readonly mounted: Mounted;
  private seq = 0;
  private length: number;

  constructor(
    private readonly text: string,
    private readonly base: number,
  ) {
    this.length = base;
    this.mounted = mount(h('div', null));
    this.reset();
  }

  private draw(): void {
    const chat = this.model.activeChat!;
    this.mounted.rerender(h(MessageList, { chat, streaming: this.model.streaming }));
  }

  private reset(): void {
    const user: ChatMessage = { id: 'u1', role: 'user', content: 'How do I load the config?', status: 'complete', createdAt: 1 };
    const bot: ChatMessage = { id: 'a1', parentId: 'u1', role: 'assistant', content: this.text.slice(0, this.base), status: 'streaming', createdAt: 2 };
    const chat: Chat = { id: 'c1', title: 'Config', createdAt: 1, updatedAt: 2, messageCount: 2, messages: [user, bot] };
    this.seq += 1;
    const state: ViewState = {
      chats: [{ id: 'c1', title: 'Config', createdAt: 1, updatedAt: 2, messageCount: 2 }],
      activeChatId: 'c1',
      activeChat: chat,
      streaming: [{ chatId: 'c1', messageId: 'a1', seq: this.seq, stale: false, phase: 'generating' }],
      connection: { state: 'unknown' },
      model: undefined,
    };
    this.model = reduce(this.model, { type: 'snapshot', state });
    this.draw();
  }

  /** Times one delta (reducer + render + DOM update); the answer keeps growing, as it does while streaming. */
  deltaMs(): number {
    this.seq += 1;
    const from = this.length;
    const msg: ToWebviewMessage = { type: 'delta', chatId: 'c1', messageId: 'a1', seq: this.seq, text: this.text.slice(from, from + DELTA_CHARS) };
    const t0 = performance.now();
    this.model = reduce(this.model, msg);
    this.draw();
    const ms = performance.now() - t0;
    this.length += DELTA_CHARS;
    if (this.model.activeChat!.messages[1].content.length !== this.length) throw new Error('the delta was not applied');
    return ms;
  }

  get chars(): number {
    return this.length;
  }
}

/** A bare Markdown component (incremental or naive) given one more delta of the same answer per sample. */
class MarkdownCase {
  private readonly mounted: Mounted;
  private length: number;

  constructor(
    private readonly text: string,
    base: number,
    private readonly naive: boolean,
  ) {
    this.length = base;
    this.mounted = mount(this.vnode(base));
  }

  private vnode(length: number): JSX.Element {
    const text = this.text.slice(0, length);
    return this.naive ? h(NaiveMarkdown, { text }) : h(Markdown, { text, streaming: true });
  }

  deltaMs(): number {
    this.length += DELTA_CHARS;
    const t0 = performance.now();
    this.mounted.rerender(this.vnode(this.length));
    return performance.now() - t0;
  }
}

void runPart('render', 'Rendering cost vs answer length (jsdom)', async (notes) => {
  const text = answer(Math.ceil(110_000 / UNIT.length));
  const small = cutFor(1_000);
  const large = cutFor(100_000);
  const list = { small: new ListCase(text, small), large: new ListCase(text, large) };
  const md = { small: new MarkdownCase(text, small, false), large: new MarkdownCase(text, large, false) };
  const naive = { small: new MarkdownCase(text, small, true), large: new MarkdownCase(text, large, true) };
  const s = await interleaved(
    {
      listSmall: () => list.small.deltaMs(),
      listLarge: () => list.large.deltaMs(),
      mdSmall: () => md.small.deltaMs(),
      mdLarge: () => md.large.deltaMs(),
      naiveSmall: () => naive.small.deltaMs(),
      naiveLarge: () => naive.large.deltaMs(),
    },
    { warmup: 3, rounds: ROUNDS, gcBetween: true },
  );
  const m = Object.fromEntries(Object.entries(s).map(([k, v]) => [k, median(v)])) as Record<keyof typeof s, number>;
  const codeBlocks = (text.slice(0, large).match(/```ts/g) ?? []).length;
  notes.push(
    `Answer: a ${UNIT.length}-character section (heading, paragraph, list, a 10-line TypeScript code block, link) ` +
      `repeated; cut at ${small.toLocaleString('en')} and ${large.toLocaleString('en')} characters (${codeBlocks} code ` +
      `blocks), both inside an open code block, then one ${DELTA_CHARS}-character delta (about 16 tokens: one coalesced post).`,
    `Full path = webview/state.ts reduce() of the \`delta\` message + Preact render of <MessageList> + DOM update, ` +
      `synchronously flushed (preact/test-utils act) in jsdom. Markdown only = <Markdown streaming> given the longer text. ` +
      `Naive = marked's Lexer over the whole text + renderBlockToken for every block on each delta (same renderer, no block reuse).`,
    `${ROUNDS} interleaved rounds of the six cases after 3 warm-up rounds; medians. jsdom has no layout or paint: ` +
      `browser costs show in the end-to-end part.`,
  );
  return [
    ratioMetric('render one delta (reducer + MessageList), ~100k-char answer', m.listLarge, 'ms', { name: `same at ~1k chars (${small} chars)`, value: m.listSmall }, { op: '<=', value: 2 }),
    ratioMetric('render one delta (Markdown component only), ~100k-char answer', m.mdLarge, 'ms', { name: '~1k chars', value: m.mdSmall }, { op: '<=', value: 2 }),
    ratioMetric('naive full re-render per delta, ~100k-char answer', m.naiveLarge, 'ms', { name: '~1k chars', value: m.naiveSmall }),
    ratioMetric('naive vs incremental Markdown at ~100k chars', m.naiveLarge, 'ms', { name: 'incremental Markdown', value: m.mdLarge }),
    metric('render one delta (reducer + MessageList), ~1k-char answer', m.listSmall, 'ms', undefined, `p90 ${round(percentile(s.listSmall, 90))} ms`),
    metric('render one delta (reducer + MessageList), ~100k-char answer, p90', percentile(s.listLarge, 90), 'ms'),
  ];
});
