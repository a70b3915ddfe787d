/**
 * A small GGUF v3 reader and writer: enough to copy a vocab file's tokenizer metadata and to write a
 * tiny random-weight model (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md).
 */

const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
const GGUF_VERSION = 3;
export const GGUF_DEFAULT_ALIGNMENT = 32;

/** GGUF metadata value types, by their on-disk id. */
export const GGUF_TYPE = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
} as const;

export type GgufScalarType = Exclude<keyof typeof GGUF_TYPE, 'array'>;
export type GgufScalar = number | bigint | boolean | string;

export type GgufValue =
  | { type: GgufScalarType; value: GgufScalar }
  | { type: 'array'; itemType: GgufScalarType; values: GgufScalar[] };

export interface GgufKv {
  key: string;
  value: GgufValue;
}

/** ggml tensor types used here (the ids match ggml.h). */
export const GGML_TYPE = { F32: 0, F16: 1 } as const;
export type GgmlType = (typeof GGML_TYPE)[keyof typeof GGML_TYPE];

const GGML_TYPE_SIZE: Record<number, number> = { [GGML_TYPE.F32]: 4, [GGML_TYPE.F16]: 2 };

export interface GgufTensorInfo {
  name: string;
  /** ne[0] first: the innermost (row) dimension. */
  dims: number[];
  type: number;
  /** Byte offset relative to the start of the data section. */
  offset: number;
}

export interface GgufTensor {
  name: string;
  dims: number[];
  type: GgmlType;
  data: Uint8Array;
}

export interface GgufFile {
  version: number;
  kvs: GgufKv[];
  tensors: GgufTensorInfo[];
  alignment: number;
  /** Absolute byte offset of the data section. */
  dataOffset: number;
}

const TYPE_NAMES = new Map<number, keyof typeof GGUF_TYPE>(
  Object.entries(GGUF_TYPE).map(([name, id]) => [id, name as keyof typeof GGUF_TYPE]),
);

/** Bytes a tensor of this type and shape takes (only the unquantised types are supported). */
export function tensorByteSize(type: number, dims: readonly number[]): number {
  const size = GGML_TYPE_SIZE[type];
  if (size === undefined) throw new Error(`unsupported ggml type ${type}`);
  return dims.reduce((n, d) => n * d, size);
}

// ---------------------------------------------------------------------------------------------- reader

class Reader {
  offset = 0;
  private readonly view: DataView;
  // ignoreBOM keeps a leading U+FEFF (a real token in some vocabs) instead of stripping it.
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private need(n: number): void {
    if (this.offset + n > this.bytes.byteLength) {
      throw new Error(`GGUF truncated: need ${n} bytes at offset ${this.offset}, file has ${this.bytes.byteLength}`);
    }
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.offset++);
  }
  i8(): number {
    this.need(1);
    return this.view.getInt8(this.offset++);
  }
  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }
  i16(): number {
    this.need(2);
    const v = this.view.getInt16(this.offset, true);
    this.offset += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  i32(): number {
    this.need(4);
    const v = this.view.getInt32(this.offset, true);
    this.offset += 4;
    return v;
  }
  f32(): number {
    this.need(4);
    const v = this.view.getFloat32(this.offset, true);
    this.offset += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.view.getFloat64(this.offset, true);
    this.offset += 8;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }
  i64(): bigint {
    this.need(8);
    const v = this.view.getBigInt64(this.offset, true);
    this.offset += 8;
    return v;
  }
  /** A u64 that must fit a JS number (counts, lengths, offsets). */
  size(): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`GGUF size too large: ${v}`);
    return Number(v);
  }
  string(): string {
    const len = this.size();
    this.need(len);
    const s = this.decoder.decode(this.bytes.subarray(this.offset, this.offset + len));
    this.offset += len;
    return s;
  }
  scalar(type: GgufScalarType): GgufScalar {
    switch (type) {
      case 'u8':
        return this.u8();
      case 'i8':
        return this.i8();
      case 'u16':
        return this.u16();
      case 'i16':
        return this.i16();
      case 'u32':
        return this.u32();
      case 'i32':
        return this.i32();
      case 'f32':
        return this.f32();
      case 'bool':
        return this.u8() !== 0;
      case 'string':
        return this.string();
      case 'u64':
        return this.u64();
      case 'i64':
        return this.i64();
      case 'f64':
        return this.f64();
    }
  }
}

