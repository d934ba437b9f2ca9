// The OpenAI wire format: errors in OpenAI's shape, request bodies validated into typed
// parameters (every bad field is a 400 naming it), and response objects and stream chunks.
import { randomUUID } from "node:crypto";
import { ChatFormatError, normalizeMessages, type NormalizedMessage } from "../chat/index.js";
import type { TokenLogprob } from "../runtime/generator.js";
import type { SamplingParams } from "../runtime/sampler.js";
import type { FunctionTool, OpenAIToolCallOut, ToolChoice } from "./tools.js";

// ---------------------------------------------------------------------------------------------
// Errors

export type ApiErrorType = "invalid_request_error" | "rate_limit_error" | "server_error";

/** An error answered as `{error: {message, type, param, code}}` with an HTTP status. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: ApiErrorType,
    readonly code: string | null = null,
    readonly param: string | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  body(): { error: { message: string; type: ApiErrorType; param: string | null; code: string | null } } {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

export const badRequest = (message: string, param: string | null = null, code: string | null = null) =>
  new ApiError(400, message, "invalid_request_error", code, param);

// ---------------------------------------------------------------------------------------------
// Field readers: each names the field in its error.

type Body = Record<string, unknown>;

function isObject(v: unknown): v is Body {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

function requireBody(body: unknown): Body {
  if (!isObject(body)) throw badRequest("the request body must be a JSON object");
  return body;
}

interface NumberRule {
  readonly min?: number;
  readonly max?: number;
  readonly integer?: boolean;
  /** The lower bound itself is not allowed. */
  readonly exclusiveMin?: boolean;
}

function optionalNumber(body: Body, key: string, rule: NumberRule = {}): number | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  const range = [
    rule.min !== undefined ? `${rule.exclusiveMin ? ">" : ">="} ${rule.min}` : "",
    rule.max !== undefined ? `<= ${rule.max}` : "",
  ].filter(Boolean).join(" and ");
  const want = `${rule.integer ? "an integer" : "a number"}${range ? ` ${range}` : ""}`;
  if (typeof v !== "number" || !Number.isFinite(v) || (rule.integer && !Number.isSafeInteger(v))) {
    throw badRequest(`${key} must be ${want}, got ${describe(v)}`, key);
  }
  if (rule.min !== undefined && (rule.exclusiveMin ? v <= rule.min : v < rule.min)) throw badRequest(`${key} must be ${want}, got ${v}`, key);
  if (rule.max !== undefined && v > rule.max) throw badRequest(`${key} must be ${want}, got ${v}`, key);
  return v;
}

function optionalBoolean(body: Body, key: string): boolean | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "boolean") throw badRequest(`${key} must be true or false, got ${describe(v)}`, key);
  return v;
}

function optionalString(body: Body, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw badRequest(`${key} must be a string, got ${describe(v)}`, key);
  return v;
}

/** `stop`: a string or a list of up to 16 non-empty strings. */
function stopStrings(body: Body): string[] {
  const v = body.stop;
  if (v === undefined || v === null) return [];
  const list = typeof v === "string" ? [v] : v;
  if (!Array.isArray(list) || !list.every((s) => typeof s === "string")) {
    throw badRequest(`stop must be a string or a list of strings, got ${describe(v)}`, "stop");
  }
  if (list.length > 16) throw badRequest(`stop takes at most 16 strings, got ${list.length}`, "stop");
  return (list as string[]).filter((s) => s.length > 0);
}

/** `logit_bias`: {"token id": bias in [-100, 100]} → a map (−100 bans the token outright). */
function logitBias(body: Body, vocabSize: number): Map<number, number> | undefined {
  const v = body.logit_bias;
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw badRequest(`logit_bias must be an object of token id → bias, got ${describe(v)}`, "logit_bias");
  const out = new Map<number, number>();
  for (const [k, b] of Object.entries(v)) {
    const id = Number(k);
    if (!/^\d+$/.test(k) || !Number.isSafeInteger(id) || id >= vocabSize) {
      throw badRequest(`logit_bias: ${JSON.stringify(k)} is not a token id (0..${vocabSize - 1})`, "logit_bias");
    }
    if (typeof b !== "number" || !Number.isFinite(b) || b < -100 || b > 100) {
      throw badRequest(`logit_bias[${k}] must be a number in [-100, 100], got ${describe(b)}`, "logit_bias");
    }
    out.set(id, b <= -100 ? -Infinity : b);
  }
  return out;
}

