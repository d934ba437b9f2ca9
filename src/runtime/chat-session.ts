// A conversation that keeps its KV cache between turns: each new prompt (the whole
// conversation so far, as tokens) is compared with what the cache holds, and only the part
// after the common prefix is fed. Edits and regenerations rewind the cache when they can.
import type { Llama4TextModel } from "../model/llama4.js";
import { SequenceKVCache } from "./kvcache.js";
import { DEFAULT_BLOCK_SIZE } from "./generate.js";
import { generate, type GenerateOptions, type GenerationEvent } from "./generator.js";

export class ChatSession {
  private cache: SequenceKVCache;
  /** The tokens whose keys and values the cache holds, in order. */
  private cached: number[] = [];

  constructor(readonly model: Llama4TextModel, private readonly blockSize = DEFAULT_BLOCK_SIZE) {
    this.cache = SequenceKVCache.forModel(model, { maxBlock: blockSize });
  }

  /** Tokens currently cached (for tests and statistics). */
  get cachedTokens(): readonly number[] {
    return this.cached;
  }

  reset(): void {
    this.cache.dispose();
    this.cache = SequenceKVCache.forModel(this.model, { maxBlock: this.blockSize });
    this.cached = [];
  }

  /**
   * Streams a reply to the full conversation `prompt`, reusing the cached prefix.
   * `opts.promptEmbeddings`, if given, covers the whole prompt [T, D] (images merged in).
   */
  async *reply(prompt: readonly number[], opts: Omit<GenerateOptions, "cache" | "history">): AsyncGenerator<GenerationEvent> {
    let common = 0;
    while (common < this.cached.length && common < prompt.length && this.cached[common] === prompt[common]) common++;
    // At least one token must be fed to get logits for the next one.
    if (common === prompt.length) common--;
    if (common < this.cached.length && !this.cache.truncate(common)) {
      this.reset();
      common = 0;
    }
    this.cached = prompt.slice(0, common);
    const fresh = prompt.slice(common);
    const generated: number[] = [];
    try {
      const D = this.model.config.hiddenSize;
      const embeddings = opts.promptEmbeddings?.subarray(common * D);
      for await (const ev of generate(this.model, fresh, {
        ...opts, cache: this.cache, history: this.cached, blockSize: this.blockSize, ...(embeddings && { promptEmbeddings: embeddings }),
      })) {
        if (ev.type === "token" && ev.token >= 0) generated.push(ev.token);
        yield ev;
      }
    } finally {
      // Whatever was fed is in the cache: the prompt, and generated tokens up to its position.
      this.cached = [...this.cached, ...fresh, ...generated].slice(0, this.cache.position);
    }
  }
}
