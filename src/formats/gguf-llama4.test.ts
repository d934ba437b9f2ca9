// Hugging Face → GGUF → model: llama.cpp's keys and tensor names, logits of converted files
// against the safetensors path and the tiny-scout goldens, stored types kept in memory, the
// quantization mixes, the embedded vocabulary, malformed files, and `openModel` dispatch.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { requireShared, tempDir } from "../../test/support.js";
import { writeTinyModel } from "../../test/tiny.js";
import { maxAbsDiffAtRows, readGoldenPrompts } from "../../test/golden.js";
import { runCli } from "../../test/cli.js";
import { FormatError } from "./errors.js";
import { GgufFile, gguf, type GgufValue } from "./gguf.js";
import { writeGguf } from "./gguf-writer.js";
import {
  LLAMA4TS_KEYS, convertHfToGguf, llama3RopeDivisors, loadGgufModel, loadGgufTokenizer, loadGgufTokenizerData, type GgufOutType,
} from "./gguf-llama4.js";
import { TensorTypeChooser, useMoreBits } from "./gguf-quant-mix.js";
import { openModel } from "../runtime/load.js";
import { evalLogits, generateGreedy } from "../runtime/generate.js";
import type { Llama4TextModel } from "../model/llama4.js";
import type { Llama4TextConfig } from "../model/config.js";
import { Tokenizer, tokenizerJsonFromRanks } from "../tokenizer/index.js";

const PROMPT = [1, 5, 9, 33, 2, 7, 60, 61, 62, 3, 4, 90, 17, 8]; // crosses the tiny models' chunk of 4

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

/** Fraction of positions whose top token agrees. */
function argmaxAgreement(a: Float32Array, b: Float32Array, V: number): number {
  let same = 0;
  const T = a.length / V;
  for (let t = 0; t < T; t++) {
    let ia = 0;
    let ib = 0;
    for (let v = 1; v < V; v++) {
      if (a[t * V + v]! > a[t * V + ia]!) ia = v;
      if (b[t * V + v]! > b[t * V + ib]!) ib = v;
    }
    if (ia === ib) same++;
  }
  return same / T;
}

/** The fields a GGUF round trip must preserve (RoPE scaling becomes divisors; eps and theta become f32). */
function comparableConfig(c: Llama4TextConfig) {
  const { ropeScaling: _s, ropeFreqDivisors: _d, tieWordEmbeddings: _t, bosTokenId: _b, eosTokenIds: _e, padTokenId: _p, ...rest } = c;
  return { ...rest, rmsNormEps: Math.fround(rest.rmsNormEps), ropeTheta: Math.fround(rest.ropeTheta) };
}

function convert(t: import("node:test").TestContext, hfDir: string, type: GgufOutType, extra: { tokenizer?: string } = {}) {
  const path = join(tempDir(t), `m-${type}.gguf`);
  const result = convertHfToGguf(hfDir, path, { type, ...extra });
  return { path, result };
}

