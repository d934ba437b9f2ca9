// The OpenAI-compatible HTTP API as a Fastify app over a loaded model and its batch scheduler.
// Building the app does not listen: `llama4 serve` binds it to a port, tests may also use
// `app.inject`. Every failure is answered in OpenAI's error shape; bad input is never a 500.
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import { createHash, timingSafeEqual } from "node:crypto";
import { PassThrough } from "node:stream";
import { ChatFormatError, encodeDialog, type NormalizedContentPart, type NormalizedMessage, type StopReason } from "../chat/index.js";
import type { Llama4TextModel } from "../model/llama4.js";
import type { GenerationEvent, TokenConstraint } from "../runtime/generator.js";
import type { SamplingParams } from "../runtime/sampler.js";
import { BatchScheduler, QueueFullError, SchedulerClosedError, type SchedulerStats, type SequenceRequest } from "../runtime/scheduler.js";
import type { Tokenizer } from "../tokenizer/index.js";
import { JsonObjectConstraint, TokenBytesCache } from "./json-constraint.js";
import { ServerMetrics, type MetricsSnapshot } from "./metrics.js";
import {
  ApiError,
  badRequest,
  chatChunk,
  chatCompletion,
  chatLogprobs,
  chatUsageChunk,
  COMPLETION_DEFAULT_MAX_TOKENS,
  completionLogprobs,
  modelObject,
  parseChatRequest,
  parseCompletionRequest,
  ResponseMeta,
  textCompletion,
  textUsageChunk,
  usage,
  type LogprobStep,
  type OpenAIFinishReason,
  type TokenText,
} from "./openai.js";
import { encodeMultimodalDialog, ImageInputError, type VisionRuntime } from "../runtime/images.js";
import { ImageDecodeError } from "../image/decode.js";
import { mayBecomeToolCall, replyToToolCalls, toolCallRequired, toolsOffered, withToolPrompt, type FunctionTool } from "./tools.js";
import { ToolCallConstraint } from "./tool-constraint.js";

/** An output constraint that can say the token budget forced its close (finish "length"). */
type ReplyConstraint = TokenConstraint & { readonly budgetForcedClose: boolean };

/** What the app needs from a scheduler: BatchScheduler, or a scripted one in tests. */
export interface RequestScheduler {
  submit(request: SequenceRequest): AsyncIterable<GenerationEvent>;
  readonly stats: SchedulerStats;
  readonly kvBytes: number;
  close(graceMs: number): Promise<void>;
}

/** A model ready to serve: weights, tokenizer, and the scheduler that runs its requests. */
export interface ServingModel {
  /** The name clients use in `model` and see in /v1/models. */
  readonly id: string;
  readonly model: Llama4TextModel;
  readonly tokenizer: Tokenizer;
  readonly stopTokens: readonly number[];
  /** Ids never sampled (the demo model's special tokens). */
  readonly suppress: ReadonlyMap<number, number> | undefined;
  readonly scheduler: RequestScheduler;
  /** Longest prompt + reply, in tokens (--ctx, at most the model's). */
  readonly contextLength: number;
  /** Unix seconds, for /v1/models. */
  readonly created: number;
  /** The vision tower, when the checkpoint has one. */
  readonly vision: VisionRuntime | undefined;
}

export interface ServingOptions {
  readonly id: string;
  readonly parallel: number;
  readonly maxQueue: number;
  readonly ctx?: number;
  readonly maxBatchTokens?: number;
  readonly vision?: VisionRuntime;
}

/**
 * Ids the model may not sample: the given ones, plus every id past the tokenizer's vocabulary
 * (a checkpoint may have more embedding rows than its tokenizer has tokens; such an id could
 * not be decoded).
 */
export function unsampleableIds(modelVocab: number, tokenizerVocab: number, suppress: ReadonlyMap<number, number> | undefined): ReadonlyMap<number, number> | undefined {
  if (tokenizerVocab >= modelVocab) return suppress;
  const out = new Map(suppress ?? []);
  for (let id = tokenizerVocab; id < modelVocab; id++) out.set(id, -Infinity);
  return out;
}

