// GGUF reader and writer: a round trip through every metadata value type, tensor data by
// offset, and a clear FormatError for each kind of malformed file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/support.js";
import { FormatError } from "./errors.js";
import { GGUF_VALUE_TYPE_IDS, GgufFile, gguf, type GgufValue } from "./gguf.js";
import { GgufWriter, writeGguf } from "./gguf-writer.js";

const METADATA: [string, GgufValue][] = [
  ["general.architecture", gguf.str("llama4")],
  ["t.u8", gguf.u8(255)],
  ["t.i8", gguf.i8(-128)],
  ["t.u16", gguf.u16(65535)],
  ["t.i16", gguf.i16(-32768)],
  ["t.u32", gguf.u32(4294967295)],
  ["t.i32", gguf.i32(-2147483648)],
  ["t.f32", gguf.f32(Math.fround(0.1))],
  ["t.f64", gguf.f64(0.1)],
  ["t.u64", gguf.u64(18446744073709551615n)],
  ["t.i64", gguf.i64(-9223372036854775808n)],
  ["t.bool.true", gguf.bool(true)],
  ["t.bool.false", gguf.bool(false)],
  ["t.string", gguf.str("héllo ✓ \u{1F600}")],
  ["t.string.empty", gguf.str("")],
  ["t.arr.u8", gguf.numbers("uint8", [0, 1, 255])],
  ["t.arr.i16", gguf.numbers("int16", [-3, 7])],
  ["t.arr.i32", gguf.numbers("int32", [1, -2, 3])],
  ["t.arr.f32", gguf.numbers("float32", [1.5, -0.25])],
  ["t.arr.f64", gguf.numbers("float64", [Math.PI])],
  ["t.arr.u64", gguf.bigints("uint64", [0n, 2n ** 40n])],
  ["t.arr.i64", gguf.bigints("int64", [-1n])],
  ["t.arr.bool", gguf.bools([true, false, true])],
  ["t.arr.string", gguf.strings(["a", "", "Ġhello", "<|eot|>"])],
  ["t.arr.empty", gguf.strings([])],
  ["t.arr.nested", gguf.arrays([gguf.numbers("uint32", [1, 2]), gguf.arrays([gguf.strings(["deep"])]), gguf.bools([])])],
];

