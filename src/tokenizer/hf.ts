// Hugging Face `tokenizer.json` (byte-level BPE) reading and writing.
//
// Reading supports the shape Llama 3/4 (and GPT-2) use: model.type "BPE" with a vocab in the
// GPT-2 byte->unicode alphabet, merges as "a b" strings or [a, b] pairs, a pre-tokenizer made
// of a regex Split plus ByteLevel (or ByteLevel with its built-in GPT-2 regex), no normalizer.
//
// Writing (`tokenizerJsonFromRanks`) turns a tiktoken rank vocabulary into such a file. Each
// multi-byte token gets one merge: the two parts rank-BPE produces when run on the token's own
// bytes with only lower ranks allowed (the split rank-BPE itself would make last). Merges are
// listed in rank order and `ignore_merges` is set, so HF merge-BPE reproduces rank-BPE.
//
// Semantics chosen when reading:
//  - Every added token (tokenizer.json `added_tokens`, plus tokenizer_config.json
//    `added_tokens_decoder`) becomes a special token: decoded to its text, matched in input
//    only with `allowSpecial` (HF would always match them; the Meta reference never does in
//    user text). A non-special added token that is already an ordinary vocab entry is skipped.
//  - The post_processor (HF's BOS template) is ignored: encode adds BOS/EOS only when asked.
//  - Llama 4 vocabularies (200,000 base tokens) whose file lacks some special ids
//    200000..202047 (the published HF file lacks the reasoning and last reserved tokens) are
//    not completed silently: the ids stay undefined, `warnings` says so, and decoding one
//    fails with a message naming the reference token. `fillLlama4Specials: true` adds them.
import { PairTable, RankBpe } from "./bpe.js";
import { GPT2_SPLIT_PATTERN, LLAMA4_SPLIT_PATTERN } from "./pretokenize.js";
import {
  LLAMA4_NUM_BASE_TOKENS,
  LLAMA4_NUM_SPECIAL_TOKENS,
  LLAMA4_SPECIAL_TOKENS,
  type SpecialToken,
} from "./special.js";
import type { TokenizerSpec } from "./spec.js";
import { TokenBytesTable, tableFromTokenBytes } from "./vocab.js";

// ---------------------------------------------------------------------------------------------
// GPT-2 byte <-> unicode alphabet: printable Latin-1 bytes stand for themselves, the other 68
// bytes map to U+0100.. in byte order, so every token is a printable string.

const BYTE_TO_CHAR: readonly string[] = (() => {
  const chars: string[] = new Array<string>(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return chars;
})();

/** Char code -> byte, -1 outside the alphabet (the alphabet ends below U+0144). */
const CHAR_CODE_TO_BYTE: Int16Array = (() => {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (table[c.charCodeAt(0)] = b));
  return table;
})();

/** Token bytes written in the GPT-2 byte-level alphabet. */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]!]!;
  return s;
}

