// The few tokenizer operations the chat format needs. The project's `Tokenizer`
// (src/tokenizer) satisfies this structurally; tests may use a toy one.

export interface ChatEncodeOptions {
  /** Turn exact special-token strings such as `<|eot|>` into their ids (default false). */
  allowSpecial?: boolean;
}

export interface ChatTokenizer {
  /** Ids of `text`, without BOS/EOS. */
  encode(text: string, options?: ChatEncodeOptions): number[];
  /** Text of `ids`; special ids decode to their names. */
  decode(ids: number[]): string;
  /** Id of a special token given by name, e.g. `tokenId("<|eot|>")`. */
  tokenId(name: string): number;
}

/** Special tokens the chat format writes. */
export const CHAT_SPECIAL_TOKENS = {
  beginOfText: "<|begin_of_text|>",
  headerStart: "<|header_start|>",
  headerEnd: "<|header_end|>",
  endOfTurn: "<|eot|>",
  endOfMessage: "<|eom|>",
  pythonStart: "<|python_start|>",
  pythonEnd: "<|python_end|>",
} as const;
