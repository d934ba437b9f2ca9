// OpenAI `tools` for Llama 4: the definitions go into the prompt the way the Llama 4 Hugging
// Face chat template puts them (tools_in_user_message, its default): "Environment: ipython"
// opens the system message, and the first user message is prefixed with instructions and the
// JSON tool list. The reply is read with the reference parser (JSON object, <function=…> tag
// or Python call list) and becomes OpenAI `tool_calls`.
import { parseAssistantReply, type NormalizedContentPart, type NormalizedMessage, type StopReason } from "../chat/index.js";

/** A tool as OpenAI clients send it; extra fields are kept so the prompt shows them as given. */
export interface FunctionTool {
  readonly type: "function";
  readonly function: {
    readonly name: string;
    readonly description?: string;
    readonly parameters?: Readonly<Record<string, unknown>>;
    readonly [field: string]: unknown;
  };
  readonly [field: string]: unknown;
}

/**
 * Which tools the model may call. "required" and a named tool are enforced: the reply is
 * constrained to be a call of an offered tool (tool-constraint.ts).
 */
export type ToolChoice = "none" | "auto" | "required" | { readonly name: string };

/** Whether the reply must be a tool call ("required" or a named tool). */
export function toolCallRequired(choice: ToolChoice): boolean {
  return choice === "required" || typeof choice === "object";
}

/** An OpenAI assistant tool call. */
export interface OpenAIToolCallOut {
  readonly id: string;
  readonly type: "function";
  readonly function: { readonly name: string; readonly arguments: string };
}

// The instruction text of the HF template, verbatim (including its missing spaces).
const USER_INSTRUCTIONS =
  "Given the following functions, please respond with a JSON for a function call " +
  "with its proper arguments that best answers the given prompt.\n\n" +
  'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' +
  "Do not use variables.\n\n";
const SYSTEM_PREFIX = "Environment: ipython\n";

/** The tools the prompt lists for a tool choice: none for "none", one for a named tool. */
export function toolsOffered(tools: readonly FunctionTool[], choice: ToolChoice): readonly FunctionTool[] {
  if (choice === "none") return [];
  if (typeof choice === "object") return tools.filter((t) => t.function.name === choice.name);
  return tools;
}

/** The block put before the first user message: instructions, then each tool as indented JSON. */
export function toolListText(tools: readonly FunctionTool[]): string {
  // The template's `tojson(indent=4)` is Python json.dumps(indent=4, ensure_ascii=False):
  // for JSON that came in as JSON, that is JSON.stringify with 4 spaces.
  return USER_INSTRUCTIONS + tools.map((t) => `${JSON.stringify(t, null, 4)}\n\n`).join("");
}

function trimContent(content: string | NormalizedContentPart[]): string | NormalizedContentPart[] {
  if (typeof content === "string") return content.trim();
  return content.map((p, i) => (p.type === "text" && i === 0 ? { ...p, text: p.text.trimStart() } : p));
}

function prefixContent(prefix: string, content: string | NormalizedContentPart[]): string | NormalizedContentPart[] {
  return typeof content === "string" ? prefix + content : [{ type: "text", text: prefix }, ...content];
}

/**
 * The dialog with the tool definitions written in. Throws if there is no user message to
 * carry them (the HF template fails the same way).
 */
export function withToolPrompt(messages: readonly NormalizedMessage[], tools: readonly FunctionTool[]): NormalizedMessage[] {
  if (tools.length === 0) return [...messages];
  const out = messages.map((m) => ({ ...m }));
  const system = out[0]?.role === "system" ? out[0] : undefined;
  if (system) system.content = prefixContent(SYSTEM_PREFIX, trimContent(system.content));
  const firstUser = out.find((m) => m.role === "user");
  if (!firstUser) throw new Error("tools need a user message to put the tool list in");
  firstUser.content = prefixContent(toolListText(tools), trimContent(firstUser.content));
  return out;
}

/** What an assistant reply becomes: text, or tool calls (then content is null). */
export interface ReplyWithTools {
  readonly content: string | null;
  readonly toolCalls: readonly OpenAIToolCallOut[];
}

/**
 * Reads tool calls out of a finished reply. Only calls to tools the request offered count;
 * anything else (including built-in tools nobody declared) stays plain text.
 */
export function replyToToolCalls(text: string, stopReason: StopReason, offered: readonly FunctionTool[]): ReplyWithTools {
  if (offered.length === 0) return { content: text, toolCalls: [] };
  const parsed = parseAssistantReply(text, stopReason);
  const names = new Set(offered.map((t) => t.function.name));
  const calls = parsed.toolCalls.filter((c) => names.has(c.toolName));
  if (calls.length === 0) return { content: text, toolCalls: [] };
  return {
    content: null,
    toolCalls: calls.map((c) => ({
      id: `call_${c.callId.replaceAll("-", "")}`,
      type: "function",
      function: { name: c.toolName, arguments: c.argumentsJson },
    })),
  };
}

/**
 * Whether streamed text so far could still turn out to be a tool call, so it must be held
 * back: nothing but spaces yet, or it opens like a JSON object, a call list, a function tag
 * or code (`<|python_start|>`).
 */
export function mayBecomeToolCall(text: string): boolean {
  const t = text.trimStart();
  return t === "" || t.startsWith("{") || t.startsWith("[") || t.startsWith("<");
}
