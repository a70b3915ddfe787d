import * as assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { fromFloat16Bits, GGML_TYPE, getKv, readGguf, tensorData, toFloat16Bits, writeGguf } from '../harness/gguf';
import type { GgufKv } from '../harness/gguf';
import { buildTinyModel, DEFAULT_TINY_RECIPE, seededRandom, tokenizerKvs } from '../harness/tinyModel';
import type { TinyModelRecipe } from '../harness/tinyModel';

/** A tiny synthetic SPM-style vocab: enough metadata for the model writer, no llama.cpp source needed. */
function syntheticVocab(): Uint8Array {
  const tokens = ['<unk>', '<s>', '</s>', '\uFEFF', ' hello', ' world', 'é', '<|end|>'];
  return writeGguf({
    kvs: [
      { key: 'general.architecture', value: { type: 'string', value: 'phi3' } },
      { key: 'tokenizer.ggml.model', value: { type: 'string', value: 'llama' } },
      { key: 'tokenizer.ggml.tokens', value: { type: 'array', itemType: 'string', values: tokens } },
      { key: 'tokenizer.ggml.scores', value: { type: 'array', itemType: 'f32', values: tokens.map((_, i) => -i) } },
      { key: 'tokenizer.ggml.token_type', value: { type: 'array', itemType: 'i32', values: tokens.map((_, i) => (i < 3 ? 3 : 1)) } },
      { key: 'tokenizer.ggml.bos_token_id', value: { type: 'u32', value: 1 } },
      { key: 'tokenizer.ggml.add_bos_token', value: { type: 'bool', value: true } },
    ],
    tensors: [],
  });
}

const SMALL: TinyModelRecipe = { ...DEFAULT_TINY_RECIPE, nEmbd: 16, nHead: 4, nHeadKv: 2, nFf: 24, nLayer: 2, seed: 7 };

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

describe('gguf', () => {
  it('round-trips every metadata type, arrays and tensors', () => {
    const kvs: GgufKv[] = [
      { key: 'a.u8', value: { type: 'u8', value: 250 } },
      { key: 'a.i8', value: { type: 'i8', value: -100 } },
      { key: 'a.u16', value: { type: 'u16', value: 65000 } },
      { key: 'a.i16', value: { type: 'i16', value: -32000 } },
      { key: 'a.u32', value: { type: 'u32', value: 4_000_000_000 } },
      { key: 'a.i32', value: { type: 'i32', value: -2_000_000_000 } },
      { key: 'a.f32', value: { type: 'f32', value: 0.5 } },
      { key: 'a.f64', value: { type: 'f64', value: Math.PI } },
      { key: 'a.u64', value: { type: 'u64', value: 2n ** 63n } },
      { key: 'a.i64', value: { type: 'i64', value: -(2n ** 40n) } },
      { key: 'a.bool', value: { type: 'bool', value: false } },
      { key: 'a.string', value: { type: 'string', value: 'héllo <|end|>' } },
      { key: 'a.bom', value: { type: 'string', value: '\uFEFFx' } },
      { key: 'a.strings', value: { type: 'array', itemType: 'string', values: ['x', '', 'ünï'] } },
      { key: 'a.i32s', value: { type: 'array', itemType: 'i32', values: [1, -2, 3] } },
      { key: 'a.empty', value: { type: 'array', itemType: 'f32', values: [] } },
    ];
    const f32 = new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer);
    const f16 = new Uint8Array(new Uint16Array([toFloat16Bits(1), toFloat16Bits(-2), toFloat16Bits(0.25)]).buffer);
    const bytes = writeGguf({
      kvs,
      tensors: [
        { name: 'w', dims: [3, 2], type: GGML_TYPE.F32, data: f32 },
        { name: 'e', dims: [3], type: GGML_TYPE.F16, data: f16 },
      ],
    });
    const file = readGguf(bytes);
    assert.equal(file.version, 3);
    assert.deepEqual(file.kvs, kvs);
    assert.deepEqual(
      file.tensors.map((t) => [t.name, t.dims, t.type]),
      [
        ['w', [3, 2], GGML_TYPE.F32],
        ['e', [3], GGML_TYPE.F16],
      ],
    );
    assert.equal(file.dataOffset % 32, 0);
    for (const t of file.tensors) assert.equal(t.offset % 32, 0, `${t.name} aligned`);
    assert.deepEqual(Buffer.from(tensorData(file, bytes, 'w')), Buffer.from(f32));
    assert.deepEqual(Buffer.from(tensorData(file, bytes, 'e')), Buffer.from(f16));
  });

  it('rejects a file that is not GGUF and one that is cut short', () => {
    assert.throws(() => readGguf(new Uint8Array(16)), /not a GGUF file/);
    const bytes = syntheticVocab();
    assert.throws(() => readGguf(bytes.subarray(0, Math.floor(bytes.length / 2))), /truncated/);
  });

  it('refuses tensor data whose size does not match the shape', () => {
    assert.throws(() => writeGguf({ kvs: [], tensors: [{ name: 'x', dims: [4], type: GGML_TYPE.F32, data: new Uint8Array(12) }] }), /needs 16/);
  });

  it('converts to half precision with round-to-nearest-even', () => {
    for (const v of [0, 1, -2, 0.5, 65504, 2 ** -24, -(2 ** -14)]) assert.equal(fromFloat16Bits(toFloat16Bits(v)), v);
    assert.equal(toFloat16Bits(1 + 2 ** -11), 0x3c00); // tie -> even
    assert.equal(toFloat16Bits(1 + 3 * 2 ** -11), 0x3c02); // tie -> even (up)
    assert.equal(toFloat16Bits(1e6), 0x7c00);
    assert.ok(Number.isNaN(fromFloat16Bits(toFloat16Bits(NaN))));
  });
});

