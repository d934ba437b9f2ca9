// How an assistant's tool call is written into the prompt (reference `ToolUtils.encode_tool_call`).

import { dictEntries, isPyDict, pythonJsonDumps, pythonStr, type PyValue, type PyDict, type PyObject } from "./python-values.js";

/** Tools the model was trained to call in its own syntax. */
export const BUILTIN_TOOLS = ["brave_search", "wolfram_alpha", "photogen", "code_interpreter"] as const;
export type BuiltinTool = (typeof BUILTIN_TOOLS)[number];

export function isBuiltinTool(name: string): name is BuiltinTool {
  return (BUILTIN_TOOLS as readonly string[]).includes(name);
}

/** How calls to custom (non built-in) tools are spelled. */
export const TOOL_PROMPT_FORMATS = ["json", "function_tag", "python_list"] as const;
export type ToolPromptFormat = (typeof TOOL_PROMPT_FORMATS)[number];

export function isToolPromptFormat(value: string): value is ToolPromptFormat {
  return (TOOL_PROMPT_FORMATS as readonly string[]).includes(value);
}

/** A tool call inside a message, arguments already parsed. */
export interface ToolCall {
  toolName: string;
  arguments: PyDict | PyObject;
  callId?: string;
}

/**
 * One value of a `python_list` call, spelled like the reference's `format_value`: strings in
 * double quotes with no escaping, numbers/bools/None via Python `str()`, dicts as `{k=v}`.
 */
function pythonListValue(value: PyValue): string {
  if (typeof value === "string") return `"${value}"`;
  if (Array.isArray(value)) return `[${value.map(pythonListValue).join(", ")}]`;
  if (isPyDict(value)) {
    return `{${dictEntries(value)
      .map(([k, v]) => `${k}=${pythonListValue(v)}`)
      .join(", ")}}`;
  }
  return pythonStr(value);
}

/** Thrown when a tool call lacks what its spelling needs; the caller adds the message path. */
export class ToolCallRenderError extends Error {
  constructor(
    message: string,
    readonly field: string,
  ) {
    super(message);
    this.name = "ToolCallRenderError";
  }
}

function argument(call: ToolCall, key: string): PyValue {
  for (const [k, v] of dictEntries(call.arguments)) if (k === key) return v;
  throw new ToolCallRenderError(`built-in tool ${call.toolName} needs an argument "${key}"`, `arguments.${key}`);
}

/** The text the reference puts in the prompt for one assistant tool call. */
export function renderToolCall(call: ToolCall, format: ToolPromptFormat): string {
  const name = call.toolName;
  switch (name) {
    case "brave_search":
    case "wolfram_alpha":
    case "photogen":
      return `${name}.call(query="${pythonStr(argument(call, "query"))}")`;
    case "code_interpreter": {
      // The raw code only: the reference adds no <|python_start|> around it.
      const code = argument(call, "code");
      if (typeof code !== "string") {
        throw new ToolCallRenderError("code_interpreter's code must be a string", "arguments.code");
      }
      return code;
    }
  }
  switch (format) {
    case "json":
      return pythonJsonDumps(
        new Map<string, PyValue>([
          ["type", "function"],
          ["name", name],
          ["parameters", call.arguments],
        ]),
      );
    case "function_tag":
      return `<function=${name}>${pythonJsonDumps(call.arguments)}</function>`;
    case "python_list": {
      const args = dictEntries(call.arguments).map(([k, v]) => `${k}=${pythonListValue(v)}`);
      return `[${name}(${args.join(", ")})]`;
    }
  }
}
