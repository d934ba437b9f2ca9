// The generation loop: prefill the prompt, then sample one token per decode step until a
// stop token, a stop string, the token limit, or an abort. Exposed as an async iterator
// of events so callers (CLI, server) can stream; text is decoded UTF-8-safely and text
// that might be the start of a stop string is held back until it is known not to be.
import type { Llama4TextModel } from "../model/llama4.js";
import { SequenceKVCache } from "./kvcache.js";
import { DEFAULT_BLOCK_SIZE, prefill } from "./generate.js";
import { Sampler, type SamplingParams } from "./sampler.js";

/** What the loop needs from a tokenizer to produce text (the real Tokenizer satisfies it). */
export interface TextStreamSource {
  createStreamDecoder(): { push(id: number): string; flush(): string };
}

export interface GenerateOptions {
  readonly maxTokens: number;
  readonly sampling?: SamplingParams;
  /** Token ids that end generation (the stop token itself is reported but not decoded to text). */
  readonly stopTokens?: readonly number[];
  /** Strings that end generation; the text up to the stop string is returned, the stop string is not. */
  readonly stopStrings?: readonly string[];
  readonly tokenizer?: TextStreamSource;
  readonly blockSize?: number;
  readonly signal?: AbortSignal;
  /** Embeddings [T, D] for the prompt (image rows merged in), instead of token lookup. */
  readonly promptEmbeddings?: Float32Array;
  /**
   * Continue an existing sequence: `prompt` is fed after what `cache` already holds, and
   * `history` (the tokens in the cache) counts for the repetition penalties.
   */
  readonly cache?: SequenceKVCache;
  readonly history?: readonly number[];
}

export type FinishReason = "stop" | "length" | "abort";

export type GenerationEvent =
  | { readonly type: "token"; readonly token: number; readonly text: string }
  | {
      readonly type: "done";
      readonly finishReason: FinishReason;
      /** The stop token or stop string that ended generation, if any. */
      readonly stoppedBy?: number | string;
      readonly tokens: readonly number[];
      readonly text: string;
      readonly promptTokens: number;
      readonly promptSeconds: number;
      readonly decodeSeconds: number;
    };

/** Yields to the event loop so aborts and other requests get a turn between steps. */
const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

export async function* generate(model: Llama4TextModel, prompt: readonly number[], opts: GenerateOptions): AsyncGenerator<GenerationEvent> {
  if (prompt.length === 0) throw new Error("the prompt is empty");
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 0) throw new RangeError(`max tokens must be an integer >= 0, got ${opts.maxTokens}`);
  const block = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  const cache = opts.cache ?? new SequenceKVCache(model.config, { maxBlock: block });
  const used = cache.position + prompt.length;
  const room = model.config.maxPositionEmbeddings - used;
  if (room <= 0) throw new RangeError(`the prompt needs ${used} positions; the model's context is ${model.config.maxPositionEmbeddings}`);
  const maxTokens = Math.min(opts.maxTokens, room);
  const sampler = new Sampler(opts.sampling);
  if (opts.history) sampler.observe(opts.history);
  sampler.observe(prompt);
  const stopTokens = new Set(opts.stopTokens ?? []);
  const stopStrings = (opts.stopStrings ?? []).filter((s) => s.length > 0);
  const decoder = opts.tokenizer?.createStreamDecoder();

  const tokens: number[] = [];
  let text = ""; // all text decoded so far
  let emitted = 0; // how much of `text` has been streamed
  const done = (finishReason: FinishReason, stoppedBy: number | string | undefined, textEnd: number): GenerationEvent => ({
    type: "done", finishReason, ...(stoppedBy !== undefined && { stoppedBy }), tokens, text: text.slice(0, textEnd),
    promptTokens: prompt.length, promptSeconds, decodeSeconds: (performance.now() - decodeStart) / 1000,
  });

  const t0 = performance.now();
  let logits = opts.promptEmbeddings
    ? model.forward(prompt, cache, { logits: "last", embeddings: opts.promptEmbeddings })
    : prefill(model, cache, prompt, block);
  const promptSeconds = (performance.now() - t0) / 1000;
  const decodeStart = performance.now();

  if (maxTokens === 0) {
    yield done("length", undefined, 0);
    return;
  }
  for (;;) {
    if (opts.signal?.aborted) {
      yield done("abort", undefined, emitted);
      return;
    }
    const token = sampler.sample(logits);
    tokens.push(token);
    if (stopTokens.has(token)) {
      const rest = decoder ? decoder.flush() : "";
      text += rest;
      const tail = text.slice(emitted);
      if (tail) yield { type: "token", token, text: tail };
      yield done("stop", token, text.length);
      return;
    }
    const last = tokens.length >= maxTokens;
    text += decoder ? decoder.push(token) : "";
    if (last && decoder) text += decoder.flush();
    // A stop string ends the text right before it.
    const hit = findStopString(text, stopStrings, Math.max(0, emitted - longest(stopStrings)));
    if (hit) {
      yield { type: "token", token, text: text.slice(emitted, hit.index) };
      yield done("stop", hit.stop, hit.index);
      return;
    }
    // Hold back a suffix that could still grow into a stop string.
    const safeEnd = last ? text.length : text.length - heldBack(text, stopStrings);
    const piece = safeEnd > emitted ? text.slice(emitted, safeEnd) : "";
    emitted = Math.max(emitted, safeEnd);
    yield { type: "token", token, text: piece };
    if (last) {
      yield done("length", undefined, text.length);
      return;
    }
    await tick();
    logits = model.forward([token], cache, { logits: "last" });
  }
}

function longest(stops: readonly string[]): number {
  return stops.reduce((m, s) => Math.max(m, s.length), 0);
}

function findStopString(text: string, stops: readonly string[], from: number): { index: number; stop: string } | undefined {
  let best: { index: number; stop: string } | undefined;
  for (const s of stops) {
    const i = text.indexOf(s, from);
    if (i >= 0 && (!best || i < best.index)) best = { index: i, stop: s };
  }
  return best;
}

/** Length of the longest suffix of `text` that is a proper prefix of some stop string. */
function heldBack(text: string, stops: readonly string[]): number {
  let hold = 0;
  for (const s of stops) {
    for (let n = Math.min(s.length - 1, text.length); n > hold; n--) {
      if (text.endsWith(s.slice(0, n))) {
        hold = n;
        break;
      }
    }
  }
  return hold;
}

/** Runs `generate` to the end and returns its final event. */
export async function generateAll(model: Llama4TextModel, prompt: readonly number[], opts: GenerateOptions): Promise<Extract<GenerationEvent, { type: "done" }>> {
  for await (const ev of generate(model, prompt, opts)) if (ev.type === "done") return ev;
  throw new Error("generation ended without a result");
}
