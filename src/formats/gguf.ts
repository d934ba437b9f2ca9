// GGUF, llama.cpp's single-file model format (versions 2 and 3; little-endian):
//   "GGUF" u32 version, u64 tensor_count, u64 kv_count,
//   kv_count × (string key, u32 value type, value),
//   tensor_count × (string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset),
//   padding to `general.alignment` (default 32), then the data section; each tensor's
//   offset is relative to the data section and a multiple of the alignment.
// A string is a u64 byte length and UTF-8 bytes; an array is a u32 item type, a u64 count
// and the items (arrays may nest). `ne` lists dimensions innermost first, the reverse of a
// row-major shape. Only the header is read on open; tensor data is read by offset on demand.
import { closeSync, fstatSync, openSync } from "node:fs";
import { FormatError } from "./errors.js";
import { LazyTensorFile, readExact } from "./safetensors.js";

export const GGUF_MAGIC = 0x46554747; // "GGUF" read as a little-endian u32
export const GGUF_DEFAULT_ALIGNMENT = 32;
/** ggml tensors have at most 4 dimensions. */
export const GGUF_MAX_DIMS = 4;

// ---------------------------------------------------------------------------------------
// ggml tensor types: id, weights per block and bytes per block.

export type GgmlTypeName =
  | "F32" | "F16" | "Q4_0" | "Q4_1" | "Q5_0" | "Q5_1" | "Q8_0" | "Q8_1" | "Q2_K" | "Q3_K" | "Q4_K" | "Q5_K" | "Q6_K"
  | "Q8_K" | "IQ2_XXS" | "IQ2_XS" | "IQ3_XXS" | "IQ1_S" | "IQ4_NL" | "IQ3_S" | "IQ2_S" | "IQ4_XS" | "I8" | "I16" | "I32"
  | "I64" | "F64" | "IQ1_M" | "BF16" | "TQ1_0" | "TQ2_0" | "MXFP4";

export interface GgmlTypeInfo {
  readonly name: GgmlTypeName;
  readonly id: number;
  readonly blockSize: number;
  readonly typeSize: number;
}

const GGML_TYPE_LIST: readonly GgmlTypeInfo[] = ([
  ["F32", 0, 1, 4], ["F16", 1, 1, 2], ["Q4_0", 2, 32, 18], ["Q4_1", 3, 32, 20], ["Q5_0", 6, 32, 22], ["Q5_1", 7, 32, 24],
  ["Q8_0", 8, 32, 34], ["Q8_1", 9, 32, 36], ["Q2_K", 10, 256, 84], ["Q3_K", 11, 256, 110], ["Q4_K", 12, 256, 144],
  ["Q5_K", 13, 256, 176], ["Q6_K", 14, 256, 210], ["Q8_K", 15, 256, 292], ["IQ2_XXS", 16, 256, 66], ["IQ2_XS", 17, 256, 74],
  ["IQ3_XXS", 18, 256, 98], ["IQ1_S", 19, 256, 50], ["IQ4_NL", 20, 32, 18], ["IQ3_S", 21, 256, 110], ["IQ2_S", 22, 256, 82],
  ["IQ4_XS", 23, 256, 136], ["I8", 24, 1, 1], ["I16", 25, 1, 2], ["I32", 26, 1, 4], ["I64", 27, 1, 8], ["F64", 28, 1, 8],
  ["IQ1_M", 29, 256, 56], ["BF16", 30, 1, 2], ["TQ1_0", 34, 256, 54], ["TQ2_0", 35, 256, 66], ["MXFP4", 39, 32, 17],
] as const).map(([name, id, blockSize, typeSize]) => ({ name, id, blockSize, typeSize }));

export const GGML_TYPES: Readonly<Record<GgmlTypeName, GgmlTypeInfo>> = Object.fromEntries(
  GGML_TYPE_LIST.map((t) => [t.name, t]),
) as Record<GgmlTypeName, GgmlTypeInfo>;

const GGML_TYPE_BY_ID = new Map<number, GgmlTypeInfo>(GGML_TYPE_LIST.map((t) => [t.id, t]));

export function ggmlTypeById(id: number): GgmlTypeInfo | undefined {
  return GGML_TYPE_BY_ID.get(id);
}

/** Bytes of a tensor with these ggml dimensions (ne[0] must be a whole number of blocks). */
export function ggmlTensorBytes(type: GgmlTypeName, ne: readonly number[]): number {
  const t = GGML_TYPES[type];
  if (ne.length === 0 || ne[0]! % t.blockSize !== 0) {
    throw new RangeError(`${type} tensor: innermost dimension ${ne[0]} is not a multiple of the block size ${t.blockSize}`);
  }
  let n = (ne[0]! / t.blockSize) * t.typeSize;
  for (let i = 1; i < ne.length; i++) n *= ne[i]!;
  return n;
}

