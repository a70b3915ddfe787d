/**
 * A deterministic random-weight llama model on a real tokenizer (the Phi-3 vocab file shipped in the llama.cpp
 * source): ~10 MB, loads in a blink and streams gibberish through the real protocol.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { GGML_TYPE, readGguf, toFloat16Bits, writeGguf } from './gguf';
import type { GgufKv, GgufTensor } from './gguf';
import { ensureLlamaSource } from './llamaBuild';
import { llamaVersionDir, NODE_LLAMA_CPP_VERSION } from './paths';

export interface TinyModelRecipe {
  /** Bump when the generator changes in a way the other fields do not show. */
  generator: number;
  name: string;
  nLayer: number;
  nEmbd: number;
  nHead: number;
  nHeadKv: number;
  nFf: number;
  nCtx: number;
  rmsEps: number;
  ropeFreqBase: number;
  seed: number;
  /** Weights are uniform in [-weightScale, weightScale]; norms are 1. */
  weightScale: number;
}

export const DEFAULT_TINY_RECIPE: TinyModelRecipe = {
  generator: 1,
  name: 'llama-server-chat tiny',
  nLayer: 2,
  nEmbd: 128,
  nHead: 4,
  nHeadKv: 2,
  nFf: 256,
  nCtx: 2048,
  rmsEps: 1e-5,
  ropeFreqBase: 10000,
  seed: 20240611,
  weightScale: 0.05,
};

/** The vocab file (under the llama.cpp source's `models/`) whose tokenizer the model uses. */
export const TINY_MODEL_VOCAB = 'ggml-vocab-phi-3.gguf';

/** Small, fast, seeded PRNG (mulberry32): the same seed gives the same weights on every machine. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The tokenizer.* metadata of a GGUF vocab file, in file order. */
export function tokenizerKvs(vocabBytes: Uint8Array): GgufKv[] {
  return readGguf(vocabBytes).kvs.filter((kv) => kv.key.startsWith('tokenizer.'));
}

/**
 * Builds the model file bytes from tokenizer metadata and a recipe. Pure and deterministic: equal inputs give
 * equal bytes.
 */