/** Sampling fields shared by both endpoints; defaults are OpenAI's (temperature 1, top_p 1). */
function samplingFields(body: Body, vocabSize: number): SamplingParams {
  const temperature = optionalNumber(body, "temperature", { min: 0, max: 2 });
  const topP = optionalNumber(body, "top_p", { min: 0, max: 1, exclusiveMin: true });
  const presencePenalty = optionalNumber(body, "presence_penalty", { min: -2, max: 2 });
  const frequencyPenalty = optionalNumber(body, "frequency_penalty", { min: -2, max: 2 });
  const seed = optionalNumber(body, "seed", { integer: true });
  // Extensions many OpenAI-compatible servers accept.
  const topK = optionalNumber(body, "top_k", { min: 0, integer: true });
  const minP = optionalNumber(body, "min_p", { min: 0, max: 1 });
  const repetitionPenalty = optionalNumber(body, "repetition_penalty", { min: 0, exclusiveMin: true });
  const bias = logitBias(body, vocabSize);
  return {
    temperature: temperature ?? 1,
    topP: topP ?? 1,
    ...(topK !== undefined && { topK }),
    ...(minP !== undefined && { minP }),
    ...(repetitionPenalty !== undefined && { repetitionPenalty }),
    ...(presencePenalty !== undefined && { presencePenalty }),
    ...(frequencyPenalty !== undefined && { frequencyPenalty }),
    ...(seed !== undefined && { seed }),
    ...(bias && { logitBias: bias }),
  };
}

/** `n` and `best_of`: one choice per request. */
function singleChoice(body: Body): void {
  for (const key of ["n", "best_of"]) {
    const n = optionalNumber(body, key, { min: 1, integer: true });
    if (n !== undefined && n !== 1) throw badRequest(`${key} must be 1: this server returns one choice per request`, key, "unsupported_value");
  }
}

function streamFields(body: Body): { stream: boolean; includeUsage: boolean } {
  const stream = optionalBoolean(body, "stream") ?? false;
  const opts = body.stream_options;
  let includeUsage = false;
  if (opts !== undefined && opts !== null) {
    if (!isObject(opts)) throw badRequest(`stream_options must be an object, got ${describe(opts)}`, "stream_options");
    includeUsage = optionalBoolean(opts, "include_usage") ?? false;
  }
  return { stream, includeUsage: stream && includeUsage };
}

// ---------------------------------------------------------------------------------------------
// Requests

interface CommonParams {
  /** The `model` field, if given (checked against the served model by the caller). */
  readonly model: string | undefined;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** Undefined: as many as the context leaves. */
  readonly maxTokens: number | undefined;
  readonly sampling: SamplingParams;
  readonly stop: readonly string[];
  /** Alternatives per token to report; undefined: no logprobs. */
  readonly topLogprobs: number | undefined;
}

export interface ChatParams extends CommonParams {
  readonly messages: NormalizedMessage[];
  readonly tools: readonly FunctionTool[];
  readonly toolChoice: ToolChoice;
  readonly jsonMode: boolean;
}

/** OpenAI's default max_tokens for /v1/completions. */
export const COMPLETION_DEFAULT_MAX_TOKENS = 16;

export interface CompletionParams extends CommonParams {
  /** Text (tokenized by the server) or token ids. */
  readonly prompt: string | readonly number[];
}

const TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;

function toolsField(body: Body): FunctionTool[] {
  const v = body.tools;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw badRequest(`tools must be a list, got ${describe(v)}`, "tools");
  return v.map((t: unknown, i): FunctionTool => {
    const param = `tools[${i}]`;
    if (!isObject(t) || t.type !== "function" || !isObject(t.function)) {
      throw badRequest(`${param} must be {"type": "function", "function": {...}}`, param);
    }
    const f = t.function;
    if (typeof f.name !== "string" || !TOOL_NAME.test(f.name)) {
      throw badRequest(`${param}.function.name must be 1-64 letters, digits, _ or -, got ${describe(f.name)}`, `${param}.function.name`);
    }
    if (f.description !== undefined && typeof f.description !== "string") {
      throw badRequest(`${param}.function.description must be a string`, `${param}.function.description`);
    }
    if (f.parameters !== undefined && !isObject(f.parameters)) {
      throw badRequest(`${param}.function.parameters must be a JSON-schema object`, `${param}.function.parameters`);
    }
    return t as FunctionTool;
  });
}