function typeName(id: number, where: string): keyof typeof GGUF_TYPE {
  const name = TYPE_NAMES.get(id);
  if (!name) throw new Error(`GGUF: unknown value type ${id} (${where})`);
  return name;
}

/** Parses a GGUF v2/v3 file's header, metadata and tensor infos (tensor data is left in `bytes`). */
export function readGguf(bytes: Uint8Array): GgufFile {
  const r = new Reader(bytes);
  const magic = r.u32();
  if (magic !== GGUF_MAGIC) throw new Error(`not a GGUF file (magic 0x${magic.toString(16)})`);
  const version = r.u32();
  if (version < 2 || version > 3) throw new Error(`unsupported GGUF version ${version}`);
  const tensorCount = r.size();
  const kvCount = r.size();
  const kvs: GgufKv[] = [];
  for (let i = 0; i < kvCount; i++) {
    const key = r.string();
    const type = typeName(r.u32(), key);
    if (type === 'array') {
      const itemType = typeName(r.u32(), `${key}[]`);
      if (itemType === 'array') throw new Error(`GGUF: nested arrays are not supported (${key})`);
      const count = r.size();
      const values: GgufScalar[] = new Array<GgufScalar>(count);
      for (let j = 0; j < count; j++) values[j] = r.scalar(itemType);
      kvs.push({ key, value: { type: 'array', itemType, values } });
    } else {
      kvs.push({ key, value: { type, value: r.scalar(type) } });
    }
  }
  const tensors: GgufTensorInfo[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = r.string();
    const nDims = r.u32();
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(r.size());
    const type = r.u32();
    const offset = r.size();
    tensors.push({ name, dims, type, offset });
  }
  const alignKv = kvs.find((kv) => kv.key === 'general.alignment');
  const alignment = alignKv && alignKv.value.type !== 'array' ? Number(alignKv.value.value) : GGUF_DEFAULT_ALIGNMENT;
  const dataOffset = alignUp(r.offset, alignment);
  return { version, kvs, tensors, alignment, dataOffset };
}

/** The bytes of one tensor of a parsed file. */
export function tensorData(file: GgufFile, bytes: Uint8Array, name: string): Uint8Array {
  const info = file.tensors.find((t) => t.name === name);
  if (!info) throw new Error(`tensor ${name} not found`);
  const start = file.dataOffset + info.offset;
  return bytes.subarray(start, start + tensorByteSize(info.type, info.dims));
}

/** Looks up a metadata value by key. */
export function getKv(file: Pick<GgufFile, 'kvs'>, key: string): GgufValue | undefined {
  return file.kvs.find((kv) => kv.key === key)?.value;
}

// ---------------------------------------------------------------------------------------------- writer

function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

/** Growable little-endian byte sink. */
class Writer {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private readonly encoder = new TextEncoder();

