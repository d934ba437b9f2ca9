import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { requireShared } from "../../test/support.js";
import {
  LLAMA4_SPECIAL_TOKENS,
  Tokenizer,
  formatTiktokenRanks,
  referenceChunks,
  tokenizerJsonFromRanks,
  translateSplitPattern,
  LLAMA4_SPLIT_PATTERN,
  type HfTokenizerJson,
} from "./index.js";
import { GPT2_SPLIT_PATTERN } from "./pretokenize.js";

const tempRoot = mkdtempSync(join(tmpdir(), "llama4-tokenizer-test-"));
after(() => rmSync(tempRoot, { recursive: true, force: true }));
let tempCount = 0;
function tempFile(name: string, content: string | Uint8Array): string {
  const dir = join(tempRoot, String(tempCount++));
  mkdirSync(dir);
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

// ---------------------------------------------------------------------------------------------
// A toy vocabulary: all 256 bytes, then a few merges in rank order.

const TOY_MERGED = ["th", "he", "the", " t", " the", "in", "ing", "aa", "aaaa", "ab", "ba", "aba", "bab", "\n\n", "  ", "\xc3"];
function toyRanks(): Uint8Array[] {
  const ranks: Uint8Array[] = [];
  for (let b = 0; b < 256; b++) ranks.push(Uint8Array.of(b));
  for (const t of TOY_MERGED) ranks.push(t === "\xc3" ? utf8("é") : utf8(t));
  return ranks;
}
const TOY_SPECIALS = [
  { content: "<|bos|>", id: 300 },
  { content: "<|eot|>", id: 301 },
];
const toyId = (s: string): number => {
  const bytes = utf8(s);
  return toyRanks().findIndex((r) => r.length === bytes.length && r.every((b, i) => b === bytes[i]));
};

/** Straightforward tiktoken BPE (rescans all pairs after every merge), as an oracle. */
function naiveRankBpe(ranks: Uint8Array[], piece: Uint8Array): number[] {
  const key = (b: Uint8Array): string => Array.from(b).join(",");
  const rankOf = new Map(ranks.map((r, i) => [key(r), i]));
  const whole = rankOf.get(key(piece));
  if (whole !== undefined) return [whole];
  let parts: Uint8Array[] = Array.from(piece, (b) => Uint8Array.of(b));
  for (;;) {
    let best = -1;
    let at = -1;
    for (let i = 0; i + 1 < parts.length; i++) {
      const r = rankOf.get(key(Uint8Array.from([...parts[i]!, ...parts[i + 1]!])));
      if (r !== undefined && (best < 0 || r < best)) {
        best = r;
        at = i;
      }
    }
    if (at < 0) break;
    parts = [...parts.slice(0, at), Uint8Array.from([...parts[at]!, ...parts[at + 1]!]), ...parts.slice(at + 2)];
  }
  return parts.map((p) => rankOf.get(key(p))!);
}

function randomText(rng: () => number, alphabet: readonly string[], length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) s += alphabet[Math.floor(rng() * alphabet.length)]!;
  return s;
}

function seededRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

