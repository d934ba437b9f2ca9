// Chat messages: the shapes accepted on input (OpenAI-style and the Meta/golden style) and the
// one internal shape everything is normalised to before encoding.

import { pythonJsonLoads, PythonJsonError } from "./python-json.js";
import { isPyDict, PyFloat, type JsonObject, type PyDict, type PyObject, type PyValue } from "./python-values.js";
import type { ToolCall } from "./tool-calls.js";

export type ChatRole = "system" | "user" | "assistant" | "tool";
export const CHAT_ROLES: readonly ChatRole[] = ["system", "user", "assistant", "tool"];

/** Why the assistant stopped: `<|eot|>`, `<|eom|>`, or the token budget ran out. */
export type StopReason = "end_of_turn" | "end_of_message" | "out_of_tokens";
export const STOP_REASONS: readonly StopReason[] = ["end_of_turn", "end_of_message", "out_of_tokens"];

export interface TextPart {
  type: "text";
  text: string;
}

/**
 * An image. Only its size matters to the prompt (it decides the tile grid); `url`, `path` or
 * `data` say where the pixels are for whoever loads them (and may feed `imageGrid`).
 */
export interface ImagePart {
  type: "image";
  width?: number;
  height?: number;
  url?: string;
  path?: string;
  /** Encoded image bytes (PNG, JPEG, WebP, GIF). */
  data?: Uint8Array;
  /** Decoded pixels: RGB8, row-major [height, width, 3]. */
  pixels?: { width: number; height: number; data: Uint8Array };
}

/** OpenAI-style image part; `width`/`height` are an extension so it can be laid out unloaded. */
export interface ImageUrlPart {
  type: "image_url";
  image_url: string | { url: string; detail?: string; width?: number; height?: number };
  width?: number;
  height?: number;
}

export type ContentPart = TextPart | ImagePart | ImageUrlPart;
export type MessageContent = string | ContentPart[];

/** Arguments of a tool call: a dict, or (OpenAI style) its JSON text. */
export type ToolArguments = PyDict | PyObject | JsonObject | string;

/** Meta / golden style tool call. */
export interface MetaToolCall {
  toolName: string;
  arguments?: ToolArguments;
  callId?: string;
}

/** OpenAI-style tool call. */
export interface OpenAIToolCall {
  id?: string;
  type?: "function";
  function: { name: string; arguments?: ToolArguments };
}

/** A message in either style (fields of both may be mixed; camelCase and snake_case accepted). */
export interface ChatMessage {
  /** `ipython` is accepted as another name for `tool`. */
  role: ChatRole | "ipython";
  /** May be null or missing for an assistant message that only calls tools. */
  content?: MessageContent | null;
  /** Retrieved text for a user message (RAG), written after the content. */
  context?: MessageContent | null;
  stopReason?: StopReason;
  stop_reason?: StopReason;
  toolCalls?: MetaToolCall[];
  tool_calls?: OpenAIToolCall[];
  toolCallId?: string;
  tool_call_id?: string;
  name?: string;
}

export type NormalizedContentPart = TextPart | ImagePart;

/** The one internal form; it is itself a valid {@link ChatMessage}. */
export interface NormalizedMessage {
  role: ChatRole;
  /** A string stays a string so templates can tell the two apart; encoding treats both alike. */
  content: string | NormalizedContentPart[];
  context?: string | NormalizedContentPart[];
  stopReason?: StopReason;
  toolCalls: ToolCall[];
  toolCallId?: string;
}

/** A message that cannot be encoded; `path` names the offending field, e.g. `messages[2].role`. */
export class ChatFormatError extends Error {
  constructor(
    readonly path: string,
    problem: string,
  ) {
    super(`${path}: ${problem}`);
    this.name = "ChatFormatError";
  }
}

type Fields = Record<string, unknown>;

function isObject(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value);
  return typeof value;
}

function optionalSize(value: unknown, path: string): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "number" || !Number.isInteger(value) || value <= 0) {
    throw new ChatFormatError(path, `image size must be a positive integer, got ${describe(value)}`);
  }
  return value;
}

function imagePart(
  fields: { width?: number; height?: number; url?: string; path?: string; data?: Uint8Array; pixels?: ImagePart["pixels"] },
  path: string,
): ImagePart {
  if ((fields.width === undefined) !== (fields.height === undefined)) {
    throw new ChatFormatError(path, "an image needs both width and height, or neither");
  }
  const part: ImagePart = { type: "image" };
  if (fields.width !== undefined && fields.height !== undefined) {
    part.width = fields.width;
    part.height = fields.height;
  }
  if (fields.url !== undefined) part.url = fields.url;
  if (fields.path !== undefined) part.path = fields.path;
  if (fields.data !== undefined) part.data = fields.data;
  if (fields.pixels !== undefined) part.pixels = fields.pixels;
  return part;
}

