// A hand-written matcher for the Llama 4 (o200k) split pattern, equivalent to the regex in
// pretokenize.ts but several times faster than running the regex once per piece. It walks
// the alternatives in order, reproducing the backtracking outcome of each one (derivations
// below). The test suite fuzzes it against the regex.
//
//   A1  [^\r\n\p{L}\p{N}]? [U]* [L]+ C?        U = Lu|Lt|Lm|Lo|M,  L = Ll|Lm|Lo|M
//   A2  [^\r\n\p{L}\p{N}]? [U]+ [L]* C?        C = 's|'t|'re|'ve|'m|'ll|'d, any case
//   A3  \p{N}{1,3}
//   A4  ' '? [^\s\p{L}\p{N}]+ [\r\n/]*
//   A5  \s* [\r\n]+
//   A6  \s+ (?!\S)
//   A7  \s+

const F_U = 1; // Lu Lt Lm Lo M
const F_L = 2; // Ll Lm Lo M
const F_LETTER = 4; // \p{L}
const F_N = 8; // \p{N}
const F_WS = 16; // White_Space
const F_CRLF = 32; // \r or \n
/** Not a letter, number or CR/LF: may be A1/A2's optional leading character. */
const NOT_PREFIX = F_LETTER | F_N | F_CRLF;
/** A4's symbol class excludes these. */
const NOT_SYMBOL = F_WS | F_LETTER | F_N;

const CLASS_REGEXES: readonly [number, RegExp][] = [
  [F_U, /[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]/u],
  [F_L, /[\p{Ll}\p{Lm}\p{Lo}\p{M}]/u],
  [F_LETTER, /\p{L}/u],
  [F_N, /\p{N}/u],
  [F_WS, /\p{White_Space}/u],
];

let bmpFlags: Uint8Array | undefined;
const astralFlags = new Map<number, number>();

/** Flags of every BMP code point, built from runs of the same regex classes (a few ms). */
function buildBmpFlags(): Uint8Array {
  const flags = new Uint8Array(0x10000);
  // All BMP code points with surrogates replaced (they stay 0, i.e. category Cs).
  const units = new Uint16Array(0x10000);
  for (let i = 0; i < 0x10000; i++) units[i] = i >= 0xd800 && i <= 0xdfff ? 0 : i;
  let all = "";
  for (let i = 0; i < 0x10000; i += 4096) all += String.fromCharCode(...units.subarray(i, i + 4096));
  for (const [flag, re] of CLASS_REGEXES) {
    const runs = new RegExp(`${re.source}+`, "gu");
    for (const m of all.matchAll(runs)) {
      for (let i = m.index, end = m.index + m[0].length; i < end; i++) if (i < 0xd800 || i > 0xdfff) flags[i]! |= flag;
    }
  }
  flags[0] = 0; // U+0000 is a control character (the filler above was U+0000 too)
  flags[0x0d] |= F_CRLF;
  flags[0x0a] |= F_CRLF;
  return flags;
}

function flagsOfAstral(cp: number): number {
  let f = astralFlags.get(cp);
  if (f === undefined) {
    const s = String.fromCodePoint(cp);
    f = 0;
    for (const [flag, re] of CLASS_REGEXES) if (re.test(s)) f |= flag;
    astralFlags.set(cp, f);
  }
  return f;
}

// The scanner reads one code point at a time; `width` is its length in UTF-16 units.
let width = 1;

function flagsAt(text: string, i: number, table: Uint8Array): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) {
      width = 2;
      return flagsOfAstral(((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000);
    }
  }
  width = 1;
  return table[c]!;
}

/** End of the run of code points having any of `want` flags, from i. */
function runEnd(text: string, i: number, want: number, table: Uint8Array): number {
  while (i < text.length && (flagsAt(text, i, table) & want) !== 0) i += width;
  return i;
}

