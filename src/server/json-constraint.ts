// JSON mode (`response_format: {type: "json_object"}`): a TokenConstraint that lets a token
// through only if the output, byte by byte, stays a prefix of one valid JSON object, and that
// is complete when the top-level object closes. Validation is incremental (a small pushdown
// scanner over UTF-8 bytes), so checking a candidate token costs only its own bytes.
//
// Given a token budget, it also guarantees the object closes in time: a token is refused if
// the fewest bytes that could still finish the object would no longer fit in the tokens left.
// Every byte is a token of its own in byte-level BPE, so one byte of the shortest completion
// is always allowed and generation can never get stuck.
//
// Like llama.cpp's JSON grammar, it is a little stricter than JSON about whitespace so a
// model cannot pad forever: none before the object, and between tokens at most one newline
// followed by up to 20 spaces or tabs.
import type { TokenConstraint } from "../runtime/generator.js";

/** What the constraint needs from a tokenizer (the real Tokenizer satisfies it). */
export interface TokenByteSource {
  readonly vocabSize: number;
  decodeBytes(ids: readonly number[]): Uint8Array;
  isSpecial(id: number): boolean;
}

/**
 * Each token's bytes, decoded on first use and kept: shared by every request that uses the
 * same tokenizer. Special tokens and ids the tokenizer does not define have none.
 */
export class TokenBytesCache {
  private readonly bytes: (Uint8Array | null | undefined)[] = [];

  constructor(private readonly source: TokenByteSource) {}

  get(id: number): Uint8Array | undefined {
    if (!Number.isInteger(id) || id < 0 || id >= this.source.vocabSize) return undefined;
    let b = this.bytes[id];
    if (b === undefined) {
      b = null;
      if (!this.source.isSpecial(id)) {
        try {
          b = this.source.decodeBytes([id]);
        } catch {
          b = null; // a hole in the vocabulary
        }
      }
      this.bytes[id] = b;
    }
    return b ?? undefined;
  }

  private index: { first: Int32Array[]; second: (Int32Array[] | undefined)[]; single: Int32Array[] } | undefined;

  /**
   * The tokens whose bytes start with `b0` (and, when given, `b1`): an index over the whole
   * vocabulary, built on first use (every token's bytes are decoded once) and then shared.
   * `b1 === -1` asks for the tokens that are exactly the one byte `b0`.
   */
  tokensStartingWith(b0: number, b1?: number): Int32Array {
    const ix = (this.index ??= this.buildIndex());
    if (b1 === undefined) return ix.first[b0]!;
    if (b1 === -1) return ix.single[b0]!;
    const second = ix.second[b0];
    if (second) return second[b1]!;
    // A small first-byte list is not split by second byte: filter it here.
    return ix.first[b0]!.filter((id) => this.get(id)![1] === b1);
  }

  /** Whether the tokens starting with `b0` are split by their second byte (a large group). */
  isSplit(b0: number): boolean {
    const ix = (this.index ??= this.buildIndex());
    return ix.second[b0] !== undefined;
  }

  private buildIndex(): { first: Int32Array[]; second: (Int32Array[] | undefined)[]; single: Int32Array[] } {
    const groups: number[][] = Array.from({ length: 256 }, () => []);
    for (let id = 0; id < this.source.vocabSize; id++) {
      const b = this.get(id);
      if (b !== undefined && b.length > 0) groups[b[0]!]!.push(id);
    }
    const first = groups.map((g) => Int32Array.from(g));
    const single = groups.map((g) => Int32Array.from(g.filter((id) => this.get(id)!.length === 1)));
    const second = groups.map((g) => {
      if (g.length < SPLIT_GROUP) return undefined;
      const sub: number[][] = Array.from({ length: 256 }, () => []);
      for (const id of g) {
        const b = this.get(id)!;
        if (b.length > 1) sub[b[1]!]!.push(id);
      }
      return sub.map((s) => Int32Array.from(s));
    });
    return { first, second, single };
  }
}

