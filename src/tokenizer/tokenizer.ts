// The Llama 4 tokenizer: byte-level BPE with the reference (tiktoken) semantics, loaded from
// Meta's tokenizer.model or a Hugging Face tokenizer.json.
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { type BpeMerger, MergeListBpe, RankBpe } from "./bpe.js";
import { type HfLoadOptions, specFromTokenizerJson } from "./hf.js";
import { llama4PieceEnd } from "./llama4-split.js";
import { PieceCache } from "./piece-cache.js";
import { LLAMA4_SPLIT_PATTERN, SplitPattern, referenceChunks } from "./pretokenize.js";
import {
  LLAMA4_BOS,
  LLAMA4_EOS,
  LLAMA4_SPECIAL_TOKENS,
  LLAMA4_STOP_TOKENS,
  type SpecialToken,
} from "./special.js";
import type { TokenizerSpec } from "./spec.js";
import { parseTiktokenRanks } from "./tiktoken-file.js";
import { utf8EncodeInto } from "./utf8.js";
import { type TokenBytesTable, tableFromTokenBytes } from "./vocab.js";

export interface EncodeOptions {
  /** Turn exact special-token strings (`<|eot|>`) into their ids. Default false: plain text. */
  allowSpecial?: boolean;
  /** Prepend the BOS id. */
  bos?: boolean;
  /** Append the EOS id. */
  eos?: boolean;
}

export type LoadOptions = HfLoadOptions;

export interface StreamDecoder {
  /** Text completed by this token; incomplete UTF-8 sequences wait for the next tokens. */
  push(id: number): string;
  /** Whatever is still buffered; a dangling incomplete sequence becomes U+FFFD. */
  flush(): string;
}

export interface RanksOptions {
  /** Special tokens with their ids (default none). */
  specials?: readonly SpecialToken[];
  /** Split regex in the reference syntax (default the Llama 4 pattern). */
  splitPattern?: string;
  /** Names the vocabulary in error messages. */
  source?: string;
}

const UTF8_DECODER_OPTIONS = { ignoreBOM: true } as const; // keep a leading U+FEFF

export class Tokenizer {
  /** File the vocabulary came from. */
  readonly source: string;
  /** Number of ids (max id + 1), special tokens included: 202048 for Llama 4. */
  readonly vocabSize: number;
  /** tokenizer_config.json's BOS if given, else `<|begin_of_text|>` (200000); undefined if none. */
  readonly bosId: number | undefined;
  /** tokenizer_config.json's EOS if given, else `<|end_of_text|>` (200001); `encode`'s `eos`. */
  readonly eosId: number | undefined;
  /** Ids that end generation: [200001, 200007, 200008] for Llama 4. */
  readonly eosIds: readonly number[];
  /** Non-fatal findings of the loader (e.g. missing Llama 4 special ids in a tokenizer.json). */
  readonly warnings: readonly string[];

  private readonly vocab: TokenBytesTable;
  private readonly bpe: BpeMerger;
  private readonly ignoreMerges: boolean;
  private readonly split: SplitPattern;
  /** The split pattern is the Llama 4 one: use the hand-written matcher instead of the regex. */
  private readonly llama4Split: boolean;
  private readonly specialIdByName = new Map<string, number>();
  private readonly specialBytesById = new Map<number, Uint8Array>();
  private readonly specialNameById = new Map<number, string>();
  /** Matches any special token; longest first so a token never loses to its prefix. */
  private readonly specialRegex: RegExp | undefined;
  private readonly missingIdNote: ((id: number) => string | undefined) | undefined;
  private readonly cache = new PieceCache();
  private scratch = new Uint8Array(1024);
  private readonly decoder = new TextDecoder("utf-8", UTF8_DECODER_OPTIONS);

