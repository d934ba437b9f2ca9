// Tokenizer metadata in GGUF, both ways, as llama.cpp's converter writes it for Llama 4:
//   tokenizer.ggml.model = "gpt2" (byte-level BPE), tokenizer.ggml.pre = "llama4",
//   tokenizer.ggml.tokens (every id, in the GPT-2 byte→unicode alphabet; specials as their
//   text; missing ids as "[PAD<id>]"), tokenizer.ggml.token_type (1 normal, 3 control,
//   5 unused), tokenizer.ggml.merges ("a b", in rank order), bos/eos/padding ids,
//   add_bos_token and tokenizer.chat_template.
// Reading gives the same fields back and a Hugging Face tokenizer.json object, so the
// project's Tokenizer can be built from a GGUF without any other file.
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import {
  LLAMA4_SPLIT_PATTERN, LLAMA4_STOP_TOKENS, Tokenizer, bytesToByteLevel, tokenizerJsonFromRanks, type HfTokenizerJson,
} from "../tokenizer/index.js";
import { FormatError } from "./errors.js";
import { GgufFile, gguf, type GgufValue } from "./gguf.js";

/** llama.cpp's token types (enum llama_token_type). */
export const GGUF_TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, userDefined: 4, unused: 5, byte: 6 } as const;

export interface GgufTokenizerData {
  readonly model: string;
  readonly pre: string | undefined;
  readonly tokens: readonly string[];
  readonly tokenTypes: readonly number[] | undefined;
  readonly merges: readonly string[] | undefined;
  readonly bosTokenId: number | undefined;
  readonly eosTokenId: number | undefined;
  readonly eotTokenId: number | undefined;
  readonly eomTokenId: number | undefined;
  readonly padTokenId: number | undefined;
  readonly addBosToken: boolean | undefined;
  readonly chatTemplate: string | undefined;
}

export interface TokenizerMetadataOptions {
  /** Number of token ids the model has (the embedding rows); the token list is padded to it. */
  readonly vocabSize: number;
  /** config.json's pad id, used when it names a token of the vocabulary. */
  readonly padTokenId?: number | null;
  /** The Hugging Face model folder, searched for a chat template too. */
  readonly modelDir?: string;
}

/** The tokenizer file Tokenizer.load would read for `pathOrDir`. */
function tokenizerFile(pathOrDir: string): string {
  if (!statSync(pathOrDir).isDirectory()) return pathOrDir;
  for (const name of ["tokenizer.json", "tokenizer.model"]) {
    const p = join(pathOrDir, name);
    if (existsSync(p)) return p;
  }
  throw new FormatError(pathOrDir, undefined, "holds no tokenizer.json or tokenizer.model");
}

function readJson(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  try {
    const v: unknown = JSON.parse(readFileSync(path, "utf8"));
    return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch (e) {
    throw new FormatError(path, undefined, `is not valid JSON: ${(e as Error).message}`);
  }
}

/** Merge strings of a tokenizer.json ("a b" or ["a", "b"] entries), in file (rank) order. */
function mergesFromTokenizerJson(json: Record<string, unknown>, file: string): string[] {
  const model = json.model as Record<string, unknown> | undefined;
  const merges = model?.merges;
  if (merges === undefined) return [];
  if (!Array.isArray(merges)) throw new FormatError(file, "model.merges", "must be an array");
  return merges.map((m, i) => {
    if (typeof m === "string") return m;
    if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") return `${m[0]} ${m[1]}`;
    throw new FormatError(file, `model.merges[${i}]`, "must be \"a b\" or [\"a\", \"b\"]");
  });
}

/** Chat templates, named as the converter names them ("" for the default one). */
function chatTemplates(dirs: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const dir of dirs) {
    const config = readJson(join(dir, "tokenizer_config.json"));
    const t = config?.chat_template;
    if (typeof t === "string") out.set("", t);
    else if (Array.isArray(t)) {
      for (const entry of t) {
        const e = entry as { name?: unknown; template?: unknown };
        if (typeof e.name === "string" && typeof e.template === "string") out.set(e.name === "default" ? "" : e.name, e.template);
      }
    }
    if (!out.has("") && existsSync(join(dir, "chat_template.jinja"))) out.set("", readFileSync(join(dir, "chat_template.jinja"), "utf8"));
    const ct = readJson(join(dir, "chat_template.json"))?.chat_template;
    if (!out.has("") && typeof ct === "string") out.set("", ct);
    if (out.size > 0) break;
  }
  return out;
}