// ---------------------------------------------------------------------------------------
// Metadata values.

export type GgufNumberType = "uint8" | "int8" | "uint16" | "int16" | "uint32" | "int32" | "float32" | "float64";
export type GgufBigIntType = "uint64" | "int64";
export type GgufValueType = GgufNumberType | GgufBigIntType | "bool" | "string" | "array";

export const GGUF_VALUE_TYPE_IDS: Readonly<Record<GgufValueType, number>> = {
  uint8: 0, int8: 1, uint16: 2, int16: 3, uint32: 4, int32: 5, float32: 6, bool: 7, string: 8, array: 9,
  uint64: 10, int64: 11, float64: 12,
};

const VALUE_TYPE_BY_ID = new Map<number, GgufValueType>(
  Object.entries(GGUF_VALUE_TYPE_IDS).map(([name, id]) => [id, name as GgufValueType]),
);

/** Encoded size of a scalar item; strings and arrays have at least 8 bytes (their length). */
export const GGUF_ITEM_MIN_BYTES: Readonly<Record<GgufValueType, number>> = {
  uint8: 1, int8: 1, uint16: 2, int16: 2, uint32: 4, int32: 4, float32: 4, bool: 1, string: 8, array: 12,
  uint64: 8, int64: 8, float64: 8,
};

export type GgufScalar =
  | { readonly type: GgufNumberType; readonly value: number }
  | { readonly type: GgufBigIntType; readonly value: bigint }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string };

export type GgufArray =
  | { readonly type: "array"; readonly itemType: GgufNumberType; readonly value: readonly number[] }
  | { readonly type: "array"; readonly itemType: GgufBigIntType; readonly value: readonly bigint[] }
  | { readonly type: "array"; readonly itemType: "bool"; readonly value: readonly boolean[] }
  | { readonly type: "array"; readonly itemType: "string"; readonly value: readonly string[] }
  | { readonly type: "array"; readonly itemType: "array"; readonly value: readonly GgufArray[] };

export type GgufValue = GgufScalar | GgufArray;