export function buildTinyModel(tokenizer: readonly GgufKv[], recipe: TinyModelRecipe = DEFAULT_TINY_RECIPE): Uint8Array {
  const tokens = tokenizer.find((kv) => kv.key === 'tokenizer.ggml.tokens')?.value;
  if (!tokens || tokens.type !== 'array' || tokens.values.length === 0) {
    throw new Error('tokenizer metadata lacks tokenizer.ggml.tokens');
  }
  const nVocab = tokens.values.length;
  const { nEmbd, nHead, nHeadKv, nFf, nLayer } = recipe;
  if (nEmbd % nHead !== 0) throw new Error('nEmbd must be a multiple of nHead');
  const headDim = nEmbd / nHead;
  const nEmbdKv = headDim * nHeadKv;
  const random = seededRandom(recipe.seed);

  const f32 = (dims: number[], fill?: number): Uint8Array => {
    const n = dims.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    for (let i = 0; i < n; i++) values[i] = fill ?? (random() * 2 - 1) * recipe.weightScale;
    return new Uint8Array(values.buffer);
  };
  const f16 = (dims: number[]): Uint8Array => {
    const n = dims.reduce((a, b) => a * b, 1);
    const values = new Uint16Array(n);
    for (let i = 0; i < n; i++) values[i] = toFloat16Bits((random() * 2 - 1) * recipe.weightScale);
    return new Uint8Array(values.buffer);
  };

  // Shapes are ne[0] first: a weight mapping n_in -> n_out is [n_in, n_out].
  const tensors: GgufTensor[] = [
    { name: 'token_embd.weight', dims: [nEmbd, nVocab], type: GGML_TYPE.F16, data: f16([nEmbd, nVocab]) },
    { name: 'output_norm.weight', dims: [nEmbd], type: GGML_TYPE.F32, data: f32([nEmbd], 1) },
  ];
  for (let l = 0; l < nLayer; l++) {
    const t = (name: string, dims: number[], fill?: number): GgufTensor => ({
      name: `blk.${l}.${name}.weight`,
      dims,
      type: GGML_TYPE.F32,
      data: f32(dims, fill),
    });
    tensors.push(
      t('attn_norm', [nEmbd], 1),
      t('attn_q', [nEmbd, nEmbd]),
      t('attn_k', [nEmbd, nEmbdKv]),
      t('attn_v', [nEmbd, nEmbdKv]),
      t('attn_output', [nEmbd, nEmbd]),
      t('ffn_norm', [nEmbd], 1),
      t('ffn_gate', [nEmbd, nFf]),
      t('ffn_up', [nEmbd, nFf]),
      t('ffn_down', [nFf, nEmbd]),
    );
  }

  const kvs: GgufKv[] = [
    { key: 'general.architecture', value: { type: 'string', value: 'llama' } },
    { key: 'general.name', value: { type: 'string', value: recipe.name } },
    { key: 'general.file_type', value: { type: 'u32', value: 1 } }, // mostly F16
    { key: 'llama.context_length', value: { type: 'u32', value: recipe.nCtx } },
    { key: 'llama.embedding_length', value: { type: 'u32', value: nEmbd } },
    { key: 'llama.block_count', value: { type: 'u32', value: nLayer } },
    { key: 'llama.feed_forward_length', value: { type: 'u32', value: nFf } },
    { key: 'llama.attention.head_count', value: { type: 'u32', value: nHead } },
    { key: 'llama.attention.head_count_kv', value: { type: 'u32', value: nHeadKv } },
    { key: 'llama.attention.layer_norm_rms_epsilon', value: { type: 'f32', value: recipe.rmsEps } },
    { key: 'llama.rope.dimension_count', value: { type: 'u32', value: headDim } },
    { key: 'llama.rope.freq_base', value: { type: 'f32', value: recipe.ropeFreqBase } },
    ...tokenizer,
  ];
  return writeGguf({ kvs, tensors });
}

/** Content hash of what determines the model's bytes (recipe + vocab identity), used as its cache key. */
export function recipeHash(recipe: TinyModelRecipe, vocabId: string): string {
  return createHash('sha256').update(JSON.stringify({ recipe, vocabId })).digest('hex').slice(0, 16);
}

export interface EnsureTinyModelOptions {
  recipe?: TinyModelRecipe;
  /** A GGUF vocab file; default: `models/ggml-vocab-phi-3.gguf` in the cached llama.cpp source. */
  vocabPath?: string;
  /** Where the model is cached; default: the llama-server version folder. */
  dir?: string;
  onProgress?: (line: string) => void;
}

/**
 * Path of the tiny model, written once and cached (keyed by the recipe's hash). `$LLAMA_CHAT_MODEL` overrides it
 * with any model file.
 */
export async function ensureTinyModel(options: EnsureTinyModelOptions = {}): Promise<string> {
  const fromEnv = process.env.LLAMA_CHAT_MODEL;
  if (fromEnv && !options.vocabPath && !options.recipe) {
    if (!fs.existsSync(fromEnv)) throw new Error(`LLAMA_CHAT_MODEL=${fromEnv} does not exist`);
    return path.resolve(fromEnv);
  }
  const recipe = options.recipe ?? DEFAULT_TINY_RECIPE;
  const vocabId = options.vocabPath ? `file:${path.resolve(options.vocabPath)}` : `node-llama-cpp@${NODE_LLAMA_CPP_VERSION}:${TINY_MODEL_VOCAB}`;
  const dir = options.dir ?? llamaVersionDir();
  const file = path.join(dir, `tiny-${recipeHash(recipe, vocabId)}.gguf`);
  if (fs.existsSync(file)) return file;
  const vocabPath = options.vocabPath ?? path.join(await ensureLlamaSource({ onProgress: options.onProgress }), 'models', TINY_MODEL_VOCAB);
  options.onProgress?.(`tiny model: writing ${file}`);
  const bytes = buildTinyModel(tokenizerKvs(fs.readFileSync(vocabPath)), recipe);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
  return file;
}
