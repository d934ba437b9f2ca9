// Entry point of kernels.wasm: every exported kernel. Built by `npm run build:wasm`.
export { matmul_f32, matmul_f16, matmul_bf16, pair_split } from "./float";
export { matmul_q8_0, matmul_q4_0, matmul_q5_0 } from "./block32";
export { matmul_q4_k, matmul_q5_k, matmul_q6_k } from "./kquants";
export { quantize_q8_32, quantize_q8_k, quantize_rows_q8_32, quantize_rows_q8_k, encode_kv_f16, encode_kv_q8_0 } from "./quantize";
export { dot, axpy, rmsnorm, softmax, swiglu, rope, attn_scores, attn_accumulate, add_in_place, gather_rows, scatter_add_rows } from "./ops";
export { attn_rows_f32, attn_rows_f16, attn_rows_q8_0, attn_decode_f32, attn_decode_f16, attn_decode_q8_0, attn_merge, widen_rows_f16, widen_rows_q8_0 } from "./attention";
export { init_f16_table, relaxed_simd, reserved_bytes } from "./common";
