// What a vocabulary file loads into, whatever its format; the Tokenizer is built from this.
import type { PairTable } from "./bpe.js";
import type { SpecialToken } from "./special.js";
import type { TokenBytesTable } from "./vocab.js";

export interface TokenizerSpec {
  /** File (or description) it came from, for error messages. */
  readonly source: string;
  /** Ordinary (mergeable) tokens: id -> bytes. */
  readonly vocab: TokenBytesTable;
  /** Hugging Face merge list; absent for tiktoken rank vocabularies (rank = id). */
  readonly merges?: PairTable;
  /** Emit a piece's id directly when the whole piece is a token (tiktoken; HF ignore_merges). */
  readonly ignoreMerges: boolean;
  readonly specials: readonly SpecialToken[];
  /** Split regex in the reference (Rust/Python) syntax. */
  readonly splitPattern: string;
  /** Whether unmatched text between regex matches is kept as a piece (HF) or dropped (tiktoken). */
  readonly keepGaps: boolean;
  /** BOS / EOS token texts declared by the file's config, if any. */
  readonly bosToken?: string;
  readonly eosToken?: string;
  /** Things the loader noticed but did not treat as errors. */
  readonly warnings: readonly string[];
  /** Explanation per id that is deliberately left undefined (used in decode errors). */
  readonly missingIdNote?: (id: number) => string | undefined;
}
