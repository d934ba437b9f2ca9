// The ggml quantized block formats this project reads and writes: how many weights a block
// holds and how many bytes it takes. A quantized row of `cols` weights is cols/blockSize
// consecutive blocks; nothing crosses a row boundary.

/** Quantized storage types (ggml names in lower case). */
export type QuantDType = "q8_0" | "q4_0" | "q5_0" | "q4_k" | "q5_k" | "q6_k";

export interface QuantFormat {
  /** Weights per block. */
  readonly blockSize: number;
  /** Bytes per block. */
  readonly blockBytes: number;
}

/** Weights per K-quant super-block. */
export const QK_K = 256;

export const QUANT_FORMATS: Readonly<Record<QuantDType, QuantFormat>> = {
  q8_0: { blockSize: 32, blockBytes: 34 }, // f16 d, 32 × int8
  q4_0: { blockSize: 32, blockBytes: 18 }, // f16 d, 16 bytes of nibbles
  q5_0: { blockSize: 32, blockBytes: 22 }, // f16 d, u32 high bits, 16 bytes of nibbles
  q4_k: { blockSize: QK_K, blockBytes: 144 }, // f16 d, f16 dmin, 12 scale bytes, 128 nibble bytes
  q5_k: { blockSize: QK_K, blockBytes: 176 }, // f16 d, f16 dmin, 12 scale bytes, 32 high-bit bytes, 128 nibble bytes
  q6_k: { blockSize: QK_K, blockBytes: 210 }, // 128 low-nibble bytes, 64 high-bit bytes, 16 int8 scales, f16 d
};

export const QUANT_DTYPES: readonly QuantDType[] = Object.keys(QUANT_FORMATS) as QuantDType[];

export function isQuantDType(s: string): s is QuantDType {
  return Object.prototype.hasOwnProperty.call(QUANT_FORMATS, s);
}

/** Bytes of one quantized row of `cols` weights; throws when cols is not a whole number of blocks. */
export function quantRowBytes(dtype: QuantDType, cols: number): number {
  const { blockSize, blockBytes } = QUANT_FORMATS[dtype];
  if (!Number.isSafeInteger(cols) || cols < 0 || cols % blockSize !== 0) {
    throw new RangeError(`${dtype} needs a row length that is a multiple of ${blockSize}, got ${cols}`);
  }
  return (cols / blockSize) * blockBytes;
}