function tensors() {
  return [
    { name: "a", type: "F32" as const, shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    { name: "b", type: "F16" as const, shape: [5], data: Uint16Array.from([0x3c00, 0, 0xbc00, 1, 2]) },
    { name: "q", type: "Q8_0" as const, shape: [3, 2, 32], data: Uint8Array.from({ length: 6 * 34 }, (_, i) => i % 251) },
    { name: "e", type: "I32" as const, shape: [0, 4], data: new Int32Array(0) },
  ];
}

test("GGUF round trip: every metadata type, nested arrays, tensor infos and data by offset", (t) => {
  for (const alignment of [32, 64]) {
    const path = join(tempDir(t), "m.gguf");
    const metadata = alignment === 32 ? METADATA : [...METADATA, ["general.alignment", gguf.u32(alignment)] as [string, GgufValue]];
    writeGguf(path, metadata, tensors());
    const f = GgufFile.open(path);
    try {
      assert.equal(f.version, 3);
      assert.equal(f.alignment, alignment);
      assert.equal(f.dataOffset % alignment, 0);
      assert.deepEqual([...f.metadata.keys()], metadata.map(([k]) => k));
      for (const [key, value] of metadata) assert.deepEqual(f.metadata.get(key), value, key);
      assert.equal(f.string("general.architecture"), "llama4");
      assert.equal(f.number("t.u32"), 4294967295);
      assert.equal(f.optNumber("t.missing"), undefined);
      assert.deepEqual(f.optNumberArray("t.arr.u64"), [0, 2 ** 40]);
      assert.deepEqual(f.optStringArray("t.arr.string"), ["a", "", "Ġhello", "<|eot|>"]);
      assert.throws(() => f.number("t.u64"), /does not fit/);
      assert.throws(() => f.string("t.u8"), (e: unknown) => e instanceof FormatError && /metadata t\.u8: expected a string, got uint8/.test(e.message));
      assert.throws(() => f.number("nope"), /metadata nope: is missing/);

      assert.deepEqual([...f.tensors.keys()], ["a", "b", "q", "e"]);
      const q = f.info("q");
      assert.deepEqual(q.shape, [3, 2, 32]);
      assert.deepEqual(q.ne, [32, 2, 3]);
      assert.equal(q.type, "Q8_0");
      assert.equal(q.byteLength, 6 * 34);
      for (const ti of f.tensors.values()) assert.equal(ti.offset % alignment, 0);
      const a = new Float32Array(6);
      f.readInto("a", a);
      assert.deepEqual([...a], [1, 2, 3, 4, 5, 6]);
      const b = new Uint16Array(5);
      f.readInto("b", b);
      assert.deepEqual([...b], [0x3c00, 0, 0xbc00, 1, 2]);
      const second = new Uint8Array(2 * 34); // expert 1 of q, read alone
      f.readInto("q", second, 2 * 34);
      assert.deepEqual([...second], [...tensors()[2]!.data.subarray(2 * 34, 4 * 34)]);
      assert.throws(() => f.readInto("q", new Uint8Array(35), 6 * 34 - 34), /outside its 204 bytes/);
      assert.throws(() => f.info("zzz"), /tensor zzz: not found/);
    } finally {
      f.close();
    }
  }
});

test("GGUF: headers larger than the writer's initial buffer and the reader's 1 MiB window", (t) => {
  const path = join(tempDir(t), "big.gguf");
  const tokens = Array.from({ length: 150_000 }, (_, i) => `tok_${i}_${"x".repeat(i % 7)}`);
  const long = "é".repeat(700_000); // one string longer than the read window
  writeGguf(path, [["tokenizer.ggml.tokens", gguf.strings(tokens)], ["long", gguf.str(long)], ["after", gguf.u32(7)]], tensors());
  const f = GgufFile.open(path);
  try {
    assert.deepEqual(f.optStringArray("tokenizer.ggml.tokens"), tokens);
    assert.equal(f.string("long"), long);
    assert.equal(f.number("after"), 7);
    const a = new Float32Array(6);
    f.readInto("a", a);
    assert.deepEqual([...a], [1, 2, 3, 4, 5, 6]);
  } finally {
    f.close();
  }
});

test("GGUF version 2 files read the same way", (t) => {
  const path = join(tempDir(t), "v2.gguf");
  writeGguf(path, METADATA, tensors());
  const bytes = readFileSync(path);
  bytes.writeUInt32LE(2, 4); // v2 and v3 share the little-endian layout
  writeFileSync(path, bytes);
  const f = GgufFile.open(path);
  assert.equal(f.version, 2);
  assert.deepEqual(f.metadata.get("t.arr.nested"), METADATA.find(([k]) => k === "t.arr.nested")![1]);
  const a = new Float32Array(6);
  f.readInto("a", a);
  f.close();
  assert.deepEqual([...a], [1, 2, 3, 4, 5, 6]);
});

test("GGUF writer: streams tensors in parts and rejects wrong sizes, order and values", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "s.gguf");
  const w = new GgufWriter(path, [["k", gguf.u32(1)]], [{ name: "x", type: "F32", shape: [4] }, { name: "y", type: "F32", shape: [1] }]);
  w.writePart(Float32Array.from([1, 2]));
  w.writePart(Float32Array.from([3, 4]));
  w.endTensor();
  assert.throws(() => w.write("x", new Float32Array(1)), /expected tensor y, got x/);
  w.write("y", Float32Array.from([9]));
  w.close();
  const f = GgufFile.open(path);
  const x = new Float32Array(4);
  f.readInto("x", x);
  f.close();
  assert.deepEqual([...x], [1, 2, 3, 4]);
  assert.equal(statSync(path).size % 32, 0);

  assert.throws(() => new GgufWriter(join(dir, "a.gguf"), [["k", gguf.u8(256)]], []), /256 is not a valid uint8/);
  assert.throws(() => new GgufWriter(join(dir, "b.gguf"), [["k", gguf.u32(1)], ["k", gguf.u32(2)]], []), /given twice/);
  assert.throws(() => new GgufWriter(join(dir, "c.gguf"), [], [{ name: "q", type: "Q4_K", shape: [1, 32] }]), /multiple of the block size 256/);
  const short = new GgufWriter(join(dir, "d.gguf"), [], [{ name: "x", type: "F32", shape: [2] }]);
  assert.throws(() => short.write("x", new Float32Array(3)), /needs 8 bytes/);
  assert.throws(() => short.close(), /closed after 0 of 1 tensors/);
});