/** First-byte groups at least this large are indexed by second byte too (" x" tokens: ~100k). */
const SPLIT_GROUP = 4096;
/** Above this many candidates, sampling and checking beats enumerating (inside strings). */
const MAX_CANDIDATES = 60_000;

/** A byte-level automaton state that `candidateTokens` can probe. */
export interface ByteProbe<S> {
  /** A scratch copy of the current state. */
  fork(): S;
  /** Feeds a byte to a forked state; false if it is refused. */
  feed(s: S, b: number): boolean;
}

/**
 * The tokens that may come next, as a superset (the caller still checks each): every token
 * whose first byte (and, for big groups such as " x", second byte) the automaton accepts.
 * Undefined when that is most of the vocabulary (e.g. inside a string): then sampling and
 * checking is the cheaper way to find an allowed token.
 */
export function candidateTokens<S>(bytes: TokenBytesCache, probe: ByteProbe<S>): number[] | undefined {
  const firstOk: number[] = [];
  for (let b = 0; b < 256; b++) if (probe.feed(probe.fork(), b)) firstOk.push(b);
  let count = 0;
  for (const b of firstOk) count += bytes.isSplit(b) ? 0 : bytes.tokensStartingWith(b).length;
  if (count > MAX_CANDIDATES) return undefined;
  const out: number[] = [];
  for (const b0 of firstOk) {
    if (!bytes.isSplit(b0)) {
      for (const id of bytes.tokensStartingWith(b0)) out.push(id);
      continue;
    }
    for (const id of bytes.tokensStartingWith(b0, -1)) out.push(id);
    for (let b1 = 0; b1 < 256; b1++) {
      const s = probe.fork();
      if (!probe.feed(s, b0) || !probe.feed(s, b1)) continue;
      for (const id of bytes.tokensStartingWith(b0, b1)) out.push(id);
    }
    if (out.length > MAX_CANDIDATES) return undefined;
  }
  return out;
}

type Mode =
  | "start" // before the top-level "{"
  | "objectOpen" // after "{": a key or "}"
  | "objectKey" // after "," in an object: a key
  | "colon" // after a key
  | "value" // after ":" or after "," in an array
  | "arrayOpen" // after "[": a value or "]"
  | "after" // after a value: "," or the closer
  | "string"
  | "escape" // after "\" in a string
  | "unicode" // inside \uXXXX
  | "number"
  | "literal" // inside true / false / null
  | "done";

/** Where a number is: the states of the JSON number grammar. */
type NumberState = "minus" | "zero" | "int" | "dot" | "frac" | "e" | "sign" | "exp";

const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;
const LBRACE = 0x7b, RBRACE = 0x7d, LBRACKET = 0x5b, RBRACKET = 0x5d;

const NEWLINE = 0x0a, SPACE = 0x20, TAB = 0x09;
const MAX_INDENT = 20;
const isDigit = (b: number) => b >= 0x30 && b <= 0x39;
const isHex = (b: number) => isDigit(b) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
/** Bytes allowed after a backslash: " \ / b f n r t (u is handled apart). */
const SIMPLE_ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74]);

/** Modes between tokens, where whitespace may appear. */
const STRUCTURAL: ReadonlySet<Mode> = new Set<Mode>(["start", "objectOpen", "objectKey", "colon", "value", "arrayOpen", "after"]);

/** Incremental validator of a JSON-object prefix; `push` refuses any byte that breaks it. */
export class JsonPrefixScanner {
  mode: Mode = "start";
  /** Open containers, innermost last: "{" or "[". */
  stack = "";
  /** The string being read is an object key (a ":" and a value must follow it). */
  inKey = false;
  /** UTF-8 continuation bytes still owed, and the allowed range of the next one. */
  utf8Need = 0;
  utf8Lo = 0x80;
  utf8Hi = 0xbf;
  hexLeft = 0;
  num: NumberState = "int";
  /** The rest of the literal being spelled (e.g. "ue" after "tr"). */
  literal = "";
  /** Whitespace bytes in the current gap between tokens, and spaces/tabs among them. */
  gap = 0;
  indent = 0;
  /**
   * When set, the top-level object may only have these keys (UTF-8, sorted), each at most
   * once: a tool's declared parameters. Keys are matched byte by byte as they are written.
   */
  keys: readonly Uint8Array[] | undefined;
  /** Bit i: keys[i] was used. */
  usedKeys = 0;
  /** Inside a restricted key: bytes written so far, and the range of keys they still match. */
  keyPos = -1;
  keyLo = 0;
  keyHi = 0;

