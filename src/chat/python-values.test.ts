// Python spellings, checked against outputs of CPython 3 (`json.dumps`, `repr`, `json.loads`,
// `ast.literal_eval`) recorded by hand.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parsePythonCallList } from "./python-calls.js";
import { pythonJsonLoads, PythonJsonError, tryPythonJsonLoads } from "./python-json.js";
import { PyFloat, pythonFloatRepr, pythonJsonDumps, pythonRepr, pythonStr, toJsonValue } from "./python-values.js";

test("float repr matches Python", () => {
  const cases: [number, string][] = [
    [0, "0.0"],
    [-0, "-0.0"],
    [1.5, "1.5"],
    [3.14, "3.14"],
    [0.1, "0.1"],
    [100, "100.0"],
    [1e15, "1000000000000000.0"],
    [1e16, "1e+16"],
    [1.5e16, "1.5e+16"],
    [123456789012345678, "1.2345678901234568e+17"],
    [0.0001, "0.0001"],
    [0.00001, "1e-05"],
    [-2.5e-7, "-2.5e-07"],
    [5e-324, "5e-324"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
    [NaN, "nan"],
    [Infinity, "inf"],
    [-Infinity, "-inf"],
  ];
  for (const [x, expected] of cases) assert.equal(pythonFloatRepr(x), expected, String(x));
});

test("json.dumps spelling: separators, escapes, ints vs floats, key order", () => {
  assert.equal(pythonJsonDumps({ a: 1, b: [true, null, "x"] }), '{"a": 1, "b": [true, null, "x"]}');
  assert.equal(pythonJsonDumps({}), "{}");
  assert.equal(pythonJsonDumps([]), "[]");
  assert.equal(pythonJsonDumps("Zürich 🙂 \"q\" \\ \n\t\u0001\u007f"), '"Z\\u00fcrich \\ud83d\\ude42 \\"q\\" \\\\ \\n\\t\\u0001\\u007f"');
  // An integral JS number is a Python int (10**21), not the float 1e+21; PyFloat marks floats.
  assert.equal(pythonJsonDumps([3, 2.5, new PyFloat(3), 12345678901234567890n, 1e21]), "[3, 2.5, 3.0, 12345678901234567890, 1000000000000000000000]");
  assert.equal(pythonJsonDumps(new PyFloat(1e21)), "1e+21");
  assert.equal(pythonJsonDumps([new PyFloat(NaN), new PyFloat(Infinity), -Infinity]), "[NaN, Infinity, -Infinity]");
  assert.equal(pythonJsonDumps(new Map([["b", 1], ["1", 2]])), '{"b": 1, "1": 2}');
});

test("str / repr of argument values", () => {
  assert.equal(pythonStr("it's"), "it's");
  assert.equal(pythonRepr("it's"), '"it\'s"');
  assert.equal(pythonRepr('a"b'), "'a\"b'");
  assert.equal(pythonRepr("a'b\"c\n\u0000é"), "'a\\'b\"c\\n\\x00é'");
  assert.equal(pythonStr([1, "x", null, true, { k: new PyFloat(2) }]), "[1, 'x', None, True, {'k': 2.0}]");
});

test("json.loads: Python's grammar, ints and floats kept apart, order kept", () => {
  const value = pythonJsonLoads(' {"b": 1, "1": 2.0, "a": [1e3, -0, 12345678901234567890, NaN, -Infinity]} \n');
  assert.equal(pythonJsonDumps(value), '{"b": 1, "1": 2.0, "a": [1000.0, 0, 12345678901234567890, NaN, -Infinity]}');
  // Repeated key: first position, last value.
  assert.equal(pythonJsonDumps(pythonJsonLoads('{"a": 1, "b": 2, "a": 3}')), '{"a": 3, "b": 2}');
  assert.equal(pythonJsonDumps(pythonJsonLoads('"\\ud83d\\ude00\\/"')), '"\\ud83d\\ude00/"');
  for (const bad of ["{'a': 1}", '{"a": 1,}', "[01]", "1.", '"tab\there"', '"\\x"', "true false", ""]) {
    assert.equal(tryPythonJsonLoads(bad), undefined, bad);
  }
  assert.throws(() => pythonJsonLoads("[1 2]"), PythonJsonError);
  assert.deepEqual(toJsonValue(pythonJsonLoads('{"__proto__": {"x": 1}}')), JSON.parse('{"__proto__": {"x": 1}}'));
});

test("Python call lists: what ast.parse + literal_eval accept", () => {
  const parse = (text: string): [string, string][] | undefined =>
    parsePythonCallList(text)?.map((c) => [c.name, pythonJsonDumps(c.arguments)]);
  assert.deepEqual(parse('[f(a=1), g(b="y")]'), [
    ["f", '{"a": 1}'],
    ["g", '{"b": "y"}'],
  ]);
  assert.deepEqual(parse("[f(a=-1.5, b=+2, c=0x1F, d=1_000, e=1e3, f=.5, g=3.0, h=1.)]"), [
    ["f", '{"a": -1.5, "b": 2, "c": 31, "d": 1000, "e": 1000.0, "f": 0.5, "g": 3.0, "h": 1.0}'],
  ]);
  assert.deepEqual(parse("[f(a=(1, 2), b=(3), c=(), d=(4,), e={'k': 1, 2: 'v', None: True})]"), [
    ["f", '{"a": [1, 2], "b": 3, "c": [], "d": [4], "e": {"k": 1, "2": "v", "null": true}}'],
  ]);
  assert.deepEqual(parse("[f(a='a' 'b', b=r'\\n', c='\\u00fc\\x41\\101', d='''x\ny''', e='\\q')]"), [
    ["f", '{"a": "ab", "b": "\\\\n", "c": "\\u00fcAA", "d": "x\\ny", "e": "\\\\q"}'],
  ]);
  assert.deepEqual(parse("\n[ f ( a = [1, {'x': [2]}], ) ] # done\n"), [["f", '{"a": [1, {"x": [2]}]}']]);
  assert.deepEqual(parse("[f(a=1, a=2)];"), [["f", '{"a": 2}']]);
  assert.deepEqual(parse("[f(a=12345678901234567890123, b=-0.0)]"), [["f", '{"a": 12345678901234567890123, "b": -0.0}']]);
  assert.deepEqual(parse("[f()]"), [["f", "{}"]]);
  // Not call lists (or not literals json.dumps could write).
  for (const text of [
    "[]",
    "[f(1)]",
    "[f(a=b)]",
    "[x.f(a=1)]",
    "[f(**d)]",
    "[f(a=1)] extra",
    "[f(a=1)]\n[g()]",
    "\t[f(a=1)]",
    " [f(a=1)]",
    "[f(a=007)]",
    "[f(a=1+2)]",
    "[f(a={1, 2})]",
    "[f(a=b'x')]",
    "[f(a=1j)]",
    "[True(a=1)]",
    "[f(if=1)]",
    "f(a=1)",
    "[f(a='unterminated)]",
  ]) {
    assert.equal(parsePythonCallList(text), undefined, text);
  }
});
