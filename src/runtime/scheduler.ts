// Continuous batching for serving: up to `parallel` sequences decode together, each with
// its own KV cache; every step runs ONE batched forward pass over all of them (each weight
// is read once per step), new requests join between steps, finished or cancelled ones leave
// at once and free their cache. Prompts are fed in bounded chunks alongside decode steps, so
// a long prompt does not stall everyone else. Beyond `parallel`, requests wait in a bounded
// queue.
import type { Llama4TextModel } from "../model/llama4.js";
import { SequenceKVCache } from "./kvcache.js";
import { DecodeState, type DecodeOptions, type GenerationEvent } from "./generator.js";

export interface SchedulerOptions {
  /** Sequences decoded together. */
  readonly parallel: number;
  /** Requests allowed to wait beyond those; more are refused with QueueFullError. */
  readonly maxQueue: number;
  /** Most tokens in one forward pass (decode tokens first, then prompt chunks). */
  readonly maxBatchTokens?: number;
}

export interface SequenceRequest extends DecodeOptions {
  readonly prompt: readonly number[];
  /** Input embeddings [T, D] for the prompt (image rows merged in), instead of token lookup. */
  readonly promptEmbeddings?: Float32Array;
  readonly signal?: AbortSignal;
}

export class QueueFullError extends Error {
  constructor(readonly queued: number) {
    super(`server busy: ${queued} requests already waiting`);
    this.name = "QueueFullError";
  }
}

export class SchedulerClosedError extends Error {
  constructor() {
    super("server is shutting down");
    this.name = "SchedulerClosedError";
  }
}