/**
 * The `tokenizer.*` metadata for a tokenizer file or folder (tokenizer.json or Meta's
 * tokenizer.model). Ordinary tokens are written in the GPT-2 byte-level alphabet, special
 * tokens as control tokens; merges come from tokenizer.json, or are derived from the ranks
 * (the split rank-BPE would make last) for a tokenizer.model.
 */
export function tokenizerMetadata(pathOrDir: string, opts: TokenizerMetadataOptions): [string, GgufValue][] {
  const file = tokenizerFile(pathOrDir);
  const tok = Tokenizer.load(file);
  if (tok.vocabSize > opts.vocabSize) {
    throw new FormatError(file, undefined, `has ${tok.vocabSize} token ids but the model's vocabulary has ${opts.vocabSize}`);
  }
  const ranks = tok.mergeableRanks();
  const specials = tok.specialTokens();
  const tokens: string[] = new Array<string>(opts.vocabSize);
  const types: number[] = new Array<number>(opts.vocabSize).fill(GGUF_TOKEN_TYPE.unused);
  ranks.forEach((bytes, id) => {
    tokens[id] = bytesToByteLevel(bytes);
    types[id] = GGUF_TOKEN_TYPE.normal;
  });
  for (const s of specials) {
    tokens[s.id] = s.content;
    types[s.id] = GGUF_TOKEN_TYPE.control;
  }
  for (let id = 0; id < tokens.length; id++) tokens[id] ??= `[PAD${id}]`;

  const json = file.endsWith(".json") ? readJson(file) : undefined;
  const merges = json ? mergesFromTokenizerJson(json, file) : tokenizerJsonFromRanks(ranks, specials).model.merges;

  const meta: [string, GgufValue][] = [
    ["tokenizer.ggml.model", gguf.str("gpt2")],
    ["tokenizer.ggml.pre", gguf.str("llama4")],
    ["tokenizer.ggml.tokens", gguf.strings(tokens)],
    ["tokenizer.ggml.token_type", gguf.numbers("int32", types)],
    ["tokenizer.ggml.merges", gguf.strings(merges)],
  ];
  if (tok.bosId !== undefined) meta.push(["tokenizer.ggml.bos_token_id", gguf.u32(tok.bosId)]);
  if (tok.eosId !== undefined) meta.push(["tokenizer.ggml.eos_token_id", gguf.u32(tok.eosId)]);
  if (opts.padTokenId !== undefined && opts.padTokenId !== null && opts.padTokenId >= 0 && opts.padTokenId < opts.vocabSize) {
    meta.push(["tokenizer.ggml.padding_token_id", gguf.u32(opts.padTokenId)]);
  }
  const tokDir = dirname(file);
  const config = readJson(join(tokDir, "tokenizer_config.json"));
  if (typeof config?.add_bos_token === "boolean") meta.push(["tokenizer.ggml.add_bos_token", gguf.bool(config.add_bos_token)]);
  for (const [name, template] of chatTemplates([tokDir, ...(opts.modelDir ? [opts.modelDir] : [])])) {
    meta.push([name === "" ? "tokenizer.chat_template" : `tokenizer.chat_template.${name}`, gguf.str(template)]);
  }
  return meta;
}