test("HF → GGUF f32: llama.cpp's keys and tensor names, and logits identical to the safetensors path", (t) => {
  for (const preset of ["scout", "maverick"] as const) {
    const hf = writeTinyModel(join(tempDir(t), preset), preset);
    const ref = openModel(hf).model;
    const { path } = convert(t, hf, "f32");
    const f = GgufFile.open(path);
    try {
      const c = ref.config;
      assert.equal(f.string("general.architecture"), "llama4");
      assert.equal(f.number("general.file_type"), 0);
      assert.equal(f.number("llama4.block_count"), c.numLayers);
      assert.equal(f.number("llama4.embedding_length"), c.hiddenSize);
      assert.equal(f.number("llama4.feed_forward_length"), c.denseHidden); // the DENSE width
      assert.equal(f.number("llama4.expert_feed_forward_length"), c.expertHidden);
      assert.equal(f.number("llama4.expert_count"), c.numExperts);
      assert.equal(f.number("llama4.interleave_moe_layer_step"), preset === "scout" ? 1 : 2);
      assert.equal(f.number("llama4.attention.head_count_kv"), c.numKvHeads);
      assert.equal(f.number("llama4.rope.dimension_count"), c.headDim);
      assert.equal(f.number(LLAMA4TS_KEYS.chunkSize), 4); // differs from llama.cpp's 8192, so recorded
      if (preset === "maverick") assert.equal(f.optBool(LLAMA4TS_KEYS.useQkNorm), false); // llama.cpp would infer true (E = 6)

      const E = c.numExperts;
      const expected = new Map<string, number[]>([
        ["token_embd.weight", [c.vocabSize, c.hiddenSize]],
        ["output.weight", [c.vocabSize, c.hiddenSize]],
        ["output_norm.weight", [c.hiddenSize]],
        ["blk.0.attn_q.weight", [c.numHeads * c.headDim, c.hiddenSize]],
        ["blk.0.attn_k.weight", [c.numKvHeads * c.headDim, c.hiddenSize]],
        ["blk.1.ffn_gate_inp.weight", [E, c.hiddenSize]],
        ["blk.1.ffn_gate_exps.weight", [E, c.expertHidden, c.hiddenSize]],
        ["blk.1.ffn_up_exps.weight", [E, c.expertHidden, c.hiddenSize]],
        ["blk.1.ffn_down_exps.weight", [E, c.hiddenSize, c.expertHidden]],
        ["blk.1.ffn_down_shexp.weight", [c.hiddenSize, c.expertHidden]],
      ]);
      if (preset === "maverick") expected.set("blk.0.ffn_down.weight", [c.hiddenSize, c.denseHidden]);
      // Scout has Llama-3 RoPE scaling: it travels as the divisor tensor; Maverick has none.
      if (preset === "scout") expected.set("rope_freqs.weight", [c.headDim / 2]);
      else assert.equal(f.has("rope_freqs.weight"), false);
      for (const [name, shape] of expected) assert.deepEqual(f.info(name).shape, shape, name);
      // Expert 1 of the gate stack is HF gate_up_proj[1][:, :F] transposed.
      const gate = new Float32Array(c.expertHidden * c.hiddenSize);
      f.readInto("blk.1.ffn_gate_exps.weight", gate, gate.byteLength);
      const ffn1 = ref.weights.layers[1]!.ffn;
      assert.ok(ffn1.kind === "moe");
      assert.deepEqual(gate, ffn1.experts[1]!.gate.data);
    } finally {
      f.close();
    }

    const loaded = loadGgufModel(path);
    assert.deepEqual(comparableConfig(loaded.config), comparableConfig(ref.config));
    assert.equal(loaded.weights.embed.dtype, "f32");
    const g = openModel(path).model;
    const diff = maxAbsDiff(evalLogits(g, PROMPT), evalLogits(ref, PROMPT));
    assert.ok(diff < 1e-5, `${preset}: max |Δlogit| ${diff}`);
    assert.deepEqual(evalLogits(g, PROMPT, { incremental: true }).length, PROMPT.length * ref.config.vocabSize);
  }
});

