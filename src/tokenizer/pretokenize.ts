// Pre-tokenization: the split regex (translated from the Rust/Python syntax of the reference
// to an ECMAScript `u` regex) and the reference encode wrapper's long-input chunking.

/** The Llama 4 split pattern exactly as the reference (and tokenizer.json) writes it. */
export const LLAMA4_SPLIT_PATTERN =
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?" +
  "|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?" +
  "|\\p{N}{1,3}" +
  "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*" +
  "|\\s*[\\r\\n]+" +
  "|\\s+(?!\\S)" +
  "|\\s+";

/** GPT-2's pattern, used by a Hugging Face ByteLevel pre-tokenizer with use_regex: true. */
export const GPT2_SPLIT_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/** Reference encode wrapper: windows of this many code points ... */
export const MAX_ENCODE_CODE_POINTS = 400_000;
/** ... each cut so no run of (non-)whitespace is longer than this. */
export const MAX_CONSECUTIVE_RUN = 25_000;

// Unicode simple case folding adds these to a case-insensitive ASCII letter in the Rust
// `regex` crate (the reference engine): s ~ U+017F LONG S, k ~ U+212A KELVIN SIGN.
const EXTRA_CASE_FOLDS: Readonly<Record<string, string>> = { s: "\u017f", k: "\u212a" };

/**
 * Translates a Rust/Python-style split pattern to an ECMAScript pattern for the `u` flag:
 *  - `\s`/`\S` become `\p{White_Space}`/`\P{White_Space}` (ECMAScript `\s` wrongly includes
 *    U+FEFF and misses U+0085);
 *  - `\d`/`\D` become `\p{Nd}`/`\P{Nd}` (Unicode digits, as in the reference);
 *  - an inline case-insensitive group `(?i:...)` of literals becomes explicit case classes
 *    (`'s` -> `'[sSſ]`). A global `i` flag would make `\p{Lu}` match lower case too.
 */
export function translateSplitPattern(pattern: string): string {
  let out = "";
  let inClass = false;
  let i = 0;
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === "\\") {
      const e = pattern[i + 1];
      if (e === undefined) throw new Error(`split pattern ends with a lone backslash: ${pattern}`);
      if (e === "s") out += "\\p{White_Space}";
      else if (e === "S") out += "\\P{White_Space}";
      else if (e === "d") out += "\\p{Nd}";
      else if (e === "D") out += "\\P{Nd}";
      else if (e === "p" || e === "P") {
        // Keep \p{...} intact (its braces are not quantifiers).
        const close = pattern.indexOf("}", i);
        if (pattern[i + 2] !== "{" || close < 0) throw new Error(`unsupported \\${e} escape in split pattern: ${pattern}`);
        out += pattern.slice(i, close + 1);
        i = close + 1;
        continue;
      } else out += c + e;
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      out += c;
      i++;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      // A `]` right after `[` or `[^` is a literal in the reference syntax.
      if (pattern[i + 1] === "^") {
        out += "^";
        i++;
      }
      if (pattern[i + 1] === "]") {
        out += "\\]";
        i++;
      }
      i++;
      continue;
    }
    if (pattern.startsWith("(?i:", i)) {
      const close = pattern.indexOf(")", i);
      if (close < 0) throw new Error(`unclosed (?i: group in split pattern: ${pattern}`);
      out += "(?:" + caseInsensitiveLiterals(pattern.slice(i + 4, close), pattern) + ")";
      i = close + 1;
      continue;
    }
    out += c;
    i++;
  }
  return out;
}

/** Expands the body of a `(?i:...)` group made of literal alternatives. */
function caseInsensitiveLiterals(body: string, pattern: string): string {
  let out = "";
  for (const ch of body) {
    if (ch === "|") out += "|";
    else if (/^[A-Za-z]$/.test(ch)) {
      const lower = ch.toLowerCase();
      out += `[${lower}${lower.toUpperCase()}${EXTRA_CASE_FOLDS[lower] ?? ""}]`;
    } else if (/^[\p{L}\p{N}\\()[\]{}*+?.^$]$/u.test(ch)) {
      throw new Error(`unsupported (?i:...) group in split pattern (only ASCII literals are translated): ${pattern}`);
    } else out += ch.replace(/[-/]/g, "\\$&");
  }
  return out;
}

/** A compiled split pattern. */
export class SplitPattern {
  /** The pattern in the reference syntax. */
  readonly source: string;
  /** Sticky: matches only at lastIndex, so the piece's start is known without exec(). */
  readonly sticky: RegExp;
  /** Global: finds the next match after an unmatched gap. */
  readonly global: RegExp;
  /** Whether text between matches becomes its own piece (HF "Isolated") or is dropped (tiktoken). */
  readonly keepGaps: boolean;

  constructor(source: string, keepGaps: boolean) {
    this.source = source;
    this.keepGaps = keepGaps;
    const js = translateSplitPattern(source);
    try {
      this.sticky = new RegExp(js, "uy");
      this.global = new RegExp(js, "ug");
    } catch (err) {
      throw new Error(`split pattern is not usable in JavaScript (${(err as Error).message}): ${source}`);
    }
  }