  private constructor(spec: TokenizerSpec) {
    this.source = spec.source;
    this.vocab = spec.vocab;
    this.bpe = spec.merges ? new MergeListBpe(spec.vocab, spec.merges) : new RankBpe(spec.vocab);
    this.ignoreMerges = spec.ignoreMerges;
    this.split = new SplitPattern(spec.splitPattern, spec.keepGaps);
    this.llama4Split = spec.splitPattern === LLAMA4_SPLIT_PATTERN;
    this.missingIdNote = spec.missingIdNote;
    const encoder = new TextEncoder();
    let size = spec.vocab.size;
    for (const { content, id } of spec.specials) {
      if (this.specialIdByName.has(content)) {
        throw new Error(`${spec.source}: special token ${JSON.stringify(content)} is defined twice`);
      }
      this.specialIdByName.set(content, id);
      this.specialNameById.set(id, content);
      this.specialBytesById.set(id, encoder.encode(content));
      size = Math.max(size, id + 1);
    }
    this.vocabSize = size;
    const names = [...this.specialIdByName.keys()].filter((n) => n.length > 0);
    this.specialRegex =
      names.length > 0
        ? new RegExp(
            names
              .sort((a, b) => b.length - a.length)
              .map((n) => n.replace(/[\\^$.*+?()[\]{}|/]/g, "\\$&"))
              .join("|"),
            "gu",
          )
        : undefined;

    const warnings = [...spec.warnings];
    const idOf = (name: string | undefined, what: string): number | undefined => {
      if (name === undefined) return undefined;
      const id = this.specialIdByName.get(name);
      if (id === undefined) warnings.push(`${spec.source}: ${what} ${JSON.stringify(name)} is not a special token; ignored`);
      return id;
    };
    this.bosId = idOf(spec.bosToken, "BOS token") ?? this.specialIdByName.get(LLAMA4_BOS);
    this.eosId = idOf(spec.eosToken, "EOS token") ?? this.specialIdByName.get(LLAMA4_EOS);
    const stops = new Set<number>();
    if (this.eosId !== undefined) stops.add(this.eosId);
    for (const name of LLAMA4_STOP_TOKENS) {
      const id = this.specialIdByName.get(name);
      if (id !== undefined) stops.add(id);
    }
    this.eosIds = Object.freeze([...stops].sort((a, b) => a - b));
    this.warnings = Object.freeze(warnings);
  }

  // -------------------------------------------------------------------------------------------
  // Loading.

