// `json.loads` as Python does it, returning PyValues so a later `json.dumps` prints the same
// text the reference would: ints stay ints of any size, `3.0` stays a float, object key order
// is kept (a Map), and Python's extensions `NaN`, `Infinity`, `-Infinity` are accepted.

import { PyFloat, type PyDict, type PyValue } from "./python-values.js";

export class PythonJsonError extends Error {
  constructor(
    message: string,
    readonly position: number,
  ) {
    super(`${message} at position ${position}`);
    this.name = "PythonJsonError";
  }
}

const NUMBER = /-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?/y;
const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  '"': '"',
  "\\": "\\",
  "/": "/",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
};

class Parser {
  pos = 0;
  constructor(readonly text: string) {}

  fail(message: string): never {
    throw new PythonJsonError(message, this.pos);
  }

  skipWhitespace(): void {
    while (this.pos < this.text.length) {
      const ch = this.text[this.pos];
      if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r") this.pos++;
      else break;
    }
  }

  startsWith(word: string): boolean {
    return this.text.startsWith(word, this.pos);
  }

  value(): PyValue {
    this.skipWhitespace();
    const ch = this.text[this.pos];
    if (ch === "{") return this.object();
    if (ch === "[") return this.array();
    if (ch === '"') return this.string();
    for (const [word, result] of [
      ["null", null],
      ["true", true],
      ["false", false],
      ["NaN", new PyFloat(NaN)],
      ["Infinity", new PyFloat(Infinity)],
      ["-Infinity", new PyFloat(-Infinity)],
    ] as const) {
      if (this.startsWith(word)) {
        this.pos += word.length;
        return result;
      }
    }
    return this.number();
  }

  number(): PyValue {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    if (!m) this.fail("Expecting value");
    this.pos += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      const big = BigInt(m[0]);
      const small = Number(big);
      return Number.isSafeInteger(small) ? small : big;
    }
    const f = Number(m[0]);
    return Number.isInteger(f) || !Number.isFinite(f) ? new PyFloat(f) : f;
  }

  string(): string {
    this.pos++; // opening quote
    let out = "";
    for (;;) {
      if (this.pos >= this.text.length) this.fail("Unterminated string");
      const ch = this.text[this.pos]!;
      if (ch === '"') {
        this.pos++;
        return out;
      }
      if (ch.charCodeAt(0) < 0x20) this.fail("Invalid control character");
      if (ch !== "\\") {
        out += ch;
        this.pos++;
        continue;
      }
      const esc = this.text[this.pos + 1];
      if (esc === undefined) this.fail("Unterminated string");
      if (esc === "u") {
        const hex = this.text.slice(this.pos + 2, this.pos + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) this.fail("Invalid \\uXXXX escape");
        // Surrogate pairs need no joining: JS strings are UTF-16 already.
        out += String.fromCharCode(parseInt(hex, 16));
        this.pos += 6;
        continue;
      }
      const simple = SIMPLE_ESCAPES[esc];
      if (simple === undefined) this.fail("Invalid \\escape");
      out += simple;
      this.pos += 2;
    }
  }

  array(): PyValue[] {
    this.pos++;
    const out: PyValue[] = [];
    this.skipWhitespace();
    if (this.text[this.pos] === "]") {
      this.pos++;
      return out;
    }
    for (;;) {
      out.push(this.value());
      this.skipWhitespace();
      const ch = this.text[this.pos];
      this.pos++;
      if (ch === "]") return out;
      if (ch !== ",") this.fail("Expecting ',' delimiter");
    }
  }

  object(): PyDict {
    this.pos++;
    const out: PyDict = new Map();
    this.skipWhitespace();
    if (this.text[this.pos] === "}") {
      this.pos++;
      return out;
    }
    for (;;) {
      this.skipWhitespace();
      if (this.text[this.pos] !== '"') this.fail("Expecting property name enclosed in double quotes");
      const key = this.string();
      this.skipWhitespace();
      if (this.text[this.pos] !== ":") this.fail("Expecting ':' delimiter");
      this.pos++;
      // A repeated key keeps its first position and takes the last value, as a Python dict does.
      out.set(key, this.value());
      this.skipWhitespace();
      const ch = this.text[this.pos];
      this.pos++;
      if (ch === "}") return out;
      if (ch !== ",") this.fail("Expecting ',' delimiter");
    }
  }
}

/** Python `json.loads(text)`; throws {@link PythonJsonError} where Python raises. */
export function pythonJsonLoads(text: string): PyValue {
  const parser = new Parser(text);
  const value = parser.value();
  parser.skipWhitespace();
  if (parser.pos !== text.length) parser.fail("Extra data");
  return value;
}

/** `json.loads(text)` when it succeeds, else undefined. */
export function tryPythonJsonLoads(text: string): PyValue | undefined {
  try {
    return pythonJsonLoads(text);
  } catch (err) {
    if (err instanceof PythonJsonError) return undefined;
    throw err;
  }
}
