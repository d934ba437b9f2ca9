// f32 helpers for attention and the FFN, all in place or into a given output:
// rmsnorm, softmax, silu(gate)·up, RoPE on adjacent pairs, and the two halves of attention
// over a range of KV-cache rows (scores = q·Kᵀ·scale, out += Σ p·V).
import { hsum } from "./common";

/** Σ a[i]·b[i] over n f32 values (two f32x4 accumulators, scalar tail). */
@inline export function dotF32(a: usize, b: usize, n: i32): f32 {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const o = <usize>i << 2;
    s0 = f32x4.add(s0, f32x4.mul(v128.load(a + o), v128.load(b + o)));
    s1 = f32x4.add(s1, f32x4.mul(v128.load(a + o, 16), v128.load(b + o, 16)));
  }
  let s: f32 = 0;
  for (; i < n; i++) s += load<f32>(a + (<usize>i << 2)) * load<f32>(b + (<usize>i << 2));
  return hsum(f32x4.add(s0, s1)) + s;
}

export function dot(a: usize, b: usize, n: i32): f32 {
  return dotF32(a, b, n);
}

/** y[0..n) += alpha · x[0..n). */
export function axpy(y: usize, alpha: f32, x: usize, n: i32): void {
  axpyF32(y, alpha, x, n);
}

@inline export function axpyF32(y: usize, alpha: f32, x: usize, n: i32): void {
  const a = f32x4.splat(alpha);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(v128.load(y + o), f32x4.mul(a, v128.load(x + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, load<f32>(y + o) + alpha * load<f32>(x + o));
  }
}

/** out[T, D] = x / rms(x) · w per row; w = 0 means no weight. Statistics in f64 like the reference. */
export function rmsnorm(out: usize, x: usize, w: usize, eps: f64, T: i32, D: i32): void {
  for (let t = 0; t < T; t++) {
    const xr = x + ((<usize>t * D) << 2);
    const or = out + ((<usize>t * D) << 2);
    const ss = <f64>dotF32(xr, xr, D);
    const r = <f32>(1 / Math.sqrt(<f64>(<f32>(ss / D)) + eps));
    const rv = f32x4.splat(r);
    let i = 0;
    if (w != 0) {
      for (; i + 4 <= D; i += 4) {
        const o = <usize>i << 2;
        v128.store(or + o, f32x4.mul(f32x4.mul(v128.load(xr + o), rv), v128.load(w + o)));
      }
      for (; i < D; i++) {
        const o = <usize>i << 2;
        store<f32>(or + o, (load<f32>(xr + o) * r) * load<f32>(w + o));
      }
    } else {
      for (; i + 4 <= D; i += 4) {
        const o = <usize>i << 2;
        v128.store(or + o, f32x4.mul(v128.load(xr + o), rv));
      }
      for (; i < D; i++) {
        const o = <usize>i << 2;
        store<f32>(or + o, load<f32>(xr + o) * r);
      }
    }
  }
}

const LOG2E: f32 = 1.4426950408889634;
const LN2_HI: f32 = 0.693359375; // ln 2 split so n·LN2_HI is exact for |n| < 2^9
const LN2_LO: f32 = -2.12194440e-4;
const EXP_MIN: f32 = -87.33654; // ln(2^-126): below it the result is flushed to 0
const EXP_MAX: f32 = 88.3762626647949; // ln(FLT_MAX)

/** e^x lane-wise: range reduction by ln 2 and a degree-7 Taylor polynomial (≤ 2 ulp). */
@inline export function expF32x4(x: v128): v128 {
  const xc = f32x4.min(f32x4.max(x, f32x4.splat(EXP_MIN)), f32x4.splat(EXP_MAX));
  const n = f32x4.nearest(f32x4.mul(xc, f32x4.splat(LOG2E)));
  const r = f32x4.sub(f32x4.sub(xc, f32x4.mul(n, f32x4.splat(LN2_HI))), f32x4.mul(n, f32x4.splat(LN2_LO)));
  let p = f32x4.splat(<f32>(1.0 / 5040));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 720)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 120)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 24)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32>(1.0 / 6)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1));
  // 2^n for n in −126..128, in two factors so n = 128 (x near EXP_MAX) does not overflow the exponent.
  const ni = i32x4.trunc_sat_f32x4_s(n);
  const half1 = i32x4.shr_s(ni, 1);
  const half2 = i32x4.sub(ni, half1);
  const s1 = i32x4.shl(i32x4.add(half1, i32x4.splat(127)), 23);
  const s2 = i32x4.shl(i32x4.add(half2, i32x4.splat(127)), 23);
  const v = f32x4.mul(f32x4.mul(p, s1), s2);
  // Below EXP_MIN (including −∞) the answer is 0; NaN stays NaN through min/max.
  return v128.andnot(v, f32x4.lt(x, f32x4.splat(EXP_MIN)));
}

@inline export function expF32(x: f32): f32 {
  return f32x4.extract_lane(expF32x4(f32x4.splat(x)), 0);
}

/** v[i] = exp(v[i] − mx) for i < n, in place; returns Σ v[i] (four lanes, then the tail). */
@inline export function expShiftInPlace(v: usize, n: i32, mx: f32): f64 {
  const m = f32x4.splat(mx);
  let acc = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const e = expF32x4(f32x4.sub(v128.load(v + o), m));
    v128.store(v + o, e);
    acc = f32x4.add(acc, e);
  }
  let sum = <f64>hsum(acc);
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const e = expF32(load<f32>(v + o) - mx);
    store<f32>(v + o, e);
    sum += e;
  }
  return sum;
}

