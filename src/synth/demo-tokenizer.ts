// The demo model's tokenizer, of our own making: byte-level BPE trained on a short built-in
// text with the Llama 4 split pattern, plus the 2,048 Llama 4 special tokens after the
// ranks, written as a Hugging Face tokenizer.json. Small (a few thousand ids) so the demo
// model's embedding stays small, but it goes through exactly the same code as the real one.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { LLAMA4_SPECIAL_TOKENS, LLAMA4_SPLIT_PATTERN, Tokenizer, tokenizerJsonFromRanks, translateSplitPattern } from "../tokenizer/index.js";

const CORPUS = `
llama4.ts runs Meta's Llama 4 models in TypeScript. The models are mixtures of experts: every
token passes through a shared expert and one routed expert chosen by a small router, and the
router's sigmoid gate scales the expert's input. Three of every four layers attend within a
local chunk of eight thousand one hundred and ninety-two tokens and rotate queries and keys by
their position; the fourth layer attends to the whole context without positions, with a
temperature that grows slowly with the distance. Images are cut into tiles, encoded by a vision
tower, shuffled, projected and placed among the text tokens.
Hello! How are you today? I am fine, thank you. What would you like to talk about? Tell me a
story about a llama who lived in the mountains and learned to count the stars. Once upon a time,
there was a small llama named Scout. She walked every morning to the river, where the water was
cold and clear, and every evening she climbed the hill to watch the sun go down. One night she
asked the old owl: how many stars are there? The owl said: more than you can count, but you may
try. So Scout began: one, two, three, four, five, six, seven, eight, nine, ten...
The quick brown fox jumps over the lazy dog. 0123456789 + - * / = < > ( ) [ ] { } " ' , . ; : ! ?
function add(a, b) { return a + b; } const x = add(1, 2); console.log(x);
User: What is the capital of France? Assistant: The capital of France is Paris.
`;

/** Ranks for byte-level BPE: the 256 single bytes, then up to `maxMerges` learned merges. */
export function trainByteLevelBpe(corpus: string, maxMerges: number): Uint8Array[] {
  const split = new RegExp(translateSplitPattern(LLAMA4_SPLIT_PATTERN), "gu");
  const words = new Map<string, number>();
  for (const m of corpus.matchAll(split)) words.set(m[0], (words.get(m[0]) ?? 0) + 1);

  const ranks: Uint8Array[] = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
  const idOf = new Map<string, number>(ranks.map((r, i) => [key(r), i]));
  // Each distinct word as a sequence of token ids, with its count.
  const seqs = [...words].map(([w, count]) => ({ ids: [...new TextEncoder().encode(w)], count }));
  for (let m = 0; m < maxMerges; m++) {
    const pairs = new Map<string, number>();
    for (const { ids, count } of seqs) {
      for (let i = 0; i + 1 < ids.length; i++) {
        const k = `${ids[i]},${ids[i + 1]}`;
        pairs.set(k, (pairs.get(k) ?? 0) + count);
      }
    }
    let best: string | undefined;
    let bestCount = 1;
    for (const [k, c] of pairs) if (c > bestCount || (c === bestCount && best !== undefined && k < best)) [best, bestCount] = [k, c];
    if (best === undefined) break; // nothing occurs twice any more
    const [a, b] = best.split(",").map(Number) as [number, number];
    const bytes = new Uint8Array([...ranks[a]!, ...ranks[b]!]);
    if (idOf.has(key(bytes))) continue;
    const id = ranks.length;
    ranks.push(bytes);
    idOf.set(key(bytes), id);
    for (const s of seqs) {
      const out: number[] = [];
      for (let i = 0; i < s.ids.length; i++) {
        if (i + 1 < s.ids.length && s.ids[i] === a && s.ids[i + 1] === b) {
          out.push(id);
          i++;
        } else {
          out.push(s.ids[i]!);
        }
      }
      s.ids = out;
    }
  }
  return ranks;
}

function key(bytes: Uint8Array): string {
  return Array.from(bytes).join(",");
}

/** Writes tokenizer.json + tokenizer_config.json; returns the vocabulary size (ranks + specials). */
export function writeDemoTokenizer(dir: string, maxMerges = 768): { vocabSize: number; tokenizer: Tokenizer } {
  const ranks = trainByteLevelBpe(CORPUS, maxMerges);
  const specials = LLAMA4_SPECIAL_TOKENS.map((content, i) => ({ content, id: ranks.length + i }));
  const json = tokenizerJsonFromRanks(ranks, specials);
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(json));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({
    bos_token: "<|begin_of_text|>",
    eos_token: "<|eot|>",
    pad_token: "<|finetune_right_pad|>",
    add_bos_token: false,
    model_max_length: 1048576,
    tokenizer_class: "PreTrainedTokenizerFast",
  }, null, 2));
  return { vocabSize: ranks.length + specials.length, tokenizer: Tokenizer.load(dir) };
}
