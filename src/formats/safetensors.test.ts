// safetensors: round trips, lazy slices, and a clear error for each kind of malformed file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { tempDir } from "../../test/support.js";
import { SafetensorsFile, readTensor, writeSafetensors } from "./safetensors.js";
import { FormatError } from "./errors.js";
import { TensorStore } from "./checkpoint.js";

/** A raw file from a header object and a data length, to build malformed cases. */
function rawFile(path: string, header: unknown, dataBytes: number, headerLenOverride?: number): void {
  const json = Buffer.from(typeof header === "string" ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLenOverride ?? json.length));
  writeFileSync(path, Buffer.concat([len, json, Buffer.alloc(dataBytes)]));
}

function expectFormatError(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof FormatError, `expected FormatError, got ${String(e)}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message ${JSON.stringify(e.message)} lacks ${JSON.stringify(f)}`);
    return true;
  });
}

test("round trip: tensors of several dtypes come back bit-exact, and slices read by offset", (t) => {
  const dir = tempDir(t);
  const path = join(dir, "a.safetensors");
  const f32 = Float32Array.from([1.5, -2, 3.25, 0, 7, 8]);
  const bf16 = Uint16Array.from([0x3f80, 0xbf80, 0x4000]);
  const ids = Int32Array.from([5, 6, 7]);
  writeSafetensors(path, [
    { name: "w", dtype: "F32", shape: [2, 3], data: f32 },
    { name: "b", dtype: "BF16", shape: [3], data: bf16 },
    { name: "ids", dtype: "I32", shape: [3], data: ids },
  ], { format: "pt" });
  const f = SafetensorsFile.open(path);
  t.after(() => f.close());
  assert.deepEqual(f.metadata, { format: "pt" });
  assert.deepEqual(f.info("w").shape, [2, 3]);
  assert.deepEqual(readTensor(f, "w").data, f32);
  assert.deepEqual(readTensor(f, "b").data, bf16);
  assert.deepEqual(readTensor(f, "ids").data, ids);
  const row1 = new Float32Array(3);
  f.readInto("w", row1, 12);
  assert.deepEqual(row1, Float32Array.from([0, 7, 8]));
  // Data starts 8-byte aligned, as other writers expect.
  const headerLen = Number(readFileSync(path).readBigUInt64LE(0));
  assert.equal((8 + headerLen) % 8, 0);
});

test("malformed files give errors naming the file and the tensor", (t) => {
  const dir = tempDir(t);
  const p = (n: string) => join(dir, n);
  const entry = (dtype: string, shape: number[], offsets: number[]) => ({ dtype, shape, data_offsets: offsets });

  writeFileSync(p("short"), Buffer.alloc(5));
  expectFormatError(() => SafetensorsFile.open(p("short")), "short", "too short");

  rawFile(p("hdrlen"), { a: entry("F32", [1], [0, 4]) }, 4, 1 << 20);
  expectFormatError(() => SafetensorsFile.open(p("hdrlen")), "hdrlen", "header length");

  rawFile(p("json"), "{not json", 0);
  expectFormatError(() => SafetensorsFile.open(p("json")), "json", "not valid UTF-8 JSON");

  rawFile(p("array"), "[1,2]", 0);
  expectFormatError(() => SafetensorsFile.open(p("array")), "must be a JSON object");

  rawFile(p("dtype"), { a: entry("Q4", [1], [0, 4]) }, 4);
  expectFormatError(() => SafetensorsFile.open(p("dtype")), "tensor a", "unknown dtype \"Q4\"");

  rawFile(p("size"), { a: entry("F32", [2, 2], [0, 12]) }, 12);
  expectFormatError(() => SafetensorsFile.open(p("size")), "tensor a", "needs 16 bytes but data_offsets span 12");

  rawFile(p("overlap"), { a: entry("F32", [2], [0, 8]), b: entry("F32", [2], [4, 12]) }, 12);
  expectFormatError(() => SafetensorsFile.open(p("overlap")), "overlap");

  rawFile(p("range"), { a: entry("F32", [4], [0, 16]) }, 8);
  expectFormatError(() => SafetensorsFile.open(p("range")), "tensor a", "past the end of the data");

  rawFile(p("offsets"), { a: { dtype: "F32", shape: [1], data_offsets: [4, 0] } }, 8);
  expectFormatError(() => SafetensorsFile.open(p("offsets")), "tensor a", "data_offsets must be");

  rawFile(p("shape"), { a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4);
  expectFormatError(() => SafetensorsFile.open(p("shape")), "tensor a", "shape must be");

  // A file cut short after its header was written: the offsets point past the end.
  writeSafetensors(p("full"), [{ name: "w", dtype: "F32", shape: [1000], data: new Float32Array(1000) }]);
  writeFileSync(p("truncated"), readFileSync(p("full")).subarray(0, 2000));
  expectFormatError(() => SafetensorsFile.open(p("truncated")), "truncated", "tensor w", "file truncated");

  expectFormatError(() => SafetensorsFile.open(p("absent")), "absent", "cannot open");

  const ok = SafetensorsFile.open(p("full"));
  t.after(() => ok.close());
  expectFormatError(() => ok.info("missing"), "tensor missing", "not found");
  expectFormatError(() => ok.readInto("w", new Float32Array(2), 3996), "outside");
});

test("sharded checkpoints: the index must agree with the shards", (t) => {
  const dir = tempDir(t);
  writeSafetensors(join(dir, "s1.safetensors"), [{ name: "a", dtype: "F32", shape: [1], data: new Float32Array([1]) }]);
  writeSafetensors(join(dir, "s2.safetensors"), [{ name: "b", dtype: "F32", shape: [1], data: new Float32Array([2]) }]);
  const index = join(dir, "model.safetensors.index.json");

  writeFileSync(index, JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s2.safetensors" } }));
  const store = TensorStore.open(dir);
  assert.deepEqual(store.names().sort(), ["a", "b"]);
  const b = new Float32Array(1);
  store.readInto("b", b);
  assert.equal(b[0], 2);
  store.close();

  writeFileSync(index, JSON.stringify({ weight_map: { a: "s1.safetensors", b: "s3.safetensors" } }));
  expectFormatError(() => TensorStore.open(dir), "shard s3.safetensors", "does not exist");

  writeFileSync(index, JSON.stringify({ weight_map: { a: "s2.safetensors", b: "s2.safetensors" } }));
  expectFormatError(() => TensorStore.open(dir), "weight_map.a", "that shard has no such tensor");

  writeFileSync(index, "{");
  expectFormatError(() => TensorStore.open(dir), "model.safetensors.index.json", "not valid JSON");

  writeFileSync(index, JSON.stringify({ metadata: {} }));
  expectFormatError(() => TensorStore.open(dir), "weight_map", "missing");
});
