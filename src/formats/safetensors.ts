// safetensors: an 8-byte little-endian header length, a JSON header naming every tensor's
// dtype, shape and byte range, then the raw data. We read only the header on open and pull
// tensors (or slices of them) by offset on demand, so a 200 GB checkpoint never sits in one
// buffer.
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { FormatError } from "./errors.js";

export type SafetensorsDType =
  | "F64" | "F32" | "F16" | "BF16" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2";

export const DTYPE_BYTES: Record<SafetensorsDType, number> = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1,
};

export interface TensorInfo {
  readonly name: string;
  readonly file: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  /** Absolute byte offset of the first element in the file. */
  readonly fileOffset: number;
  readonly byteLength: number;
}

/** Largest single read: fs.readSync takes at most 2^31 - 1 bytes. */
const MAX_READ = 1 << 30;
/** A header larger than this is not a real checkpoint (real ones are a few MB). */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Reads exactly `length` bytes at `position` into `target`, or throws naming the file. */
export function readExact(fd: number, file: string, target: Uint8Array, position: number, what?: string): void {
  let done = 0;
  while (done < target.length) {
    const want = Math.min(MAX_READ, target.length - done);
    const got = readSync(fd, target, done, want, position + done);
    if (got === 0) {
      throw new FormatError(file, what, `file ended after ${position + done} bytes, expected ${position + target.length}`);
    }
    done += got;
  }
}

/**
 * Reads `target.byteLength` bytes of a tensor stored at [fileOffset, fileOffset+byteLength),
 * starting `byteOffset` bytes into it: the one lazy-read path of every file format.
 */
export function readTensorRange(
  fd: number | undefined, file: string, tensor: { name: string; fileOffset: number; byteLength: number },
  target: ArrayBufferView, byteOffset: number,
): void {
  if (byteOffset < 0 || byteOffset + target.byteLength > tensor.byteLength) {
    throw new FormatError(file, `tensor ${tensor.name}`,
      `read of ${target.byteLength} bytes at ${byteOffset} is outside its ${tensor.byteLength} bytes`);
  }
  if (fd === undefined) throw new FormatError(file, undefined, "file already closed");
  const bytes = new Uint8Array(target.buffer, target.byteOffset, target.byteLength);
  readExact(fd, file, bytes, tensor.fileOffset + byteOffset, `tensor ${tensor.name}`);
}

/**
 * An open tensor file read lazily: what safetensors and GGUF files share once their headers
 * are parsed (a tensor index, ranged reads, close).
 */
export abstract class LazyTensorFile<I extends { name: string; fileOffset: number; byteLength: number }> {
  abstract readonly tensors: ReadonlyMap<string, I>;

  protected constructor(readonly path: string, protected fd: number | undefined) {}

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  info(name: string): I {
    const info = this.tensors.get(name);
    if (!info) throw new FormatError(this.path, `tensor ${name}`, "not found");
    return info;
  }

  /** Reads `target.byteLength` bytes of tensor `name`, starting `byteOffset` bytes into it. */
  readInto(name: string, target: ArrayBufferView, byteOffset = 0): void {
    readTensorRange(this.fd, this.path, this.info(name), target, byteOffset);
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export class SafetensorsFile extends LazyTensorFile<TensorInfo> {
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata: Record<string, string>;

  private constructor(path: string, fd: number, header: Record<string, unknown>, dataStart: number, fileSize: number) {
    super(path, fd);
    this.metadata = {};
    const dataLength = fileSize - dataStart;
    const spans: { begin: number; end: number; name: string }[] = [];
    for (const [name, raw] of Object.entries(header)) {
      if (name === "__metadata__") {
        if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
          throw new FormatError(path, "__metadata__", "must be an object of strings");
        }
        for (const [k, v] of Object.entries(raw)) {
          if (typeof v !== "string") throw new FormatError(path, `__metadata__.${k}`, "must be a string");
          this.metadata[k] = v;
        }
        continue;
      }
      const info = parseTensorEntry(path, name, raw, dataStart);
      const begin = info.fileOffset - dataStart;
      const end = begin + info.byteLength;
      if (end > dataLength) {
        throw new FormatError(path, `tensor ${name}`,
          `data_offsets [${begin}, ${end}] run past the end of the data (${dataLength} bytes): file truncated or header corrupt`);
      }
      spans.push({ begin, end, name });
      this.tensors.set(name, info);
    }
    spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
    for (let i = 1; i < spans.length; i++) {
      const prev = spans[i - 1]!;
      const cur = spans[i]!;
      if (cur.begin < prev.end) {
        throw new FormatError(path, `tensor ${cur.name}`,
          `data_offsets [${cur.begin}, ${cur.end}] overlap tensor ${prev.name} [${prev.begin}, ${prev.end}]`);
      }
    }
  }

  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, "r");
    } catch (e) {
      throw new FormatError(path, undefined, `cannot open: ${(e as Error).message}`);
    }
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new FormatError(path, undefined, `file is ${size} bytes, too short for a safetensors header`);
      const lenBytes = new Uint8Array(8);
      readExact(fd, path, lenBytes, 0, "header length");
      const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
      if (headerLen > size - 8) {
        throw new FormatError(path, "header length", `says ${headerLen} bytes but the file has only ${size - 8} after it`);
      }
      if (headerLen > MAX_HEADER_BYTES) {
        throw new FormatError(path, "header length", `${headerLen} bytes is larger than any real header (${MAX_HEADER_BYTES})`);
      }
      const headerBytes = new Uint8Array(headerLen);
      readExact(fd, path, headerBytes, 8, "header");
      let header: unknown;
      try {
        header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
      } catch (e) {
        throw new FormatError(path, "header", `is not valid UTF-8 JSON: ${(e as Error).message}`);
      }
      if (header === null || typeof header !== "object" || Array.isArray(header)) {
        throw new FormatError(path, "header", "must be a JSON object mapping tensor names to entries");
      }
      return new SafetensorsFile(path, fd, header as Record<string, unknown>, 8 + headerLen, size);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }
}