  private reserve(n: number): void {
    if (this.length + n <= this.buf.byteLength) return;
    let cap = this.buf.byteLength * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.reserve(1);
    this.view.setUint8(this.length++, v);
  }
  i8(v: number): void {
    this.reserve(1);
    this.view.setInt8(this.length++, v);
  }
  u16(v: number): void {
    this.reserve(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  i16(v: number): void {
    this.reserve(2);
    this.view.setInt16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.reserve(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.reserve(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f32(v: number): void {
    this.reserve(4);
    this.view.setFloat32(this.length, v, true);
    this.length += 4;
  }
  f64(v: number): void {
    this.reserve(8);
    this.view.setFloat64(this.length, v, true);
    this.length += 8;
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.view.setBigUint64(this.length, BigInt(v), true);
    this.length += 8;
  }
  i64(v: number | bigint): void {
    this.reserve(8);
    this.view.setBigInt64(this.length, BigInt(v), true);
    this.length += 8;
  }
  bytes(b: Uint8Array): void {
    this.reserve(b.byteLength);
    this.buf.set(b, this.length);
    this.length += b.byteLength;
  }
  string(s: string): void {
    const b = this.encoder.encode(s);
    this.u64(b.byteLength);
    this.bytes(b);
  }
  pad(alignment: number): void {
    const target = alignUp(this.length, alignment);
    this.reserve(target - this.length);
    this.buf.fill(0, this.length, target);
    this.length = target;
  }
  result(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  scalar(type: GgufScalarType, v: GgufScalar, key: string): void {
    const num = (): number => {
      if (typeof v !== 'number') throw new Error(`GGUF ${key}: expected a number for ${type}, got ${typeof v}`);
      return v;
    };
    const big = (): bigint | number => {
      if (typeof v !== 'number' && typeof v !== 'bigint') throw new Error(`GGUF ${key}: expected an integer for ${type}`);
      return v;
    };
    switch (type) {
      case 'u8':
        return this.u8(num());
      case 'i8':
        return this.i8(num());
      case 'u16':
        return this.u16(num());
      case 'i16':
        return this.i16(num());
      case 'u32':
        return this.u32(num());
      case 'i32':
        return this.i32(num());
      case 'f32':
        return this.f32(num());
      case 'f64':
        return this.f64(num());
      case 'u64':
        return this.u64(big());
      case 'i64':
        return this.i64(big());
      case 'bool':
        if (typeof v !== 'boolean') throw new Error(`GGUF ${key}: expected a boolean`);
        return this.u8(v ? 1 : 0);
      case 'string':
        if (typeof v !== 'string') throw new Error(`GGUF ${key}: expected a string`);
        return this.string(v);
    }
  }
}

export interface WriteGgufInput {
  kvs: readonly GgufKv[];
  tensors: readonly GgufTensor[];
  /** Data alignment; written as general.alignment only when it differs from 32. */
  alignment?: number;
}

/** Serialises a GGUF v3 file: header, metadata, tensor infos, then tensor data aligned to `alignment`. */
export function writeGguf(input: WriteGgufInput): Uint8Array {
  const alignment = input.alignment ?? GGUF_DEFAULT_ALIGNMENT;
  const kvs = [...input.kvs];
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && !kvs.some((kv) => kv.key === 'general.alignment')) {
    kvs.push({ key: 'general.alignment', value: { type: 'u32', value: alignment } });
  }
  const w = new Writer();
  w.u32(GGUF_MAGIC);
  w.u32(GGUF_VERSION);
  w.u64(input.tensors.length);
  w.u64(kvs.length);
  for (const { key, value } of kvs) {
    w.string(key);
    w.u32(GGUF_TYPE[value.type]);
    if (value.type === 'array') {
      w.u32(GGUF_TYPE[value.itemType]);
      w.u64(value.values.length);
      for (const item of value.values) w.scalar(value.itemType, item, key);
    } else {
      w.scalar(value.type, value.value, key);
    }
  }
  let offset = 0;
  for (const t of input.tensors) {
    const expected = tensorByteSize(t.type, t.dims);
    if (t.data.byteLength !== expected) {
      throw new Error(`tensor ${t.name}: ${t.data.byteLength} bytes, shape [${t.dims.join(', ')}] needs ${expected}`);
    }
    w.string(t.name);
    w.u32(t.dims.length);
    for (const d of t.dims) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    offset = alignUp(offset + expected, alignment);
  }
  w.pad(alignment);
  for (const t of input.tensors) {
    w.bytes(t.data);
    w.pad(alignment);
  }
  return w.result();
}

// ---------------------------------------------------------------------------------------------- numbers

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE 754 half-precision bits of `value`, rounded to nearest even. */
export function toFloat16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow -> signed zero
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // may carry into the exponent: still correct
  return sign | half;
}

/** The number a half-precision bit pattern stands for. */
export function fromFloat16Bits(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}
