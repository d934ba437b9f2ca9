// Streaming GGUF v3 writer: the header (metadata and tensor infos, with every offset fixed up
// front from the declared shapes) is written on construction, then tensor data is streamed in
// declaration order, each tensor padded to the alignment, so a writer holds at most what the
// caller hands it at a time.
import { closeSync, openSync, unlinkSync, writeSync } from "node:fs";
import {
  GGML_TYPES, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_MAX_DIMS, GGUF_VALUE_TYPE_IDS, ggmlTensorBytes,
  type GgmlTypeName, type GgufArray, type GgufValue, type GgufValueType,
} from "./gguf.js";

export interface GgufTensorSpec {
  readonly name: string;
  readonly type: GgmlTypeName;
  /** Row-major shape (outermost first); written as ggml `ne`, innermost first. */
  readonly shape: readonly number[];
}

/** Metadata in the order it is written; a Map or a list of [key, value] pairs. */
export type GgufMetadata = Iterable<readonly [string, GgufValue]>;

const INT_RANGES: Partial<Record<GgufValueType, readonly [number, number]>> = {
  uint8: [0, 0xff], int8: [-0x80, 0x7f], uint16: [0, 0xffff], int16: [-0x8000, 0x7fff],
  uint32: [0, 0xffffffff], int32: [-0x80000000, 0x7fffffff],
};

/** A growable little-endian byte buffer for the header. */
class ByteSink {
  private buf = new Uint8Array(1 << 16);
  private view = new DataView(this.buf.buffer);
  length = 0;
  private readonly encoder = new TextEncoder();

  /** Offset of n new bytes, growing (and replacing) buf/view when needed: read them after. */
  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < this.length + n) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.view = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  u8(v: number): void { const at = this.reserve(1); this.buf[at] = v; }
  i8(v: number): void { const at = this.reserve(1); this.view.setInt8(at, v); }
  u16(v: number): void { const at = this.reserve(2); this.view.setUint16(at, v, true); }
  i16(v: number): void { const at = this.reserve(2); this.view.setInt16(at, v, true); }
  u32(v: number): void { const at = this.reserve(4); this.view.setUint32(at, v, true); }
  i32(v: number): void { const at = this.reserve(4); this.view.setInt32(at, v, true); }
  f32(v: number): void { const at = this.reserve(4); this.view.setFloat32(at, v, true); }
  f64(v: number): void { const at = this.reserve(8); this.view.setFloat64(at, v, true); }
  u64(v: bigint | number): void { const at = this.reserve(8); this.view.setBigUint64(at, BigInt(v), true); }
  i64(v: bigint): void { const at = this.reserve(8); this.view.setBigInt64(at, v, true); }

  string(s: string): void {
    const bytes = this.encoder.encode(s);
    this.u64(bytes.length);
    const at = this.reserve(bytes.length); // may replace this.buf: reserve first
    this.buf.set(bytes, at);
  }

  zeros(n: number): void {
    const at = this.reserve(n);
    this.buf.fill(0, at, this.length);
  }

  bytes(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function checkNumber(type: GgufValueType, v: number, where: string): void {
  const range = INT_RANGES[type];
  if (range && !(Number.isInteger(v) && v >= range[0] && v <= range[1])) {
    throw new RangeError(`${where}: ${v} is not a valid ${type}`);
  }
  if (!range && typeof v !== "number") throw new TypeError(`${where}: ${String(v)} is not a number`);
}

function checkBigInt(type: "uint64" | "int64", v: bigint, where: string): void {
  const ok = type === "uint64" ? v >= 0n && v < 1n << 64n : v >= -(1n << 63n) && v < 1n << 63n;
  if (!ok) throw new RangeError(`${where}: ${v} is not a valid ${type}`);
}

function writeItem(out: ByteSink, type: GgufValueType, v: number | bigint | boolean | string | GgufArray, where: string): void {
  switch (type) {
    case "uint8": case "int8": case "uint16": case "int16": case "uint32": case "int32": case "float32": case "float64": {
      const n = v as number;
      checkNumber(type, n, where);
      if (type === "uint8") out.u8(n);
      else if (type === "int8") out.i8(n);
      else if (type === "uint16") out.u16(n);
      else if (type === "int16") out.i16(n);
      else if (type === "uint32") out.u32(n);
      else if (type === "int32") out.i32(n);
      else if (type === "float32") out.f32(n);
      else out.f64(n);
      return;
    }
    case "uint64": case "int64": {
      const b = v as bigint;
      checkBigInt(type, b, where);
      if (type === "uint64") out.u64(b);
      else out.i64(b);
      return;
    }
    case "bool":
      out.u8((v as boolean) ? 1 : 0);
      return;
    case "string":
      out.string(v as string);
      return;
    case "array": {
      const a = v as GgufArray;
      out.u32(GGUF_VALUE_TYPE_IDS[a.itemType]);
      out.u64(a.value.length);
      a.value.forEach((item, i) => writeItem(out, a.itemType, item, `${where}[${i}]`));
      return;
    }
  }
}

function writeValue(out: ByteSink, v: GgufValue, where: string): void {
  out.u32(GGUF_VALUE_TYPE_IDS[v.type]);
  writeItem(out, v.type, v.type === "array" ? v : v.value, where);
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(1 << 30, bytes.length - done));
}