  /**
   * Restricts the top-level keys to `names` (only used before any byte is pushed). Names
   * with quotes, backslashes or control characters, or more than 30, disable the restriction.
   */
  restrictKeys(names: readonly string[]): this {
    const enc = new TextEncoder();
    const simple = names.length <= 30 && names.every((n) => n.length > 0 && !/["\\\u0000-\u001f]/.test(n));
    if (!simple) return this;
    this.keys = [...new Set(names)].map((n) => enc.encode(n)).sort(compareBytes);
    return this;
  }

  copyFrom(o: JsonPrefixScanner): void {
    this.mode = o.mode;
    this.stack = o.stack;
    this.inKey = o.inKey;
    this.utf8Need = o.utf8Need;
    this.utf8Lo = o.utf8Lo;
    this.utf8Hi = o.utf8Hi;
    this.hexLeft = o.hexLeft;
    this.num = o.num;
    this.literal = o.literal;
    this.gap = o.gap;
    this.indent = o.indent;
    this.keys = o.keys;
    this.usedKeys = o.usedKeys;
    this.keyPos = o.keyPos;
    this.keyLo = o.keyLo;
    this.keyHi = o.keyHi;
  }

  get done(): boolean {
    return this.mode === "done";
  }

  /** Feeds one byte; false (state then undefined) if the text stops being a valid prefix. */
  push(b: number): boolean {
    if (STRUCTURAL.has(this.mode)) {
      if (b === SPACE || b === TAB || b === NEWLINE) return this.space(b);
      this.gap = 0;
      this.indent = 0;
    }
    switch (this.mode) {
      case "start":
        if (b !== LBRACE) return false; // the top level must be an object, first thing
        this.stack = "{";
        this.mode = "objectOpen";
        return true;
      case "objectOpen":
        if (b === QUOTE) return this.openString(true);
        return b === RBRACE && this.close(b);
      case "objectKey":
        return b === QUOTE && this.openString(true);
      case "colon":
        if (b !== COLON) return false;
        this.mode = "value";
        return true;
      case "arrayOpen":
        if (b === RBRACKET) return this.close(b);
        return this.startValue(b);
      case "value":
        return this.startValue(b);
      case "after":
        if (b === COMMA) {
          if (this.stack.length === 1 && !this.keyLeft()) return false; // every allowed key is used
          this.mode = this.stack.endsWith("{") ? "objectKey" : "value";
          return true;
        }
        return (b === RBRACE || b === RBRACKET) && this.close(b);
      case "string":
        return this.stringByte(b);
      case "escape":
        if (SIMPLE_ESCAPES.has(b)) {
          this.mode = "string";
          return true;
        }
        if (b !== 0x75) return false; // u
        this.mode = "unicode";
        this.hexLeft = 4;
        return true;
      case "unicode":
        if (!isHex(b)) return false;
        if (--this.hexLeft === 0) this.mode = "string";
        return true;
      case "number":
        return this.numberByte(b);
      case "literal":
        if (b !== this.literal.charCodeAt(0)) return false;
        this.literal = this.literal.slice(1);
        if (this.literal === "") this.mode = "after";
        return true;
      case "done":
        return false; // nothing may follow the object
    }
  }

  /**
   * The fewest bytes that would finish the object from here: whatever the current token
   * needs (closing quote, a digit, the rest of a literal, a value after ":") plus one closer
   * per open container. Each byte of that shortest completion lowers it by exactly one.
   */
  distance(): number {
    const closers = this.stack.length;
    const afterKey = this.inKey ? 2 : 0; // ":" and a one-byte value such as 0
    switch (this.mode) {
      case "start": return 2;
      case "done": return 0;
      case "objectOpen":
      case "arrayOpen":
      case "after": return closers;
      case "objectKey": return 4 + (this.restricted() ? this.shortestKey(0, this.keys!.length, 0) : 0) + closers; // "":0
      case "colon": return 2 + closers;
      case "value": return 1 + closers;
      case "string":
        if (this.keyPos >= 0) return this.shortestKey(this.keyLo, this.keyHi, this.keyPos) + 1 + afterKey + closers;
        return this.utf8Need + 1 + afterKey + closers;
      case "escape": return 2 + afterKey + closers;
      case "unicode": return this.hexLeft + 1 + afterKey + closers;
      case "number": return (this.num === "minus" || this.num === "dot" || this.num === "e" || this.num === "sign" ? 1 : 0) + closers;
      case "literal": return this.literal.length + closers;
    }
  }

  /**
   * The first byte of the shortest completion (`distance` counts them): feeding it lowers
   * the distance by one. Undefined once done.
   */
  nextClosingByte(): number | undefined {
    const closer = this.stack.endsWith("[") ? RBRACKET : RBRACE;
    switch (this.mode) {
      case "start": return LBRACE;
      case "done": return undefined;
      case "objectOpen":
      case "arrayOpen":
      case "after": return closer;
      case "objectKey": return QUOTE;
      case "colon": return COLON;
      case "value": return 0x30;
      case "string": {
        if (this.keyPos < 0) return this.utf8Need > 0 ? this.utf8Lo : QUOTE;
        const k = this.shortestKeyIndex(this.keyLo, this.keyHi);
        const key = this.keys![k]!;
        return key.length > this.keyPos ? key[this.keyPos] : QUOTE;
      }
      case "escape": return 0x6e; // n
      case "unicode": return 0x30;
      case "number": return this.num === "minus" || this.num === "dot" || this.num === "e" || this.num === "sign" ? 0x30 : closer;
      case "literal": return this.literal.charCodeAt(0);
    }
  }

  /** Whitespace between tokens: one newline first, if any, then up to 20 spaces or tabs. */
  private space(b: number): boolean {
    if (this.mode === "start") return false;
    if (b === NEWLINE) {
      if (this.gap > 0) return false;
    } else if (++this.indent > MAX_INDENT) {
      return false;
    }
    this.gap++;
    return true;
  }

  private openString(key: boolean): boolean {
    this.keyPos = -1;
    if (key && this.stack.length === 1 && this.keys) {
      if (!this.keyLeft()) return false;
      this.keyPos = 0;
      this.keyLo = 0;
      this.keyHi = this.keys.length;
    }
    this.mode = "string";
    this.inKey = key;
    this.utf8Need = 0;
    return true;
  }

  /** The key being written is a restricted top-level key. */
  private restricted(): boolean {
    return this.keys !== undefined && this.stack.length === 1;
  }

  /** Some allowed top-level key is still unused (always true without a restriction). */
  private keyLeft(): boolean {
    return this.keys === undefined || this.usedKeys !== (1 << this.keys.length) - 1;
  }

  /** The shortest unused key in [lo, hi) (-1 if none); keys in a range share their first bytes. */
  private shortestKeyIndex(lo: number, hi: number): number {
    let best = -1;
    for (let i = lo; i < hi; i++) {
      if (this.usedKeys & (1 << i)) continue;
      if (best < 0 || this.keys![i]!.length < this.keys![best]!.length) best = i;
    }
    return best;
  }

  private shortestKey(lo: number, hi: number, pos: number): number {
    const i = this.shortestKeyIndex(lo, hi);
    return i < 0 ? 0 : this.keys![i]!.length - pos;
  }

  /** A byte of a restricted key: it must continue some unused allowed key. */
  private keyByte(b: number): boolean {
    const keys = this.keys!;
    const pos = this.keyPos;
    if (b === QUOTE) {
      for (let i = this.keyLo; i < this.keyHi; i++) {
        if (keys[i]!.length === pos && !(this.usedKeys & (1 << i))) {
          this.usedKeys |= 1 << i;
          this.keyPos = -1;
          this.mode = "colon";
          return true;
        }
      }
      return false;
    }
    // Keys are sorted, so those that continue with b form a range.
    let lo = this.keyLo;
    while (lo < this.keyHi && !(keys[lo]!.length > pos && keys[lo]![pos] === b)) lo++;
    let hi = lo;
    let free = false;
    while (hi < this.keyHi && keys[hi]!.length > pos && keys[hi]![pos] === b) {
      if (!(this.usedKeys & (1 << hi))) free = true;
      hi++;
    }
    if (!free) return false;
    this.keyLo = lo;
    this.keyHi = hi;
    this.keyPos = pos + 1;
    return true;
  }

  private startValue(b: number): boolean {
    if (b === QUOTE) return this.openString(false);
    if (b === LBRACE || b === LBRACKET) {
      this.stack += b === LBRACE ? "{" : "[";
      this.mode = b === LBRACE ? "objectOpen" : "arrayOpen";
      return true;
    }
    if (b === 0x2d || isDigit(b)) {
      this.mode = "number";
      this.num = b === 0x2d ? "minus" : b === 0x30 ? "zero" : "int";
      return true;
    }
    const rest = b === 0x74 ? "rue" : b === 0x66 ? "alse" : b === 0x6e ? "ull" : undefined;
    if (rest === undefined) return false;
    this.mode = "literal";
    this.literal = rest;
    return true;
  }

  private close(b: number): boolean {
    const top = this.stack.at(-1);
    if ((b === RBRACE) !== (top === "{")) return false;
    this.stack = this.stack.slice(0, -1);
    this.mode = this.stack === "" ? "done" : "after";
    return true;
  }

  private stringByte(b: number): boolean {
    if (this.keyPos >= 0) return this.keyByte(b);
    if (this.utf8Need > 0) {
      if (b < this.utf8Lo || b > this.utf8Hi) return false;
      this.utf8Need--;
      this.utf8Lo = 0x80;
      this.utf8Hi = 0xbf;
      return true;
    }
    if (b === QUOTE) {
      this.mode = this.inKey ? "colon" : "after";
      return true;
    }
    if (b === BACKSLASH) {
      this.mode = "escape";
      return true;
    }
    if (b < 0x20) return false; // control characters must be escaped
    if (b < 0x80) return true;
    // A UTF-8 lead byte: how many continuation bytes follow, and the range of the first
    // (the narrow ranges exclude overlong forms, surrogates and code points above U+10FFFF).
    let need: number, lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) need = 1;
    else if (b === 0xe0) [need, lo] = [2, 0xa0];
    else if (b === 0xed) [need, hi] = [2, 0x9f];
    else if (b >= 0xe1 && b <= 0xef) need = 2;
    else if (b === 0xf0) [need, lo] = [3, 0x90];
    else if (b === 0xf4) [need, hi] = [3, 0x8f];
    else if (b >= 0xf1 && b <= 0xf3) need = 3;
    else return false;
    this.utf8Need = need;
    this.utf8Lo = lo;
    this.utf8Hi = hi;
    return true;
  }

  private numberByte(b: number): boolean {
    const digit = isDigit(b);
    const exponent = b === 0x65 || b === 0x45;
    switch (this.num) {
      case "minus":
        if (!digit) return false;
        this.num = b === 0x30 ? "zero" : "int";
        return true;
      case "zero":
        if (b === 0x2e) this.num = "dot";
        else if (exponent) this.num = "e";
        else return this.endNumber(b);
        return true;
      case "int":
        if (digit) return true;
        if (b === 0x2e) this.num = "dot";
        else if (exponent) this.num = "e";
        else return this.endNumber(b);
        return true;
      case "dot":
        if (!digit) return false;
        this.num = "frac";
        return true;
      case "frac":
        if (digit) return true;
        if (exponent) this.num = "e";
        else return this.endNumber(b);
        return true;
      case "e":
        if (b === 0x2b || b === 0x2d) this.num = "sign";
        else if (digit) this.num = "exp";
        else return false;
        return true;
      case "sign":
        if (!digit) return false;
        this.num = "exp";
        return true;
      case "exp":
        return digit || this.endNumber(b);
    }
  }

  /** A number ends at the first byte that cannot extend it; that byte is read as what follows. */
  private endNumber(b: number): boolean {
    this.mode = "after";
    return this.push(b);
  }
}

export interface JsonConstraintOptions {
  /**
   * Tokens the reply may use (the request's max_tokens). With at least 2, the object is
   * always closed within it; without, output may be cut off mid-object like any reply.
   */
  readonly maxTokens?: number;
  /**
   * Makes forced steps fast. The generator finds an allowed token by sampling and rejecting,
   * which takes thousands of tries when only a handful of the 200k tokens fit; so where the
   * choice is forced anyway (the opening "{", and every step once the budget leaves no
   * freedom) the token of that byte gets a large bias in `bias`, which must be the live
   * `logitBias` map the request's sampler reads at every step.
   */
  readonly steer?: { readonly bias: Map<number, number>; readonly tokenForByte: (byte: number) => number | undefined };
}

/** Large enough to beat any logit at any temperature up to 2; only ever on an allowed token. */
const STEERING_BIAS = 1000;

/** `response_format: {type: "json_object"}`: output is exactly one JSON object. */
export class JsonObjectConstraint implements TokenConstraint {
  private readonly state = new JsonPrefixScanner();
  private readonly scratch = new JsonPrefixScanner();
  private accepted = 0;
  private steered: { id: number; base: number | undefined } | undefined;
  /**
   * True once the budget left no freedom: the object was closed because max_tokens ran out,
   * not (necessarily) because the model finished it, so the reply should say "length".
   */
  budgetForcedClose = false;