// ---------------------------------------------------------------------------------------
// Malformed files, assembled byte by byte.

class Raw {
  private parts: Buffer[] = [];
  u32(v: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); return this; }
  u64(v: number | bigint): this { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.parts.push(b); return this; }
  bytes(b: Uint8Array | string): this { this.parts.push(Buffer.from(b)); return this; }
  str(s: string): this { const b = Buffer.from(s, "utf8"); return this.u64(b.length).bytes(b); }
  header(version = 3, tensors = 0, kvs = 0): this { return this.bytes("GGUF").u32(version).u64(tensors).u64(kvs); }
  /** One tensor info. */
  tensor(name: string, ne: number[], type: number, offset: number): this {
    this.str(name).u32(ne.length);
    for (const d of ne) this.u64(d);
    return this.u32(type).u64(offset);
  }
  pad(to: number): this { const n = (to - (this.length % to)) % to; return this.bytes(new Uint8Array(n)); }
  get length(): number { return this.parts.reduce((n, p) => n + p.length, 0); }
  build(): Buffer { return Buffer.concat(this.parts); }
}

function expectFormatError(t: import("node:test").TestContext, bytes: Buffer, pattern: RegExp): void {
  const path = join(tempDir(t), "bad.gguf");
  writeFileSync(path, bytes);
  assert.throws(() => GgufFile.open(path), (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected a FormatError, got ${String(e)}`);
    assert.match(e.message, pattern);
    assert.ok(e.message.startsWith(path), "the message names the file");
    return true;
  });
}

test("GGUF malformed files fail with a FormatError naming the problem", (t) => {
  const kv = (r: Raw) => r.str("general.architecture").u32(GGUF_VALUE_TYPE_IDS.string).str("llama4");
  expectFormatError(t, new Raw().bytes("GGML").u32(3).u64(0).u64(0).build(), /magic: not a GGUF file: starts with "GGML"/);
  expectFormatError(t, new Raw().bytes("GG").build(), /too short for a GGUF header/);
  expectFormatError(t, new Raw().header(1).build(), /unsupported GGUF version 1.*version 1 used 32-bit lengths/);
  expectFormatError(t, new Raw().header(4).build(), /unsupported GGUF version 4/);
  expectFormatError(t, new Raw().header(0x03000000).build(), /big-endian/);
  expectFormatError(t, new Raw().header(3, 0, 1).build(), /file is truncated|cannot fit/);
  expectFormatError(t, kv(new Raw().header(3, 0, 2)).bytes(new Uint8Array(10)).build(), /metadata entry 1 key|cannot fit|truncated/);
  // A key whose declared length runs past the end of the file.
  expectFormatError(t, new Raw().header(3, 0, 1).u64(1e6).bytes("abc").bytes(new Uint8Array(16)).build(),
    /metadata entry 0 key: string length 1000000 runs past the end of the file/);
  expectFormatError(t, new Raw().header(3, 0, 1).str("k").u32(GGUF_VALUE_TYPE_IDS.string).u64(2 ** 40).build(),
    /metadata k: string length 1099511627776 runs past the end/);
  expectFormatError(t, new Raw().header(3, 0, 1).str("k").u32(GGUF_VALUE_TYPE_IDS.array).u32(GGUF_VALUE_TYPE_IDS.uint32).u64(1e9).u32(1).build(),
    /metadata k: array of 1000000000 uint32 items runs past the end/);
  expectFormatError(t, new Raw().header(3, 0, 1).str("k").u32(13).u32(0).build(), /metadata k: unknown value type 13/);
  expectFormatError(t, new Raw().header(3, 0, 1).str("k").u32(GGUF_VALUE_TYPE_IDS.array).u32(99).u64(0).build(),
    /metadata k item: unknown value type 99/);
  expectFormatError(t, kv(kv(new Raw().header(3, 0, 2))).build(), /metadata general\.architecture: appears twice/);
  expectFormatError(t, new Raw().header(3, 0, 1).str("general.alignment").u32(GGUF_VALUE_TYPE_IDS.uint32).u32(48).build(),
    /general\.alignment: must be a power of two, got 48/);
  expectFormatError(t, new Raw().header(3, 0, 1).str("general.alignment").u32(GGUF_VALUE_TYPE_IDS.uint64).u64(32).build(),
    /general\.alignment: must be a uint32, got uint64/);

  // Tensor infos.
  const oneTensor = (ne: number[], type: number, offset: number, dataBytes: number) => {
    const r = new Raw().header(3, 1, 0).tensor("w", ne, type, offset);
    return r.pad(32).bytes(new Uint8Array(dataBytes)).build();
  };
  expectFormatError(t, oneTensor([4], 5, 0, 64), /tensor w: unknown ggml type 5/);
  expectFormatError(t, oneTensor([4], 99, 0, 64), /tensor w: unknown ggml type 99/);
  expectFormatError(t, oneTensor([4], 0, 16, 64), /tensor w: data offset 16 is not a multiple of the alignment 32/);
  expectFormatError(t, oneTensor([4, 4], 0, 0, 63), /tensor w: data \[0, 64\) runs past the end of the data section \(63 bytes\)/);
  expectFormatError(t, oneTensor([48], 8, 0, 64), /tensor w: innermost dimension 48 is not a multiple of the Q8_0 block size 32/);
  expectFormatError(t, oneTensor([1, 1, 1, 1, 1], 0, 0, 64), /tensor w: has 5 dimensions/);
  const dup = new Raw().header(3, 2, 0).tensor("w", [4], 0, 0).tensor("w", [4], 0, 32).pad(32).bytes(new Uint8Array(64)).build();
  expectFormatError(t, dup, /tensor w: appears twice/);
  const overlap = new Raw().header(3, 2, 0).tensor("w", [16], 0, 0).tensor("v", [4], 0, 32).pad(32).bytes(new Uint8Array(96)).build();
  expectFormatError(t, overlap, /tensor v: data at 32 overlaps tensor w \[0, 64\)/);
  expectFormatError(t, new Raw().header(3, 1, 0).tensor("w", [4, 4], 0, 0).build().subarray(0, 60), /tensor w offset: file is truncated: needs 8 bytes at offset 57/);
  expectFormatError(t, new Raw().header(3, 2 ** 40, 0).build(), /tensor count: 1099511627776 tensor infos cannot fit/);
});

test("GGUF: a file truncated inside its data fails when opened, naming the tensor", (t) => {
  const path = join(tempDir(t), "cut.gguf");
  writeGguf(path, METADATA, tensors());
  const size = statSync(path).size;
  truncateSync(path, size - 40);
  assert.throws(() => GgufFile.open(path), /tensor q: data \[\d+, \d+\) runs past the end of the data section/);
  // The header alone is intact: the truncation is found without reading any tensor data.
  assert.ok(readFileSync(path).subarray(0, 4).toString() === "GGUF");
});