export class GgufWriter {
  readonly alignment: number;
  private fd: number;
  private readonly specs: readonly GgufTensorSpec[];
  private readonly sizes: readonly number[];
  private next = 0;
  private written = 0; // bytes of the current tensor so far
  /** Bytes in the file so far. */
  bytesWritten = 0;

  constructor(readonly path: string, metadata: GgufMetadata, tensors: readonly GgufTensorSpec[]) {
    const entries = [...metadata];
    const keys = new Set<string>();
    let alignment = GGUF_DEFAULT_ALIGNMENT;
    for (const [key, value] of entries) {
      if (keys.has(key)) throw new Error(`${path}: metadata key ${key} given twice`);
      keys.add(key);
      if (key === "general.alignment") {
        if (value.type !== "uint32" || value.value === 0 || (value.value & (value.value - 1)) !== 0) {
          throw new Error(`${path}: general.alignment must be a uint32 power of two`);
        }
        alignment = value.value;
      }
    }
    this.alignment = alignment;
    const names = new Set<string>();
    this.sizes = tensors.map((t) => {
      if (names.has(t.name)) throw new Error(`${path}: tensor ${t.name} given twice`);
      names.add(t.name);
      if (t.shape.length < 1 || t.shape.length > GGUF_MAX_DIMS) throw new Error(`${path}: tensor ${t.name} must have 1..${GGUF_MAX_DIMS} dimensions`);
      if (!(t.type in GGML_TYPES)) throw new Error(`${path}: tensor ${t.name} has unknown type ${t.type}`);
      return ggmlTensorBytes(t.type, [...t.shape].reverse());
    });
    this.specs = tensors;

    const out = new ByteSink();
    out.u32(GGUF_MAGIC);
    out.u32(3);
    out.u64(tensors.length);
    out.u64(entries.length);
    for (const [key, value] of entries) {
      out.string(key);
      writeValue(out, value, `${path}: metadata ${key}`);
    }
    let offset = 0;
    tensors.forEach((t, i) => {
      out.string(t.name);
      out.u32(t.shape.length);
      for (let d = t.shape.length - 1; d >= 0; d--) out.u64(t.shape[d]!);
      out.u32(GGML_TYPES[t.type].id);
      out.u64(offset);
      offset += this.padded(this.sizes[i]!);
    });
    out.zeros(this.padded(out.length) - out.length);
    this.fd = openSync(path, "w");
    this.append(out.bytes());
  }

  private append(bytes: Uint8Array): void {
    writeAll(this.fd, bytes);
    this.bytesWritten += bytes.length;
  }

  private padded(n: number): number {
    return Math.ceil(n / this.alignment) * this.alignment;
  }

  private current(): { spec: GgufTensorSpec; size: number } {
    const spec = this.specs[this.next];
    if (!spec) throw new Error(`${this.path}: all ${this.specs.length} tensors are already written`);
    return { spec, size: this.sizes[this.next]! };
  }

  /** Writes the whole next tensor; tensors must come in the order given to the constructor. */
  write(name: string, data: ArrayBufferView): void {
    const { spec } = this.current();
    if (spec.name !== name) throw new Error(`${this.path}: expected tensor ${spec.name}, got ${name}`);
    if (this.written !== 0) throw new Error(`${this.path}: tensor ${spec.name} is partly written`);
    this.writePart(data);
    this.endTensor();
  }

  /** Appends bytes of the next tensor; call `endTensor` once all of them are written. */
  writePart(data: ArrayBufferView): void {
    const { spec, size } = this.current();
    if (this.written + data.byteLength > size) {
      throw new Error(`${this.path}: tensor ${spec.name} needs ${size} bytes, got at least ${this.written + data.byteLength}`);
    }
    this.append(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.written += data.byteLength;
  }

  endTensor(): void {
    const { spec, size } = this.current();
    if (this.written !== size) throw new Error(`${this.path}: tensor ${spec.name} needs ${size} bytes, got ${this.written}`);
    const pad = this.padded(size) - size;
    if (pad > 0) this.append(new Uint8Array(pad));
    this.written = 0;
    this.next++;
  }

  /** Closes and deletes a file that will not be finished (after an error). */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }

  close(): void {
    closeSync(this.fd);
    if (this.next !== this.specs.length) {
      throw new Error(`${this.path}: closed after ${this.next} of ${this.specs.length} tensors`);
    }
  }
}

/** Convenience for tests and small files: metadata plus tensors held in memory. */
export function writeGguf(
  path: string,
  metadata: GgufMetadata,
  tensors: readonly (GgufTensorSpec & { readonly data: ArrayBufferView })[],
): void {
  const w = new GgufWriter(path, metadata, tensors);
  for (const t of tensors) w.write(t.name, t.data);
  w.close();
}