  constructor(private readonly bytes: TokenBytesCache, private readonly opts: JsonConstraintOptions = {}) {
    this.updateSteering();
  }

  get complete(): boolean {
    return this.state.done;
  }

  allows(token: number): boolean {
    const bytes = this.bytes.get(token);
    if (bytes === undefined || bytes.length === 0) return false;
    const s = this.scratch;
    s.copyFrom(this.state);
    for (let i = 0; i < bytes.length; i++) if (!s.push(bytes[i]!)) return false;
    const left = this.tokensLeft();
    return left === undefined || s.distance() <= left - 1;
  }

  accept(token: number): void {
    const bytes = this.bytes.get(token);
    if (this.isTight()) this.budgetForcedClose = true;
    this.accepted++;
    if (bytes !== undefined) for (let i = 0; i < bytes.length; i++) this.state.push(bytes[i]!);
    this.updateSteering();
  }

  /** Tokens still allowed, when a budget applies. */
  private tokensLeft(): number | undefined {
    const budget = this.opts.maxTokens;
    return budget !== undefined && budget >= 2 ? budget - this.accepted : undefined;
  }

  /** The budget allows nothing but the shortest way to close the object. */
  private isTight(): boolean {
    const left = this.tokensLeft();
    return left !== undefined && !this.state.done && this.state.distance() >= left;
  }

  private updateSteering(): void {
    const steer = this.opts.steer;
    if (!steer) return;
    if (this.steered) {
      if (this.steered.base === undefined) steer.bias.delete(this.steered.id);
      else steer.bias.set(this.steered.id, this.steered.base);
      this.steered = undefined;
    }
    // The first byte must be "{"; when tight, each byte of the shortest completion.
    if (this.state.mode !== "start" && !this.isTight()) return;
    const byte = this.state.nextClosingByte();
    const id = byte === undefined ? undefined : steer.tokenForByte(byte);
    if (id === undefined || !this.allows(id)) return;
    const base = steer.bias.get(id);
    this.steered = { id, base };
    steer.bias.set(id, (base ?? 0) + STEERING_BIAS);
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
