// The 2,048 Llama 4 special tokens. They are not in tokenizer.model; the reference tokenizer
// defines them by name and numbers them 200000 + index in this order.

/** First special id of the Llama 4 vocabulary (= number of ordinary BPE tokens). */
export const LLAMA4_NUM_BASE_TOKENS = 200_000;
/** Number of Llama 4 special tokens (ids 200000..202047). */
export const LLAMA4_NUM_SPECIAL_TOKENS = 2_048;

export const LLAMA4_BOS = "<|begin_of_text|>";
export const LLAMA4_EOS = "<|end_of_text|>";
export const LLAMA4_EOM = "<|eom|>";
export const LLAMA4_EOT = "<|eot|>";
export const LLAMA4_PAD = "<|finetune_right_pad|>";
/** Tokens that end generation in the reference generator. */
export const LLAMA4_STOP_TOKENS: readonly string[] = [LLAMA4_EOS, LLAMA4_EOM, LLAMA4_EOT];

function numbered(prefix: string, from: number, toInclusive: number): string[] {
  const names: string[] = [];
  for (let i = from; i <= toInclusive; i++) names.push(`<|${prefix}${i}|>`);
  return names;
}

function buildLlama4SpecialTokens(): readonly string[] {
  const names = [
    LLAMA4_BOS,
    LLAMA4_EOS,
    "<|fim_prefix|>",
    "<|fim_middle|>",
    "<|fim_suffix|>",
    "<|header_start|>",
    "<|header_end|>",
    LLAMA4_EOM,
    LLAMA4_EOT,
    "<|step|>",
    ...numbered("text_post_train_reserved_special_token_", 0, 5),
    "<|python_start|>",
    "<|python_end|>",
    LLAMA4_PAD,
    // The reference numbering skips 6 and 7 here.
    ...numbered("text_post_train_reserved_special_token_", 8, 68),
    "<|image_start|>",
    "<|image_end|>",
    ...numbered("vision_reserved_special_token_", 0, 1),
    "<|tile_x_separator|>",
    "<|tile_y_separator|>",
    ...numbered("vision_reserved_special_token_", 2, 5),
    "<|image|>",
    "<|vision_reserved_special_token_6|>",
    "<|patch|>",
    ...numbered("vision_reserved_special_token_", 7, 1047),
    ...numbered("reasoning_reserved_special_token_", 0, 7),
    "<|reasoning_thinking_start|>",
    "<|reasoning_thinking_end|>",
  ];
  names.push(...numbered("reserved_special_token_", 0, LLAMA4_NUM_SPECIAL_TOKENS - names.length - 1));
  if (names.length !== LLAMA4_NUM_SPECIAL_TOKENS || new Set(names).size !== names.length) {
    throw new Error(`internal: Llama 4 special token table has ${names.length} entries`);
  }
  return Object.freeze(names);
}

/** Special token names in id order: index i has id 200000 + i. */
export const LLAMA4_SPECIAL_TOKENS: readonly string[] = buildLlama4SpecialTokens();

/** A special (added) token: its text and its id. */
export interface SpecialToken {
  readonly content: string;
  readonly id: number;
}

/** The Llama 4 special tokens with their ids (200000..202047). */
export function llama4SpecialTokens(): SpecialToken[] {
  return LLAMA4_SPECIAL_TOKENS.map((content, i) => ({ content, id: LLAMA4_NUM_BASE_TOKENS + i }));
}
