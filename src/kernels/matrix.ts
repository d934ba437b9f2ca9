// A weight matrix in nn.Linear orientation: `rows` = output features, `cols` = input
// features, row-major. Values stay in their stored type; kernels widen rows to f32.
import type { FloatDType } from "./dtype.js";
import { widenRow } from "./dtype.js";

export type Matrix =
  | { readonly dtype: "f32"; readonly rows: number; readonly cols: number; readonly data: Float32Array }
  | { readonly dtype: "f16" | "bf16"; readonly rows: number; readonly cols: number; readonly data: Uint16Array };

export function matrix(dtype: FloatDType, rows: number, cols: number, data: Float32Array | Uint16Array): Matrix {
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

export function bytesPerElement(dtype: FloatDType): number {
  return dtype === "f32" ? 4 : 2;
}

export function matrixBytes(m: Matrix): number {
  return m.data.byteLength;
}

/** Row `r` widened to f32 into `out` (length >= cols). */
export function readRow(m: Matrix, r: number, out: Float32Array): void {
  widenRow(m.dtype, m.data, r * m.cols, out, m.cols);
}
