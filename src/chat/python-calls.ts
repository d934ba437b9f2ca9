// Reading a model reply of the form `[f(a=1, b="x"), g(c=[1, 2])]`: a Python list of calls
// with keyword-only arguments whose values are literals. The reference does this with
// `ast.parse` + `ast.literal_eval`; this is a small parser for just that subset of Python.
// Anything outside the subset (syntax errors, positional arguments, values that are not
// literals, bytes, sets, complex numbers) gives `undefined`, i.e. "not a call list".

import { PyFloat, type PyDict, type PyValue } from "./python-values.js";

/** One parsed call: the function name and its keyword arguments in source order. */
export interface PythonCall {
  name: string;
  arguments: PyDict;
}

/** Thrown inside the parser; never escapes {@link parsePythonCallList}. */
class NotACallList extends Error {}

type Token =
  | { kind: "name"; text: string }
  | { kind: "number"; value: PyValue; imaginary: boolean }
  | { kind: "string"; value: string; bytes: boolean; formatted: boolean }
  | { kind: "op"; text: string }
  | { kind: "end" };

const IDENTIFIER = /[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*/uy;
const NUMBER =
  /(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|(?:[0-9](?:_?[0-9])*)?\.?(?:[0-9](?:_?[0-9])*)?(?:[eE][-+]?[0-9](?:_?[0-9])*)?)[jJ]?/y;
const STRING_PREFIX = /(?:[rRuUbBfF]|[rR][bBfF]|[bBfF][rR])?(?='|")/y;
const OPERATORS = ["(", ")", "[", "]", "{", "}", ",", "=", ":", "+", "-", ";"];

function fail(): never {
  throw new NotACallList();
}

/** Splits the text into Python tokens, skipping whitespace, comments and line joins. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let pos = 0;
  let depth = 0;
  let atLineStart = true;
  while (pos < text.length) {
    const ch = text[pos]!;
    if (ch === "\n" || ch === "\r") {
      pos++;
      atLineStart = depth === 0;
      continue;
    }
    if (ch === " " || ch === "\t" || ch === "\f") {
      // Indentation before the first token is an IndentationError in Python.
      if (atLineStart && depth === 0 && tokens.length === 0) {
        let end = pos;
        while (end < text.length && " \t\f".includes(text[end]!)) end++;
        const next = text[end];
        if (next !== undefined && next !== "\n" && next !== "\r" && next !== "#") fail();
      }
      pos++;
      continue;
    }
    if (ch === "#") {
      while (pos < text.length && text[pos] !== "\n" && text[pos] !== "\r") pos++;
      continue;
    }
    if (ch === "\\" && (text[pos + 1] === "\n" || text[pos + 1] === "\r")) {
      pos += text[pos + 1] === "\r" && text[pos + 2] === "\n" ? 3 : 2;
      continue;
    }
    // A new logical line after the list (depth 0) would be a second statement.
    if (depth === 0 && tokens.length > 0 && atLineStart) fail();
    atLineStart = false;

    STRING_PREFIX.lastIndex = pos;
    const prefix = STRING_PREFIX.exec(text);
    if (prefix) {
      const [token, end] = readString(text, pos + prefix[0].length, prefix[0].toLowerCase());
      tokens.push(token);
      pos = end;
      continue;
    }
    IDENTIFIER.lastIndex = pos;
    const ident = IDENTIFIER.exec(text);
    if (ident) {
      tokens.push({ kind: "name", text: ident[0].normalize("NFKC") });
      pos += ident[0].length;
      continue;
    }
    if ((ch >= "0" && ch <= "9") || (ch === "." && /[0-9]/.test(text[pos + 1] ?? ""))) {
      NUMBER.lastIndex = pos;
      const m = NUMBER.exec(text);
      if (!m || m[0] === "" || m[0] === ".") fail();
      tokens.push(parseNumber(m[0]));
      pos += m[0].length;
      // `1abc` or `1_` is a syntax error, not two tokens.
      IDENTIFIER.lastIndex = pos;
      if (IDENTIFIER.test(text) || /[0-9]/.test(text[pos] ?? "")) fail();
      continue;
    }
    if (OPERATORS.includes(ch)) {
      if ("([{".includes(ch)) depth++;
      if (")]}".includes(ch)) depth--;
      if (depth < 0) fail();
      tokens.push({ kind: "op", text: ch });
      pos++;
      continue;
    }
    fail();
  }
  if (depth !== 0) fail();
  tokens.push({ kind: "end" });
  return tokens;
}

function parseNumber(source: string): Token {
  const imaginary = /[jJ]$/.test(source);
  const body = source.replace(/[jJ]$/, "").replace(/_/g, "");
  if (/^0[xXoObB]/.test(body)) return { kind: "number", value: toInt(BigInt(body)), imaginary };
  if (/[.eE]/.test(body)) {
    const f = Number(body);
    return { kind: "number", value: Number.isInteger(f) || !Number.isFinite(f) ? new PyFloat(f) : f, imaginary };
  }
  // Decimal ints may not have leading zeros ("007" is a syntax error), except zero itself.
  if (/^0+[1-9]/.test(body)) fail();
  return { kind: "number", value: toInt(BigInt(body)), imaginary };
}

function toInt(big: bigint): number | bigint {
  const small = Number(big);
  return Number.isSafeInteger(small) ? small : big;
}

const SIMPLE_ESCAPES: Readonly<Record<string, string>> = {
  "\\": "\\",
  "'": "'",
  '"': '"',
  a: "\x07",
  b: "\b",
  f: "\f",
  n: "\n",
  r: "\r",
  t: "\t",
  v: "\v",
};

/** Reads a string literal whose quote starts at `start`; returns the token and the end index. */
function readString(text: string, start: number, prefix: string): [Token, number] {
  const raw = prefix.includes("r");
  const bytes = prefix.includes("b");
  const formatted = prefix.includes("f");
  const q = text[start]!;
  const triple = text.startsWith(q.repeat(3), start);
  const quote = triple ? q.repeat(3) : q;
  let pos = start + quote.length;
  let value = "";
  for (;;) {
    if (pos >= text.length) fail();
    if (text.startsWith(quote, pos)) {
      pos += quote.length;
      break;
    }
    const ch = text[pos]!;
    if ((ch === "\n" || ch === "\r") && !triple) fail();
    if (ch !== "\\") {
      value += ch;
      pos++;
      continue;
    }
    const esc = text[pos + 1];
    if (esc === undefined) fail();
    if (raw) {
      // Raw strings keep the backslash; it still stops the next quote from closing the string.
      value += ch + esc;
      pos += 2;
      continue;
    }
    pos += 2;
    if (esc === "\n") continue;
    if (esc === "\r") {
      if (text[pos] === "\n") pos++;
      continue;
    }
    const simple = SIMPLE_ESCAPES[esc];
    if (simple !== undefined) {
      value += simple;
      continue;
    }
    if (esc >= "0" && esc <= "7") {
      let digits = esc;
      while (digits.length < 3 && /[0-7]/.test(text[pos] ?? "")) digits += text[pos++];
      value += String.fromCodePoint(parseInt(digits, 8));
      continue;
    }
    const hexLength = esc === "x" ? 2 : !bytes && esc === "u" ? 4 : !bytes && esc === "U" ? 8 : 0;
    if (hexLength > 0) {
      const hex = text.slice(pos, pos + hexLength);
      if (!new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(hex)) fail();
      const cp = parseInt(hex, 16);
      if (cp > 0x10ffff) fail();
      value += String.fromCodePoint(cp);
      pos += hexLength;
      continue;
    }
    // `\N{NAME}` needs the Unicode name table; treat it as unsupported.
    if (esc === "N" && !bytes) fail();
    // Unknown escapes keep the backslash (Python warns but accepts them).
    value += ch + esc;
  }
  return [{ kind: "string", value, bytes, formatted }, pos];
}

class CallListParser {
  private pos = 0;
  constructor(private readonly tokens: Token[]) {}

  private peek(): Token {
    return this.tokens[this.pos]!;
  }

  private next(): Token {
    return this.tokens[this.pos++]!;
  }

  private isOp(text: string): boolean {
    const t = this.peek();
    return t.kind === "op" && t.text === text;
  }

  private expectOp(text: string): void {
    if (!this.isOp(text)) fail();
    this.pos++;
  }

  /** `[call, call, ...]` followed by the end of the text. */
  parseModule(): PythonCall[] {
    this.expectOp("[");
    const calls: PythonCall[] = [];
    while (!this.isOp("]")) {
      calls.push(this.call());
      if (!this.isOp(",")) break;
      this.pos++;
    }
    this.expectOp("]");
    // `[f()];` is still a single expression statement.
    if (this.isOp(";")) this.pos++;
    if (this.peek().kind !== "end") fail();
    if (calls.length === 0) fail();
    return calls;
  }

  private call(): PythonCall {
    const name = this.next();
    if (name.kind !== "name" || isKeyword(name.text)) fail();
    this.expectOp("(");
    const args: PyDict = new Map();
    while (!this.isOp(")")) {
      const key = this.next();
      if (key.kind !== "name" || isKeyword(key.text)) fail();
      this.expectOp("=");
      // `ast.parse` accepts a repeated keyword (only compiling rejects it); the reference's
      // dict then keeps the first position with the last value, as Map.set does.
      args.set(key.text, this.literal());
      if (!this.isOp(",")) break;
      this.pos++;
    }
    this.expectOp(")");
    return { name: name.text, arguments: args };
  }

  /** What `ast.literal_eval` accepts, restricted to values `json.dumps` can write. */
  private literal(): PyValue {
    const t = this.next();
    switch (t.kind) {
      case "string": {
        if (t.bytes || t.formatted) fail();
        let value = t.value;
        // Adjacent literals concatenate: "a" "b" == "ab".
        for (let n = this.peek(); n.kind === "string"; n = this.peek()) {
          if (n.bytes || n.formatted) fail();
          value += n.value;
          this.pos++;
        }
        return value;
      }
      case "number":
        if (t.imaginary) fail();
        return t.value;
      case "name":
        if (t.text === "True") return true;
        if (t.text === "False") return false;
        if (t.text === "None") return null;
        return fail();
      case "op":
        return this.compound(t.text);
      default:
        return fail();
    }
  }

  private compound(op: string): PyValue {
    if (op === "-" || op === "+") {
      const operand = this.next();
      if (operand.kind !== "number" || operand.imaginary) fail();
      return op === "-" ? negate(operand.value) : operand.value;
    }
    if (op === "[") return this.sequence("]");
    if (op === "(") {
      // `(x)` is x; `()`, `(x,)` and `(x, y)` are tuples, which json.dumps writes as lists.
      if (this.isOp(")")) {
        this.pos++;
        return [];
      }
      const first = this.literal();
      if (this.isOp(")")) {
        this.pos++;
        return first;
      }
      this.expectOp(",");
      const rest = this.sequence(")");
      return [first, ...rest];
    }
    if (op === "{") return this.dict();
    return fail();
  }

  private sequence(close: string): PyValue[] {
    const items: PyValue[] = [];
    while (!this.isOp(close)) {
      items.push(this.literal());
      if (!this.isOp(",")) break;
      this.pos++;
    }
    this.expectOp(close);
    return items;
  }

  private dict(): PyDict {
    const out: PyDict = new Map();
    while (!this.isOp("}")) {
      const key = this.literal();
      // `{1, 2}` is a set, which json.dumps cannot write.
      this.expectOp(":");
      out.set(dictKey(key), this.literal());
      if (!this.isOp(",")) break;
      this.pos++;
    }
    this.expectOp("}");
    return out;
  }
}

const KEYWORDS = new Set(
  "False None True and as assert async await break class continue def del elif else except finally for from global if import in is lambda nonlocal not or pass raise return try while with yield".split(
    " ",
  ),
);

function isKeyword(name: string): boolean {
  return KEYWORDS.has(name);
}

function negate(value: PyValue): PyValue {
  if (typeof value === "bigint") return toInt(-value);
  if (typeof value === "number") return value === 0 ? 0 : -value;
  if (value instanceof PyFloat) return new PyFloat(-value.value);
  return fail();
}

/** The key `json.dumps` writes for a dict key (it converts numbers, bools and None). */
function dictKey(key: PyValue): string {
  if (typeof key === "string") return key;
  if (key === null) return "null";
  if (key === true) return "true";
  if (key === false) return "false";
  if (typeof key === "bigint") return key.toString();
  if (typeof key === "number" && Number.isInteger(key)) return String(key);
  // Float keys and tuples: rare enough in tool calls to treat as "not a call list".
  return fail();
}

/**
 * Parses `[f(a=1), g(b="x")]` like the reference's `is_valid_python_list` +
 * `parse_python_list_for_function_calls`; undefined when the text is not such a list.
 */
export function parsePythonCallList(text: string): PythonCall[] | undefined {
  try {
    return new CallListParser(tokenize(text)).parseModule();
  } catch (err) {
    if (err instanceof NotACallList) return undefined;
    throw err;
  }
}