/** Optional contraction suffix at e: 's 't 're 've 'm 'll 'd in any case (s also ſ). */
function contractionEnd(text: string, e: number): number {
  if (text.charCodeAt(e) !== 0x27 || e + 1 >= text.length) return e;
  const raw = text.charCodeAt(e + 1);
  if (raw === 0x17f) return e + 2; // ſ case-folds to s in the reference engine
  const c = raw | 0x20; // ASCII letters to lower case
  if (c === 0x73 || c === 0x74 || c === 0x6d || c === 0x64) return e + 2; // 's 't 'm 'd
  if (e + 2 >= text.length) return e;
  const c2 = text.charCodeAt(e + 2) | 0x20;
  if ((c === 0x72 || c === 0x76) && c2 === 0x65) return e + 3; // 're 've
  if (c === 0x6c && c2 === 0x6c) return e + 3; // 'll
  return e;
}

/**
 * A1 without its optional prefix, from p: U* L+ C?. U* is greedy and backtracks until L+ can
 * start: either right after the whole U run (an Ll there), else at the last U run member
 * that is also in L (Lm/Lo/M), where L+ then takes exactly that one code point.
 */
function wordLowerEnd(text: string, p: number, table: Uint8Array): number {
  let q = p;
  let lastBoth = -1;
  let lastBothWidth = 1;
  while (q < text.length) {
    const f = flagsAt(text, q, table);
    if ((f & F_U) === 0) break;
    if ((f & F_L) !== 0) {
      lastBoth = q;
      lastBothWidth = width;
    }
    q += width;
  }
  let e: number;
  if (q < text.length && (flagsAt(text, q, table) & F_L) !== 0) e = runEnd(text, q, F_L, table);
  else if (lastBoth >= 0) e = lastBoth + lastBothWidth;
  else return -1;
  return contractionEnd(text, e);
}

/** A2 without its optional prefix, from p: U+ L* C? (no backtracking needed). */
function wordUpperEnd(text: string, p: number, table: Uint8Array): number {
  if (p >= text.length || (flagsAt(text, p, table) & F_U) === 0) return -1;
  const q = runEnd(text, p, F_U, table);
  return contractionEnd(text, runEnd(text, q, F_L, table));
}

/** End (UTF-16 offset, > start) of the piece the Llama 4 split pattern matches at `start`. */
export function llama4PieceEnd(text: string, start: number): number {
  const table = (bmpFlags ??= buildBmpFlags());
  const f0 = flagsAt(text, start, table);
  const w0 = width;
  const prefixable = (f0 & NOT_PREFIX) === 0;
  let e: number;
  // A1, then A2; each first with the optional prefix taken, then without it.
  if (prefixable && (e = wordLowerEnd(text, start + w0, table)) >= 0) return e;
  if ((e = wordLowerEnd(text, start, table)) >= 0) return e;
  if (prefixable && (e = wordUpperEnd(text, start + w0, table)) >= 0) return e;
  if ((e = wordUpperEnd(text, start, table)) >= 0) return e;
  // A3: up to three numbers.
  if ((f0 & F_N) !== 0) {
    e = start + w0;
    for (let n = 1; n < 3 && e < text.length && (flagsAt(text, e, table) & F_N) !== 0; n++) e += width;
    return e;
  }
  // A4: optional space, symbols, then trailing CR/LF/slash.
  let s = start;
  if (text.charCodeAt(start) === 0x20 && start + 1 < text.length && (flagsAt(text, start + 1, table) & NOT_SYMBOL) === 0) s++;
  if ((flagsAt(text, s, table) & NOT_SYMBOL) === 0) {
    e = s;
    while (e < text.length && (flagsAt(text, e, table) & NOT_SYMBOL) === 0) e += width;
    while (e < text.length) {
      const c = text.charCodeAt(e);
      if (c !== 0x0d && c !== 0x0a && c !== 0x2f) break;
      e++;
    }
    return e;
  }
  // Only whitespace is left (all White_Space code points are in the BMP).
  const wsEnd = runEnd(text, start, F_WS, table);
  // A5: whitespace up to and including the run's last CR/LF.
  for (let j = wsEnd - 1; j >= start; j--) {
    const c = text.charCodeAt(j);
    if (c === 0x0d || c === 0x0a) return j + 1;
  }
  // A6: leave the last space for the next word; A7: otherwise the whole run.
  if (wsEnd === text.length) return wsEnd;
  return wsEnd - start >= 2 ? wsEnd - 1 : wsEnd;
}