function optionalString(value: unknown, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw new ChatFormatError(path, `expected a string, got ${describe(value)}`);
  return value;
}

function normalizePart(part: unknown, path: string): NormalizedContentPart {
  if (!isObject(part)) throw new ChatFormatError(path, `invalid content part: expected an object, got ${describe(part)}`);
  switch (part.type) {
    case "text":
      if (typeof part.text !== "string") {
        throw new ChatFormatError(`${path}.text`, `a text part needs a string "text", got ${describe(part.text)}`);
      }
      return { type: "text", text: part.text };
    case "image": {
      const data = part.data;
      if (data !== undefined && !(data instanceof Uint8Array)) {
        throw new ChatFormatError(`${path}.data`, "image data must be a Uint8Array");
      }
      const pixels = part.pixels;
      if (pixels !== undefined) {
        const px = pixels as { width?: unknown; height?: unknown; data?: unknown };
        if (!isObject(pixels) || !Number.isInteger(px.width) || !Number.isInteger(px.height) || (px.width as number) < 1 || (px.height as number) < 1 ||
          !(px.data instanceof Uint8Array) || px.data.length !== (px.width as number) * (px.height as number) * 3) {
          throw new ChatFormatError(`${path}.pixels`, "decoded pixels must be { width, height, data: Uint8Array of width·height·3 RGB bytes }");
        }
      }
      return imagePart(
        {
          width: optionalSize(part.width, `${path}.width`) ?? (pixels ? (pixels as { width: number }).width : undefined),
          height: optionalSize(part.height, `${path}.height`) ?? (pixels ? (pixels as { height: number }).height : undefined),
          // HF chat messages spell the location `url`, `path` or `image`.
          url: optionalString(part.url, `${path}.url`) ?? optionalString(part.image, `${path}.image`),
          path: optionalString(part.path, `${path}.path`),
          data,
          ...(pixels !== undefined && { pixels: pixels as ImagePart["pixels"] }),
        },
        path,
      );
    }
    case "image_url": {
      const ref = part.image_url;
      let url: string;
      let width = optionalSize(part.width, `${path}.width`);
      let height = optionalSize(part.height, `${path}.height`);
      if (typeof ref === "string") url = ref;
      else if (isObject(ref) && typeof ref.url === "string") {
        url = ref.url;
        width ??= optionalSize(ref.width, `${path}.image_url.width`);
        height ??= optionalSize(ref.height, `${path}.image_url.height`);
      } else {
        throw new ChatFormatError(`${path}.image_url`, `expected {"url": string}, got ${describe(ref)}`);
      }
      return imagePart({ width, height, url }, path);
    }
    default:
      throw new ChatFormatError(
        `${path}.type`,
        `invalid content part type ${describe(part.type)} (expected "text", "image" or "image_url")`,
      );
  }
}

/** Validates message content (a string or a list of parts) and converts it to the internal form. */
export function normalizeContent(content: unknown, path = "content"): string | NormalizedContentPart[] {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) return content.map((part, i) => normalizePart(part, `${path}[${i}]`));
  throw new ChatFormatError(path, `expected a string or a list of content parts, got ${describe(content)}`);
}

/** Checks that a value is something `json.dumps` can write, so later rendering cannot fail. */
function checkPyValue(value: unknown, path: string): PyValue {
  if (value === null || typeof value === "boolean" || typeof value === "string" || typeof value === "bigint") {
    return value;
  }
  if (typeof value === "number" || value instanceof PyFloat) return value;
  if (Array.isArray(value)) {
    value.forEach((v, i) => checkPyValue(v, `${path}[${i}]`));
    return value as PyValue[];
  }
  if (value instanceof Map) {
    for (const [k, v] of value) {
      if (typeof k !== "string") throw new ChatFormatError(path, `dict keys must be strings, got ${describe(k)}`);
      checkPyValue(v, `${path}.${k}`);
    }
    return value as PyDict;
  }
  if (isObject(value)) {
    for (const [k, v] of Object.entries(value)) checkPyValue(v, `${path}.${k}`);
    return value as PyObject;
  }
  throw new ChatFormatError(path, `not a JSON value: ${describe(value)}`);
}