describe("toy vocabulary (no fixture needed)", () => {
  const toy = Tokenizer.fromRanks(toyRanks(), { specials: TOY_SPECIALS, source: "toy" });

  test("encodes with rank-ordered merges, ties to the leftmost pair", () => {
    assert.deepEqual(toy.encode("the"), [toyId("the")]);
    assert.deepEqual(toy.encode(" the"), [toyId(" the")]);
    assert.deepEqual(toy.encode("thing"), [toyId("th"), toyId("ing")]);
    // "aaa": both pairs are "aa" (same rank): the left one merges.
    assert.deepEqual(toy.encode("aaa"), [toyId("aa"), toyId("a")]);
    assert.deepEqual(toy.encode("aaaaa"), [toyId("aaaa"), toyId("a")]);
    // "abab": "ab" (lower rank than "ba") merges at 0 and 2.
    assert.deepEqual(toy.encode("abab"), [toyId("ab"), toyId("ab")]);
    assert.deepEqual(toy.encode("café"), [...utf8("caf")].map((b) => b).concat(toyId("é")));
    assert.deepEqual(toy.encode(""), []);
  });

  test("matches a naive BPE on random text, short (linear scan) and long (heap) pieces", () => {
    const ranks = toyRanks();
    const rng = seededRandom(7);
    const letters = ["a", "b", "t", "h", "e", "i", "n", "g", "é", "😀"];
    for (let n = 0; n < 300; n++) {
      const len = n < 250 ? 1 + Math.floor(rng() * 20) : 65 + Math.floor(rng() * 300);
      const word = randomText(rng, letters, len);
      // One letter run is one piece for the split pattern (no spaces, no digits).
      assert.deepEqual(toy.encode(word), naiveRankBpe(ranks, utf8(word)), `piece ${JSON.stringify(word)}`);
    }
  });

  test("special tokens are text unless allowSpecial", () => {
    const plain = toy.encode("a<|eot|>b");
    assert.ok(!plain.includes(301));
    assert.equal(toy.decode(plain), "a<|eot|>b");
    assert.deepEqual(toy.encode("a<|eot|>b", { allowSpecial: true }), [toyId("a"), 301, toyId("b")]);
    assert.deepEqual(toy.encode("<|bos|><|eot|>", { allowSpecial: true }), [300, 301]);
    assert.deepEqual(toy.encode("<|eot", { allowSpecial: true }), toy.encode("<|eot"));
    assert.equal(toy.decode([300, toyId("the"), 301]), "<|bos|>the<|eot|>");
    assert.equal(toy.tokenId("<|eot|>"), 301);
    assert.equal(toy.idToken(301), "<|eot|>");
    assert.equal(toy.idToken(toyId("the")), "the");
    assert.ok(toy.isSpecial(300) && !toy.isSpecial(toyId("the")));
    assert.throws(() => toy.tokenId("<|nope|>"), /unknown special token "<\|nope\|>"/);
    assert.equal(toy.vocabSize, 302);
    assert.equal(toy.bosId, undefined); // no <|begin_of_text|> in this vocabulary
    assert.throws(() => toy.encode("x", { bos: true }), /no BOS token/);
  });

  test("decode rejects ids outside the vocabulary, naming the id and the range", () => {
    assert.throws(() => toy.decode([1, 302]), /invalid token id 302: valid ids are integers 0\.\.301/);
    assert.throws(() => toy.decode([-1]), /invalid token id -1/);
    assert.throws(() => toy.decode([1.5]), /invalid token id 1\.5/);
    assert.throws(() => toy.decode([Number.NaN]), /invalid token id NaN/);
    // 290..299 are holes between the ranks and the specials.
    assert.throws(() => toy.decode([295]), /token id 295 is not defined by toy/);
  });

  test("decode replaces invalid UTF-8 with U+FFFD like Python", () => {
    assert.equal(toy.decode([0xe2, 0x82]), "\ufffd"); // truncated 3-byte sequence
    assert.equal(toy.decode([0xff, 0x41]), "\ufffdA");
    assert.equal(toy.decode([0xed, 0xa0, 0x80]), "\ufffd\ufffd\ufffd"); // encoded surrogate
    assert.equal(toy.decode([0xef, 0xbb, 0xbf, 0x41]), "\ufeffA"); // a leading BOM is kept
    assert.deepEqual([...toy.decodeBytes([toyId("é"), 300])], [...utf8("é<|bos|>")]);
  });

  test("stream decoder never emits half a character", () => {
    const text = "héllo 😀 漢字 👩‍💻!";
    const ids = [...utf8(text)]; // one byte per token
    const stream = toy.createStreamDecoder();
    const pieces = ids.map((id) => stream.push(id));
    pieces.push(stream.flush());
    assert.equal(pieces.join(""), text);
    for (const p of pieces) assert.ok(!p.includes("\ufffd") && !/\p{Cs}/u.test(p), `chunk ${JSON.stringify(p)}`);
    // The first byte of a 4-byte character yields nothing yet.
    const s2 = toy.createStreamDecoder();
    assert.equal(s2.push(0xf0), "");
    assert.equal(s2.push(0x9f), "");
    assert.equal(s2.flush(), "\ufffd"); // dangling tail
    assert.throws(() => s2.push(9999), /invalid token id 9999/);
  });

  test("tokenizer.json from the ranks encodes identically", () => {
    const json = tokenizerJsonFromRanks(toyRanks(), TOY_SPECIALS);
    assert.equal(json.model.merges.length, TOY_MERGED.length);
    assert.equal(json.model.vocab["Ġt"], toyId(" t"));
    const hf = Tokenizer.fromTokenizerJson(JSON.parse(JSON.stringify(json)), { source: "toy.json" });
    const rng = seededRandom(11);
    const alphabet = ["a", "b", "t", "h", "e", " ", "\n", "in", "g", "é", "😀", "1", ".", "<|eot|>"];
    for (let n = 0; n < 200; n++) {
      const text = randomText(rng, alphabet, 1 + Math.floor(rng() * 60));
      for (const allowSpecial of [false, true]) {
        assert.deepEqual(hf.encode(text, { allowSpecial }), toy.encode(text, { allowSpecial }), JSON.stringify(text));
      }
      assert.equal(hf.decode(toy.encode(text)), text);
    }
    // Merges may also be written as [left, right] pairs.
    const pairs = { ...json, model: { ...json.model, merges: json.model.merges.map((m) => m.split(" ")) } };
    const hf2 = Tokenizer.fromTokenizerJson(pairs);
    assert.deepEqual(hf2.encode("the thing aaaa"), toy.encode("the thing aaaa"));
  });

  test("other split patterns: HF Split keeps unmatched gaps; ByteLevel use_regex uses GPT-2's", () => {
    const json = tokenizerJsonFromRanks(toyRanks(), TOY_SPECIALS, { splitPattern: "[a-z]+" });
    const gappy = Tokenizer.fromTokenizerJson(json);
    // "12" and "." match nothing: HF's Isolated split keeps them as pieces of their own.
    assert.deepEqual(gappy.encode("ab12the."), [toyId("ab"), toyId("1"), toyId("2"), toyId("the"), toyId(".")]);
    assert.equal(gappy.decode(gappy.encode("ab12the. x")), "ab12the. x");
    const gpt2 = Tokenizer.fromTokenizerJson({
      ...json,
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    });
    const gpt2Ranks = Tokenizer.fromRanks(toyRanks(), { splitPattern: GPT2_SPLIT_PATTERN });
    for (const text of ["the thing's  aaaa\n\n 12345", "they'RE ab?ba"]) {
      assert.deepEqual(gpt2.encode(text), gpt2Ranks.encode(text), text);
    }
  });

  test("special tokens with regex characters are matched literally", () => {
    const tok = Tokenizer.fromRanks(toyRanks(), {
      specials: [
        { content: "<|im-start|>", id: 400 },
        { content: "[a.b]", id: 401 },
        { content: "<s>", id: 402 },
      ],
    });
    assert.deepEqual(tok.encode("x<|im-start|>[a.b][a-b]<s>", { allowSpecial: true }).filter((id) => id >= 400), [400, 401, 402]);
  });

  test("Hugging Face merge order applies without ignore_merges", () => {
    // "abc" is a token but no merge builds it: without ignore_merges it is never produced.
    const ranks = toyRanks();
    ranks.push(utf8("xyz"));
    const json = tokenizerJsonFromRanks(ranks, []);
    const withShortcut = Tokenizer.fromTokenizerJson(json);
    const pureMerges = Tokenizer.fromTokenizerJson({ ...json, model: { ...json.model, ignore_merges: false } });
    const xyz = ranks.length - 1;
    assert.deepEqual(withShortcut.encode("xyz"), [xyz]);
    assert.deepEqual(pureMerges.encode("xyz"), [...utf8("xyz")]);
  });

  test("tokenizer_config.json supplies BOS/EOS and added tokens", () => {
    const json = tokenizerJsonFromRanks(toyRanks(), TOY_SPECIALS);
    const path = tempFile("tokenizer.json", JSON.stringify(json));
    writeFileSync(
      join(path, "..", "tokenizer_config.json"),
      JSON.stringify({
        bos_token: "<|bos|>",
        eos_token: { content: "<|eot|>" },
        added_tokens_decoder: { "305": { content: "<|extra|>", special: true } },
      }),
    );
    const tok = Tokenizer.load(join(path, ".."));
    assert.equal(tok.bosId, 300);
    assert.equal(tok.eosId, 301);
    assert.deepEqual(tok.eosIds, [301]);
    assert.equal(tok.tokenId("<|extra|>"), 305);
    assert.deepEqual(tok.encode("the", { bos: true, eos: true }), [300, toyId("the"), 301]);
  });
});

