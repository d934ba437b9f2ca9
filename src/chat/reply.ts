// Turning a generated assistant reply back into a message with tool calls
// (reference `ChatFormat.decode_assistant_message_from_content` + `ToolUtils`).

import { randomUUID } from "node:crypto";
import type { StopReason } from "./messages.js";
import { parsePythonCallList } from "./python-calls.js";
import { tryPythonJsonLoads } from "./python-json.js";
import {
  dictEntries,
  isPyDict,
  pythonJsonDumps,
  toJsonValue,
  type JsonObject,
  type PyDict,
  type PyObject,
  type PyValue,
} from "./python-values.js";
import type { ChatTokenizer } from "./tokenizer.js";
import { isBuiltinTool } from "./tool-calls.js";

export interface ParsedToolCall {
  /** A fresh UUID, as the reference makes one per call. */
  callId: string;
  toolName: string;
  /** True for brave_search, wolfram_alpha, photogen, code_interpreter. */
  toolNameIsBuiltin: boolean;
  arguments: JsonObject;
  /** Python `json.dumps(arguments)`, exactly as the reference spells it. */
  argumentsJson: string;
}

export interface ParsedAssistantReply {
  role: "assistant";
  /** The reply text, or "" when it was a tool call. */
  content: string;
  stopReason: StopReason;
  toolCalls: ParsedToolCall[];
}

/** A custom tool call found in text: name and arguments. */
export type CustomToolCallMatch = [name: string, args: PyDict | PyObject];
/** A `NAME.call(query="…")` call found in text: name and query. */
export type BuiltinToolCallMatch = [name: string, query: string];

/** The two detectors, replaceable (the reference's unit tests mock them). */
export interface ToolCallExtractors {
  extractCustomToolCall?: (text: string) => CustomToolCallMatch | undefined;
  extractBuiltinToolCall?: (text: string) => BuiltinToolCallMatch | undefined;
}

const ASSISTANT_HEADER = "<|header_start|>assistant<|header_end|>\n\n";
const PYTHON_START = "<|python_start|>";
const PYTHON_END = "<|python_end|>";
const END_OF_TURN = "<|eot|>";
const END_OF_MESSAGE = "<|eom|>";

// `<function=NAME>{…}`: NAME is anything without "}", the JSON runs to the FIRST "}" (so nested
// objects do not parse). `[^\n]` stands in for Python's `.`, which stops only at "\n".
const FUNCTION_TAG = /<function=([^}]+)>(\{[^\n]*?\})/;
// Python's `\w` and `\b` are Unicode-aware; JS's are ASCII-only even with /u, hence the classes.
const BUILTIN_CALL = /(?<![\p{L}\p{N}_])([\p{L}\p{N}_]+)\.call\(query="([^"]*)"\)/u;

/**
 * A custom tool call in the reply, tried in order: a `<function=NAME>{json}` tag anywhere
 * (single quotes read as double quotes), the whole text as a JSON object with
 * `"type": "function"` or a `"name"`, the whole text as a Python list of calls (first one only).
 */
export function extractCustomToolCall(text: string): CustomToolCallMatch | undefined {
  const tag = FUNCTION_TAG.exec(text);
  if (tag) {
    const args = tryPythonJsonLoads(tag[2]!.replaceAll("'", '"'));
    // The reference passes any JSON value on; only an object makes a usable call.
    return args !== undefined && isPyDict(args) ? [tag[1]!, args] : undefined;
  }
  const json = tryPythonJsonLoads(text);
  if (json !== undefined) {
    if (!isPyDict(json)) return undefined;
    const fields = new Map(dictEntries(json));
    if (fields.get("type") !== "function" && !fields.has("name")) return undefined;
    // The reference raises (KeyError) when "name" is missing or "parameters" is; a
    // missing "parameters" is read as no arguments, anything else means "not a call".
    const name = fields.get("name");
    const params: PyValue = fields.get("parameters") ?? new Map();
    if (typeof name !== "string" || !isPyDict(params)) return undefined;
    return [name, params];
  }
  const calls = parsePythonCallList(text);
  if (calls !== undefined && calls.length > 0) return [calls[0]!.name, calls[0]!.arguments];
  return undefined;
}

/** The first `NAME.call(query="…")` anywhere in the text. */
export function extractBuiltinToolCall(text: string): BuiltinToolCallMatch | undefined {
  const m = BUILTIN_CALL.exec(text);
  return m ? [m[1]!, m[2]!] : undefined;
}

function stripSpaces(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && text[start] === " ") start++;
  while (end > start && text[end - 1] === " ") end--;
  return text.slice(start, end);
}

function makeToolCall(toolName: string, args: PyDict | PyObject): ParsedToolCall {
  return {
    callId: randomUUID(),
    toolName,
    toolNameIsBuiltin: isBuiltinTool(toolName),
    arguments: toJsonValue(args) as JsonObject,
    argumentsJson: pythonJsonDumps(args),
  };
}

/**
 * Parses a generated assistant reply (text as decoded from the model's tokens):
 * strips spaces and a leading assistant header, reads the stop reason from a trailing
 * `<|eot|>` / `<|eom|>` (else keeps `stopReason`), and detects at most one tool call —
 * custom (function tag, JSON object, Python call list), then `NAME.call(query="…")`, then
 * code in `<|python_start|>`. With a tool call the content becomes "".
 */
export function parseAssistantReply(
  text: string,
  stopReason: StopReason,
  extractors: ToolCallExtractors = {},
): ParsedAssistantReply {
  const findCustom = extractors.extractCustomToolCall ?? extractCustomToolCall;
  const findBuiltin = extractors.extractBuiltinToolCall ?? extractBuiltinToolCall;

  let content = stripSpaces(text);
  if (content.startsWith(ASSISTANT_HEADER)) content = content.slice(ASSISTANT_HEADER.length);

  const ipython = content.startsWith(PYTHON_START);
  if (ipython) content = content.slice(PYTHON_START.length).replaceAll(PYTHON_END, "");

  let reason = stopReason;
  if (content.endsWith(END_OF_TURN)) {
    content = content.slice(0, -END_OF_TURN.length);
    reason = "end_of_turn";
  } else if (content.endsWith(END_OF_MESSAGE)) {
    content = content.slice(0, -END_OF_MESSAGE.length);
    reason = "end_of_message";
  }

  let call: ParsedToolCall | undefined;
  const custom = findCustom(content);
  if (custom !== undefined) {
    const [name, args] = custom;
    if (isBuiltinTool(name)) {
      // A built-in tool called in custom syntax: its first argument is the query. (The
      // reference fails on a call with no arguments; that keeps empty arguments here.)
      const first = dictEntries(args)[0];
      call = makeToolCall(name, first === undefined ? new Map() : new Map([["query", first[1]]]));
    } else {
      call = makeToolCall(name, args);
    }
  } else {
    const builtin = findBuiltin(content);
    if (builtin !== undefined) call = makeToolCall(builtin[0], new Map([["query", builtin[1]]]));
    else if (ipython) call = makeToolCall("code_interpreter", new Map([["code", content]]));
  }

  return {
    role: "assistant",
    content: call ? "" : content,
    stopReason: reason,
    toolCalls: call ? [call] : [],
  };
}

/** {@link parseAssistantReply} on generated ids (decoded with special tokens as their names). */
export function parseAssistantTokens(
  tokens: number[],
  stopReason: StopReason,
  tokenizer: Pick<ChatTokenizer, "decode">,
  extractors: ToolCallExtractors = {},
): ParsedAssistantReply {
  return parseAssistantReply(tokenizer.decode(tokens), stopReason, extractors);
}