function normalizeArguments(args: unknown, path: string): PyDict | PyObject {
  if (args === undefined || args === null) return new Map();
  let value: unknown = args;
  if (typeof args === "string") {
    try {
      // Parsed the way Python would, so ints, floats and key order survive into the prompt.
      value = args.trim() === "" ? new Map() : pythonJsonLoads(args);
    } catch (err) {
      if (err instanceof PythonJsonError) throw new ChatFormatError(path, `invalid JSON (${err.message})`);
      throw err;
    }
  }
  const checked = checkPyValue(value, path);
  if (!isPyDict(checked)) throw new ChatFormatError(path, `tool arguments must be an object, got ${describe(value)}`);
  return checked;
}

function toolName(value: unknown, path: string): string {
  if (typeof value !== "string" || value === "") {
    throw new ChatFormatError(path, `tool call without a name (got ${describe(value)})`);
  }
  return value;
}

function normalizeToolCalls(message: Fields, path: string): ToolCall[] {
  const meta = message.toolCalls;
  const openai = message.tool_calls;
  if (meta !== undefined && meta !== null && openai !== undefined && openai !== null) {
    throw new ChatFormatError(path, "give tool calls as either toolCalls or tool_calls, not both");
  }
  const list = meta ?? openai;
  if (list === undefined || list === null) return [];
  const listPath = `${path}.${meta !== undefined && meta !== null ? "toolCalls" : "tool_calls"}`;
  if (!Array.isArray(list)) throw new ChatFormatError(listPath, `expected a list, got ${describe(list)}`);
  return list.map((call: unknown, i): ToolCall => {
    const callPath = `${listPath}[${i}]`;
    if (!isObject(call)) throw new ChatFormatError(callPath, `expected a tool call object, got ${describe(call)}`);
    let out: ToolCall;
    if (isObject(call.function)) {
      out = {
        toolName: toolName(call.function.name, `${callPath}.function.name`),
        arguments: normalizeArguments(call.function.arguments, `${callPath}.function.arguments`),
      };
      const id = optionalString(call.id, `${callPath}.id`);
      if (id !== undefined) out.callId = id;
    } else {
      out = {
        toolName: toolName(call.toolName ?? call.tool_name, `${callPath}.toolName`),
        arguments: normalizeArguments(call.arguments, `${callPath}.arguments`),
      };
      const id = optionalString(call.callId ?? call.call_id, `${callPath}.callId`);
      if (id !== undefined) out.callId = id;
    }
    return out;
  });
}

function normalizeRole(role: unknown, path: string): ChatRole {
  if (role === "ipython") return "tool";
  if (typeof role === "string" && (CHAT_ROLES as readonly string[]).includes(role)) return role as ChatRole;
  throw new ChatFormatError(path, `unknown role ${describe(role)} (expected system, user, assistant or tool)`);
}

function normalizeStopReason(message: Fields, path: string): StopReason | undefined {
  const value = message.stopReason ?? message.stop_reason;
  if (value === undefined || value === null) return undefined;
  if (typeof value === "string" && (STOP_REASONS as readonly string[]).includes(value)) return value as StopReason;
  throw new ChatFormatError(
    `${path}.stopReason`,
    `unknown stop reason ${describe(value)} (expected ${STOP_REASONS.join(", ")})`,
  );
}

/** Validates one message and converts it to the internal form. */
export function normalizeMessage(message: unknown, path = "message"): NormalizedMessage {
  if (!isObject(message)) throw new ChatFormatError(path, `expected a message object, got ${describe(message)}`);
  const role = normalizeRole(message.role, `${path}.role`);
  const toolCalls = normalizeToolCalls(message, path);

  let content: string | NormalizedContentPart[];
  if (message.content === undefined || message.content === null) {
    // OpenAI sends `content: null` on assistant messages that only call tools.
    if (role !== "assistant") throw new ChatFormatError(`${path}.content`, "missing content");
    content = "";
  } else {
    content = normalizeContent(message.content, `${path}.content`);
  }

  const out: NormalizedMessage = { role, content, toolCalls };
  if (message.context !== undefined && message.context !== null) {
    out.context = normalizeContent(message.context, `${path}.context`);
  }
  const stopReason = normalizeStopReason(message, path);
  if (stopReason !== undefined) out.stopReason = stopReason;
  const toolCallId = optionalString(message.toolCallId ?? message.tool_call_id, `${path}.tool_call_id`);
  if (toolCallId !== undefined) out.toolCallId = toolCallId;
  return out;
}

/**
 * Validates a dialog and converts it to the internal form. Errors are {@link ChatFormatError}s
 * naming the message index and field, e.g. `messages[1].content[0].type: ...`.
 */
export function normalizeMessages(messages: unknown, path = "messages"): NormalizedMessage[] {
  if (!Array.isArray(messages)) throw new ChatFormatError(path, `expected a list of messages, got ${describe(messages)}`);
  return messages.map((m, i) => normalizeMessage(m, `${path}[${i}]`));
}