/** The tokenizer fields of an open GGUF file (header only). */
export function readGgufTokenizerData(f: GgufFile): GgufTokenizerData {
  const tokens = f.optStringArray("tokenizer.ggml.tokens");
  if (!tokens) throw new FormatError(f.path, "metadata tokenizer.ggml.tokens", "is missing: this file has no vocabulary");
  const id = (key: string) => f.optNumber(`tokenizer.ggml.${key}`);
  return {
    model: f.optString("tokenizer.ggml.model") ?? "gpt2",
    pre: f.optString("tokenizer.ggml.pre"),
    tokens,
    tokenTypes: f.optNumberArray("tokenizer.ggml.token_type"),
    merges: f.optStringArray("tokenizer.ggml.merges"),
    bosTokenId: id("bos_token_id"),
    eosTokenId: id("eos_token_id"),
    eotTokenId: id("eot_token_id"),
    eomTokenId: id("eom_token_id"),
    padTokenId: id("padding_token_id"),
    addBosToken: f.optBool("tokenizer.ggml.add_bos_token"),
    chatTemplate: f.optString("tokenizer.chat_template"),
  };
}

export function loadGgufTokenizerData(path: string): GgufTokenizerData {
  const f = GgufFile.open(path);
  try {
    return readGgufTokenizerData(f);
  } finally {
    f.close();
  }
}

/** Ids that end generation: eos/eot/eom, plus Llama 4's three stop tokens when present. */
export function ggufStopTokenIds(data: GgufTokenizerData): number[] {
  const ids = new Set<number>();
  for (const v of [data.eosTokenId, data.eotTokenId, data.eomTokenId]) if (v !== undefined) ids.add(v);
  const stops = new Set(LLAMA4_STOP_TOKENS);
  data.tokens.forEach((t, i) => {
    if (stops.has(t) && (data.tokenTypes === undefined || data.tokenTypes[i] === GGUF_TOKEN_TYPE.control)) ids.add(i);
  });
  return [...ids].sort((a, b) => a - b);
}

/**
 * A Hugging Face tokenizer.json object for a GGUF byte-level BPE vocabulary: normal tokens
 * become the BPE vocab, control and user-defined tokens added tokens, merges stay in order.
 */
export function ggufTokenizerJson(data: GgufTokenizerData, source = "GGUF"): HfTokenizerJson {
  if (data.model !== "gpt2") {
    throw new FormatError(source, "metadata tokenizer.ggml.model", `is ${JSON.stringify(data.model)}; only byte-level BPE ("gpt2") is supported`);
  }
  if (data.pre !== "llama4") {
    throw new FormatError(source, "metadata tokenizer.ggml.pre", `pre-tokenizer ${JSON.stringify(data.pre)} is not supported (expected "llama4")`);
  }
  const vocab = Object.create(null) as Record<string, number>;
  const added: HfTokenizerJson["added_tokens"] = [];
  data.tokens.forEach((token, id) => {
    const type = data.tokenTypes?.[id] ?? GGUF_TOKEN_TYPE.normal;
    if (type === GGUF_TOKEN_TYPE.control || type === GGUF_TOKEN_TYPE.userDefined) {
      added.push({ id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: false, special: type === GGUF_TOKEN_TYPE.control });
    } else if (type !== GGUF_TOKEN_TYPE.unused) {
      vocab[token] = id;
    }
  });
  const byteLevel = (useRegex: boolean) => ({ type: "ByteLevel" as const, add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: LLAMA4_SPLIT_PATTERN }, behavior: "Isolated", invert: false },
        byteLevel(false),
      ],
    },
    post_processor: null,
    decoder: byteLevel(true),
    model: {
      type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      // llama.cpp's llama4 pre-tokenizer ignores merges for whole-token pieces, as tiktoken does.
      fuse_unk: false, byte_fallback: false, ignore_merges: true, vocab, merges: [...(data.merges ?? [])],
    },
  };
}

/** The project's Tokenizer, built from a GGUF file's vocabulary alone. */
export function loadGgufTokenizer(path: string): Tokenizer {
  const data = loadGgufTokenizerData(path);
  return Tokenizer.fromTokenizerJson(ggufTokenizerJson(data, path), { source: path });
}
