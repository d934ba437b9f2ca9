// Python values as the reference chat code sees them, and the two ways it prints them:
// `json.dumps` (tool-call JSON, `arguments_json`) and `str()` (python_list tool calls,
// `NAME.call(query="…")`). Prompt tokens depend on these spellings, so they are reproduced
// exactly: ints vs floats (`3` vs `3.0`), float repr, `\uXXXX` escapes, dict key order.

/** Plain JSON as `JSON.parse` gives it. */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

/**
 * A Python float whose value is integral (`3.0`, `1e+20`, `-0.0`). A plain JS number that is
 * integral is taken as a Python int, so an integral float needs this marker to print as one.
 */
export class PyFloat {
  constructor(readonly value: number) {}
}

/**
 * A Python value:
 * - `number`: an int when integral, else a float; `bigint`: an int of any size;
 *   {@link PyFloat}: a float, even when integral;
 * - arrays are lists; `Map` and plain objects are dicts (a `Map` keeps the order of
 *   integer-like keys, which a plain JS object would move to the front).
 * Every {@link JsonValue} is a PyValue with the meaning `json.loads` would give it.
 */
export type PyValue = null | boolean | string | number | bigint | PyFloat | PyValue[] | PyDict | PyObject;
export type PyDict = Map<string, PyValue>;
export interface PyObject {
  [key: string]: PyValue;
}

function isDict(value: PyValue): value is PyDict | PyObject {
  return value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof PyFloat);
}

/** Key/value pairs of a dict in insertion order. */
export function dictEntries(dict: PyDict | PyObject): [string, PyValue][] {
  return dict instanceof Map ? [...dict.entries()] : Object.entries(dict);
}

/** True for a dict-like value (Map or plain object). */
export function isPyDict(value: PyValue): value is PyDict | PyObject {
  return isDict(value);
}

/** Python `repr(float)`: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pythonFloatRepr(x: number): string {
  if (Number.isNaN(x)) return "nan";
  if (x === Infinity) return "inf";
  if (x === -Infinity) return "-inf";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  // toExponential() without an argument gives the shortest digit string that round-trips,
  // the same digits Python's repr picks.
  const [mantissa = "", expText = "0"] = x.toExponential().split("e");
  const sign = mantissa.startsWith("-") ? "-" : "";
  const digits = mantissa.replace("-", "").replace(".", "");
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = `${exp < 0 ? "-" : "+"}${String(Math.abs(exp)).padStart(2, "0")}`;
    return `${sign}${m}e${e}`;
  }
  if (exp >= 0) {
    const intPart = digits.slice(0, exp + 1).padEnd(exp + 1, "0");
    const fracPart = digits.slice(exp + 1) || "0";
    return `${sign}${intPart}.${fracPart}`;
  }
  return `${sign}0.${"0".repeat(-exp - 1)}${digits}`;
}

/** How a numeric PyValue prints as a Python int, or undefined when it is a float. */
function intText(value: number | bigint | PyFloat): string | undefined {
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "number" && Number.isInteger(value)) {
    // Integral doubles beyond 2^53 still print every digit, as Python's int would.
    return Number.isSafeInteger(value) ? String(value === 0 ? 0 : value) : BigInt(value).toString();
  }
  return undefined;
}

function floatValue(value: number | PyFloat): number {
  return value instanceof PyFloat ? value.value : value;
}

/** A JSON string literal as `json.dumps(..., ensure_ascii=True)` writes it. */
export function pythonJsonString(text: string): string {
  let out = '"';
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    const ch = text[i]!;
    if (ch === '"') out += '\\"';
    else if (ch === "\\") out += "\\\\";
    else if (unit >= 0x20 && unit <= 0x7e) out += ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch === "\b") out += "\\b";
    else if (ch === "\f") out += "\\f";
    // Everything else, non-ASCII included, as UTF-16 units (astral characters become a
    // surrogate pair), lower-case hex like Python.
    else out += `\\u${unit.toString(16).padStart(4, "0")}`;
  }
  return out + '"';
}