describe("split pattern and chunking", () => {
  test("(?i:...) is expanded and \\s means White_Space", () => {
    const js = translateSplitPattern(LLAMA4_SPLIT_PATTERN);
    assert.ok(!js.includes("(?i:") && !js.includes("\\s") && !js.includes("\\S"));
    assert.ok(js.includes("'[sSſ]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]"));
    const re = new RegExp(js, "gu");
    const pieces = (s: string): string[] => [...s.matchAll(re)].map((m) => m[0]);
    assert.deepEqual(pieces("they'RE HE'd"), ["they'RE", " HE'd"]);
    // U+0085 is whitespace, U+FEFF is not (ECMAScript \s has it the other way round).
    assert.deepEqual(pieces("a\u0085b"), ["a", "\u0085b"]);
    assert.deepEqual(pieces("x  \ufeffy"), ["x", " ", " \ufeff", "y"]); // U+FEFF is a symbol here
    assert.deepEqual(pieces("1234567"), ["123", "456", "7"]);
  });

  test("runs longer than 25,000 code points are cut; windows are 400,000 code points", () => {
    assert.deepEqual(referenceChunks(""), []);
    assert.deepEqual(referenceChunks("ab c"), ["ab c"]);
    const spaces = " ".repeat(30_000);
    assert.deepEqual(referenceChunks("a" + spaces + "b").map((c) => c.length), [25_001, 5_001]);
    // Code points, not UTF-16 units: 25,001 emoji are 50,002 units.
    const emoji = "😀".repeat(25_001);
    assert.deepEqual(referenceChunks(emoji).map((c) => c.length), [50_000, 2]);
    // U+001C..U+001F count as whitespace for the cut (Python isspace).
    assert.deepEqual(referenceChunks("\x1c".repeat(25_001)).map((c) => c.length), [25_000, 1]);
    const long = "ab ".repeat(150_000);
    assert.deepEqual(referenceChunks(long).map((c) => c.length), [400_000, 50_000]);
  });
});