function toolChoiceField(body: Body, tools: readonly FunctionTool[]): ToolChoice {
  const v = body.tool_choice;
  if (v === undefined || v === null) return "auto";
  if (v === "none" || v === "auto" || v === "required") {
    if (v === "required" && tools.length === 0) throw badRequest("tool_choice is \"required\" but no tools were given", "tool_choice");
    return v;
  }
  if (isObject(v) && v.type === "function" && isObject(v.function) && typeof v.function.name === "string") {
    const name = v.function.name;
    if (!tools.some((t) => t.function.name === name)) throw badRequest(`tool_choice names ${JSON.stringify(name)}, which is not in tools`, "tool_choice");
    return { name };
  }
  throw badRequest(`tool_choice must be "none", "auto", "required" or {"type": "function", "function": {"name": …}}, got ${describe(v)}`, "tool_choice");
}

function responseFormatField(body: Body): boolean {
  const v = body.response_format;
  if (v === undefined || v === null) return false;
  if (!isObject(v) || typeof v.type !== "string") throw badRequest(`response_format must be {"type": "text" | "json_object"}`, "response_format");
  if (v.type === "text") return false;
  if (v.type === "json_object") return true;
  throw badRequest(`response_format type ${JSON.stringify(v.type)} is not supported (use "text" or "json_object")`, "response_format.type", "unsupported_value");
}

function messagesField(body: Body): NormalizedMessage[] {
  const raw = body.messages;
  if (!Array.isArray(raw) || raw.length === 0) throw badRequest("messages must be a non-empty list", "messages");
  // Newer clients send system prompts as "developer".
  const renamed = raw.map((m: unknown) => (isObject(m) && m.role === "developer" ? { ...m, role: "system" } : m));
  try {
    return normalizeMessages(renamed);
  } catch (err) {
    if (err instanceof ChatFormatError) throw badRequest(err.message, err.path);
    throw err;
  }
}

function maxTokensField(body: Body): number | undefined {
  // max_completion_tokens is the current name; max_tokens the older one.
  const current = optionalNumber(body, "max_completion_tokens", { min: 1, integer: true });
  return current ?? optionalNumber(body, "max_tokens", { min: 1, integer: true });
}

export function parseChatRequest(raw: unknown, vocabSize: number): ChatParams {
  const body = requireBody(raw);
  singleChoice(body);
  const messages = messagesField(body);
  const tools = toolsField(body);
  const logprobs = optionalBoolean(body, "logprobs") ?? false;
  const top = optionalNumber(body, "top_logprobs", { min: 0, max: 20, integer: true });
  if (top !== undefined && !logprobs) throw badRequest("top_logprobs needs logprobs: true", "top_logprobs");
  return {
    model: optionalString(body, "model"),
    ...streamFields(body),
    maxTokens: maxTokensField(body),
    sampling: samplingFields(body, vocabSize),
    stop: stopStrings(body),
    topLogprobs: logprobs ? (top ?? 0) : undefined,
    messages,
    tools,
    toolChoice: toolChoiceField(body, tools),
    jsonMode: responseFormatField(body),
  };
}

export function parseCompletionRequest(raw: unknown, vocabSize: number): CompletionParams {
  const body = requireBody(raw);
  singleChoice(body);
  if (body.echo === true) throw badRequest("echo is not supported", "echo", "unsupported_value");
  if (typeof body.suffix === "string" && body.suffix !== "") throw badRequest("suffix is not supported", "suffix", "unsupported_value");
  const p = body.prompt;
  let prompt: string | number[];
  if (typeof p === "string") prompt = p;
  else if (Array.isArray(p) && p.length > 0 && p.every((t) => typeof t === "number")) {
    const bad = p.findIndex((t) => !Number.isInteger(t) || t < 0 || t >= vocabSize);
    if (bad >= 0) throw badRequest(`prompt[${bad}] is not a token id (0..${vocabSize - 1}): ${p[bad]}`, "prompt");
    prompt = p as number[];
  } else if (Array.isArray(p) && p.length === 1 && typeof p[0] === "string") {
    prompt = p[0];
  } else if (Array.isArray(p) && p.length > 1 && p.every((x) => typeof x === "string" || Array.isArray(x))) {
    throw badRequest("send one prompt per request (batches of prompts are not supported)", "prompt", "unsupported_value");
  } else {
    throw badRequest(`prompt must be a string or a list of token ids, got ${describe(p)}`, "prompt");
  }
  const logprobs = optionalNumber(body, "logprobs", { min: 0, max: 20, integer: true });
  return {
    model: optionalString(body, "model"),
    ...streamFields(body),
    maxTokens: maxTokensField(body),
    sampling: samplingFields(body, vocabSize),
    stop: stopStrings(body),
    topLogprobs: logprobs,
    prompt,
  };
}

// ---------------------------------------------------------------------------------------------
// Responses

export type OpenAIFinishReason = "stop" | "length" | "tool_calls";