/** Builders for metadata values, e.g. `gguf.u32(48)`, `gguf.strings(tokens)`. */
export const gguf = {
  u8: (value: number): GgufValue => ({ type: "uint8", value }),
  i8: (value: number): GgufValue => ({ type: "int8", value }),
  u16: (value: number): GgufValue => ({ type: "uint16", value }),
  i16: (value: number): GgufValue => ({ type: "int16", value }),
  u32: (value: number): GgufValue => ({ type: "uint32", value }),
  i32: (value: number): GgufValue => ({ type: "int32", value }),
  f32: (value: number): GgufValue => ({ type: "float32", value }),
  f64: (value: number): GgufValue => ({ type: "float64", value }),
  u64: (value: number | bigint): GgufValue => ({ type: "uint64", value: BigInt(value) }),
  i64: (value: number | bigint): GgufValue => ({ type: "int64", value: BigInt(value) }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  str: (value: string): GgufValue => ({ type: "string", value }),
  numbers: (itemType: GgufNumberType, value: readonly number[]): GgufArray => ({ type: "array", itemType, value }),
  bigints: (itemType: GgufBigIntType, value: readonly bigint[]): GgufArray => ({ type: "array", itemType, value }),
  bools: (value: readonly boolean[]): GgufArray => ({ type: "array", itemType: "bool", value }),
  strings: (value: readonly string[]): GgufArray => ({ type: "array", itemType: "string", value }),
  arrays: (value: readonly GgufArray[]): GgufArray => ({ type: "array", itemType: "array", value }),
};

const NUMBER_TYPES = new Set<GgufValueType>(["uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "float64"]);

function isNumberType(t: GgufValueType): t is GgufNumberType {
  return NUMBER_TYPES.has(t);
}

function isBigIntType(t: GgufValueType): t is GgufBigIntType {
  return t === "uint64" || t === "int64";
}

/** "uint32", or "array<string>[3]" for arrays, for error messages. */
export function describeGgufValue(v: GgufValue): string {
  return v.type === "array" ? `array<${v.itemType}>[${v.value.length}]` : v.type;
}

// ---------------------------------------------------------------------------------------
// Tensor infos.

export interface GgufTensorInfo {
  readonly name: string;
  readonly type: GgmlTypeName;
  /** ggml dimensions, innermost first. */
  readonly ne: readonly number[];
  /** The same dimensions in row-major order (reversed ne), as safetensors and PyTorch write them. */
  readonly shape: readonly number[];
  /** Byte offset relative to the data section. */
  readonly offset: number;
  /** Absolute byte offset in the file. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

const MAX_ARRAY_DEPTH = 16;
const HEADER_WINDOW = 1 << 20;

/** Buffered little-endian reads of the header, with bounds checks against the file size. */
class HeaderReader {
  private buf = new Uint8Array(HEADER_WINDOW);
  private view = new DataView(this.buf.buffer);
  private bufStart = 0;
  private bufEnd = 0;
  pos = 0;
  private readonly decoder = new TextDecoder("utf-8");

  constructor(private readonly fd: number, readonly file: string, readonly fileSize: number) {}

  get remaining(): number {
    return this.fileSize - this.pos;
  }

  fail(what: string, detail: string): never {
    throw new FormatError(this.file, what, detail);
  }

  /** Makes bytes [pos, pos + n) available at buf[pos − bufStart]. */
  private need(n: number, what: string): number {
    if (n > this.remaining) {
      this.fail(what, `file is truncated: needs ${n} bytes at offset ${this.pos} but the file ends at ${this.fileSize}`);
    }
    if (this.pos < this.bufStart || this.pos + n > this.bufEnd) {
      if (n > this.buf.length) {
        this.buf = new Uint8Array(n);
        this.view = new DataView(this.buf.buffer);
      }
      const len = Math.min(this.buf.length, this.remaining);
      readExact(this.fd, this.file, this.buf.subarray(0, len), this.pos, what);
      this.bufStart = this.pos;
      this.bufEnd = this.pos + len;
    }
    const at = this.pos - this.bufStart;
    this.pos += n;
    return at;
  }

  u8(what: string): number { return this.buf[this.need(1, what)]!; }
  i8(what: string): number { return this.view.getInt8(this.need(1, what)); }
  u16(what: string): number { return this.view.getUint16(this.need(2, what), true); }
  i16(what: string): number { return this.view.getInt16(this.need(2, what), true); }
  u32(what: string): number { return this.view.getUint32(this.need(4, what), true); }
  i32(what: string): number { return this.view.getInt32(this.need(4, what), true); }
  f32(what: string): number { return this.view.getFloat32(this.need(4, what), true); }
  f64(what: string): number { return this.view.getFloat64(this.need(8, what), true); }
  u64(what: string): bigint { return this.view.getBigUint64(this.need(8, what), true); }
  i64(what: string): bigint { return this.view.getBigInt64(this.need(8, what), true); }

  /** A u64 that must fit a JS number (counts, lengths, offsets, dimensions). */
  size(what: string): number {
    const v = this.u64(what);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.fail(what, `value ${v} is larger than any real file`);
    return Number(v);
  }

  string(what: string): string {
    const len = this.size(`${what} length`);
    if (len > this.remaining) this.fail(what, `string length ${len} runs past the end of the file (${this.remaining} bytes left)`);
    const at = this.need(len, what);
    return this.decoder.decode(this.buf.subarray(at, at + len));
  }

  valueType(what: string): GgufValueType {
    const id = this.u32(`${what} type`);
    const type = VALUE_TYPE_BY_ID.get(id);
    if (type === undefined) this.fail(what, `unknown value type ${id} (known: 0..12)`);
    return type;
  }

  private number(type: GgufNumberType, what: string): number {
    switch (type) {
      case "uint8": return this.u8(what);
      case "int8": return this.i8(what);
      case "uint16": return this.u16(what);
      case "int16": return this.i16(what);
      case "uint32": return this.u32(what);
      case "int32": return this.i32(what);
      case "float32": return this.f32(what);
      case "float64": return this.f64(what);
    }
  }

  value(type: GgufValueType, what: string, depth = 0): GgufValue {
    switch (type) {
      case "uint8": case "int8": case "uint16": case "int16": case "uint32": case "int32": case "float32": case "float64":
        return { type, value: this.number(type, what) };
      case "uint64": return { type, value: this.u64(what) };
      case "int64": return { type, value: this.i64(what) };
      case "bool": return { type, value: this.u8(what) !== 0 };
      case "string": return { type, value: this.string(what) };
      case "array": return this.array(what, depth);
    }
  }

  private array(what: string, depth: number): GgufArray {
    if (depth >= MAX_ARRAY_DEPTH) this.fail(what, `arrays nested deeper than ${MAX_ARRAY_DEPTH}`);
    const itemType = this.valueType(`${what} item`);
    const count = this.size(`${what} count`);
    if (count * GGUF_ITEM_MIN_BYTES[itemType] > this.remaining) {
      this.fail(what, `array of ${count} ${itemType} items runs past the end of the file (${this.remaining} bytes left)`);
    }
    const item = (i: number) => `${what}[${i}]`;
    switch (itemType) {
      case "uint64": case "int64": {
        const value: bigint[] = new Array<bigint>(count);
        for (let i = 0; i < count; i++) value[i] = itemType === "uint64" ? this.u64(what) : this.i64(what);
        return { type: "array", itemType, value };
      }
      case "bool": {
        const value: boolean[] = new Array<boolean>(count);
        for (let i = 0; i < count; i++) value[i] = this.u8(what) !== 0;
        return { type: "array", itemType, value };
      }
      case "string": {
        const value: string[] = new Array<string>(count);
        for (let i = 0; i < count; i++) value[i] = this.string(item(i));
        return { type: "array", itemType, value };
      }
      case "array": {
        const value: GgufArray[] = new Array<GgufArray>(count);
        for (let i = 0; i < count; i++) value[i] = this.array(item(i), depth + 1);
        return { type: "array", itemType, value };
      }
      default: {
        const value: number[] = new Array<number>(count);
        for (let i = 0; i < count; i++) value[i] = this.number(itemType, what);
        return { type: "array", itemType, value };
      }
    }
  }
}

export class GgufFile extends LazyTensorFile<GgufTensorInfo> {
  readonly metadata: ReadonlyMap<string, GgufValue>;
  /** Tensor infos in file order. */
  readonly tensors: ReadonlyMap<string, GgufTensorInfo>;

  private constructor(
    path: string,
    fd: number,
    readonly version: number,
    readonly alignment: number,
    readonly dataOffset: number,
    readonly fileSize: number,
    metadata: Map<string, GgufValue>,
    tensors: Map<string, GgufTensorInfo>,
  ) {
    super(path, fd);
    this.metadata = metadata;
    this.tensors = tensors;
  }

  static open(path: string): GgufFile {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new FormatError(path, undefined, `cannot open: ${(e as Error).message}`);
    }
    try {
      return GgufFile.parse(path, fd);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  private static parse(path: string, fd: number): GgufFile {
    const r: HeaderReader = new HeaderReader(fd, path, fstatSync(fd).size);
    if (r.fileSize < 4) r.fail("header", `file is ${r.fileSize} bytes, too short for a GGUF header`);
    const magic = r.u32("magic");
    if (magic !== GGUF_MAGIC) {
      const bytes = [magic & 0xff, (magic >>> 8) & 0xff, (magic >>> 16) & 0xff, magic >>> 24];
      r.fail("magic", `not a GGUF file: starts with ${JSON.stringify(String.fromCharCode(...bytes))}, expected "GGUF"`);
    }
    const version = r.u32("version");
    if (version !== 2 && version !== 3) {
      const swapped = ((version & 0xff) << 24) | ((version >>> 8) & 0xff) << 16 | ((version >>> 16) & 0xff) << 8 | (version >>> 24);
      const hint = version === 1 ? " (version 1 used 32-bit lengths; re-convert the model)"
        : swapped === 2 || swapped === 3 ? " (this looks like a big-endian file)" : "";
      r.fail("version", `unsupported GGUF version ${version}; only 2 and 3 are supported${hint}`);
    }
    const tensorCount = r.size("tensor count");
    const kvCount = r.size("metadata count");
    if (kvCount * 13 > r.remaining) r.fail("metadata count", `${kvCount} entries cannot fit in the ${r.remaining} bytes left`);
    if (tensorCount * 32 > r.remaining) r.fail("tensor count", `${tensorCount} tensor infos cannot fit in the ${r.remaining} bytes left`);

    const metadata = new Map<string, GgufValue>();
    for (let i = 0; i < kvCount; i++) {
      const key = r.string(`metadata entry ${i} key`);
      if (metadata.has(key)) r.fail(`metadata ${key}`, "appears twice");
      const type = r.valueType(`metadata ${key}`);
      metadata.set(key, r.value(type, `metadata ${key}`));
    }

    const alignmentValue = metadata.get("general.alignment");
    let alignment = GGUF_DEFAULT_ALIGNMENT;
    if (alignmentValue !== undefined) {
      if (alignmentValue.type !== "uint32") r.fail("metadata general.alignment", `must be a uint32, got ${describeGgufValue(alignmentValue)}`);
      alignment = alignmentValue.value;
      if (alignment === 0 || (alignment & (alignment - 1)) !== 0) r.fail("metadata general.alignment", `must be a power of two, got ${alignment}`);
    }

    const raw: { name: string; type: GgmlTypeInfo; ne: number[]; offset: number }[] = [];
    const seen = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const name = r.string(`tensor info ${i} name`);
      const what = `tensor ${name}`;
      if (seen.has(name)) r.fail(what, "appears twice");
      seen.add(name);
      const nDims = r.u32(`${what} dimension count`);
      if (nDims < 1 || nDims > GGUF_MAX_DIMS) r.fail(what, `has ${nDims} dimensions; ggml supports 1..${GGUF_MAX_DIMS}`);
      const ne: number[] = [];
      for (let d = 0; d < nDims; d++) ne.push(r.size(`${what} ne[${d}]`));
      const typeId = r.u32(`${what} type`);
      const type = ggmlTypeById(typeId);
      if (!type) r.fail(what, `unknown ggml type ${typeId}`);
      if (ne[0]! % type.blockSize !== 0) {
        r.fail(what, `innermost dimension ${ne[0]} is not a multiple of the ${type.name} block size ${type.blockSize}`);
      }
      const offset = r.size(`${what} offset`);
      if (offset % alignment !== 0) r.fail(what, `data offset ${offset} is not a multiple of the alignment ${alignment}`);
      raw.push({ name, type, ne, offset });
    }

    const dataOffset = Math.ceil(r.pos / alignment) * alignment;
    const dataLength = Math.max(0, r.fileSize - dataOffset);
    const tensors = new Map<string, GgufTensorInfo>();
    for (const t of raw) {
      const byteLength = ggmlTensorBytes(t.type.name, t.ne);
      if (!Number.isSafeInteger(byteLength) || t.offset + byteLength > dataLength) {
        r.fail(`tensor ${t.name}`,
          `data [${t.offset}, ${t.offset + byteLength}) runs past the end of the data section (${dataLength} bytes): file truncated or header corrupt`);
      }
      tensors.set(t.name, {
        name: t.name, type: t.type.name, ne: t.ne, shape: [...t.ne].reverse(), offset: t.offset,
        fileOffset: dataOffset + t.offset, byteLength,
      });
    }
    const spans = [...tensors.values()].filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
    for (let i = 1; i < spans.length; i++) {
      const prev = spans[i - 1]!;
      const cur = spans[i]!;
      if (cur.offset < prev.offset + prev.byteLength) {
        r.fail(`tensor ${cur.name}`, `data at ${cur.offset} overlaps tensor ${prev.name} [${prev.offset}, ${prev.offset + prev.byteLength})`);
      }
    }
    return new GgufFile(path, fd, version, alignment, dataOffset, r.fileSize, metadata, tensors);
  }


  // Typed metadata access; every mismatch names the key.

  get(key: string): GgufValue | undefined {
    return this.metadata.get(key);
  }

  private fail(key: string, expected: string, v: GgufValue): never {
    throw new FormatError(this.path, `metadata ${key}`, `expected ${expected}, got ${describeGgufValue(v)}`);
  }

  optString(key: string): string | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "string") this.fail(key, "a string", v);
    return v.value;
  }

  string(key: string): string {
    return this.optString(key) ?? this.missing(key);
  }

  /** Any numeric scalar (64-bit integers must be exactly representable). */
  optNumber(key: string): number | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type === "array" || v.type === "string" || v.type === "bool") this.fail(key, "a number", v);
    return this.exact(key, v.value);
  }

  number(key: string): number {
    return this.optNumber(key) ?? this.missing(key);
  }

  optBool(key: string): boolean | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "bool") this.fail(key, "a bool", v);
    return v.value;
  }

  optStringArray(key: string): readonly string[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "array" || v.itemType !== "string") this.fail(key, "an array of strings", v);
    return v.value;
  }

  /** A numeric array (64-bit items converted when exact). */
  optNumberArray(key: string): readonly number[] | undefined {
    const v = this.metadata.get(key);
    if (v === undefined) return undefined;
    if (v.type !== "array" || !(isNumberType(v.itemType) || isBigIntType(v.itemType))) this.fail(key, "an array of numbers", v);
    return (v.value as readonly (number | bigint)[]).map((x) => this.exact(key, x));
  }

  private exact(key: string, v: number | bigint): number {
    if (typeof v === "number") return v;
    const n = Number(v);
    if (!Number.isSafeInteger(n)) throw new FormatError(this.path, `metadata ${key}`, `${v} does not fit a JavaScript number`);
    return n;
  }

  private missing(key: string): never {
    throw new FormatError(this.path, `metadata ${key}`, "is missing");
  }
}