describe("malformed files", () => {
  const ok = formatTiktokenRanks(toyRanks());
  const cases: [string, string, string | Uint8Array, RegExp][] = [
    ["empty file", "tokenizer.model", "", /tokenizer\.model: file is empty/],
    ["bad base64", "tokenizer.model", "QQ== 0\nQ@== 1\n", /tokenizer\.model: line 2: invalid base64 "Q@=="/],
    ["non-contiguous rank", "tokenizer.model", "QQ== 0\nQg== 2\n", /line 2: non-contiguous rank 2 \(expected 1\)/],
    ["duplicate rank", "tokenizer.model", "QQ== 0\nQg== 1\nQw== 1\n", /line 3: duplicate or out-of-order rank 1/],
    ["duplicate bytes", "tokenizer.model", "QQ== 0\nQQ== 1\n", /line 2: token of rank 1 duplicates the bytes of rank 0/],
    ["missing rank", "tokenizer.model", "QQ== 0\nQg==\n", /line 2: unrecognized|line 2: expected "<base64> <rank>"/],
    ["bad rank", "tokenizer.model", "QQ== 0\nQg== x1\n", /line 2: invalid rank "x1"/],
    ["binary (SentencePiece)", "tokenizer.model", Uint8Array.of(0x0a, 0x0b, 0x00, 0xff, 0x12), /unrecognized tokenizer format/],
    ["invalid JSON", "tokenizer.json", "{ nope", /tokenizer\.json: invalid JSON/],
    ["no model", "tokenizer.json", "{}", /tokenizer\.json: model: missing/],
    ["unsupported model type", "tokenizer.json", JSON.stringify({ model: { type: "WordPiece", vocab: {} } }), /model\.type: unsupported model type string "WordPiece"/],
  ];
  for (const [name, file, content, expected] of cases) {
    test(name, () => {
      const path = tempFile(file, content);
      assert.throws(() => Tokenizer.load(path), (err: Error) => {
        assert.match(err.message, expected);
        assert.ok(err.message.includes(path), `message names the file: ${err.message}`);
        return true;
      });
    });
  }

  test("tokenizer.json field errors name the field", () => {
    const base = tokenizerJsonFromRanks(toyRanks(), TOY_SPECIALS);
    const variants: [string, (j: HfTokenizerJson) => unknown, RegExp][] = [
      ["no vocab", (j) => ({ ...j, model: { ...j.model, vocab: undefined } }), /model\.vocab: missing/],
      ["no merges", (j) => ({ ...j, model: { ...j.model, merges: undefined } }), /model\.merges: missing/],
      ["bad merge", (j) => ({ ...j, model: { ...j.model, merges: ["t h", "zz"] } }), /model\.merges\[1\]: expected "left right"/],
      ["unknown merge part", (j) => ({ ...j, model: { ...j.model, merges: ["t q!"] } }), /model\.merges\[0\]: "q!" is not in model\.vocab/],
      ["bad id", (j) => ({ ...j, model: { ...j.model, vocab: { a: "x" } } }), /model\.vocab\["a"\]: expected a non-negative integer id/],
      ["not byte-level", (j) => ({ ...j, model: { ...j.model, vocab: { "a b": 0 } } }), /model\.vocab\["a b"\]: token is not written in the byte-level/],
      ["added token without id", (j) => ({ ...j, added_tokens: [{ content: "<x>" }] }), /added_tokens\[0\]\.id: expected a non-negative integer id/],
      ["normalizer", (j) => ({ ...j, normalizer: { type: "NFC" } }), /normalizer: unsupported normalizer string "NFC"/],
      ["no pre-tokenizer", (j) => ({ ...j, pre_tokenizer: null }), /pre_tokenizer: expected a ByteLevel/],
      ["byte fallback", (j) => ({ ...j, model: { ...j.model, byte_fallback: true } }), /model\.byte_fallback/],
    ];
    for (const [name, mutate, expected] of variants) {
      const path = tempFile("tokenizer.json", JSON.stringify(mutate(base)));
      assert.throws(() => Tokenizer.load(path), (err: Error) => {
        assert.match(err.message, expected, name);
        assert.ok(err.message.startsWith(path), `${name}: message names the file: ${err.message}`);
        return true;
      });
    }
  });

  test("missing path or empty directory", () => {
    assert.throws(() => Tokenizer.load(join(tempRoot, "nope.model")), /cannot read tokenizer .*nope\.model/);
    const dir = join(tempRoot, "empty-dir");
    mkdirSync(dir);
    assert.throws(() => Tokenizer.load(dir), /no tokenizer\.json or tokenizer\.model in this directory/);
  });

  test("a valid ranks file loads from a directory", () => {
    const path = tempFile("tokenizer.model", ok);
    const tok = Tokenizer.load(join(path, ".."));
    // The Llama 4 specials follow the ranks (Meta numbers them from the rank count).
    assert.equal(tok.tokenId("<|begin_of_text|>"), toyRanks().length);
    assert.equal(tok.vocabSize, toyRanks().length + 2048);
    assert.deepEqual(tok.encode("the thing"), Tokenizer.fromRanks(toyRanks()).encode("the thing"));
  });
});