/** Inverse of bytesToByteLevel; undefined when a character is outside the alphabet. */
export function byteLevelToBytes(text: string): Uint8Array | undefined {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    const b = c < CHAR_CODE_TO_BYTE.length ? CHAR_CODE_TO_BYTE[c]! : -1;
    if (b < 0) return undefined;
    out[i] = b;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The tokenizer.json shape we write.

export interface HfAddedToken {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export interface HfSplitPreTokenizer {
  type: "Split";
  pattern: { Regex: string };
  behavior: "Isolated";
  invert: boolean;
}

export interface HfByteLevel {
  type: "ByteLevel";
  add_prefix_space: boolean;
  trim_offsets: boolean;
  use_regex: boolean;
}

export interface HfTokenizerJson {
  version: string;
  truncation: null;
  padding: null;
  added_tokens: HfAddedToken[];
  normalizer: null;
  pre_tokenizer: { type: "Sequence"; pretokenizers: [HfSplitPreTokenizer, HfByteLevel] };
  post_processor: null;
  decoder: HfByteLevel;
  model: {
    type: "BPE";
    dropout: null;
    unk_token: null;
    continuing_subword_prefix: null;
    end_of_word_suffix: null;
    fuse_unk: boolean;
    byte_fallback: boolean;
    ignore_merges: boolean;
    vocab: Record<string, number>;
    merges: string[];
  };
}

export interface TokenizerJsonOptions {
  /** Split regex in the reference syntax (default: the Llama 4 pattern). */
  splitPattern?: string;
}

/**
 * Writes a Hugging Face tokenizer.json object for a tiktoken rank vocabulary (`ranks[i]` is
 * the bytes of the token with rank/id i) and its special tokens.
 */
export function tokenizerJsonFromRanks(
  ranks: ReadonlyArray<Uint8Array>,
  specials: ReadonlyArray<SpecialToken>,
  options: TokenizerJsonOptions = {},
): HfTokenizerJson {
  const table = tableFromTokenBytes(ranks, (id, other) => {
    throw new Error(`tokenizerJsonFromRanks: rank ${id} has the same bytes as rank ${other}`);
  });
  const bpe = new RankBpe(table);
  // Null prototype: token strings such as "__proto__" must become plain keys.
  const vocab = Object.create(null) as Record<string, number>;
  const merges: string[] = [];
  const parts: number[] = [];
  ranks.forEach((bytes, rank) => {
    const text = bytesToByteLevel(bytes);
    vocab[text] = rank;
    if (bytes.length < 2) return;
    parts.length = 0;
    bpe.encodePiece(bytes, bytes.length, parts, rank);
    // More than two parts: no lower-ranked pair builds this token; it is only reachable as a
    // whole piece (ignore_merges), exactly as in rank-BPE.
    if (parts.length === 2) {
      merges.push(`${bytesToByteLevel(table.bytes(parts[0]!)!)} ${bytesToByteLevel(table.bytes(parts[1]!)!)}`);
    }
  });
  const byteLevel = (useRegex: boolean): HfByteLevel => ({
    type: "ByteLevel",
    add_prefix_space: false,
    trim_offsets: true,
    use_regex: useRegex,
  });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [...specials]
      .sort((a, b) => a.id - b.id)
      .map((s) => ({
        id: s.id,
        content: s.content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: true,
      })),
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        {
          type: "Split",
          pattern: { Regex: options.splitPattern ?? LLAMA4_SPLIT_PATTERN },
          behavior: "Isolated",
          invert: false,
        },
        byteLevel(false),
      ],
    },
    post_processor: null,
    decoder: byteLevel(true),
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: true,
      vocab,
      merges,
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Reading.

export interface HfLoadOptions {
  /**
   * For a Llama 4 vocabulary (200,000 base tokens) whose tokenizer.json lacks some of the
   * special ids 200000..202047: add the missing ones under their reference names. Default
   * false: they stay undefined (decode names them in its error) and `warnings` says so.
   */
  fillLlama4Specials?: boolean;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

class FieldReader {
  constructor(readonly source: string) {}

  fail(field: string, msg: string): never {
    throw new Error(`${this.source}: ${field}: ${msg}`);
  }

  object(parent: JsonObject, key: string, field: string): JsonObject {
    const v = parent[key];
    if (v === undefined) this.fail(field, "missing");
    if (!isObject(v)) this.fail(field, `expected an object, got ${describe(v)}`);
    return v;
  }

  array(parent: JsonObject, key: string, field: string): Json[] {
    const v = parent[key];
    if (v === undefined) this.fail(field, "missing");
    if (!Array.isArray(v)) this.fail(field, `expected an array, got ${describe(v)}`);
    return v;
  }

  id(v: Json | undefined, field: string): number {
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 0x7ffffffe) {
      this.fail(field, `expected a non-negative integer id, got ${describe(v)}`);
    }
    return v;
  }

  string(v: Json | undefined, field: string): string {
    if (typeof v !== "string") this.fail(field, `expected a string, got ${describe(v)}`);
    return v;
  }
}

function vocabField(text: string): string {
  return `model.vocab[${JSON.stringify(text)}]`;
}

function describe(v: Json | undefined): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "object") return "an object";
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 40 ? s.slice(0, 40) + "..." : s}`;
}

/** Token text of a tokenizer_config.json `bos_token`/`eos_token` (a string or {content}). */
function configTokenText(v: Json | undefined): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v) && typeof v["content"] === "string") return v["content"];
  return undefined;
}

interface PreTokenizerChoice {
  splitPattern: string;
  keepGaps: boolean;
}

function readPreTokenizer(root: JsonObject, r: FieldReader): PreTokenizerChoice {
  const pre = root["pre_tokenizer"];
  if (!isObject(pre)) r.fail("pre_tokenizer", `expected a ByteLevel or Sequence[Split, ByteLevel] object, got ${describe(pre)}`);
  const steps: JsonObject[] = [];
  if (pre["type"] === "Sequence") {
    r.array(pre, "pretokenizers", "pre_tokenizer.pretokenizers").forEach((p, i) => {
      if (!isObject(p)) r.fail(`pre_tokenizer.pretokenizers[${i}]`, `expected an object, got ${describe(p)}`);
      steps.push(p);
    });
  } else {
    steps.push(pre);
  }
  let split: PreTokenizerChoice | undefined;
  let sawByteLevel = false;
  steps.forEach((step, i) => {
    const field = pre["type"] === "Sequence" ? `pre_tokenizer.pretokenizers[${i}]` : "pre_tokenizer";
    const type = step["type"];
    if (type === "Split") {
      if (split) r.fail(field, "more than one Split pre-tokenizer is not supported");
      const pattern = step["pattern"];
      const regex = isObject(pattern) ? pattern["Regex"] : undefined;
      if (typeof regex !== "string") r.fail(`${field}.pattern.Regex`, `expected a regex string, got ${describe(regex)}`);
      if (step["behavior"] !== "Isolated" || step["invert"] === true) {
        r.fail(field, `only behavior "Isolated" with invert false is supported, got ${describe(step["behavior"])}`);
      }
      split = { splitPattern: regex, keepGaps: true };
    } else if (type === "ByteLevel") {
      if (step["add_prefix_space"] === true) r.fail(`${field}.add_prefix_space`, "true is not supported");
      if (step["use_regex"] !== false) {
        if (split) r.fail(`${field}.use_regex`, "a Split followed by ByteLevel with use_regex true is not supported");
        split = { splitPattern: GPT2_SPLIT_PATTERN, keepGaps: true };
      }
      sawByteLevel = true;
    } else {
      r.fail(`${field}.type`, `unsupported pre-tokenizer ${describe(type)} (expected Split or ByteLevel)`);
    }
  });
  if (!sawByteLevel) r.fail("pre_tokenizer", "no ByteLevel step: only byte-level BPE tokenizers are supported");
  if (!split) r.fail("pre_tokenizer", "no split regex (ByteLevel has use_regex false and there is no Split)");
  return split;
}

/**
 * Reads a parsed tokenizer.json (and optionally the parsed tokenizer_config.json next to it)
 * into a TokenizerSpec.
 */
export function specFromTokenizerJson(
  json: unknown,
  source: string,
  config?: { json: unknown; source: string },
  options: HfLoadOptions = {},
): TokenizerSpec {
  const r: FieldReader = new FieldReader(source);
  const root = json as Json;
  if (!isObject(root)) r.fail("(root)", `expected a JSON object, got ${describe(root)}`);
  const model = r.object(root, "model", "model");
  const modelType = model["type"];
  if (modelType !== undefined && modelType !== "BPE") {
    r.fail("model.type", `unsupported model type ${describe(modelType)} (only byte-level "BPE" is supported)`);
  }
  if (model["byte_fallback"] === true) r.fail("model.byte_fallback", "true (SentencePiece-style byte fallback) is not supported");
  for (const key of ["continuing_subword_prefix", "end_of_word_suffix"]) {
    const v = model[key];
    if (v !== undefined && v !== null && v !== "") r.fail(`model.${key}`, `${describe(v)} is not supported`);
  }
  const normalizer = root["normalizer"];
  if (normalizer !== undefined && normalizer !== null) {
    r.fail("normalizer", `unsupported normalizer ${describe(isObject(normalizer) ? normalizer["type"] : normalizer)} (only null)`);
  }
  const decoder = root["decoder"];
  if (decoder !== undefined && decoder !== null && !(isObject(decoder) && decoder["type"] === "ByteLevel")) {
    r.fail("decoder", `unsupported decoder ${describe(isObject(decoder) ? decoder["type"] : decoder)} (expected ByteLevel)`);
  }
  const pre = readPreTokenizer(root, r);

  // Vocabulary, decoded from the byte-level alphabet straight into one byte pool.
  const vocabJson = r.object(model, "vocab", "model.vocab");
  // Only own numeric values count: "constructor" or "__proto__" must not hit the prototype.
  const vocabIdOf = (text: string): number | undefined => {
    const v = vocabJson[text];
    return typeof v === "number" ? v : undefined;
  };
  let maxId = -1;
  let totalChars = 0;
  const vocabTexts = Object.keys(vocabJson);
  const vocabCount = vocabTexts.length;
  for (const text of vocabTexts) {
    const v = vocabJson[text];
    const id = typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= 0x7ffffffe ? v : r.id(v, vocabField(text));
    if (id > maxId) maxId = id;
    totalChars += text.length;
  }
  if (vocabCount === 0) r.fail("model.vocab", "is empty");
  const pool = new Uint8Array(totalChars);
  const starts = new Int32Array(maxId + 1);
  const lengths = new Int32Array(maxId + 1).fill(-1);
  let poolUsed = 0;
  for (const text of vocabTexts) {
    const id = vocabJson[text] as number;
    if (lengths[id] !== -1) r.fail(vocabField(text), `id ${id} is used by two tokens`);
    if (text.length === 0) r.fail(vocabField(text), "empty token");
    starts[id] = poolUsed;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const b = c < CHAR_CODE_TO_BYTE.length ? CHAR_CODE_TO_BYTE[c]! : -1;
      if (b < 0) r.fail(vocabField(text), "token is not written in the byte-level (GPT-2) alphabet");
      pool[poolUsed++] = b;
    }
    lengths[id] = text.length;
  }

  // Added tokens: from tokenizer.json, then any extra ones tokenizer_config.json declares.
  const specials = new Map<number, string>();
  const addAdded = (entry: JsonObject, id: number, field: string, rr: FieldReader): void => {
    const content = rr.string(entry["content"], `${field}.content`);
    const existing = specials.get(id);
    if (existing !== undefined) {
      if (existing !== content) rr.fail(field, `id ${id} is ${JSON.stringify(existing)} elsewhere`);
      return;
    }
    // A non-special added token that is already an ordinary token needs nothing.
    if (entry["special"] !== true && vocabIdOf(content) === id) return;
    specials.set(id, content);
  };
  const added = root["added_tokens"];
  if (added !== undefined && added !== null) {
    if (!Array.isArray(added)) r.fail("added_tokens", `expected an array, got ${describe(added)}`);
    added.forEach((entry, i) => {
      const field = `added_tokens[${i}]`;
      if (!isObject(entry)) r.fail(field, `expected an object, got ${describe(entry)}`);
      addAdded(entry, r.id(entry["id"], `${field}.id`), field, r);
    });
  }
  let bosToken: string | undefined;
  let eosToken: string | undefined;
  const warnings: string[] = [];
  if (config) {
    const cr: FieldReader = new FieldReader(config.source);
    const cfg = config.json as Json;
    if (!isObject(cfg)) cr.fail("(root)", `expected a JSON object, got ${describe(cfg)}`);
    const decoderEntries = cfg["added_tokens_decoder"];
    if (isObject(decoderEntries)) {
      for (const [key, entry] of Object.entries(decoderEntries)) {
        const field = `added_tokens_decoder[${JSON.stringify(key)}]`;
        if (!isObject(entry)) cr.fail(field, `expected an object, got ${describe(entry)}`);
        const id = Number(key);
        if (!Number.isInteger(id) || id < 0) cr.fail(field, "key is not a token id");
        addAdded(entry, id, field, cr);
      }
    }
    bosToken = configTokenText(cfg["bos_token"]);
    eosToken = configTokenText(cfg["eos_token"]);
  }

  // A special token id that is also an ordinary token decodes as the special text.
  for (const id of specials.keys()) if (id < lengths.length) lengths[id] = -1;
  const vocab = new TokenBytesTable(pool, starts, lengths, (id, other) =>
    r.fail("model.vocab", `ids ${other} and ${id} have the same bytes`),
  );

  // Merges.
  const mergesJson = r.array(model, "merges", "model.merges");
  const pairs = new PairTable(mergesJson.length);
  let mergeScratch = new Uint8Array(256);
  for (let rank = 0; rank < mergesJson.length; rank++) {
    const m = mergesJson[rank]!;
    let left: string;
    let right: string;
    if (typeof m === "string") {
      const space = m.indexOf(" ");
      if (space <= 0 || space === m.length - 1 || m.indexOf(" ", space + 1) >= 0) {
        r.fail(`model.merges[${rank}]`, `expected "left right", got ${JSON.stringify(m)}`);
      }
      left = m.slice(0, space);
      right = m.slice(space + 1);
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      left = m[0];
      right = m[1];
    } else {
      r.fail(`model.merges[${rank}]`, `expected "left right" or [left, right], got ${describe(m)}`);
    }
    const leftId = vocabIdOf(left);
    const rightId = vocabIdOf(right);
    if (leftId === undefined || !vocab.has(leftId)) r.fail(`model.merges[${rank}]`, `${JSON.stringify(left)} is not in model.vocab`);
    if (rightId === undefined || !vocab.has(rightId)) r.fail(`model.merges[${rank}]`, `${JSON.stringify(right)} is not in model.vocab`);
    // The result is found by bytes (no concatenated string to hash).
    const leftLength = vocab.byteLength(leftId);
    const total = leftLength + vocab.byteLength(rightId);
    if (mergeScratch.length < total) mergeScratch = new Uint8Array(total * 2);
    vocab.copyBytes(leftId, mergeScratch, 0);
    vocab.copyBytes(rightId, mergeScratch, leftLength);
    const resultId = vocab.lookup(mergeScratch, 0, total);
    if (resultId < 0) r.fail(`model.merges[${rank}]`, `the merge result ${JSON.stringify(left + right)} is not in model.vocab`);
    pairs.add(leftId, rightId, rank, resultId);
  }

  // Llama 4 specials the file does not define: never invented silently.
  let missingIdNote: ((id: number) => string | undefined) | undefined;
  // Recognized by its 200,000 base tokens and BOS at 200000 (or no added tokens at all).
  const looksLikeLlama4 =
    maxId === LLAMA4_NUM_BASE_TOKENS - 1 &&
    vocabCount === LLAMA4_NUM_BASE_TOKENS &&
    (specials.size === 0 || specials.get(LLAMA4_NUM_BASE_TOKENS) === LLAMA4_SPECIAL_TOKENS[0]);
  if (looksLikeLlama4) {
    const missing: number[] = [];
    for (let i = 0; i < LLAMA4_NUM_SPECIAL_TOKENS; i++) {
      if (!specials.has(LLAMA4_NUM_BASE_TOKENS + i)) missing.push(LLAMA4_NUM_BASE_TOKENS + i);
    }
    if (missing.length > 0) {
      const range = `${missing.length} of the Llama 4 special ids 200000..202047 (first ${missing[0]})`;
      if (options.fillLlama4Specials) {
        for (const id of missing) specials.set(id, LLAMA4_SPECIAL_TOKENS[id - LLAMA4_NUM_BASE_TOKENS]!);
        warnings.push(`${source}: ${range} were missing and were added under their Llama 4 reference names`);
      } else {
        const missingSet = new Set(missing);
        warnings.push(
          `${source}: ${range} are not defined; Llama 4 models have 202048 embedding rows. ` +
            "Decoding them fails; load with { fillLlama4Specials: true } to add the reference names",
        );
        missingIdNote = (id) =>
          missingSet.has(id)
            ? `Llama 4 defines it as ${LLAMA4_SPECIAL_TOKENS[id - LLAMA4_NUM_BASE_TOKENS]} but ${source} does not; ` +
              "load with { fillLlama4Specials: true } to add the reference names"
            : undefined;
      }
    }
  }

  return {
    source,
    vocab,
    merges: pairs,
    ignoreMerges: model["ignore_merges"] === true,
    specials: [...specials].map(([id, content]) => ({ id, content })).sort((a, b) => a.id - b.id),
    splitPattern: pre.splitPattern,
    keepGaps: pre.keepGaps,
    ...(bosToken !== undefined ? { bosToken } : {}),
    ...(eosToken !== undefined ? { eosToken } : {}),
    warnings,
    ...(missingIdNote ? { missingIdNote } : {}),
  };
}