  /**
   * Loads `tokenizer.model` (tiktoken ranks), `tokenizer.json` (Hugging Face), or a directory
   * holding either (tokenizer.json preferred; tokenizer_config.json read when present).
   */
  static load(pathOrDir: string, options: LoadOptions = {}): Tokenizer {
    let isDir: boolean;
    try {
      isDir = statSync(pathOrDir).isDirectory();
    } catch (err) {
      throw new Error(`cannot read tokenizer ${pathOrDir}: ${(err as Error).message}`);
    }
    let file = pathOrDir;
    if (isDir) {
      const candidates = ["tokenizer.json", "tokenizer.model"].map((n) => join(pathOrDir, n));
      const found = candidates.find((p) => existsSync(p));
      if (!found) throw new Error(`${pathOrDir}: no tokenizer.json or tokenizer.model in this directory`);
      file = found;
    }
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      throw new Error(`cannot read tokenizer ${file}: ${(err as Error).message}`);
    }
    if (data.length === 0) throw new Error(`${file}: file is empty`);
    let first = 0;
    while (first < data.length && (data[first] === 0x20 || data[first] === 0x0a || data[first] === 0x0d || data[first] === 0x09)) first++;
    if (data[first] === 0x7b /* { */) {
      const json = parseJsonFile(data, file);
      const configPath = join(dirname(file), "tokenizer_config.json");
      const config = existsSync(configPath) ? { json: parseJsonFile(readFileSync(configPath), configPath), source: configPath } : undefined;
      return Tokenizer.fromTokenizerJson(json, { ...options, source: file, ...(config ? { config } : {}) });
    }
    if (!/^[A-Za-z0-9+/=]+ [0-9]+\r?$/.test(firstLine(data))) {
      throw new Error(
        `${file}: unrecognized tokenizer format: expected a tiktoken ranks file ("<base64> <rank>" per line) ` +
          `or a Hugging Face tokenizer.json${basename(file) === "tokenizer.model" ? " (SentencePiece models are not supported)" : ""}`,
      );
    }
    return Tokenizer.fromTiktoken(data, { source: file });
  }

  /**
   * A tiktoken ranks file (`tokenizer.model`). The 2,048 Llama 4 special tokens are added
   * after the ranks, as the reference does (ids 200000.. for the 200,000-rank vocabulary),
   * unless `specials` is given.
   */
  static fromTiktoken(data: Uint8Array | string, options: { source?: string; specials?: readonly SpecialToken[] } = {}): Tokenizer {
    const source = options.source ?? "tokenizer.model";
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    const vocab = parseTiktokenRanks(bytes, source);
    const specials = options.specials ?? LLAMA4_SPECIAL_TOKENS.map((content, i) => ({ content, id: vocab.size + i }));
    return new Tokenizer({
      source,
      vocab,
      ignoreMerges: true,
      specials,
      splitPattern: LLAMA4_SPLIT_PATTERN,
      keepGaps: false,
      warnings: [],
    });
  }

  /** A parsed Hugging Face tokenizer.json (and optionally its tokenizer_config.json). */
  static fromTokenizerJson(
    json: unknown,
    options: LoadOptions & { source?: string; config?: { json: unknown; source: string } } = {},
  ): Tokenizer {
    return new Tokenizer(specFromTokenizerJson(json, options.source ?? "tokenizer.json", options.config, options));
  }

  /** In-memory tiktoken-style ranks (`ranks[i]` = bytes of token i); handy for tests. */
  static fromRanks(ranks: ReadonlyArray<Uint8Array>, options: RanksOptions = {}): Tokenizer {
    const source = options.source ?? "ranks";
    const vocab = tableFromTokenBytes(ranks, (id, other) => {
      throw new Error(`${source}: rank ${id} has the same bytes as rank ${other}`);
    });
    return new Tokenizer({
      source,
      vocab,
      ignoreMerges: true,
      specials: options.specials ?? [],
      splitPattern: options.splitPattern ?? LLAMA4_SPLIT_PATTERN,
      keepGaps: false,
      warnings: [],
    });
  }

  // -------------------------------------------------------------------------------------------
  // Encoding.

  /**
   * Token ids of `text`, as the reference `Tokenizer.encode` (no BOS/EOS unless asked).
   * Special-token strings are plain text unless `allowSpecial` is set.
   */
  encode(text: string, options: EncodeOptions = {}): number[] {
    const out: number[] = [];
    if (options.bos) out.push(this.requireId(this.bosId, "BOS"));
    for (const chunk of referenceChunks(text)) {
      if (options.allowSpecial && this.specialRegex) this.encodeWithSpecials(chunk, out);
      else this.encodeOrdinary(chunk, out);
    }
    if (options.eos) out.push(this.requireId(this.eosId, "EOS"));
    return out;
  }

  private requireId(id: number | undefined, what: string): number {
    if (id === undefined) throw new Error(`${this.source}: this vocabulary has no ${what} token`);
    return id;
  }

  private encodeWithSpecials(text: string, out: number[]): void {
    const re = this.specialRegex!;
    re.lastIndex = 0;
    let start = 0;
    for (let m = re.exec(text); m !== null; m = re.exec(text)) {
      if (m.index > start) this.encodeOrdinary(text.slice(start, m.index), out);
      out.push(this.specialIdByName.get(m[0])!);
      start = m.index + m[0].length;
    }
    if (start < text.length) this.encodeOrdinary(start === 0 ? text : text.slice(start), out);
  }

  /** Splits with the regex and BPE-encodes each piece (no special tokens). */
  private encodeOrdinary(text: string, out: number[]): void {
    const length = text.length;
    let pos = 0;
    if (this.llama4Split) {
      // Matches at every position (no gaps), like the regex it replaces.
      while (pos < length) {
        const end = llama4PieceEnd(text, pos);
        this.encodePiece(text, pos, end, out);
        pos = end;
      }
      return;
    }
    const sticky = this.split.sticky;
    while (pos < length) {
      // Fast path: where the pattern matches at the current position, test() (which builds
      // no match object) with a sticky regex gives the piece end directly.
      sticky.lastIndex = pos;
      if (sticky.test(text)) {
        const end = sticky.lastIndex;
        if (end > pos) {
          this.encodePiece(text, pos, end, out);
          pos = end;
          continue;
        }
      }
      // Slow path: a gap or an empty match; continue from the next real match.
      this.split.forEachPiece(text.slice(pos), (s, e) => this.encodePiece(text, pos + s, pos + e, out));
      return;
    }
  }

  /** Appends the ids of the piece text[start..end). */
  private encodePiece(text: string, start: number, end: number, out: number[]): void {
    if (this.cache.appendIfCached(text, start, end, out)) return;
    const first = out.length;
    if (this.scratch.length < (end - start) * 3) this.scratch = new Uint8Array((end - start) * 6);
    const n = utf8EncodeInto(text, start, end, this.scratch);
    const whole = this.ignoreMerges ? this.vocab.lookup(this.scratch, 0, n) : -1;
    if (whole >= 0) out.push(whole);
    else this.bpe.encodePiece(this.scratch, n, out);
    this.cache.set(text.slice(start, end), out, first);
  }

  // -------------------------------------------------------------------------------------------
  // Decoding.

  /** Concatenated bytes of the tokens (special tokens give their names' UTF-8). */
  decodeBytes(ids: readonly number[]): Uint8Array {
    let total = 0;
    for (let i = 0; i < ids.length; i++) total += this.tokenBytesView(ids[i]!).length;
    const out = new Uint8Array(total);
    let offset = 0;
    for (let i = 0; i < ids.length; i++) {
      const bytes = this.tokenBytesView(ids[i]!);
      out.set(bytes, offset);
      offset += bytes.length;
    }
    return out;
  }

  /** Text of the tokens; invalid UTF-8 becomes U+FFFD (like Python errors="replace"). */
  decode(ids: readonly number[]): string {
    return this.decoder.decode(this.decodeBytes(ids));
  }

  /** Incremental decoder that never splits a UTF-8 character. */
  createStreamDecoder(): StreamDecoder {
    const decoder = new TextDecoder("utf-8", UTF8_DECODER_OPTIONS);
    return {
      push: (id: number): string => decoder.decode(this.tokenBytesView(id), { stream: true }),
      flush: (): string => decoder.decode(),
    };
  }

  /** A copy of one token's bytes. */
  tokenBytes(id: number): Uint8Array {
    return this.tokenBytesView(id).slice();
  }

  /** The special token's name, or the ordinary token's bytes as text (U+FFFD for partial UTF-8). */
  idToken(id: number): string {
    const name = this.specialNameById.get(id);
    if (name !== undefined) return name;
    return this.decoder.decode(this.tokenBytesView(id));
  }

  /** Id of a special token by name, e.g. tokenId("<|eot|>") === 200008. */
  tokenId(name: string): number {
    const id = this.specialIdByName.get(name);
    if (id === undefined) throw new Error(`unknown special token ${JSON.stringify(name)} in ${this.source}`);
    return id;
  }

  isSpecial(id: number): boolean {
    return this.specialNameById.has(id);
  }

  /** Special tokens in id order. */
  specialTokens(): SpecialToken[] {
    return [...this.specialNameById].map(([id, content]) => ({ id, content })).sort((a, b) => a.id - b.id);
  }

  /**
   * Bytes of the ordinary tokens by id (`[i]` = token i): the tiktoken ranks. For a vocabulary
   * loaded from tokenizer.json these are the ids, which are BPE ranks only if the file was
   * written from ranks (as `tokenizerJsonFromRanks` does).
   */
  mergeableRanks(): Uint8Array[] {
    const ranks: Uint8Array[] = [];
    for (let id = 0; id < this.vocab.size; id++) {
      const bytes = this.vocab.bytes(id);
      if (!bytes) {
        if (this.specialNameById.has(id)) break;
        throw new Error(`${this.source}: id ${id} has no token, so the ids are not contiguous ranks`);
      }
      ranks.push(bytes.slice());
    }
    return ranks;
  }

  private tokenBytesView(id: number): Uint8Array {
    const bytes = this.vocab.bytes(id);
    if (bytes) return bytes;
    const special = this.specialBytesById.get(id);
    if (special) return special;
    const integer = typeof id === "number" && Number.isInteger(id) && id >= 0;
    const note = integer ? this.missingIdNote?.(id) : undefined;
    if (note) throw new Error(`token id ${id} is not defined by ${this.source}: ${note}`);
    if (!integer || id >= this.vocabSize) {
      const shown = typeof id === "number" ? String(id) : JSON.stringify(id) ?? String(id);
      throw new Error(`invalid token id ${shown}: valid ids are integers 0..${this.vocabSize - 1}`);
    }
    throw new Error(`token id ${id} is not defined by ${this.source}`);
  }
}

function parseJsonFile(data: Buffer, file: string): unknown {
  try {
    return JSON.parse(data.toString("utf8")) as unknown;
  } catch (err) {
    throw new Error(`${file}: invalid JSON: ${(err as Error).message}`);
  }
}

function firstLine(data: Buffer): string {
  let end = data.indexOf(0x0a);
  if (end < 0) end = Math.min(data.length, 4096);
  return data.subarray(0, Math.min(end, 4096)).toString("latin1");
}
