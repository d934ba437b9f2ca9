// Quantized weight formats: block layouts, reference quantizers and dequantizers.
import { QUANT_FORMATS, quantRowBytes, type QuantDType } from "./formats.js";
import {
  dequantizeRowQ4_0, dequantizeRowQ5_0, dequantizeRowQ8_0, quantizeRowQ4_0, quantizeRowQ5_0, quantizeRowQ8_0,
} from "./block32.js";
import {
  dequantizeRowQ4_K, dequantizeRowQ5_K, dequantizeRowQ6_K, quantizeRowQ4_K, quantizeRowQ5_K, quantizeRowQ6_K,
} from "./kquants.js";

export { QK_K, QUANT_DTYPES, QUANT_FORMATS, isQuantDType, quantRowBytes, type QuantDType, type QuantFormat } from "./formats.js";

type RowQuantizer = (x: Float32Array, y: Uint8Array) => void;
type RowDequantizer = (src: Uint8Array, srcOffset: number, out: Float32Array, n: number) => void;

const QUANTIZERS: Readonly<Record<QuantDType, RowQuantizer>> = {
  q8_0: quantizeRowQ8_0, q4_0: quantizeRowQ4_0, q5_0: quantizeRowQ5_0,
  q4_k: quantizeRowQ4_K, q5_k: quantizeRowQ5_K, q6_k: quantizeRowQ6_K,
};

const DEQUANTIZERS: Readonly<Record<QuantDType, RowDequantizer>> = {
  q8_0: dequantizeRowQ8_0, q4_0: dequantizeRowQ4_0, q5_0: dequantizeRowQ5_0,
  q4_k: dequantizeRowQ4_K, q5_k: dequantizeRowQ5_K, q6_k: dequantizeRowQ6_K,
};

/**
 * Quantizes `rows` rows of `cols` f32 values (row-major) into ggml blocks. `out` must hold
 * rows · quantRowBytes(dtype, cols) bytes (a new array when omitted).
 */
export function quantizeRows(dtype: QuantDType, src: Float32Array, rows: number, cols: number, out?: Uint8Array): Uint8Array {
  const rowBytes = quantRowBytes(dtype, cols);
  if (src.length < rows * cols) throw new RangeError(`quantizeRows: [${rows}, ${cols}] needs ${rows * cols} values, got ${src.length}`);
  const dst = out ?? new Uint8Array(rows * rowBytes);
  if (dst.length < rows * rowBytes) throw new RangeError(`quantizeRows: output needs ${rows * rowBytes} bytes, got ${dst.length}`);
  const quantize = QUANTIZERS[dtype];
  for (let r = 0; r < rows; r++) {
    quantize(src.subarray(r * cols, (r + 1) * cols), dst.subarray(r * rowBytes, (r + 1) * rowBytes));
  }
  return dst;
}

/** Dequantizes `n` weights (whole blocks) starting at byte `srcOffset` into out[0..n). */
export function dequantizeRow(dtype: QuantDType, src: Uint8Array, srcOffset: number, out: Float32Array, n: number): void {
  if (n % QUANT_FORMATS[dtype].blockSize !== 0) throw new RangeError(`${dtype}: ${n} is not a whole number of blocks`);
  DEQUANTIZERS[dtype](src, srcOffset, out, n);
}

/** Dequantizes rows · cols weights into a new f32 array. */
export function dequantizeRows(dtype: QuantDType, src: Uint8Array, rows: number, cols: number): Float32Array {
  const rowBytes = quantRowBytes(dtype, cols);
  if (src.length < rows * rowBytes) throw new RangeError(`dequantizeRows: [${rows}, ${cols}] ${dtype} needs ${rows * rowBytes} bytes, got ${src.length}`);
  const out = new Float32Array(rows * cols);
  const dequantize = DEQUANTIZERS[dtype];
  for (let r = 0; r < rows; r++) dequantize(src, r * rowBytes, out.subarray(r * cols, (r + 1) * cols), cols);
  return out;
}