test("llama.cpp's rope_freqs divisors: 1, factor, or the blend; the same frequencies as the Llama-3 rule", () => {
  const d = llama3RopeDivisors(128, 500000, { factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  assert.equal(d[0], 1);
  assert.equal(d[63], 8);
  assert.ok(d.some((v) => v > 1 && v < 8), "some frequencies fall in the blend band");
  const scout = llama3RopeDivisors(128, 500000, { factor: 16, lowFreqFactor: 1, highFreqFactor: 1, originalMaxPositionEmbeddings: 8192 });
  assert.ok(scout.every((v) => v === 1 || v === 16));
});

test("f16, bf16 and q8_0 GGUFs keep their stored types in memory and stay close to the f32 logits", (t) => {
  const hf = writeTinyModel(join(tempDir(t), "m"), "scout");
  const ref = openModel(hf).model;
  const V = ref.config.vocabSize;
  const base = evalLogits(ref, PROMPT);
  const scale = maxAbs(base);

  const f16 = loadGgufModel(convert(t, hf, "f16").path);
  assert.equal(f16.weights.layers[0]!.attn.q.dtype, "f16");
  assert.ok(f16.weights.layers[0]!.attn.q.data instanceof Uint16Array);
  const d16 = maxAbsDiff(evalLogits(openModel(f16.file).model, PROMPT), base);
  // f16 rounding of every weight (2^-11 relative) moves these random models' logits by ~1e-3 of their scale.
  assert.ok(d16 < 2e-3 * scale, `f16: max |Δlogit| ${d16} (logit scale ${scale})`);

  const bf16 = loadGgufModel(convert(t, hf, "bf16").path);
  assert.equal(bf16.weights.embed.dtype, "bf16");
  assert.ok(maxAbsDiff(evalLogits(openModel(bf16.file).model, PROMPT), base) < 2e-2 * scale);

  const { path: q8, result } = convert(t, hf, "q8_0");
  // Rows of 48 (the expert width) are not whole Q8_0 blocks: F16, as the converter falls back.
  assert.equal(result.tensors.find((x) => x.name === "blk.0.ffn_down_exps.weight")!.type, "F16");
  assert.equal(result.tensors.find((x) => x.name === "blk.0.ffn_gate_exps.weight")!.type, "Q8_0");
  assert.equal(result.tensors.find((x) => x.name === "blk.0.ffn_gate_inp.weight")!.type, "F32");
  assert.equal(result.tensors.find((x) => x.name === "blk.0.attn_norm.weight")!.type, "F32");
  assert.ok(result.fallbacks.some((s) => s.startsWith("blk.0.ffn_down_exps.weight")));
  const m8 = loadGgufModel(q8);
  const embed = m8.weights.embed;
  assert.equal(embed.dtype, "q8_0");
  assert.equal(embed.data.byteLength, (V * ref.config.hiddenSize * 34) / 32); // ~1 byte per weight, as stored
  const l8 = evalLogits(openModel(q8).model, PROMPT);
  const d8 = maxAbsDiff(l8, base);
  assert.ok(d8 < 0.1 * scale, `q8_0: max |Δlogit| ${d8}`);
  assert.ok(argmaxAgreement(l8, base, V) >= 0.85);
  const greedyRef = generateGreedy(ref, PROMPT, { maxTokens: 8 });
  // Free-running greedy compares weight rounding alone (reference kernels); the WASM kernels
  // also round activations to 8 bits, and their accuracy is checked in src/kernels/wasm.
  const greedy8 = generateGreedy(openModel(q8, { kernels: "ref" }).model, PROMPT, { maxTokens: 8 });
  assert.ok(greedy8.filter((tok, i) => tok === greedyRef[i]).length >= 6, `greedy ${greedy8} vs ${greedyRef}`);
});

test("q4_0 and q4_k_m: llama-quantize's type mix, K-quant weights in memory, loosely close logits", (t) => {
  // Widths that are whole Q4_K blocks; Maverick-like so there are dense and MoE ffn_down tensors.
  const hf = writeTinyModel(join(tempDir(t), "k"), "maverick", {
    overrides: { hidden: 256, headDim: 64, expertHidden: 256, denseHidden: 256, experts: 2 },
  });
  const ref = openModel(hf).model;
  const base = evalLogits(ref, PROMPT);
  const L = ref.config.numLayers;

  const { path, result } = convert(t, hf, "q4_k_m");
  assert.deepEqual(result.fallbacks, []);
  const types = new Map(result.tensors.map((x) => [x.name, x.type]));
  assert.equal(types.get("output.weight"), "Q6_K");
  assert.equal(types.get("token_embd.weight"), "Q4_K");
  assert.equal(types.get("blk.1.ffn_gate_inp.weight"), "F32");
  assert.equal(types.get("blk.0.attn_norm.weight"), "F32");
  for (let i = 0; i < L; i++) {
    const more = useMoreBits(i, L) ? "Q6_K" : "Q4_K";
    assert.equal(types.get(`blk.${i}.attn_v.weight`), more, `attn_v ${i}`);
    assert.equal(types.get(`blk.${i}.attn_q.weight`), "Q4_K");
    for (const down of i % 2 === 1 ? ["ffn_down_exps", "ffn_down_shexp"] : ["ffn_down"]) {
      assert.equal(types.get(`blk.${i}.${down}.weight`), more, `${down} ${i}`);
    }
  }
  assert.deepEqual([0, 1, 2, 3].map((i) => useMoreBits(i, 4)), [false, false, true, true]);
  const f = GgufFile.open(path);
  assert.equal(f.number("general.file_type"), 15);
  f.close();

  const k = openModel(path);
  assert.equal(k.model.weights.layers[0]!.attn.q.dtype, "q4_k");
  assert.equal(k.model.weights.layers[3]!.attn.v.dtype, "q6_k");
  const lk = evalLogits(k.model, PROMPT);
  assert.ok(cosine(lk, base) > 0.98, `q4_k_m cosine ${cosine(lk, base)}`);

  const q40 = convert(t, hf, "q4_0");
  const types0 = new Map(q40.result.tensors.map((x) => [x.name, x.type]));
  assert.equal(types0.get("output.weight"), "Q6_K");
  assert.equal(types0.get("blk.3.attn_v.weight"), "Q4_0");
  assert.ok(cosine(evalLogits(openModel(q40.path).model, PROMPT), base) > 0.98);

  // In-memory q4_k of the safetensors model: every 256-wide matrix but the embedding and routers.
  const inMemory = openModel(hf, { quant: "q4_k" }).model;
  assert.equal(inMemory.weights.layers[0]!.ffn.kind === "dense" && inMemory.weights.layers[0]!.ffn.down.dtype, "q4_k");
  assert.equal(inMemory.weights.embed.dtype, "f32");
  assert.ok(cosine(evalLogits(inMemory, PROMPT), base) > 0.98);
});

test("quantization mix rules: 8-expert bumps, tied output, block fallbacks", () => {
  const pick = (out: GgufOutType, facts: { numLayers: number; numExperts: number; hasOutput: boolean }, queries: [string, number[]][]) => {
    const c = new TensorTypeChooser(out, facts);
    return { types: queries.map(([name, shape]) => c.choose({ name, shape })), fallbacks: c.fallbacks };
  };
  const eight = pick("q4_k_m", { numLayers: 8, numExperts: 8, hasOutput: true }, [
    ["blk.0.attn_v.weight", [256, 256]], ["blk.0.attn_k.weight", [256, 256]], ["blk.0.attn_output.weight", [256, 256]],
    ["blk.0.attn_q.weight", [256, 256]], ["blk.0.ffn_down_exps.weight", [8, 256, 256]], ["blk.4.ffn_down_exps.weight", [8, 256, 256]],
  ]);
  assert.deepEqual(eight.types, ["Q8_0", "Q8_0", "Q5_K", "Q4_K", "Q6_K", "Q4_K"]);
  // No output tensor: token_embd is the output and gets its type.
  assert.deepEqual(pick("q4_k_m", { numLayers: 4, numExperts: 0, hasOutput: false }, [["token_embd.weight", [97, 256]]]).types, ["Q6_K"]);
  const ragged = pick("q4_k_m", { numLayers: 4, numExperts: 4, hasOutput: true }, [
    ["blk.0.attn_q.weight", [32, 32]], ["blk.0.ffn_up_exps.weight", [4, 48, 48]], ["output.weight", [97, 32]],
    ["blk.3.ffn_down_exps.weight", [4, 32, 32]], ["blk.0.attn_norm.weight", [32]], ["blk.0.ffn_gate_inp.weight", [4, 32]],
  ]);
  assert.deepEqual(ragged.types, ["Q5_0", "F16", "Q8_0", "Q8_0", "F32", "F32"]);
  assert.deepEqual(ragged.fallbacks, ["blk.0.attn_q.weight: Q4_K → Q5_0", "blk.0.ffn_up_exps.weight: Q4_K → F16", "blk.3.ffn_down_exps.weight: Q6_K → Q8_0"]);
  assert.deepEqual(pick("q4_0", { numLayers: 4, numExperts: 4, hasOutput: true }, [["blk.0.ffn_down_exps.weight", [4, 32, 48]]]).types, ["F16"]);
  // One expert or none: llama-quantize counts ffn_down tensors instead of parsing the layer.
  const counted = pick("q4_k_m", { numLayers: 8, numExperts: 1, hasOutput: true },
    Array.from({ length: 8 }, (_, i): [string, number[]] => [`blk.${Math.floor(i / 2)}.ffn_down_${i % 2 ? "shexp" : "exps"}.weight`, [256, 256]]));
  assert.deepEqual(counted.types.map((x) => x === "Q6_K"), Array.from({ length: 8 }, (_, i) => useMoreBits(i, 8)));
});

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

test("tiny-scout fixture: f32 GGUF reproduces the golden logits, f16 and q8_0 stay close", (t) => {
  const dir = requireShared(t, "fixtures/llama4/tiny-scout");
  if (!dir) return;
  const { file, prompts } = readGoldenPrompts(join(dir, "golden.safetensors"));
  file.close();
  const models: Record<string, Llama4TextModel> = {};
  for (const type of ["f32", "f16", "q8_0"] as const) models[type] = openModel(convert(t, dir, type).path).model;
  const V = models.f32!.config.vocabSize;
  for (const p of prompts) {
    const f32 = evalLogits(models.f32!, p.tokens);
    assert.ok(maxAbsDiffAtRows(f32, p.logits, p.logitRows, V) < 1e-4, `${p.name} f32`);
    assert.deepEqual(generateGreedy(models.f32!, p.tokens, { maxTokens: p.greedy.length }), p.greedy, `${p.name} greedy`);
    const scale = maxAbs(p.logits);
    assert.ok(maxAbsDiffAtRows(evalLogits(models.f16!, p.tokens), p.logits, p.logitRows, V) < 2e-3 * scale, `${p.name} f16`);
    const q8 = evalLogits(models.q8_0!, p.tokens);
    assert.ok(argmaxAgreement(q8, f32, V) >= 0.75, `${p.name} q8_0 top-1 agreement`);
    assert.ok(cosine(q8, f32) > 0.99, `${p.name} q8_0 cosine`);
  }
});

test("openModel: dispatches .gguf files, and quantizes a safetensors model's matrices on request", (t) => {
  const hf = writeTinyModel(join(tempDir(t), "m"), "scout", { overrides: { hidden: 64, headDim: 16, expertHidden: 64, denseHidden: 64 } });
  const ref = openModel(hf).model;
  const base = evalLogits(ref, PROMPT);
  const { path } = convert(t, hf, "f32");
  const copy = join(tempDir(t), "renamed.bin"); // no .gguf extension: recognised by its magic
  copyFileSync(path, copy);
  assert.ok(maxAbsDiff(evalLogits(openModel(copy).model, PROMPT), base) < 1e-5);

  for (const quant of ["q8_0", "q4_0"] as const) {
    const { model, source } = openModel(hf, { quant });
    const w = model.weights;
    assert.equal(w.layers[0]!.attn.q.dtype, quant);
    assert.equal(w.layers[0]!.ffn.kind === "moe" && w.layers[0]!.ffn.experts[0]!.down.dtype, quant);
    assert.equal(w.lmHead.dtype, quant);
    assert.equal(w.embed.dtype, "f32"); // a gather, kept exact
    assert.equal(w.layers[0]!.ffn.kind === "moe" && w.layers[0]!.ffn.router.dtype, "f32");
    assert.equal(source.weights, w);
    const l = evalLogits(model, PROMPT);
    assert.ok(cosine(l, base) > (quant === "q8_0" ? 0.999 : 0.95), `${quant} cosine ${cosine(l, base)}`);
  }
  // q4_k needs rows of 256: these 64-wide matrices stay as they are.
  assert.equal(openModel(hf, { quant: "q4_k" }).model.weights.layers[0]!.attn.q.dtype, "f32");
});

test("the embedded vocabulary: tokens, types, merges, special ids and chat template, and a Tokenizer back", (t) => {
  // A small byte-level vocabulary: 256 bytes, a few merges, 4 special tokens; model vocab 300.
  const enc = new TextEncoder();
  const ranks: Uint8Array[] = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
  for (const s of ["he", "ll", "hell", "hello", " w", "or", " wor", "ld", " world", "!!"]) ranks.push(enc.encode(s));
  const specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot|>", "<|eom|>"].map((content, i) => ({ content, id: ranks.length + i }));
  const tokDir = join(tempDir(t), "tok");
  mkdirSync(tokDir);
  const json = tokenizerJsonFromRanks(ranks, specials);
  writeFileSync(join(tokDir, "tokenizer.json"), JSON.stringify(json));
  writeFileSync(join(tokDir, "tokenizer_config.json"), JSON.stringify({
    bos_token: "<|begin_of_text|>", eos_token: "<|eot|>", add_bos_token: false, chat_template: "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}",
  }));
  const hf = writeTinyModel(join(tempDir(t), "m"), "scout", { overrides: { vocab: 300 } });
  const { path } = convert(t, hf, "f32", { tokenizer: tokDir });

  const data = loadGgufTokenizerData(path);
  assert.equal(data.model, "gpt2");
  assert.equal(data.pre, "llama4");
  assert.equal(data.tokens.length, 300);
  assert.equal(data.tokens[0x20], "Ġ"); // GPT-2 byte→unicode alphabet
  assert.equal(data.tokens[256 + 8], "Ġworld");
  assert.equal(data.tokens[268], "<|eot|>");
  assert.equal(data.tokens[299], "[PAD299]");
  assert.equal(data.tokenTypes![5], 1);
  assert.equal(data.tokenTypes![266], 3);
  assert.equal(data.tokenTypes![299], 5);
  assert.deepEqual(data.merges, json.model.merges);
  assert.equal(data.bosTokenId, 266);
  assert.equal(data.eosTokenId, 268);
  assert.equal(data.addBosToken, false);
  assert.match(data.chatTemplate!, /bos_token/);

  const fromGguf = loadGgufTokenizer(path);
  const original = Tokenizer.load(tokDir);
  for (const text of ["hello world!!", "Hello, wörld <|eot|>", "  hell  o\n"]) {
    assert.deepEqual(fromGguf.encode(text, { allowSpecial: true }), original.encode(text, { allowSpecial: true }), text);
  }
  assert.equal(fromGguf.decode(original.encode("hello world")), "hello world");

  const loaded = loadGgufModel(path);
  assert.equal(loaded.config.bosTokenId, 266);
  assert.deepEqual(loaded.config.eosTokenIds, [267, 268, 269]); // eos plus Llama 4's three stop tokens

  assert.throws(() => convertHfToGguf(writeTinyModel(join(tempDir(t), "small"), "scout"), join(tempDir(t), "x.gguf"), { type: "f32", tokenizer: tokDir }),
    /has 270 token ids but the model's vocabulary has 97/);
});

test("the real Llama 4 vocabulary survives HF → GGUF → Tokenizer", (t) => {
  const model = requireShared(t, "fixtures/llama4/tiny-scout-fullvocab");
  const tokenizer = requireShared(t, "llama4/tokenizer.model");
  if (!model || !tokenizer) return;
  const { path } = convert(t, model, "f32", { tokenizer });
  const data = loadGgufTokenizerData(path);
  assert.equal(data.tokens.length, 202048);
  assert.equal(data.tokens[200008], "<|eot|>");
  assert.equal(data.tokenTypes![200008], 3);
  assert.equal(data.bosTokenId, 200000);
  const fromGguf = loadGgufTokenizer(path);
  const original = Tokenizer.load(tokenizer);
  const text = "Hello, world! <|eot|> 12345 naïve café 😀 日本語\n\n  x";
  assert.deepEqual(fromGguf.encode(text), original.encode(text));
  assert.deepEqual(fromGguf.encode(text, { allowSpecial: true }), original.encode(text, { allowSpecial: true }));
  assert.deepEqual(loadGgufModel(path).config.eosTokenIds, [200001, 200007, 200008]);
});

test("malformed llama4 GGUF files fail with FormatErrors naming the key or tensor", (t) => {
  const hf = writeTinyModel(join(tempDir(t), "m"), "scout");
  const { path } = convert(t, hf, "f32");
  const src = GgufFile.open(path);
  const meta = [...src.metadata] as [string, GgufValue][];
  const tensors = [...src.tensors.values()].map((ti) => {
    const data = new Uint8Array(ti.byteLength);
    src.readInto(ti.name, data);
    return { name: ti.name, type: ti.type, shape: ti.shape, data };
  });
  src.close();
  const dir = tempDir(t);
  let n = 0;
  const variant = (m: [string, GgufValue][], ts: typeof tensors, pattern: RegExp) => {
    const p = join(dir, `v${n++}.gguf`);
    writeGguf(p, m, ts);
    assert.throws(() => loadGgufModel(p), (e: unknown) => e instanceof FormatError && pattern.test(e.message), String(pattern));
  };
  const setMeta = (k: string, v: GgufValue) => meta.map(([key, val]): [string, GgufValue] => [key, key === k ? v : val]);
  variant(setMeta("general.architecture", gguf.str("llama")), tensors, /general\.architecture: is "llama"; only "llama4"/);
  variant(meta.filter(([k]) => k !== "llama4.block_count"), tensors, /metadata llama4\.block_count: is missing/);
  variant(meta, tensors.filter((x) => x.name !== "blk.2.attn_k.weight"), /tensor blk\.2\.attn_k\.weight: is missing/);
  variant(setMeta("llama4.embedding_length", gguf.u32(16)), tensors, /tensor token_embd\.weight: has shape \[97, 32\] but the metadata implies \[97, 16\]/);
  variant(setMeta("llama4.block_count", gguf.u32(3)), tensors, /tensor blk\.3\.attn_norm\.weight: is not part of the model/);
  variant(setMeta("llama4.attention.head_count", gguf.strings(["x"])), tensors, /head_count: expected a number|expected an array of numbers/);
  const i32 = tensors.map((x) => (x.name === "blk.0.attn_q.weight" ? { ...x, type: "I32" as const, data: new Uint8Array(32 * 32 * 4) } : x));
  variant(meta, i32, /tensor blk\.0\.attn_q\.weight: has type I32; supported: F32, F16, BF16, Q8_0/);
});

test("llama4 convert on the command line writes a GGUF that eval reads", (t) => {
  const dir = tempDir(t);
  const hf = writeTinyModel(join(dir, "m"), "scout");
  const out = join(dir, "m.gguf");
  const c = runCli(["convert", "--model", hf, "--out", out, "--type", "q8_0"]);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stderr, /wrote .*m\.gguf: .* MB, \d+ tensors \(.*Q8_0.*\)/);
  assert.match(c.stderr, /fallback blk\.0\.ffn_down_exps\.weight: Q8_0 → F16/);
  const logits = join(dir, "l.safetensors");
  const e = runCli(["eval", "--model", out, "--tokens", "1,2,3", "--out", logits]);
  assert.equal(e.status, 0, e.stderr);
  const bad = runCli(["convert", "--model", hf, "--out", out, "--type", "q3_k"]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /--type must be one of f32, f16, bf16, q8_0, q4_0, q4_k_m/);
});