export interface Usage {
  readonly prompt_tokens: number;
  readonly completion_tokens: number;
  readonly total_tokens: number;
}

export function usage(promptTokens: number, completionTokens: number): Usage {
  return { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens };
}

/** How a token is shown in logprobs: its text (special tokens by name) and its bytes. */
export interface TokenText {
  text(id: number): string;
  bytes(id: number): number[];
}

export interface LogprobStep {
  readonly chosen: TokenLogprob;
  readonly top: readonly TokenLogprob[];
}

export interface ChatLogprobEntry {
  token: string;
  logprob: number;
  bytes: number[];
  top_logprobs: { token: string; logprob: number; bytes: number[] }[];
}

export function chatLogprobs(steps: readonly LogprobStep[], tt: TokenText): ChatLogprobEntry[] {
  const one = (t: TokenLogprob) => ({ token: tt.text(t.token), logprob: t.logprob, bytes: tt.bytes(t.token) });
  return steps.map((s) => ({ ...one(s.chosen), top_logprobs: s.top.map(one) }));
}

export interface CompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

export function completionLogprobs(steps: readonly LogprobStep[], tt: TokenText, textOffset = 0): CompletionLogprobs {
  const out: CompletionLogprobs = { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
  let offset = textOffset;
  for (const s of steps) {
    const text = tt.text(s.chosen.token);
    out.tokens.push(text);
    out.token_logprobs.push(s.chosen.logprob);
    out.top_logprobs.push(Object.fromEntries(s.top.map((t) => [tt.text(t.token), t.logprob])));
    out.text_offset.push(offset);
    offset += text.length;
  }
  return out;
}

/** Ids, creation time and model name shared by a response and all its chunks. */
export class ResponseMeta {
  readonly created = Math.floor(Date.now() / 1000);
  constructor(readonly id: string, readonly model: string) {}

  static chat(model: string): ResponseMeta {
    return new ResponseMeta(`chatcmpl-${randomUUID().replaceAll("-", "")}`, model);
  }

  static completion(model: string): ResponseMeta {
    return new ResponseMeta(`cmpl-${randomUUID().replaceAll("-", "")}`, model);
  }
}

export interface ChatMessageOut {
  role: "assistant";
  content: string | null;
  refusal: null;
  tool_calls?: OpenAIToolCallOut[];
}

export function chatCompletion(
  meta: ResponseMeta,
  message: ChatMessageOut,
  finishReason: OpenAIFinishReason,
  logprobs: ChatLogprobEntry[] | undefined,
  u: Usage,
) {
  return {
    id: meta.id,
    object: "chat.completion" as const,
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    choices: [{ index: 0, message, logprobs: logprobs ? { content: logprobs, refusal: null } : null, finish_reason: finishReason }],
    usage: u,
  };
}

export interface ChatDelta {
  role?: "assistant";
  content?: string;
  tool_calls?: (OpenAIToolCallOut & { index: number })[];
}

export function chatChunk(
  meta: ResponseMeta,
  delta: ChatDelta,
  finishReason: OpenAIFinishReason | null,
  logprobs: ChatLogprobEntry[] | undefined,
  includeUsage: boolean,
) {
  return {
    id: meta.id,
    object: "chat.completion.chunk" as const,
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    choices: [{ index: 0, delta, logprobs: logprobs ? { content: logprobs, refusal: null } : null, finish_reason: finishReason }],
    ...(includeUsage && { usage: null }),
  };
}

/** The last chunk when `stream_options.include_usage` is set: no choices, only usage. */
export function chatUsageChunk(meta: ResponseMeta, u: Usage) {
  return { id: meta.id, object: "chat.completion.chunk" as const, created: meta.created, model: meta.model, system_fingerprint: null, choices: [], usage: u };
}

export function textCompletion(
  meta: ResponseMeta,
  text: string,
  finishReason: OpenAIFinishReason | null,
  logprobs: CompletionLogprobs | undefined,
  u: Usage | undefined,
  includeUsage = false,
) {
  return {
    id: meta.id,
    object: "text_completion" as const,
    created: meta.created,
    model: meta.model,
    system_fingerprint: null,
    choices: [{ text, index: 0, logprobs: logprobs ?? null, finish_reason: finishReason }],
    ...(u ? { usage: u } : includeUsage ? { usage: null } : {}),
  };
}

export function textUsageChunk(meta: ResponseMeta, u: Usage) {
  return { id: meta.id, object: "text_completion" as const, created: meta.created, model: meta.model, system_fingerprint: null, choices: [], usage: u };
}

export function modelObject(id: string, created: number) {
  return { id, object: "model" as const, created, owned_by: "llama4.ts" };
}