/** Wraps a loaded model for serving (creates its scheduler). */
export function createServingModel(
  loaded: { readonly model: Llama4TextModel; readonly tokenizer: Tokenizer; readonly stopTokens: readonly number[]; readonly suppress: ReadonlyMap<number, number> | undefined },
  o: ServingOptions,
): ServingModel {
  const modelCtx = loaded.model.config.maxPositionEmbeddings;
  return {
    id: o.id,
    model: loaded.model,
    tokenizer: loaded.tokenizer,
    stopTokens: loaded.stopTokens,
    suppress: unsampleableIds(loaded.model.config.vocabSize, loaded.tokenizer.vocabSize, loaded.suppress),
    scheduler: new BatchScheduler(loaded.model, { parallel: o.parallel, maxQueue: o.maxQueue, ...(o.maxBatchTokens !== undefined && { maxBatchTokens: o.maxBatchTokens }) }),
    contextLength: Math.min(o.ctx ?? modelCtx, modelCtx),
    created: Math.floor(Date.now() / 1000),
    vision: o.vision,
  };
}

export type ServerPhase = "loading" | "ready" | "draining";

/** Where the server is in its life: loading weights, serving, or draining for shutdown. */
export class ServerState {
  phase: ServerPhase = "loading";
  model: ServingModel | undefined;
  private tokenBytesCache: TokenBytesCache | undefined;
  private readonly asciiTokens: (number | null | undefined)[] = [];

  ready(model: ServingModel): void {
    this.model = model;
    this.phase = "ready";
  }

  /** Stops accepting work: new API requests get 503 while running ones finish. */
  drain(): void {
    this.phase = "draining";
  }

  /** Token bytes for JSON mode, decoded lazily and shared by all requests. */
  tokenBytes(m: ServingModel): TokenBytesCache {
    this.tokenBytesCache ??= new TokenBytesCache(m.tokenizer);
    return this.tokenBytesCache;
  }

  /** The token that is exactly this ASCII byte, if the vocabulary has one (JSON-mode steering). */
  tokenForByte(m: ServingModel, byte: number): number | undefined {
    if (byte >= 0x80) return undefined;
    let id = this.asciiTokens[byte];
    if (id === undefined) {
      const ids = m.tokenizer.encode(String.fromCharCode(byte));
      id = ids.length === 1 ? ids[0]! : null;
      this.asciiTokens[byte] = id;
    }
    return id ?? undefined;
  }
}

/** The numbers /metrics reports, read from the scheduler at scrape time. */
export function metricsSnapshot(state: ServerState): MetricsSnapshot {
  const s = state.model?.scheduler;
  return {
    loaded: s !== undefined,
    queued: s?.stats.queued ?? 0,
    active: s?.stats.active ?? 0,
    kvBytes: s?.kvBytes ?? 0,
    promptTokens: s?.stats.promptTokens ?? 0,
    generatedTokens: s?.stats.generatedTokens ?? 0,
    cancelledRequests: s?.stats.requestsCancelled ?? 0,
  };
}

export interface AppOptions {
  readonly state: ServerState;
  /** Require `Authorization: Bearer <key>` on /v1 routes. */
  readonly apiKey?: string;
  /** Accept http(s) image URLs (default: only data: URLs). */
  readonly allowRemoteImages?: boolean;
  /** Largest request body (default 20 MiB); larger is 413. */
  readonly bodyLimitBytes?: number;
  readonly metrics?: ServerMetrics;
}

export const DEFAULT_BODY_LIMIT = 20 * 1024 * 1024;