  /** Calls `onPiece(start, end)` (UTF-16 offsets) for each piece of text, in order. */
  forEachPiece(text: string, onPiece: (start: number, end: number) => void): void {
    const sticky = this.sticky;
    let pos = 0;
    while (pos < text.length) {
      sticky.lastIndex = pos;
      if (sticky.test(text) && sticky.lastIndex > pos) {
        onPiece(pos, sticky.lastIndex);
        pos = sticky.lastIndex;
        continue;
      }
      // No (non-empty) match here: look for the next one.
      const global = this.global;
      let from = pos;
      let match: RegExpExecArray | null;
      for (;;) {
        global.lastIndex = from;
        match = global.exec(text);
        if (match === null || match[0].length > 0) break;
        from = global.lastIndex + 1;
      }
      const gapEnd = match === null ? text.length : match.index;
      if (this.keepGaps && gapEnd > pos) onPiece(pos, gapEnd);
      if (match === null) return;
      onPiece(match.index, match.index + match[0].length);
      pos = match.index + match[0].length;
    }
  }
}

/** Python `str.isspace()`: Unicode White_Space plus U+001C..U+001F. */
export function isPythonSpace(cp: number): boolean {
  if (cp <= 0x20) return cp === 0x20 || (cp >= 0x09 && cp <= 0x0d) || (cp >= 0x1c && cp <= 0x1f);
  if (cp < 0x85) return false;
  return (
    cp === 0x85 ||
    cp === 0xa0 ||
    cp === 0x1680 ||
    (cp >= 0x2000 && cp <= 0x200a) ||
    cp === 0x2028 ||
    cp === 0x2029 ||
    cp === 0x202f ||
    cp === 0x205f ||
    cp === 0x3000
  );
}

/** 1 for UTF-16 units below U+3001 that Python's isspace() accepts. */
const PYTHON_SPACE_UNITS: Uint8Array = (() => {
  const table = new Uint8Array(0x3001);
  for (let c = 0; c < table.length; c++) table[c] = isPythonSpace(c) ? 1 : 0;
  return table;
})();

/** Longest run of whitespace or of non-whitespace in text[start..end), in UTF-16 units. */
function longestRunInUnits(text: string, start: number, end: number): number {
  const table = PYTHON_SPACE_UNITS;
  const limit = table.length;
  let longest = 0;
  let runStart = start;
  let c = text.charCodeAt(start);
  let runSpace = c < limit ? table[c]! : 0;
  for (let i = start + 1; i < end; i++) {
    c = text.charCodeAt(i);
    const space = c < limit ? table[c]! : 0;
    if (space !== runSpace) {
      if (i - runStart > longest) longest = i - runStart;
      runStart = i;
      runSpace = space;
    }
  }
  return Math.max(longest, end - runStart);
}

/** Offset after `count` code points from `start` (or the end of the text). */
function advanceCodePoints(text: string, start: number, count: number): number {
  let i = start;
  for (let n = 0; n < count && i < text.length; n++) {
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const d = text.charCodeAt(i + 1);
      i += d >= 0xdc00 && d <= 0xdfff ? 2 : 1;
    } else {
      i++;
    }
  }
  return i;
}

/**
 * The reference encode wrapper's chunking: 400,000-code-point windows, each cut so that no
 * run of whitespace or of non-whitespace exceeds 25,000 code points. Each chunk is encoded
 * on its own. Counts code points, not UTF-16 units (a surrogate pair is one non-space).
 */
export function referenceChunks(text: string): string[] {
  // Fewer UTF-16 units than the run limit means fewer code points too: nothing to cut.
  if (text.length <= MAX_CONSECUTIVE_RUN) return text.length === 0 ? [] : [text];
  const chunks: string[] = [];
  for (let start = 0; start < text.length; ) {
    const end = advanceCodePoints(text, start, MAX_ENCODE_CODE_POINTS);
    // Runs within the limit in UTF-16 units are within it in code points too (cheap check).
    if (longestRunInUnits(text, start, end) <= MAX_CONSECUTIVE_RUN) {
      chunks.push(start === 0 && end === text.length ? text : text.slice(start, end));
    } else {
      cutLongRuns(text, start, end, chunks);
    }
    start = end;
  }
  return chunks;
}

/** The reference run cutting within one window, code point by code point. */
function cutLongRuns(text: string, start: number, end: number, chunks: string[]): void {
  let sliceStart = start;
  let runLength = 0;
  let runIsSpace = isPythonSpace(text.charCodeAt(start));
  for (let i = start; i < end; ) {
    const unit = text.charCodeAt(i);
    // Every whitespace character is in the BMP; a surrogate pair is one non-space.
    const space = isPythonSpace(unit);
    if (space !== runIsSpace) {
      runLength = 1;
      runIsSpace = space;
    } else if (++runLength > MAX_CONSECUTIVE_RUN) {
      chunks.push(text.slice(sliceStart, i));
      sliceStart = i;
      runLength = 1;
    }
    const next = i + 1 < end ? text.charCodeAt(i + 1) : 0;
    i += unit >= 0xd800 && unit <= 0xdbff && next >= 0xdc00 && next <= 0xdfff ? 2 : 1;
  }
  chunks.push(text.slice(sliceStart, end));
}
