// A weight matrix in nn.Linear orientation: `rows` = output features, `cols` = input
// features, row-major. Values stay in their stored type; kernels widen rows to f32.
// Quantized matrices hold ggml blocks: each row is cols/blockSize consecutive blocks.
import type { FloatDType } from "./dtype.js";
import { widenRow } from "./dtype.js";
import { dequantizeRow, isQuantDType, quantRowBytes, quantizeRows, type QuantDType } from "./quant/index.js";

/** Every storage type a weight matrix may have. */
export type WeightDType = FloatDType | QuantDType;

export type FloatMatrix =
  | { readonly dtype: "f32"; readonly rows: number; readonly cols: number; readonly data: Float32Array }
  | { readonly dtype: "f16" | "bf16"; readonly rows: number; readonly cols: number; readonly data: Uint16Array };

export interface QuantMatrix {
  readonly dtype: QuantDType;
  readonly rows: number;
  readonly cols: number;
  /** rows · quantRowBytes(dtype, cols) bytes of blocks. */
  readonly data: Uint8Array;
}

export type Matrix = FloatMatrix | QuantMatrix;

export function matrix(dtype: FloatDType, rows: number, cols: number, data: Float32Array | Uint16Array): Matrix;
export function matrix(dtype: QuantDType, rows: number, cols: number, data: Uint8Array): Matrix;
export function matrix(dtype: WeightDType, rows: number, cols: number, data: Float32Array | Uint16Array | Uint8Array): Matrix;
export function matrix(dtype: WeightDType, rows: number, cols: number, data: Float32Array | Uint16Array | Uint8Array): Matrix {
  if (isQuantDType(dtype)) {
    let rowBytes: number;
    try {
      rowBytes = quantRowBytes(dtype, cols);
    } catch {
      throw new Error(`${dtype} matrix [${rows}, ${cols}]: cols must be a multiple of the ${dtype} block size`);
    }
    if (!(data instanceof Uint8Array)) throw new Error(`${dtype} matrix needs a Uint8Array of blocks`);
    if (data.length !== rows * rowBytes) {
      throw new Error(`${dtype} matrix [${rows}, ${cols}] needs ${rows * rowBytes} bytes, got ${data.length}`);
    }
    return { dtype, rows, cols, data };
  }
  if (data.length !== rows * cols) {
    throw new Error(`matrix [${rows}, ${cols}] needs ${rows * cols} values, got ${data.length}`);
  }
  if (dtype === "f32") {
    if (!(data instanceof Float32Array)) throw new Error("f32 matrix needs a Float32Array");
    return { dtype, rows, cols, data };
  }
  if (!(data instanceof Uint16Array)) throw new Error(`${dtype} matrix needs a Uint16Array`);
  return { dtype, rows, cols, data };
}

export function isQuantized(m: Matrix): m is QuantMatrix {
  return isQuantDType(m.dtype);
}

export function bytesPerElement(dtype: FloatDType): number {
  return dtype === "f32" ? 4 : 2;
}

export function matrixBytes(m: Matrix): number {
  return m.data.byteLength;
}

/** Row `r` widened (or dequantized) to f32 into `out` (length >= cols). */
export function readRow(m: Matrix, r: number, out: Float32Array): void {
  if (isQuantized(m)) dequantizeRow(m.dtype, m.data, r * quantRowBytes(m.dtype, m.cols), out, m.cols);
  else widenRow(m.dtype, m.data, r * m.cols, out, m.cols);
}

/** The matrix re-encoded as `dtype` blocks, one row at a time (the input is not modified). */
export function quantizeMatrix(m: Matrix, dtype: QuantDType): QuantMatrix {
  const rowBytes = quantRowBytes(dtype, m.cols);
  const out = new Uint8Array(m.rows * rowBytes);
  const row = new Float32Array(m.cols);
  for (let r = 0; r < m.rows; r++) {
    readRow(m, r, row);
    quantizeRows(dtype, row, 1, m.cols, out.subarray(r * rowBytes, (r + 1) * rowBytes));
  }
  return { dtype, rows: m.rows, cols: m.cols, data: out };
}
