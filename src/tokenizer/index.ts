// Public API of the tokenizer.
export { Tokenizer, type EncodeOptions, type LoadOptions, type RanksOptions, type StreamDecoder } from "./tokenizer.js";
export {
  tokenizerJsonFromRanks,
  bytesToByteLevel,
  byteLevelToBytes,
  type HfTokenizerJson,
  type HfAddedToken,
  type HfLoadOptions,
  type TokenizerJsonOptions,
} from "./hf.js";
export {
  LLAMA4_SPECIAL_TOKENS,
  LLAMA4_NUM_BASE_TOKENS,
  LLAMA4_NUM_SPECIAL_TOKENS,
  LLAMA4_BOS,
  LLAMA4_EOS,
  LLAMA4_EOM,
  LLAMA4_EOT,
  LLAMA4_PAD,
  LLAMA4_STOP_TOKENS,
  llama4SpecialTokens,
  type SpecialToken,
} from "./special.js";
export { LLAMA4_SPLIT_PATTERN, translateSplitPattern, referenceChunks } from "./pretokenize.js";
export { formatTiktokenRanks } from "./tiktoken-file.js";
