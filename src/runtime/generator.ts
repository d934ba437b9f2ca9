// The generation loop: prefill the prompt, then sample one token per decode step until a
// stop token, a stop string, the token limit, or an abort. Exposed as an async iterator
// of events so callers (CLI, server) can stream; text is decoded UTF-8-safely and text
// that might be the start of a stop string is held back until it is known not to be.
import type { Llama4TextModel } from "../model/llama4.js";
import { SequenceKVCache } from "./kvcache.js";
import { DEFAULT_BLOCK_SIZE, prefill } from "./generate.js";
import { maxLogit, Sampler, type SamplingParams } from "./sampler.js";

/** What the loop needs from a tokenizer to produce text (the real Tokenizer satisfies it). */
export interface TextStreamSource {
  createStreamDecoder(): { push(id: number): string; flush(): string };
}

/**
 * Stop tokens end generation (the stop token is reported but not decoded to text); a stop
 * string ends the text right before it and is never streamed.
 */
export interface GenerateOptions extends DecodeOptions {
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
  | {
      readonly type: "token";
      readonly token: number;
      readonly text: string;
      readonly logprobs?: { readonly chosen: TokenLogprob; readonly top: readonly TokenLogprob[] };
    }
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

/** Restricts which tokens may be sampled next (e.g. JSON mode); consulted after sampling. */
export interface TokenConstraint {
  /** Whether `token` may come next, given the tokens accepted so far. */
  allows(token: number): boolean;
  accept(token: number): void;
  /** True once the constrained output is complete (generation then stops). */
  readonly complete: boolean;
  /**
   * When only a few tokens can come next: those tokens (a superset is fine, each is still
   * checked with `allows`). The next token is then drawn from the logits masked to the
   * allowed ones, in one draw. Undefined (or no method): sample, and retry on refusal.
   */
  candidates?(): readonly number[] | undefined;
}

export interface DecodeOptions {
  readonly maxTokens: number;
  readonly sampling?: SamplingParams;
  readonly stopTokens?: readonly number[];
  readonly stopStrings?: readonly string[];
  readonly tokenizer?: TextStreamSource;
  /** Report the chosen token's log-probability and this many alternatives (OpenAI logprobs). */
  readonly topLogprobs?: number;
  readonly constraint?: TokenConstraint;
}

export interface TokenLogprob {
  readonly token: number;
  readonly logprob: number;
}

/**
 * One sequence's decoding state, independent of how its logits are computed (alone or in a
 * batch): sampling, stop tokens and strings, UTF-8-safe streaming text, limits.
 */
export class DecodeState {
  readonly tokens: number[] = [];
  finished: Extract<GenerationEvent, { type: "done" }> | undefined;
  private readonly sampler: Sampler;
  private readonly stopTokens: Set<number>;
  private readonly stopStrings: string[];
  private readonly decoder: { push(id: number): string; flush(): string } | undefined;
  private text = ""; // all text decoded so far
  private emitted = 0; // how much of `text` has been streamed
  private promptSeconds = 0;
  private decodeStart = performance.now();
  /** Logits masked to a constraint's candidates, reused between steps. */
  private masked: Float32Array | undefined;

  constructor(readonly prompt: readonly number[], private readonly maxTokens: number, private readonly opts: DecodeOptions, history: readonly number[] = []) {
    this.sampler = new Sampler(opts.sampling);
    this.sampler.observe(history);
    this.sampler.observe(prompt);
    this.stopTokens = new Set(opts.stopTokens ?? []);
    this.stopStrings = (opts.stopStrings ?? []).filter((x) => x.length > 0);
    this.decoder = opts.tokenizer?.createStreamDecoder();
  }

  /** Called when the prompt has been processed; starts the decode clock. */
  prefillDone(seconds: number): GenerationEvent[] {
    this.promptSeconds = seconds;
    this.decodeStart = performance.now();
    return this.maxTokens === 0 ? [this.finish("length", undefined, 0)] : [];
  }

  /** Samples from `logits`, returning the events it causes; `finished` is set at the end. */
  step(logits: Float32Array): GenerationEvent[] {
    if (this.finished) return [];
    const token = this.sampleAllowed(logits);
    const logprobs = this.opts.topLogprobs !== undefined ? logprobsOf(logits, token, this.opts.topLogprobs) : undefined;
    this.tokens.push(token);
    this.opts.constraint?.accept(token);
    const ev = (piece: string): GenerationEvent => ({ type: "token", token, text: piece, ...(logprobs && { logprobs }) });
    if (this.stopTokens.has(token)) {
      this.text += this.decoder ? this.decoder.flush() : "";
      const tail = this.text.slice(this.emitted);
      return [ev(tail), this.finish("stop", token, this.text.length)];
    }
    const last = this.tokens.length >= this.maxTokens || this.opts.constraint?.complete === true;
    this.text += this.decoder ? this.decoder.push(token) : "";
    if (last && this.decoder) this.text += this.decoder.flush();
    // A stop string ends the text right before it.
    const hit = findStopString(this.text, this.stopStrings, Math.max(0, this.emitted - longest(this.stopStrings)));
    if (hit) return [ev(this.text.slice(this.emitted, hit.index)), this.finish("stop", hit.stop, hit.index)];
    // Hold back a suffix that could still grow into a stop string.
    const safeEnd = last ? this.text.length : this.text.length - heldBack(this.text, this.stopStrings);
    const piece = safeEnd > this.emitted ? this.text.slice(this.emitted, safeEnd) : "";
    this.emitted = Math.max(this.emitted, safeEnd);
    if (!last) return [ev(piece)];
    const reason = this.opts.constraint?.complete ? "stop" : "length";
    return [ev(piece), this.finish(reason, undefined, this.text.length)];
  }