export function buildApp(opts: AppOptions): FastifyInstance {
  const { state } = opts;
  const bodyLimit = opts.bodyLimitBytes ?? DEFAULT_BODY_LIMIT;
  const metrics = opts.metrics ?? new ServerMetrics(() => metricsSnapshot(state));
  // return503OnClosing off: while draining we answer 503 ourselves, in OpenAI's shape.
  const app = Fastify({ logger: false, bodyLimit, return503OnClosing: false });

  app.addHook("onRequest", async (req, reply) => {
    // A client that leaves before its response is complete gets no onResponse: count it as
    // 499 (nginx's "client closed request").
    reply.raw.on("close", () => {
      if (!reply.raw.writableFinished) metrics.recordRequest(req.routeOptions.url ?? "unmatched", req.method, 499);
    });
    if (opts.apiKey === undefined || !req.url.startsWith("/v1/")) return;
    if (!bearerMatches(req.headers.authorization, opts.apiKey)) {
      reply.header("www-authenticate", 'Bearer realm="llama4"');
      throw new ApiError(401, "invalid or missing API key: send Authorization: Bearer <key>", "invalid_request_error", "invalid_api_key");
    }
  });
  app.addHook("onResponse", async (req, reply) => {
    metrics.recordRequest(req.routeOptions.url ?? "unmatched", req.method, reply.statusCode);
  });

  app.setErrorHandler((err, _req, reply) => {
    const api = toApiError(err, bodyLimit);
    if (api.status >= 500 && !(err instanceof ApiError)) process.stderr.write(`llama4 serve: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    if (api.status === 429) reply.header("retry-after", "1");
    void reply.code(api.status).send(api.body());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new ApiError(404, `no such endpoint: ${req.method} ${req.url.split("?")[0]}`, "invalid_request_error", "unknown_url");
    void reply.code(404).send(e.body());
  });

  app.get("/health", async (_req, reply) => {
    if (state.phase === "ready") return { status: "ok" };
    return reply.code(503).send({ status: state.phase === "loading" ? "loading" : "shutting_down" });
  });

  app.get("/metrics", async (_req, reply) => reply.type("text/plain; version=0.0.4; charset=utf-8").send(metrics.render()));

  app.get("/v1/models", async () => {
    const m = requireReady(state);
    return { object: "list", data: [modelObject(m.id, m.created)] };
  });

  app.get<{ Params: { id: string } }>("/v1/models/:id", async (req) => {
    const m = requireReady(state);
    checkModelName(req.params.id, m);
    return modelObject(m.id, m.created);
  });

  app.post("/v1/chat/completions", async (req, reply) => {
    const m = requireReady(state);
    const p = parseChatRequest(req.body, m.model.config.vocabSize);
    checkModelName(p.model, m);
    checkImages(p.messages, m, opts.allowRemoteImages ?? false);
    const offered = toolsOffered(p.tools, p.toolChoice);
    const { tokens: prompt, embeddings } = await encodeChat(p.messages, offered, m, opts.allowRemoteImages ?? false);
    const maxTokens = resolveMaxTokens(prompt.length, p.maxTokens, m.contextLength);
    let sampling = withSuppressed(p.sampling, m.suppress);
    let constraint: ReplyConstraint | undefined;
    if (toolCallRequired(p.toolChoice)) {
      // "required" or a named tool: the reply is forced to be a call of an offered tool.
      constraint = new ToolCallConstraint(state.tokenBytes(m), offered, { maxTokens });
    } else if (p.jsonMode) {
      // JSON mode steers through the bias map, so the request gets a (live) map of its own.
      const bias = new Map(sampling.logitBias instanceof Map ? sampling.logitBias : []);
      sampling = { ...sampling, logitBias: bias };
      constraint = new JsonObjectConstraint(state.tokenBytes(m), { maxTokens, steer: { bias, tokenForByte: (b) => state.tokenForByte(m, b) } });
    }
    const run = startRun(m, reply, { prompt, maxTokens, sampling, stop: p.stop, topLogprobs: p.topLogprobs, constraint, ...(embeddings && { embeddings }) });
    const meta = ResponseMeta.chat(m.id);
    const ctx: ChatContext = { m, run, meta, offered, constraint, includeUsage: p.includeUsage, wantLogprobs: p.topLogprobs !== undefined };
    if (p.stream) {
      const sse = openEventStream(reply);
      void streamChat(ctx, sse).catch((err: unknown) => sse.fail(err));
      return reply;
    }
    return await completeChat(ctx);
  });

  app.post("/v1/completions", async (req, reply) => {
    const m = requireReady(state);
    const p = parseCompletionRequest(req.body, m.model.config.vocabSize);
    checkModelName(p.model, m);
    const prompt = typeof p.prompt === "string" ? encodeRawPrompt(p.prompt, m.tokenizer) : [...p.prompt];
    if (prompt.length === 0) throw badRequest("the prompt is empty", "prompt");
    const maxTokens = p.maxTokens === undefined
      ? Math.min(COMPLETION_DEFAULT_MAX_TOKENS, Math.max(0, m.contextLength - prompt.length))
      : p.maxTokens;
    resolveMaxTokens(prompt.length, maxTokens, m.contextLength);
    const run = startRun(m, reply, { prompt, maxTokens, sampling: withSuppressed(p.sampling, m.suppress), stop: p.stop, topLogprobs: p.topLogprobs, constraint: undefined });
    const meta = ResponseMeta.completion(m.id);
    if (p.stream) {
      const sse = openEventStream(reply);
      void streamCompletion(m, run, meta, p.includeUsage, p.topLogprobs !== undefined, sse).catch((err: unknown) => sse.fail(err));
      return reply;
    }
    const r = await collect(run, m);
    const finish = finishReason(r.done, undefined);
    return textCompletion(meta, r.done.text, finish, p.topLogprobs !== undefined ? completionLogprobs(r.logprobs, tokenText(m.tokenizer)) : undefined, usage(prompt.length, r.done.tokens.length));
  });

  return app;
}

// ---------------------------------------------------------------------------------------------
// Checks

function bearerMatches(header: string | undefined, key: string): boolean {
  const m = /^Bearer\s+(.+)$/i.exec(header ?? "");
  if (!m) return false;
  // Compare digests so the comparison takes the same time whatever the lengths.
  const digest = (s: string) => createHash("sha256").update(s).digest();
  return timingSafeEqual(digest(m[1]!.trim()), digest(key));
}

function requireReady(state: ServerState): ServingModel {
  if (state.phase === "ready" && state.model) return state.model;
  if (state.phase === "loading") throw new ApiError(503, "the model is still loading; retry shortly", "server_error", "model_loading");
  throw new ApiError(503, "the server is shutting down", "server_error", "shutting_down");
}

function checkModelName(name: string | undefined, m: ServingModel): void {
  if (name !== undefined && name !== m.id) {
    throw new ApiError(404, `the model ${JSON.stringify(name)} does not exist; this server serves ${JSON.stringify(m.id)}`, "invalid_request_error", "model_not_found", "model");
  }
}

function toApiError(err: unknown, bodyLimit: number): ApiError {
  if (err instanceof ApiError) return err;
  const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
  const message = typeof e.message === "string" ? e.message : String(err);
  const status = typeof e.statusCode === "number" ? e.statusCode : 500;
  if (e.code === "FST_ERR_CTP_BODY_TOO_LARGE" || status === 413) {
    return new ApiError(413, `the request body is larger than the limit of ${bodyLimit} bytes`, "invalid_request_error", "request_too_large");
  }
  if (status === 415) return new ApiError(415, `${message} (send Content-Type: application/json)`, "invalid_request_error", "unsupported_media_type");
  if (status === 400) return badRequest(`invalid request body: ${message}`, null, "invalid_json");
  if (status >= 400 && status < 500) return new ApiError(status, message, "invalid_request_error");
  return new ApiError(500, `internal error: ${message}`, "server_error", "internal_error");
}

/** Images: only data: URLs (http(s) with --allow-remote-images), and only with vision weights. */
function checkImages(messages: readonly NormalizedMessage[], m: ServingModel, allowRemote: boolean): void {
  messages.forEach((msg, i) => {
    const check = (content: string | NormalizedContentPart[] | undefined, field: string) => {
      if (typeof content !== "object") return;
      content.forEach((part, j) => {
        if (part.type !== "image") return;
        const param = `messages[${i}].${field}[${j}]`;
        const url = part.url ?? "";
        if (/^https?:/i.test(url)) {
          if (!allowRemote) {
            throw badRequest("remote image URLs are refused; send the image inline as a data: URL (or start the server with --allow-remote-images)", param, "remote_images_disabled");
          }
        } else if (!/^data:image\/[a-z0-9.+-]+;base64,/i.test(url)) {
          throw badRequest("an image must be a data:image/...;base64 URL" + (allowRemote ? " or an http(s) URL" : ""), param, "invalid_image_url");
        }
        if (m.vision) return;
        throw badRequest(
          `the model ${JSON.stringify(m.id)} has no vision weights; it accepts text only`,
          param,
          "vision_not_supported",
        );
      });
    };
    check(msg.content, "content");
    check(msg.context, "context");
  });
}

/** Prompt tokens, plus merged input embeddings when the messages hold images. */
async function encodeChat(
  messages: NormalizedMessage[], offered: readonly FunctionTool[], m: ServingModel, allowRemote: boolean,
): Promise<{ tokens: number[]; embeddings: Float32Array | undefined }> {
  try {
    const dialog = withToolPrompt(messages, offered);
    if (!hasImages(dialog)) return { tokens: encodeDialog(dialog, { tokenizer: m.tokenizer }).tokens, embeddings: undefined };
    return await encodeMultimodalDialog(m.model, m.vision, dialog, { tokenizer: m.tokenizer, allowRemoteImages: allowRemote });
  } catch (err) {
    if (err instanceof ChatFormatError) throw badRequest(err.message, err.path);
    if (err instanceof ImageInputError || err instanceof ImageDecodeError) throw badRequest(err.message, "messages", "invalid_image");
    if (err instanceof Error && offered.length > 0 && /user message/.test(err.message)) throw badRequest(err.message, "messages");
    throw err;
  }
}

/** Raw completion text: special-token names are read as the tokens, and BOS comes first. */
function encodeRawPrompt(text: string, tokenizer: Tokenizer): number[] {
  const ids = tokenizer.encode(text, { allowSpecial: true });
  const bos = tokenizer.bosId;
  return bos !== undefined && ids[0] !== bos ? [bos, ...ids] : ids;
}

/** max_tokens against the context: the prompt plus the reply must fit. */
function resolveMaxTokens(promptTokens: number, requested: number | undefined, ctx: number): number {
  if (promptTokens >= ctx) {
    throw badRequest(`the prompt has ${promptTokens} tokens but the context is ${ctx} tokens`, "messages", "context_length_exceeded");
  }
  if (requested === undefined) return ctx - promptTokens;
  if (promptTokens + requested > ctx) {
    throw badRequest(`the prompt (${promptTokens} tokens) plus max_tokens (${requested}) is more than the context of ${ctx} tokens`, "max_tokens", "context_length_exceeded");
  }
  return requested;
}

// ---------------------------------------------------------------------------------------------
// Running a request

interface RunSpec {
  readonly prompt: readonly number[];
  readonly maxTokens: number;
  readonly sampling: SamplingParams;
  readonly stop: readonly string[];
  readonly topLogprobs: number | undefined;
  readonly constraint: TokenConstraint | undefined;
  readonly embeddings?: Float32Array;
}

interface Run {
  readonly events: AsyncIterable<GenerationEvent>;
  readonly promptTokens: number;
  /** Aborted when the client goes away; the scheduler then drops the sequence and its cache. */
  readonly clientGone: AbortSignal;
}

type DoneEvent = Extract<GenerationEvent, { type: "done" }>;

/** Submits to the scheduler; a full queue is 429, shutdown 503. */
function startRun(m: ServingModel, reply: FastifyReply, spec: RunSpec): Run {
  const ac = new AbortController();
  const events = submitOrThrow(m, {
    prompt: spec.prompt,
    ...(spec.embeddings && { promptEmbeddings: spec.embeddings }),
    maxTokens: spec.maxTokens,
    sampling: spec.sampling,
    stopTokens: m.stopTokens,
    stopStrings: spec.stop,
    tokenizer: m.tokenizer,
    ...(spec.topLogprobs !== undefined && { topLogprobs: spec.topLogprobs }),
    ...(spec.constraint && { constraint: spec.constraint }),
    signal: ac.signal,
  });
  // 'close' fires when the response is done or the connection drops; only the latter aborts.
  reply.raw.on("close", () => {
    if (!reply.raw.writableFinished) ac.abort();
  });
  return { events, promptTokens: spec.prompt.length, clientGone: ac.signal };
}

function submitOrThrow(m: ServingModel, request: SequenceRequest): AsyncIterable<GenerationEvent> {
  try {
    return m.scheduler.submit(request);
  } catch (err) {
    if (err instanceof QueueFullError) {
      throw new ApiError(429, `the server is busy (${err.queued} requests waiting); retry later`, "rate_limit_error", "queue_full");
    }
    if (err instanceof SchedulerClosedError) throw new ApiError(503, err.message, "server_error", "shutting_down");
    if (err instanceof RangeError) throw badRequest(err.message, null, "context_length_exceeded");
    throw err;
  }
}

/** The caller's bias plus the model's suppressed ids. */
function withSuppressed(s: SamplingParams, suppress: ReadonlyMap<number, number> | undefined): SamplingParams {
  if (!suppress) return s;
  const bias = new Map(suppress);
  const user = s.logitBias instanceof Map ? s.logitBias : undefined;
  for (const [id, b] of user ?? []) bias.set(id, (bias.get(id) ?? 0) + b);
  return { ...s, logitBias: bias };
}

interface Collected {
  readonly done: DoneEvent;
  /** Per generated token (stop tokens left out). */
  readonly logprobs: LogprobStep[];
}

/** Reads a run to its end (non-streaming). A request cancelled by shutdown is a 503. */
async function collect(run: Run, m: ServingModel): Promise<Collected> {
  const stops = new Set(m.stopTokens);
  const logprobs: LogprobStep[] = [];
  let done: DoneEvent | undefined;
  for await (const ev of run.events) {
    if (ev.type === "done") done = ev;
    else if (ev.logprobs && !stops.has(ev.token)) logprobs.push(ev.logprobs);
  }
  if (!done) throw new ApiError(500, "generation ended without a result", "server_error", "internal_error");
  if (done.finishReason === "abort") {
    throw new ApiError(503, run.clientGone.aborted ? "the client went away" : "the server is shutting down; the request was cancelled", "server_error", "cancelled");
  }
  return { done, logprobs };
}

function finishReason(done: DoneEvent, constraint: ReplyConstraint | undefined): "stop" | "length" {
  if (done.finishReason === "length") return "length";
  // JSON mode (or a forced tool call) closed the object because max_tokens ran out: the
  // content was cut.
  if (constraint?.budgetForcedClose) return "length";
  return "stop";
}

/** The reference's stop reason, for the tool-call parser. */
function stopReasonOf(done: DoneEvent, tokenizer: Tokenizer): StopReason {
  if (done.finishReason === "length") return "out_of_tokens";
  let eom: number | undefined;
  try {
    eom = tokenizer.tokenId("<|eom|>");
  } catch {
    eom = undefined;
  }
  return done.stoppedBy === eom ? "end_of_message" : "end_of_turn";
}

function tokenText(tokenizer: Tokenizer): TokenText {
  return { text: (id) => tokenizer.idToken(id), bytes: (id) => Array.from(tokenizer.tokenBytes(id)) };
}

// ---------------------------------------------------------------------------------------------
// Server-sent events

interface EventStream {
  send(data: unknown): void;
  /** `data: [DONE]` and the end of the response. */
  finish(): void;
  /** An error event (the stream already started, so the status cannot change), then the end. */
  fail(err: unknown): void;
}

function openEventStream(reply: FastifyReply): EventStream {
  const out = new PassThrough();
  void reply
    .header("content-type", "text/event-stream; charset=utf-8")
    .header("cache-control", "no-cache")
    .header("x-accel-buffering", "no")
    .send(out);
  const writable = () => !out.destroyed && !out.writableEnded;
  return {
    send(data) {
      if (writable()) out.write(`data: ${JSON.stringify(data)}\n\n`);
    },
    finish() {
      if (!writable()) return;
      out.write("data: [DONE]\n\n");
      out.end();
    },
    fail(err) {
      if (!writable()) return;
      const api = err instanceof ApiError ? err : new ApiError(500, `internal error: ${err instanceof Error ? err.message : String(err)}`, "server_error", "internal_error");
      out.write(`data: ${JSON.stringify(api.body())}\n\n`);
      out.end();
    },
  };
}

interface ChatContext {
  readonly m: ServingModel;
  readonly run: Run;
  readonly meta: ResponseMeta;
  readonly offered: readonly FunctionTool[];
  readonly constraint: ReplyConstraint | undefined;
  readonly includeUsage: boolean;
  readonly wantLogprobs: boolean;
}

/** A tool call is "tool_calls", unless max_tokens forced a constrained call closed early. */
function chatFinish(toolCall: boolean, done: DoneEvent, constraint: ReplyConstraint | undefined): OpenAIFinishReason {
  const cut = finishReason(done, constraint);
  return toolCall && cut !== "length" ? "tool_calls" : cut;
}

async function completeChat(c: ChatContext) {
  const r = await collect(c.run, c.m);
  const reply = replyToToolCalls(r.done.text, stopReasonOf(r.done, c.m.tokenizer), c.offered);
  const finish = chatFinish(reply.toolCalls.length > 0, r.done, c.constraint);
  return chatCompletion(
    c.meta,
    { role: "assistant", content: reply.content, refusal: null, ...(reply.toolCalls.length > 0 && { tool_calls: [...reply.toolCalls] }) },
    finish,
    c.wantLogprobs ? chatLogprobs(r.logprobs, tokenText(c.m.tokenizer)) : undefined,
    usage(c.run.promptTokens, r.done.tokens.length),
  );
}

async function streamChat(c: ChatContext, sse: EventStream): Promise<void> {
  const { m, meta } = c;
  const stops = new Set(m.stopTokens);
  const tt = tokenText(m.tokenizer);
  const wantLogprobs = c.wantLogprobs;
  sse.send(chatChunk(meta, { role: "assistant", content: "" }, null, undefined, c.includeUsage));
  // With tools offered, text that may still become a tool call is held back until it is not.
  let holding = c.offered.length > 0;
  let text = "";
  let sent = 0;
  let pending: LogprobStep[] = [];
  const flush = () => {
    const piece = text.slice(sent);
    if (piece === "" && pending.length === 0) return;
    sent = text.length;
    sse.send(chatChunk(meta, { content: piece }, null, wantLogprobs ? chatLogprobs(pending, tt) : undefined, c.includeUsage));
    pending = [];
  };
  let done: DoneEvent | undefined;
  for await (const ev of c.run.events) {
    if (ev.type === "done") {
      done = ev;
      break;
    }
    text += ev.text;
    if (ev.logprobs && !stops.has(ev.token)) pending.push(ev.logprobs);
    if (holding && mayBecomeToolCall(text)) continue;
    holding = false;
    flush();
  }
  if (!done || done.finishReason === "abort") {
    if (!c.run.clientGone.aborted) sse.fail(new ApiError(503, "the server is shutting down; the request was cancelled", "server_error", "cancelled"));
    return;
  }
  const parsed = replyToToolCalls(done.text, stopReasonOf(done, m.tokenizer), c.offered);
  let finish: OpenAIFinishReason;
  if (parsed.toolCalls.length > 0) {
    if (pending.length > 0 && wantLogprobs) sse.send(chatChunk(meta, {}, null, chatLogprobs(pending, tt), c.includeUsage));
    sse.send(chatChunk(meta, { tool_calls: parsed.toolCalls.map((call, index) => ({ index, ...call })) }, null, undefined, c.includeUsage));
    finish = chatFinish(true, done, c.constraint);
  } else {
    text = done.text;
    flush();
    finish = finishReason(done, c.constraint);
  }
  sse.send(chatChunk(meta, {}, finish, undefined, c.includeUsage));
  if (c.includeUsage) sse.send(chatUsageChunk(meta, usage(c.run.promptTokens, done.tokens.length)));
  sse.finish();
}

async function streamCompletion(m: ServingModel, run: Run, meta: ResponseMeta, includeUsage: boolean, wantLogprobs: boolean, sse: EventStream): Promise<void> {
  const stops = new Set(m.stopTokens);
  const tt = tokenText(m.tokenizer);
  let offset = 0;
  let done: DoneEvent | undefined;
  for await (const ev of run.events) {
    if (ev.type === "done") {
      done = ev;
      break;
    }
    const steps = ev.logprobs && !stops.has(ev.token) ? [ev.logprobs] : [];
    if (ev.text === "" && steps.length === 0) continue;
    sse.send(textCompletion(meta, ev.text, null, wantLogprobs ? completionLogprobs(steps, tt, offset) : undefined, undefined, includeUsage));
    offset += ev.text.length;
  }
  if (!done || done.finishReason === "abort") {
    if (!run.clientGone.aborted) sse.fail(new ApiError(503, "the server is shutting down; the request was cancelled", "server_error", "cancelled"));
    return;
  }
  sse.send(textCompletion(meta, "", finishReason(done, undefined), undefined, undefined, includeUsage));
  if (includeUsage) sse.send(textUsageChunk(meta, usage(run.promptTokens, done.tokens.length)));
  sse.finish();
}


function hasImages(messages: readonly NormalizedMessage[]): boolean {
  return messages.some((msg) => [msg.content, msg.context].some((c) => typeof c === "object" && c.some((part) => part.type === "image")));
}
