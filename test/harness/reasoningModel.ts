/**
 * A tiny reasoning model for tests: the same deterministic random-weight llama model as `tinyModel.ts`, written on
 * the Qwen2 vocab of the llama.cpp source (`models/ggml-vocab-qwen2.gguf`), given Qwen3's added tokens (`<think>`,
 * `</think>`, … in place of the `[PAD…]` placeholders at Qwen3's ids) and Qwen3's chat template
 * (`models/templates/Qwen-Qwen3-0.6B.jinja`) as its `tokenizer.chat_template`. With that template llama-server
 * recognises the reasoning format: `<think>…</think>` output (forced by a grammar, see REASONING_GRAMMAR) arrives as
 * `delta.reasoning_content`, `chat_template_kwargs.enable_thinking` is honoured and `reasoning_control` lets
 * `POST /v1/chat/completions/control` end the thinking of a running request.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { GgufKv } from './gguf';
import { ensureLlamaSource } from './llamaBuild';
import { llamaVersionDir, NODE_LLAMA_CPP_VERSION } from './paths';
import { buildTinyModel, DEFAULT_TINY_RECIPE, recipeHash, tokenizerKvs } from './tinyModel';
import type { TinyModelRecipe } from './tinyModel';

export const REASONING_MODEL_VOCAB = 'ggml-vocab-qwen2.gguf';
export const REASONING_MODEL_TEMPLATE = path.join('templates', 'Qwen-Qwen3-0.6B.jinja');

/**
 * 2 layers, 128 wide like the tiny model; the 151,936-token vocab makes it ~45 MB. Trained context 8,192, so long
 * thinking fits.
 */
export const DEFAULT_REASONING_RECIPE: TinyModelRecipe = {
  ...DEFAULT_TINY_RECIPE,
  name: 'llama-server-chat tiny reasoning',
  nCtx: 8192,
};

/**
 * A grammar whose answer thinks first: the `<think>` token, up to `maxChars` characters of lowercase words, the
 * `</think>` token, then `answer`. Token literals, not text: the server's reasoning-budget sampler follows tokens,
 * so only a real `<think>` token starts the thinking it can end, and the `</think>` token that `reasoning_end`
 * forces must be one the grammar allows at any point of the thinking (a text `"</think>"` after a minimum length
 * would reject it). The tiny model (temperature 0) writes words up to `maxChars`.
 */
export function reasoningGrammar(options: { maxChars?: number; answer?: string } = {}): string {
  const max = options.maxChars ?? 400;
  const answer = JSON.stringify(options.answer ?? 'The answer is **42**.');
  return `root ::= <think> [a-z ]{0,${max}} </think> ${answer}`;
}

export interface EnsureReasoningModelOptions {
  recipe?: TinyModelRecipe;
  /** The llama.cpp source folder holding `models/` (default: the harness's cached source). */
  sourceDir?: string;
  /** Where the model is cached; default: the llama-server version folder. */
  dir?: string;
  onProgress?: (line: string) => void;
}

/**
 * Qwen3's tokens that the Qwen2 vocab only has as `[PAD…]` placeholders (same ids as in Qwen3, user-defined type
 * there too). Without single `<think>`/`</think>` tokens the server's reasoning-budget sampler (which
 * `reasoning_control` arms and `reasoning_end` forces) never sees the thinking start, and the control does nothing.
 */
export const QWEN3_ADDED_TOKENS: ReadonlyMap<number, string> = new Map([
  [151657, '<tool_call>'],
  [151658, '</tool_call>'],
  [151665, '<tool_response>'],
  [151666, '</tool_response>'],
  [151667, '<think>'],
  [151668, '</think>'],
]);

/**
 * The vocab's tokenizer metadata made Qwen3-like: the added tokens above put in place of their placeholders, and
 * the chat template replaced by `template`.
 */
export function qwen3Tokenizer(tokenizer: readonly GgufKv[], template: string): GgufKv[] {
  const out: GgufKv[] = [];
  for (const kv of tokenizer) {
    if (kv.key === 'tokenizer.chat_template') continue;
    if (kv.key === 'tokenizer.ggml.tokens' && kv.value.type === 'array') {
      const values = [...kv.value.values];
      for (const [id, text] of QWEN3_ADDED_TOKENS) {
        if (id >= values.length || !/^\[PAD\d+\]$/.test(String(values[id]))) throw new Error(`token ${id} is not a placeholder (${String(values[id])})`);
        values[id] = text;
      }
      out.push({ key: kv.key, value: { ...kv.value, values } });
    } else {
      out.push(kv);
    }
  }
  out.push({ key: 'tokenizer.chat_template', value: { type: 'string', value: template } });
  return out;
}

/**
 * Path of the tiny reasoning model, written once and cached, keyed by the recipe, the vocab and the template's
 * content (`tiny-reasoning-<hash>.gguf`).
 */
export async function ensureReasoningModel(options: EnsureReasoningModelOptions = {}): Promise<string> {
  const recipe = options.recipe ?? DEFAULT_REASONING_RECIPE;
  const source = options.sourceDir ?? (await ensureLlamaSource({ onProgress: options.onProgress }));
  const templatePath = path.join(source, 'models', REASONING_MODEL_TEMPLATE);
  const template = fs.readFileSync(templatePath, 'utf8');
  const templateHash = createHash('sha256').update(template).digest('hex').slice(0, 16);
  const vocabId = `${options.sourceDir ? `file:${path.resolve(options.sourceDir)}` : `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`}:${REASONING_MODEL_VOCAB}+qwen3-tokens:template-${templateHash}`;
  const dir = options.dir ?? llamaVersionDir();
  const file = path.join(dir, `tiny-reasoning-${recipeHash(recipe, vocabId)}.gguf`);
  if (fs.existsSync(file)) return file;
  options.onProgress?.(`tiny reasoning model: writing ${file}`);
  const tokenizer = qwen3Tokenizer(tokenizerKvs(fs.readFileSync(path.join(source, 'models', REASONING_MODEL_VOCAB))), template);
  const bytes = buildTinyModel(tokenizer, recipe);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
  return file;
}