/** In-place softmax over v[0..n), subtracting the max first. */
export function softmax(v: usize, n: i32): void {
  if (n <= 0) return;
  let mx = load<f32>(v);
  for (let i = 1; i < n; i++) mx = max(mx, load<f32>(v + (<usize>i << 2)));
  const sum = expShiftInPlace(v, n, mx);
  const inv = <f32>(1 / sum);
  const iv = f32x4.splat(inv);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(v + o, f32x4.mul(v128.load(v + o), iv));
  }
  for (; i < n; i++) store<f32>(v + (<usize>i << 2), load<f32>(v + (<usize>i << 2)) * inv);
}

/** h[i] += y[i] for i < n (the residual stream). */
export function add_in_place(h: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(h + o, f32x4.add(v128.load(h + o), v128.load(y + o)));
  }
  for (; i < n; i++) store<f32>(h + (<usize>i << 2), load<f32>(h + (<usize>i << 2)) + load<f32>(y + (<usize>i << 2)));
}

/** Rows of D floats: dst[r] = scales[r] · src[rows[r]] for r < n (MoE: an expert's gate-scaled inputs). */
export function gather_rows(dst: usize, src: usize, rows: usize, scales: usize, n: i32, D: i32): void {
  const rowBytes = <usize>D << 2;
  for (let r = 0; r < n; r++) {
    const s = src + <usize>load<i32>(rows + (<usize>r << 2)) * rowBytes;
    const d = dst + <usize>r * rowBytes;
    const g = load<f32>(scales + (<usize>r << 2));
    const gv = f32x4.splat(g);
    let i = 0;
    for (; i + 4 <= D; i += 4) v128.store(d + (<usize>i << 2), f32x4.mul(gv, v128.load(s + (<usize>i << 2))));
    for (; i < D; i++) store<f32>(d + (<usize>i << 2), g * load<f32>(s + (<usize>i << 2)));
  }
}

/** Rows of D floats: dst[rows[r]] += src[r] for r < n, in order (MoE: an expert's outputs). */
export function scatter_add_rows(dst: usize, src: usize, rows: usize, n: i32, D: i32): void {
  const rowBytes = <usize>D << 2;
  for (let r = 0; r < n; r++) add_in_place(dst + <usize>load<i32>(rows + (<usize>r << 2)) * rowBytes, src + <usize>r * rowBytes, D);
}

/** gate[i] = silu(gate[i]) · up[i] for i < n, in place. */
export function swiglu(gate: usize, up: usize, n: i32): void {
  const one = f32x4.splat(1);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(gate + o);
    const silu = f32x4.div(g, f32x4.add(one, expF32x4(f32x4.neg(g))));
    v128.store(gate + o, f32x4.mul(silu, v128.load(up + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(gate + o);
    store<f32>(gate + o, (g / (1 + expF32(-g))) * load<f32>(up + o));
  }
}

/**
 * RoPE on adjacent pairs (2m, 2m+1) of every head, in place. x: [T, nHeads, d];
 * cos, sin: [T, d/2].
 */
export function rope(x: usize, cos: usize, sin: usize, T: i32, nHeads: i32, d: i32): void {
  const half = d >> 1;
  const sign = f32x4(-1, 1, -1, 1);
  for (let t = 0; t < T; t++) {
    const ct = cos + ((<usize>t * half) << 2);
    const st = sin + ((<usize>t * half) << 2);
    for (let h = 0; h < nHeads; h++) {
      const xh = x + ((<usize>(t * nHeads + h) * d) << 2);
      let m = 0;
      for (; m + 2 <= half; m += 2) {
        const p = xh + (<usize>m << 3);
        const v = v128.load(p); // a0 b0 a1 b1
        const c2 = v128.load64_zero(ct + (<usize>m << 2));
        const s2 = v128.load64_zero(st + (<usize>m << 2));
        const c = i32x4.shuffle(c2, c2, 0, 0, 1, 1);
        const s = f32x4.mul(i32x4.shuffle(s2, s2, 0, 0, 1, 1), sign);
        const swapped = i32x4.shuffle(v, v, 1, 0, 3, 2); // b0 a0 b1 a1
        v128.store(p, f32x4.add(f32x4.mul(v, c), f32x4.mul(swapped, s)));
      }
      for (; m < half; m++) {
        const p = xh + (<usize>m << 3);
        const c = load<f32>(ct + (<usize>m << 2));
        const s = load<f32>(st + (<usize>m << 2));
        const a = load<f32>(p);
        const b = load<f32>(p, 4);
        store<f32>(p, a * c - b * s);
        store<f32>(p, b * c + a * s, 4);
      }
    }
  }
}

/** scores[j] = scale · q·K[j] for j < n; K rows of d f32 values, `stride` floats apart. */
export function attn_scores(scores: usize, q: usize, k: usize, stride: i32, n: i32, d: i32, scale: f32): void {
  for (let j = 0; j < n; j++) {
    store<f32>(scores + (<usize>j << 2), dotF32(q, k + ((<usize>j * stride) << 2), d) * scale);
  }
}

/** out[0..d) += Σ_j p[j] · V[j] for j < n; V rows `stride` floats apart. */
export function attn_accumulate(out: usize, p: usize, v: usize, stride: i32, n: i32, d: i32): void {
  for (let j = 0; j < n; j++) axpy(out, load<f32>(p + (<usize>j << 2)), v + ((<usize>j * stride) << 2), d);
}