function parseTensorEntry(file: string, name: string, raw: unknown, dataStart: number): TensorInfo {
  const where = `tensor ${name}`;
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new FormatError(file, where, "entry must be an object with dtype, shape and data_offsets");
  }
  const entry = raw as Record<string, unknown>;
  const dtype = entry.dtype;
  if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
    throw new FormatError(file, where, `unknown dtype ${JSON.stringify(dtype)} (expected one of ${Object.keys(DTYPE_BYTES).join(", ")})`);
  }
  const shape = entry.shape;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new FormatError(file, where, `shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  const offsets = entry.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[1] < offsets[0]) {
    throw new FormatError(file, where, `data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(offsets)}`);
  }
  const dt = dtype as SafetensorsDType;
  const expected = elementCount(shape as number[]) * DTYPE_BYTES[dt];
  const byteLength = (offsets[1] as number) - (offsets[0] as number);
  if (byteLength !== expected) {
    throw new FormatError(file, where,
      `shape [${shape.join(", ")}] of ${dt} needs ${expected} bytes but data_offsets span ${byteLength}`);
  }
  return { name, file, dtype: dt, shape: shape as number[], fileOffset: dataStart + (offsets[0] as number), byteLength };
}

// ---------------------------------------------------------------------------------------
// Writing: the header is fixed up front from the tensor list, then data is streamed in
// order, so a writer never holds more than the tensor it is producing.

export interface TensorSpec {
  readonly name: string;
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
}

export class SafetensorsWriter {
  private fd: number;
  private next = 0;
  private readonly specs: readonly TensorSpec[];

  constructor(readonly path: string, specs: readonly TensorSpec[], metadata: Record<string, string> = { format: "pt" }) {
    this.specs = specs;
    const header: Record<string, unknown> = { __metadata__: metadata };
    let offset = 0;
    for (const s of specs) {
      const n = elementCount(s.shape) * DTYPE_BYTES[s.dtype];
      header[s.name] = { dtype: s.dtype, shape: s.shape, data_offsets: [offset, offset + n] };
      offset += n;
    }
    let json = JSON.stringify(header);
    // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
    json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
    const jsonBytes = Buffer.from(json, "utf8");
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(jsonBytes.length));
    this.fd = openSync(path, "w");
    writeAll(this.fd, len);
    writeAll(this.fd, jsonBytes);
  }

  /** Writes the next tensor's bytes; tensors must come in the order given to the constructor. */
  write(name: string, data: ArrayBufferView): void {
    const spec = this.specs[this.next];
    if (!spec || spec.name !== name) throw new Error(`${this.path}: expected tensor ${spec?.name ?? "(none)"}, got ${name}`);
    const n = elementCount(spec.shape) * DTYPE_BYTES[spec.dtype];
    if (data.byteLength !== n) throw new Error(`${this.path}: tensor ${name} needs ${n} bytes, got ${data.byteLength}`);
    writeAll(this.fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    this.next++;
  }

  /** Appends part of the current tensor; call `endTensor` when all its bytes are written. */
  writePart(data: ArrayBufferView): void {
    writeAll(this.fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  endTensor(): void {
    this.next++;
  }

  close(): void {
    if (this.next !== this.specs.length) {
      closeSync(this.fd);
      throw new Error(`${this.path}: closed after ${this.next} of ${this.specs.length} tensors`);
    }
    closeSync(this.fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(MAX_READ, bytes.length - done));
}

/** Convenience for tests and small files: write tensors held in memory. */
export function writeSafetensors(
  path: string,
  tensors: readonly (TensorSpec & { data: ArrayBufferView })[],
  metadata?: Record<string, string>,
): void {
  const w = new SafetensorsWriter(path, tensors, metadata);
  for (const t of tensors) w.write(t.name, t.data);
  w.close();
}

export type TensorData = Float32Array | Float64Array | Int32Array | BigInt64Array | Int16Array | Int8Array | Uint8Array | Uint16Array;

/** Reads a whole (small) tensor into a typed array of its dtype; F16/BF16 come back as raw Uint16Array. */
export function readTensor(file: SafetensorsFile, name: string): { data: TensorData; shape: readonly number[]; dtype: SafetensorsDType } {
  const info = file.info(name);
  const n = elementCount(info.shape);
  let data: TensorData;
  switch (info.dtype) {
    case "F32": data = new Float32Array(n); break;
    case "F64": data = new Float64Array(n); break;
    case "I32": data = new Int32Array(n); break;
    case "I64": data = new BigInt64Array(n); break;
    case "I16": data = new Int16Array(n); break;
    case "I8": data = new Int8Array(n); break;
    case "F16": case "BF16": data = new Uint16Array(n); break;
    default: data = new Uint8Array(n);
  }
  file.readInto(name, data);
  return { data, shape: info.shape, dtype: info.dtype };
}