/**
 * Python `json.dumps(value)` with default arguments: `", "` and `": "` separators,
 * non-ASCII escaped, dict order kept, floats in repr form (`NaN`/`Infinity` for non-finite).
 */
export function pythonJsonDumps(value: PyValue): string {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "string") return pythonJsonString(value);
  if (typeof value === "number" || typeof value === "bigint" || value instanceof PyFloat) {
    const asInt = value instanceof PyFloat ? undefined : intText(value);
    if (asInt !== undefined) return asInt;
    const f = floatValue(value as number | PyFloat);
    if (Number.isNaN(f)) return "NaN";
    if (f === Infinity) return "Infinity";
    if (f === -Infinity) return "-Infinity";
    return pythonFloatRepr(f);
  }
  if (Array.isArray(value)) return `[${value.map(pythonJsonDumps).join(", ")}]`;
  const entries = dictEntries(value);
  return `{${entries.map(([k, v]) => `${pythonJsonString(k)}: ${pythonJsonDumps(v)}`).join(", ")}}`;
}

/** Python `str()` of a scalar number, bool or None; undefined for other values. */
function pythonScalarStr(value: PyValue): string | undefined {
  if (value === null) return "None";
  if (value === true) return "True";
  if (value === false) return "False";
  if (typeof value === "number" || typeof value === "bigint" || value instanceof PyFloat) {
    const asInt = value instanceof PyFloat ? undefined : intText(value);
    return asInt ?? pythonFloatRepr(floatValue(value as number | PyFloat));
  }
  return undefined;
}

// Characters Python's str.isprintable() rejects (other than the plain space), which repr escapes.
const NON_PRINTABLE = /[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]/u;

/** Python `repr(str)`: single quotes unless the text has `'` and no `"`. */
export function pythonStringRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (ch === quote || ch === "\\") out += `\\${ch}`;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\r") out += "\\r";
    else if (ch === "\t") out += "\\t";
    else if (ch !== " " && NON_PRINTABLE.test(ch)) {
      if (cp < 0x100) out += `\\x${cp.toString(16).padStart(2, "0")}`;
      else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, "0")}`;
      else out += `\\U${cp.toString(16).padStart(8, "0")}`;
    } else out += ch;
  }
  return out + quote;
}

/** Python `repr(value)` for the JSON-like values tool arguments hold. */
export function pythonRepr(value: PyValue): string {
  const scalar = pythonScalarStr(value);
  if (scalar !== undefined) return scalar;
  if (typeof value === "string") return pythonStringRepr(value);
  if (Array.isArray(value)) return `[${value.map(pythonRepr).join(", ")}]`;
  const entries = dictEntries(value as PyDict | PyObject);
  return `{${entries.map(([k, v]) => `${pythonStringRepr(k)}: ${pythonRepr(v)}`).join(", ")}}`;
}

/** Python `str(value)`: strings as they are, everything else as repr. */
export function pythonStr(value: PyValue): string {
  return typeof value === "string" ? value : pythonRepr(value);
}

/** Plain JSON view of a PyValue (bigints become numbers, dicts plain objects). */
export function toJsonValue(value: PyValue): JsonValue {
  if (value === null || typeof value === "boolean" || typeof value === "string" || typeof value === "number") {
    return value;
  }
  if (typeof value === "bigint") return Number(value);
  if (value instanceof PyFloat) return value.value;
  if (Array.isArray(value)) return value.map(toJsonValue);
  const out: JsonObject = {};
  for (const [k, v] of dictEntries(value)) {
    // defineProperty so a "__proto__" key stays an ordinary key.
    Object.defineProperty(out, k, { value: toJsonValue(v), enumerable: true, writable: true, configurable: true });
  }
  return out;
}