/** A push queue read as an async iterator (one consumer). */
class EventChannel implements AsyncIterable<GenerationEvent> {
  private readonly items: GenerationEvent[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  private error: unknown;

  push(ev: GenerationEvent): void {
    this.items.push(ev);
    this.wake?.();
  }

  end(error?: unknown): void {
    this.ended = true;
    this.error = error;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<GenerationEvent> {
    for (;;) {
      if (this.items.length > 0) {
        yield this.items.shift()!;
        continue;
      }
      if (this.ended) {
        if (this.error) throw this.error;
        return;
      }
      await new Promise<void>((resolve) => { this.wake = resolve; });
      this.wake = undefined;
    }
  }
}

interface Sequence {
  readonly id: number;
  readonly request: SequenceRequest;
  readonly channel: EventChannel;
  readonly state: DecodeState;
  cache: SequenceKVCache | undefined;
  /** Prompt tokens already fed. */
  fed: number;
  started: number;
}

export interface SchedulerStats {
  active: number;
  queued: number;
  promptTokens: number;
  generatedTokens: number;
  steps: number;
  requestsCompleted: number;
  requestsCancelled: number;
}

export class BatchScheduler {
  private readonly queue: Sequence[] = [];
  private readonly active: Sequence[] = [];
  private running = false;
  private closed = false;
  private nextId = 0;
  private idleWaiters: (() => void)[] = [];
  readonly stats: SchedulerStats = { active: 0, queued: 0, promptTokens: 0, generatedTokens: 0, steps: 0, requestsCompleted: 0, requestsCancelled: 0 };

  constructor(readonly model: Llama4TextModel, readonly opts: SchedulerOptions) {
    if (!Number.isInteger(opts.parallel) || opts.parallel < 1) throw new RangeError(`parallel must be >= 1, got ${opts.parallel}`);
    if (!Number.isInteger(opts.maxQueue) || opts.maxQueue < 0) throw new RangeError(`max queue must be >= 0, got ${opts.maxQueue}`);
  }

  /** Bytes held by the KV caches of running sequences. */
  get kvBytes(): number {
    return this.active.reduce((s, q) => s + (q.cache?.allocatedBytes ?? 0), 0);
  }

  /** Starts a request; its events arrive through the returned iterable. */
  submit(request: SequenceRequest): AsyncIterable<GenerationEvent> {
    if (this.closed) throw new SchedulerClosedError();
    if (request.prompt.length === 0) throw new Error("the prompt is empty");
    const ctx = this.model.config.maxPositionEmbeddings;
    if (request.prompt.length >= ctx) throw new RangeError(`the prompt has ${request.prompt.length} tokens; the model's context is ${ctx}`);
    const D = this.model.config.hiddenSize;
    if (request.promptEmbeddings && request.promptEmbeddings.length !== request.prompt.length * D) {
      throw new RangeError(`prompt embeddings must be [${request.prompt.length}, ${D}], got ${request.promptEmbeddings.length} values`);
    }
    if (this.active.length + this.queue.length >= this.opts.parallel + this.opts.maxQueue) throw new QueueFullError(this.queue.length);
    const maxTokens = Math.min(request.maxTokens, ctx - request.prompt.length);
    const seq: Sequence = {
      id: this.nextId++, request, channel: new EventChannel(), state: new DecodeState(request.prompt, maxTokens, request),
      cache: undefined, fed: 0, started: performance.now(),
    };
    this.queue.push(seq);
    this.updateCounts();
    this.kick();
    return seq.channel;
  }

  /** Stops accepting; running and queued requests are cancelled after `graceMs`. */
  async close(graceMs: number): Promise<void> {
    this.closed = true;
    const idle = this.whenIdle();
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), graceMs).unref());
    if ((await Promise.race([idle, timer])) === "timeout") {
      for (const s of [...this.queue, ...this.active]) this.finish(s, s.state.abort());
      this.queue.length = 0;
      this.active.length = 0;
      this.updateCounts();
    }
  }

  whenIdle(): Promise<void> {
    if (this.active.length === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private kick(): void {
    if (this.running) return;
    this.running = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      while (this.admit(), this.active.length > 0) {
        try {
          this.step();
        } catch (err) {
          // A failed batched pass leaves every cache in it unknown: fail those requests only.
          for (const s of [...this.active]) this.fail(s, err);
        }
        // Let the event loop deliver events, accept requests and notice disconnects.
        await new Promise<void>((r) => setImmediate(r));
      }
    } finally {
      this.running = false;
      if (this.queue.length > 0) this.kick();
      else for (const w of this.idleWaiters.splice(0)) w();
    }
  }

  private admit(): void {
    for (const s of [...this.active, ...this.queue]) {
      if (s.request.signal?.aborted) this.finish(s, s.state.abort());
    }
    while (this.active.length < this.opts.parallel && this.queue.length > 0) {
      const s = this.queue.shift()!;
      s.cache = SequenceKVCache.forModel(this.model, { maxBlock: this.opts.maxBatchTokens ?? 512 });
      this.active.push(s);
    }
    this.updateCounts();
  }

  /** One batched forward pass: every decoding sequence's last token, then prompt chunks. */
  private step(): void {
    const budget = Math.max(this.opts.maxBatchTokens ?? 512, this.active.length);
    const inputs: { seq: Sequence; tokens: readonly number[]; completesPrompt: boolean }[] = [];
    let used = 0;
    for (const s of this.active) {
      if (s.fed < s.request.prompt.length) continue;
      inputs.push({ seq: s, tokens: [s.state.tokens[s.state.tokens.length - 1]!], completesPrompt: false });
      used++;
    }
    for (const s of this.active) {
      if (s.fed >= s.request.prompt.length || used >= budget) continue;
      const n = Math.min(budget - used, s.request.prompt.length - s.fed);
      inputs.push({ seq: s, tokens: s.request.prompt.slice(s.fed, s.fed + n), completesPrompt: s.fed + n === s.request.prompt.length });
      used += n;
    }
    const D = this.model.config.hiddenSize;
    const logits = this.model.forwardBatch(inputs.map((i) => {
      const e = i.seq.request.promptEmbeddings;
      const prefilling = i.seq.fed < i.seq.request.prompt.length;
      return {
        tokens: i.tokens,
        cache: i.seq.cache!,
        logits: !prefilling || i.completesPrompt ? ("last" as const) : ("none" as const),
        ...(e && prefilling && { embeddings: e.subarray(i.seq.fed * D, (i.seq.fed + i.tokens.length) * D) }),
      };
    }));
    this.stats.steps++;
    inputs.forEach((input, k) => {
      const s = input.seq;
      try {
        if (s.fed < s.request.prompt.length) {
          s.fed += input.tokens.length;
          this.stats.promptTokens += input.tokens.length;
          if (!input.completesPrompt) return;
          for (const ev of s.state.prefillDone((performance.now() - s.started) / 1000)) s.channel.push(ev);
          if (s.state.finished) return this.finish(s, undefined);
        }
        for (const ev of s.state.step(logits[k]!)) s.channel.push(ev);
        this.stats.generatedTokens++;
        if (s.state.finished) this.finish(s, undefined);
      } catch (err) {
        // Sampling failed for this sequence alone (e.g. a constraint no token satisfies).
        this.fail(s, err);
      }
    });
  }

  /** Ends a request with an error: its stream throws `err`, its cache is freed. */
  private fail(s: Sequence, err: unknown): void {
    s.channel.end(err instanceof Error ? err : new Error(String(err)));
    s.cache?.dispose();
    s.cache = undefined;
    for (const list of [this.active, this.queue]) {
      const i = list.indexOf(s);
      if (i >= 0) list.splice(i, 1);
    }
    this.stats.requestsCancelled++;
    this.updateCounts();
  }

  private finish(s: Sequence, final: GenerationEvent | undefined): void {
    if (final) s.channel.push(final);
    s.channel.end();
    s.cache?.dispose(); // its KV memory goes back to the pool for the next sequence
    s.cache = undefined;
    const ai = this.active.indexOf(s);
    if (ai >= 0) this.active.splice(ai, 1);
    const qi = this.queue.indexOf(s);
    if (qi >= 0) this.queue.splice(qi, 1);
    if (s.state.finished?.finishReason === "abort") this.stats.requestsCancelled++;
    else this.stats.requestsCompleted++;
    this.updateCounts();
  }

  private updateCounts(): void {
    this.stats.active = this.active.length;
    this.stats.queued = this.queue.length;
  }
}
