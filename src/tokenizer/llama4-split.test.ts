// The hand-written Llama 4 split matcher must cut text exactly where the regex does.
import assert from "node:assert/strict";
import { test } from "node:test";
import { llama4PieceEnd } from "./llama4-split.js";
import { LLAMA4_SPLIT_PATTERN, translateSplitPattern } from "./pretokenize.js";

const regex = new RegExp(translateSplitPattern(LLAMA4_SPLIT_PATTERN), "gu");
const byRegex = (s: string): string[] => [...s.matchAll(regex)].map((m) => m[0]);
function byScanner(s: string): string[] {
  const pieces: string[] = [];
  for (let p = 0; p < s.length; ) {
    const e = llama4PieceEnd(s, p);
    assert.ok(e > p && e <= s.length, `no progress at ${p} in ${JSON.stringify(s)}`);
    pieces.push(s.slice(p, e));
    p = e;
  }
  return pieces;
}

// One or two of each character class the pattern distinguishes, and the contraction letters.
const PALETTE = [
  "a", "b", "s", "S", "t", "T", "r", "R", "e", "E", "v", "V", "m", "M", "l", "L", "d", "D", "ſ", "'", "'",
  "A", "Z", "ǅ" /* Lt */, "ʰ" /* Lm */, "中" /* Lo */, "ا", "\u0301" /* Mn */, "\u0903" /* Mc */, "\u20dd" /* Me */,
  "1", "٣", "Ⅻ" /* Nl */, "½" /* No */, "𝔸", "𝟘", "𐐀", "𐐨", "😀", "👍🏽",
  " ", " ", "\t", "\r", "\n", "\r\n", "\u0085", "\u00a0", "\u2028", "\u3000", "\ufeff", "\u200b", "\x1c", "\x00",
  "/", "!", ".", "-", "$", "\ud800" /* lone surrogates */, "\udc00", "ß", "İ", "\u00ad",
];

function xorshift(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) % n;
  };
}

test("scanner matches the regex on random mixed text", () => {
  const rand = xorshift(12345);
  for (let it = 0; it < 20_000; it++) {
    let s = "";
    for (let i = 0, n = 1 + rand(16); i < n; i++) s += PALETTE[rand(PALETTE.length)]!;
    assert.deepEqual(byScanner(s), byRegex(s), JSON.stringify(s));
  }
});

test("scanner matches the regex on runs of letters and marks (backtracking cases)", () => {
  const letters = ["a", "A", "ǅ", "ʰ", "中", "\u0301", "'", "s", "L", "l", " ", "1", "!", "\n", "𝔸", "𐐨"];
  const rand = xorshift(777);
  for (let it = 0; it < 20_000; it++) {
    let s = "";
    for (let i = 0, n = 1 + rand(30); i < n; i++) s += letters[rand(letters.length)]!;
    assert.deepEqual(byScanner(s), byRegex(s), JSON.stringify(s));
  }
});

test("scanner matches the regex for every BMP code point in context", () => {
  for (let cp = 0; cp < 0x10000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCharCode(cp);
    const s = `A${ch}${ch}'s ${ch}1`;
    assert.deepEqual(byScanner(s), byRegex(s), `U+${cp.toString(16)}`);
  }
});