// ---------------------------------------------------------------------------------------------
// The real Llama 4 vocabulary and the reference goldens.

interface GoldenCase {
  text: string;
  ids: number[];
  allowSpecial: boolean;
}

let llama4: Tokenizer | undefined;
let goldens: GoldenCase[] | undefined;
function loadLlama4(modelPath: string, goldenPath: string): [Tokenizer, GoldenCase[]] {
  llama4 ??= Tokenizer.load(modelPath);
  goldens ??= JSON.parse(readFileSync(goldenPath, "utf8")) as GoldenCase[];
  return [llama4, goldens];
}

function label(text: string): string {
  const s = JSON.stringify(text);
  return s.length > 50 ? `${s.slice(0, 47)}... (${text.length} chars)` : s;
}

function checkGoldens(tok: Tokenizer, cases: GoldenCase[]): void {
  for (const c of cases) {
    assert.deepEqual(tok.encode(c.text, { allowSpecial: c.allowSpecial }), c.ids, `encode ${label(c.text)}`);
    assert.equal(tok.decode(c.ids), c.text, `decode ${label(c.text)}`);
  }
}

describe("Llama 4 vocabulary (tokenizer.model)", () => {
  test("goldens: encode exact, decode round trip", (t) => {
    const model = requireShared(t, "llama4/tokenizer.model");
    const golden = requireShared(t, "fixtures/llama4/tokenizer/golden.json");
    if (!model || !golden) return;
    const [tok, cases] = loadLlama4(model, golden);
    assert.ok(cases.length >= 60);
    checkGoldens(tok, cases);
  });

  test("vocabulary facts", (t) => {
    const model = requireShared(t, "llama4/tokenizer.model");
    const golden = requireShared(t, "fixtures/llama4/tokenizer/golden.json");
    if (!model || !golden) return;
    const [tok] = loadLlama4(model, golden);
    assert.equal(tok.vocabSize, 202_048);
    assert.equal(tok.bosId, 200_000);
    assert.equal(tok.eosId, 200_001);
    assert.deepEqual(tok.eosIds, [200_001, 200_007, 200_008]);
    assert.equal(tok.tokenId("<|eot|>"), 200_008);
    assert.equal(tok.tokenId("<|finetune_right_pad|>"), 200_018);
    assert.equal(tok.tokenId("<|reasoning_thinking_end|>"), 201_143);
    assert.equal(tok.idToken(200_090), "<|image|>");
    assert.equal(tok.idToken(202_047), "<|reserved_special_token_903|>");
    assert.ok(tok.isSpecial(200_000) && !tok.isSpecial(199_999));
    assert.deepEqual(tok.encode("Hello, world!", { bos: true, eos: true }), [200_000, 19873, 24, 3817, 13, 200_001]);
    assert.throws(() => tok.decode([202_048]), /invalid token id 202048: valid ids are integers 0\.\.202047/);
    assert.throws(() => tok.tokenId("<|finetune_right_pad_id|>"), /unknown special token "<\|finetune_right_pad_id\|>"/);
  });

  test("stream decoder on emoji and CJK goldens", (t) => {
    const model = requireShared(t, "llama4/tokenizer.model");
    const golden = requireShared(t, "fixtures/llama4/tokenizer/golden.json");
    if (!model || !golden) return;
    const [tok, cases] = loadLlama4(model, golden);
    const multiByte = cases.filter((c) => /[\u{1F300}-\u{1FAFF}]|\p{Script=Han}|\p{Script=Hangul}/u.test(c.text));
    assert.ok(multiByte.length >= 3);
    let sawSplitCharacter = false;
    for (const c of multiByte) {
      const stream = tok.createStreamDecoder();
      const chunks = c.ids.map((id) => stream.push(id));
      chunks.push(stream.flush());
      assert.equal(chunks.join(""), c.text);
      for (const chunk of chunks) {
        assert.ok(!/\p{Cs}/u.test(chunk), `lone surrogate in ${JSON.stringify(chunk)}`);
        if (!c.text.includes("\ufffd")) assert.ok(!chunk.includes("\ufffd"), `U+FFFD in ${label(c.text)}`);
      }
      // Some token of these texts ends inside a character (so the buffering was exercised).
      if (chunks.some((ch, i) => ch === "" && i < c.ids.length)) sawSplitCharacter = true;
    }
    assert.ok(sawSplitCharacter);
  });

  test("goldens through a tokenizer.json written by tokenizerJsonFromRanks", (t) => {
    const model = requireShared(t, "llama4/tokenizer.model");
    const golden = requireShared(t, "fixtures/llama4/tokenizer/golden.json");
    if (!model || !golden) return;
    const [tok, cases] = loadLlama4(model, golden);
    const json = tokenizerJsonFromRanks(tok.mergeableRanks(), tok.specialTokens());
    assert.equal(json.model.merges.length, 200_000 - 256);
    assert.equal(json.added_tokens.length, 2048);
    const dir = join(tempRoot, "hf-llama4");
    mkdirSync(dir);
    writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json));
    const hf = Tokenizer.load(dir);
    assert.equal(hf.vocabSize, 202_048);
    assert.equal(hf.bosId, 200_000);
    assert.deepEqual(hf.eosIds, [200_001, 200_007, 200_008]);
    assert.deepEqual(hf.warnings, []);
    checkGoldens(hf, cases);

    // A file lacking the trailing specials (like the published HF one): not invented silently.
    const partial = { ...json, added_tokens: json.added_tokens.filter((a) => a.id < 201_134) };
    const lacking = Tokenizer.fromTokenizerJson(partial, { source: "partial.json" });
    assert.equal(lacking.warnings.length, 1);
    assert.match(lacking.warnings[0]!, /914 of the Llama 4 special ids 200000\.\.202047 \(first 201134\) are not defined/);
    assert.equal(lacking.vocabSize, 201_134);
    assert.throws(() => lacking.tokenId("<|reasoning_thinking_start|>"), /unknown special token/);
    assert.throws(
      () => lacking.decode([201_142]),
      /token id 201142 is not defined by partial\.json: Llama 4 defines it as <\|reasoning_thinking_start\|>/,
    );
    assert.throws(() => lacking.decode([202_048]), /invalid token id 202048: valid ids are integers 0\.\.201133/);
    const filled = Tokenizer.fromTokenizerJson(partial, { source: "partial.json", fillLlama4Specials: true });
    assert.equal(filled.vocabSize, 202_048);
    assert.equal(filled.tokenId("<|reasoning_thinking_start|>"), 201_142);
    assert.match(filled.warnings[0]!, /were added under their Llama 4 reference names/);
    assert.equal(LLAMA4_SPECIAL_TOKENS.length, 2048);
  });
});