  /** Ends the sequence early (client gone, shutdown): only already-streamed text counts. */
  abort(): GenerationEvent {
    return this.finished ?? this.finish("abort", undefined, this.emitted);
  }

  private sampleAllowed(logits: Float32Array): number {
    const c = this.opts.constraint;
    if (!c) return this.sampler.sample(logits);
    const candidates = c.candidates?.();
    if (candidates) {
      // Mask everything but the allowed tokens, then one ordinary draw.
      if (this.masked?.length !== logits.length) this.masked = new Float32Array(logits.length);
      const m = this.masked.fill(-Infinity);
      let any = false;
      for (const t of candidates) {
        if (t >= 0 && t < logits.length && c.allows(t)) {
          m[t] = logits[t]!;
          any = true;
        }
      }
      if (!any) throw new Error("no token satisfies the output constraint");
      const token = this.sampler.peek(m);
      if (!c.allows(token)) throw new Error("no token satisfies the output constraint");
      this.sampler.observe([token]);
      return token;
    }
    // Sample, and ban whatever the constraint refuses until an allowed token comes up.
    let masked: Float32Array | undefined;
    for (let tries = 0; ; tries++) {
      const token = this.sampler.peek(masked ?? logits);
      if (c.allows(token)) {
        this.sampler.observe([token]);
        return token;
      }
      masked ??= Float32Array.from(logits);
      masked[token] = -Infinity;
      if (tries > 4096) {
        // Fall back to scanning by likelihood so a narrow constraint still terminates.
        const order = [...masked.keys()].sort((a, b) => masked![b]! - masked![a]!);
        const ok = order.find((t) => Number.isFinite(masked![t]!) && c.allows(t));
        if (ok === undefined) throw new Error("no token satisfies the output constraint");
        this.sampler.observe([ok]);
        return ok;
      }
    }
  }

  private finish(finishReason: FinishReason, stoppedBy: number | string | undefined, textEnd: number): Extract<GenerationEvent, { type: "done" }> {
    this.finished = {
      type: "done", finishReason, ...(stoppedBy !== undefined && { stoppedBy }), tokens: this.tokens, text: this.text.slice(0, textEnd),
      promptTokens: this.prompt.length, promptSeconds: this.promptSeconds, decodeSeconds: (performance.now() - this.decodeStart) / 1000,
    };
    return this.finished;
  }
}

/** log-softmax of the chosen token and the `top` most likely alternatives. */
export function logprobsOf(logits: Float32Array, token: number, top: number): { chosen: TokenLogprob; top: TokenLogprob[] } {
  const max = maxLogit(logits);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const best: number[] = [];
  if (top > 0) {
    // The worst logit kept so far, once `top` are kept: only a larger one gets in.
    let worst = -Infinity;
    for (let i = 0; i < logits.length; i++) {
      if (best.length === top && !(logits[i]! > worst)) continue;
      best.push(i);
      best.sort((a, b) => logits[b]! - logits[a]! || a - b);
      if (best.length > top) best.pop();
      if (best.length === top) worst = logits[best[top - 1]!]!;
    }
  }
  return { chosen: { token, logprob: logits[token]! - lse }, top: best.map((t) => ({ token: t, logprob: logits[t]! - lse })) };
}

export async function* generate(model: Llama4TextModel, prompt: readonly number[], opts: GenerateOptions): AsyncGenerator<GenerationEvent> {
  if (prompt.length === 0) throw new Error("the prompt is empty");
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 0) throw new RangeError(`max tokens must be an integer >= 0, got ${opts.maxTokens}`);
  const block = opts.blockSize ?? DEFAULT_BLOCK_SIZE;
  const used = (opts.cache?.position ?? 0) + prompt.length;
  const room = model.config.maxPositionEmbeddings - used;
  if (room <= 0) throw new RangeError(`the prompt needs ${used} positions; the model's context is ${model.config.maxPositionEmbeddings}`);
  // A cache made here is ours: its (kernel) memory goes back to the pool when generation ends.
  const cache = opts.cache ?? SequenceKVCache.forModel(model, { maxBlock: block });
  try {
    yield* decodeLoop(model, cache, prompt, block, opts, room);
  } finally {
    if (!opts.cache) cache.dispose();
  }
}

async function* decodeLoop(
  model: Llama4TextModel, cache: SequenceKVCache, prompt: readonly number[], block: number, opts: GenerateOptions, room: number,
): AsyncGenerator<GenerationEvent> {
  const state = new DecodeState(prompt, Math.min(opts.maxTokens, room), opts, opts.history);

  const t0 = performance.now();
  let logits = prefill(model, cache, prompt, block, opts.promptEmbeddings);
  yield* state.prefillDone((performance.now() - t0) / 1000);
  while (!state.finished) {
    if (opts.signal?.aborted) {
      yield state.abort();
      return;
    }
    yield* state.step(logits);
    if (state.finished) return;
    await tick();
    logits = model.forward([state.tokens[state.tokens.length - 1]!], cache, { logits: "last" });
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