describe('tiny model writer', () => {
  it('writes a llama model with the tokenizer metadata and the expected tensor shapes', () => {
    const vocab = syntheticVocab();
    const bytes = buildTinyModel(tokenizerKvs(vocab), SMALL);
    const file = readGguf(bytes);
    assert.deepEqual(getKv(file, 'general.architecture'), { type: 'string', value: 'llama' });
    assert.deepEqual(getKv(file, 'llama.embedding_length'), { type: 'u32', value: 16 });
    assert.deepEqual(getKv(file, 'llama.rope.dimension_count'), { type: 'u32', value: 4 });
    // Every tokenizer.* key is copied, nothing else from the vocab file.
    assert.deepEqual(
      file.kvs.filter((kv) => kv.key.startsWith('tokenizer.')),
      readGguf(vocab).kvs.filter((kv) => kv.key.startsWith('tokenizer.')),
    );
    const shapes = Object.fromEntries(file.tensors.map((t) => [t.name, [t.dims, t.type]]));
    assert.deepEqual(shapes['token_embd.weight'], [[16, 8], GGML_TYPE.F16]);
    assert.deepEqual(shapes['blk.1.attn_k.weight'], [[16, 8], GGML_TYPE.F32]);
    assert.deepEqual(shapes['blk.0.ffn_down.weight'], [[24, 16], GGML_TYPE.F32]);
    assert.equal(shapes['output.weight'], undefined, 'tied embeddings');
    assert.equal(file.tensors.length, 2 + 9 * SMALL.nLayer);
    const norm = new Float32Array(Uint8Array.from(tensorData(file, bytes, 'blk.0.attn_norm.weight')).buffer);
    assert.deepEqual([...norm], new Array<number>(16).fill(1));
  });

  it('is deterministic: the same recipe gives the same bytes, another seed different ones', () => {
    const tok = tokenizerKvs(syntheticVocab());
    const a = sha256(buildTinyModel(tok, SMALL));
    const b = sha256(buildTinyModel(tok, SMALL));
    assert.equal(a, b);
    assert.notEqual(sha256(buildTinyModel(tok, { ...SMALL, seed: 8 })), a);
  });

  it('has a seeded PRNG in [0, 1)', () => {
    const r1 = seededRandom(42);
    const r2 = seededRandom(42);
    const xs = Array.from({ length: 1000 }, () => r1());
    assert.deepEqual(xs, Array.from({ length: 1000 }, () => r2()));
    assert.ok(xs.every((x) => x >= 0 && x < 1));
    assert.ok(new Set(xs).size > 990);
  });
});
