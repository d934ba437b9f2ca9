// JSON mode: the scanner accepts exactly the prefixes of valid JSON objects, the constraint
// reads token bytes through the cache, and with a budget the object always closes in time.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Rng } from "../runtime/rng.js";
import { JsonObjectConstraint, JsonPrefixScanner, TokenBytesCache, type TokenByteSource } from "./json-constraint.js";

const enc = new TextEncoder();

function isJsonObject(text: string): boolean {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

/** Feeds a whole text; true if every byte kept it a valid prefix. */
function scan(text: string): JsonPrefixScanner | undefined {
  const s = new JsonPrefixScanner();
  for (const b of enc.encode(text)) if (!s.push(b)) return undefined;
  return s;
}

/** Tokens are the given strings; the 256 single bytes come first, as in byte-level BPE. */
function vocab(pieces: readonly string[], special: readonly string[] = []): TokenByteSource & { ids: Map<string, number>; decodes: number } {
  const table: Uint8Array[] = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
  for (const p of [...pieces, ...special]) table.push(enc.encode(p));
  const ids = new Map([...pieces, ...special].map((p, i) => [p, 256 + i]));
  const specialIds = new Set(special.map((p) => ids.get(p)!));
  const source = {
    ids,
    decodes: 0,
    vocabSize: table.length,
    decodeBytes(list: readonly number[]): Uint8Array {
      source.decodes++;
      return table[list[0]!]!;
    },
    isSpecial: (id: number) => specialIds.has(id),
  };
  return source;
}

test("valid JSON objects and every prefix of them are accepted; the object completes", () => {
  const docs = [
    "{}",
    '{ "a" : 1 , "b":[true,false,null,-0.5e+3,0,12.25E-2,[],{}], "c": {"d": "\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9"}}',
    '{"ü€😀": "naïve — 日本語 😀", "n": -12, "z": 0.0}',
    '{"deep":[[[[{"x":[1,2,{"y":"z"}]}]]]]}',
    '{\n  "pretty": [\n    1,\n    2\n  ],\n\t"tab": {}\n}',
  ];
  for (const doc of docs) {
    JSON.parse(doc); // the fixtures themselves are valid
    const bytes = enc.encode(doc);
    const s = new JsonPrefixScanner();
    bytes.forEach((b, i) => {
      assert.equal(s.done, false, `${doc}: done too early at byte ${i}`);
      assert.ok(s.push(b), `${doc}: refused byte ${i} (${String.fromCharCode(b)})`);
    });
    assert.equal(s.done, true, doc);
    assert.equal(s.distance(), 0);
    assert.equal(s.push(0x20), false, "nothing may follow the object");
  }
});

test("invalid text is refused at the first byte that breaks it", () => {
  const bad: [string, string][] = [
    ["[1]", "["], // top level must be an object
    ['"x"', '"'],
    ["1", "1"],
    ["{'a': 1}", "{'"],
    ["{a: 1}", "{a"],
    ['{"a" 1}', '{"a" 1'],
    ['{"a": 1,}', '{"a": 1,}'],
    ['{"a": 01}', '{"a": 01'],
    ['{"a": -}', '{"a": -}'],
    ['{"a": 1.}', '{"a": 1.}'],
    ['{"a": 1e}', '{"a": 1e}'],
    ['{"a": tru}', '{"a": tru}'],
    ['{"a": nul1}', '{"a": nul1'],
    ['{"a": [1}', '{"a": [1}'],
    ['{"a": {"b": 1]}', '{"a": {"b": 1]'],
    ['{"a": "\\x"}', '{"a": "\\x'],
    ['{"a": "\\u12g4"}', '{"a": "\\u12g'],
    ['{"a": "tab\there"}', '{"a": "tab\t'],
    ['{"a": 1}}', '{"a": 1}}'],
    ['{"a": +1}', '{"a": +'],
  ];
  for (const [text, breaksAt] of bad) {
    assert.equal(isJsonObject(text), false, `${text} should not be a JSON object`);
    assert.ok(scan(breaksAt.slice(0, -1)), `${text}: ${breaksAt.slice(0, -1)} is still a valid prefix`);
    assert.equal(scan(breaksAt), undefined, `${text}: must break at ${JSON.stringify(breaksAt)}`);
  }
});

test("whitespace is limited: none before the object, per gap one leading newline and 20 spaces or tabs", () => {
  const refused: [string, string][] = [
    [" {}", " "],
    ['{\n\n"a": 1}', "{\n\n"],
    ['{ \n"a": 1}', "{ \n"],
    ['{\r\n"a": 1}', "{\r"],
    [`{${" ".repeat(21)}"a": 1}`, `{${" ".repeat(21)}`],
  ];
  for (const [text, breaksAt] of refused) {
    assert.ok(isJsonObject(text), "valid JSON, refused on purpose");
    assert.ok(scan(breaksAt.slice(0, -1)));
    assert.equal(scan(breaksAt), undefined, JSON.stringify(text));
  }
  assert.ok(scan(`{\n${"\t".repeat(20)}"a" :\n 1 ,\n"b":[ 1 , 2 ]\n}`)?.done);
  assert.equal(scan('{"a": "raw \n newline"}'), undefined, "a raw newline in a string is invalid JSON");
  assert.ok(scan('{"a": "    many     spaces    in strings are free"}')?.done);
});

test("UTF-8 inside strings is validated byte by byte (no overlongs, surrogates or stray bytes)", () => {
  const prefix = enc.encode('{"k": "');
  const tryBytes = (bytes: number[]) => {
    const s = new JsonPrefixScanner();
    for (const b of prefix) assert.ok(s.push(b));
    return bytes.every((b) => s.push(b));
  };
  assert.ok(tryBytes([0xc3, 0xa9])); // é
  assert.ok(tryBytes([0xf0, 0x9f, 0x98, 0x80])); // 😀
  assert.ok(tryBytes([0xe2, 0x82])); // an unfinished € is still a prefix
  assert.equal(tryBytes([0xa9]), false); // continuation without a lead
  assert.equal(tryBytes([0xc0, 0x80]), false); // overlong
  assert.equal(tryBytes([0xe0, 0x80]), false); // overlong 3-byte
  assert.equal(tryBytes([0xed, 0xa0]), false); // surrogate
  assert.equal(tryBytes([0xf4, 0x90]), false); // above U+10FFFF
  assert.equal(tryBytes([0xc3, 0x22]), false); // quote inside a character
  // Outside strings only ASCII structure is allowed.
  assert.equal(scan("{\u00a0}"), undefined);
});

test("distance is the length of the shortest completion, which each of its bytes lowers by one", () => {
  const cases: [string, string][] = [
    ["", "{}"],
    ["{", "}"],
    ['{"a', '":0}'],
    ['{"a"', ":0}"],
    ['{"a":', "0}"],
    ['{"a":[', "]}"],
    ['{"a":[1,', "0]}"],
    ['{"a":1,', '"":0}'],
    ['{"a":-', "0}"],
    ['{"a":1.', "0}"],
    ['{"a":1e+', "0}"],
    ['{"a":fa', "lse}"],
    ['{"a":"\\', 'n"}'],
    ['{"a":"\\u0', '000"}'],
    ['{"\\u0', '000":0}'],
    ['{"a":"\u00e9'.slice(0, -1) + "x", '"}'],
  ];
  for (const [prefix, completion] of cases) {
    const s = scan(prefix)!;
    assert.ok(s, prefix);
    assert.equal(s.distance(), enc.encode(completion).length, `distance after ${JSON.stringify(prefix)}`);
    const done = scan(prefix + completion);
    assert.ok(done?.done, `${prefix}${completion} completes the object`);
    JSON.parse(prefix + completion);
    // Following nextClosingByte spells a shortest completion, one distance unit per byte.
    const walk: number[] = [];
    for (let d = s.distance(); d > 0; d--) {
      const b = s.nextClosingByte()!;
      walk.push(b);
      assert.ok(s.push(b), `${prefix}: closing byte ${b}`);
      assert.equal(s.distance(), d - 1);
    }
    assert.ok(s.done);
    assert.equal(s.nextClosingByte(), undefined);
    assert.equal(walk.length, enc.encode(completion).length);
  }
  // Mid-character: the owed continuation bytes count too.
  const s = new JsonPrefixScanner();
  for (const b of enc.encode('{"a":"')) s.push(b);
  s.push(0xf0);
  assert.equal(s.distance(), 3 + 1 + 1);
});

test("the constraint allows tokens by their bytes, refuses special tokens, and caches bytes lazily", () => {
  const v = vocab(['{"', '":', '"}', "hello", " world", "}", '{"a":1}x'], ["<|eot|>"]);
  const cache = new TokenBytesCache(v);
  const c = new JsonObjectConstraint(cache);
  const id = (p: string) => v.ids.get(p)!;
  assert.equal(c.allows(id("<|eot|>")), false);
  assert.equal(c.allows(id('{"a":1}x')), false, "bytes after the closing brace");
  assert.equal(c.allows(id("hello")), false);
  assert.equal(c.allows(v.vocabSize), false, "ids beyond the vocabulary");
  for (const p of ['{"', "hello", " world", '":', "1", "}"]) {
    const t = p === "1" ? 0x31 : id(p);
    assert.ok(c.allows(t), p);
    c.accept(t);
  }
  assert.equal(c.complete, true);
  const decodes = v.decodes;
  c.allows(id("hello"));
  c.allows(id("hello"));
  assert.equal(v.decodes, decodes, "token bytes are decoded once");
});

test("with a budget, random choices among allowed tokens always yield a complete object in time", () => {
  const pieces = ['{"', '":', '"}', '", "', "hello", " world", "[", "]", "{", "}", ",", "true", "-1", ".5", "e9", '\\u00', "é", '"', ":", " ", "\n", "null", "123", "[[[[", "{{", '{"x":[{"y":'];
  const v = vocab(pieces);
  const cache = new TokenBytesCache(v);
  const rng = new Rng(12345);
  for (let trial = 0; trial < 300; trial++) {
    const budget = 2 + (trial % 40);
    const c = new JsonObjectConstraint(cache, { maxTokens: budget });
    const out: number[] = [];
    while (!c.complete) {
      assert.ok(out.length < budget, `trial ${trial}: over budget`);
      // Prefer multi-byte pieces (like a model would), fall back to any allowed byte.
      const candidates = [...v.ids.values(), ...Array.from({ length: 128 }, (_, b) => b)];
      const allowed = candidates.filter((t) => c.allows(t));
      assert.ok(allowed.length > 0, `trial ${trial}: stuck after ${out.length} tokens`);
      const t = allowed[Math.floor(rng.next() * allowed.length)]!;
      c.accept(t);
      out.push(t);
    }
    const text = new TextDecoder().decode(Uint8Array.from(out.flatMap((t) => [...cache.get(t)!])));
    const parsed = JSON.parse(text) as unknown;
    assert.equal(typeof parsed, "object");
    assert.ok(parsed !== null && !Array.isArray(parsed), text);
  }
});

test("without budget pressure a model that closes the object itself is not reported as cut short", () => {
  const v = vocab(['{"a": 1}']);
  const c = new JsonObjectConstraint(new TokenBytesCache(v), { maxTokens: 10 });
  assert.ok(c.allows(v.ids.get('{"a": 1}')!));
  c.accept(v.ids.get('{"a": 1}')!);
  assert.equal(c.complete, true);
  assert.equal(c.budgetForcedClose, false);
  // A budget of 2 forces "{" then "}".
  const tight = new JsonObjectConstraint(new TokenBytesCache(v), { maxTokens: 2 });
  assert.equal(tight.allows(0x7b), true);
  tight.accept(0x7b);
  assert.equal(tight.allows(0x22), false);
  assert.equal(tight.budgetForcedClose, true);
  assert.equal(tight.allows(0x7d), true);
});

test("steering: while the budget is tight, the next closing byte's token is biased in the live map and restored after", () => {
  const v = vocab(['{"', "abc"]);
  const bias = new Map<number, number>([[0x7d, -2]]);
  const tokenForByte = (b: number) => b; // single bytes are ids 0..255 here
  const d = new JsonObjectConstraint(new TokenBytesCache(v), { maxTokens: 5, steer: { bias, tokenForByte } });
  assert.equal(bias.get(0x7b), 1000, "the opening brace is steered (nothing else may start)");
  assert.equal(d.allows(v.ids.get('{"')!), true); // distance 4 ('":0}') <= 4 left after it
  d.accept(v.ids.get('{"')!);
  assert.equal(bias.has(0x7b), false);
  assert.equal(d.allows(v.ids.get("abc")!), false, "would leave distance 4 with 3 tokens");
  assert.equal(bias.get(0x22), 1000, "closing quote steered");
  d.accept(0x22);
  assert.equal(bias.has(0x22), false, "restored (it had no bias)");
  assert.equal(bias.get(0x3a), 1000, "then the colon");
  d.accept(0x3a);
  d.accept(0x30);
  assert.equal(bias.get(0x7d), -2 + 1000, "a base bias is kept under the steering");
  d.accept(0x7d);
  assert.equal(d.complete, true);
  assert.equal(d.budgetForcedClose, true);
  assert.deepEqual([...bias], [[0x7d, -2]], "the map is as it was");
});
