// Meta's Llama 4 image preprocessing (spec §5.1), bit for bit: pick the tile grid, resize
// without distortion with PIL's bilinear filter, pad black to the canvas, normalise to
// [−1, 1], cut row-major tiles, and append a plain-resized global view when there is more
// than one tile.
import type { RgbImage } from "./decode.js";
import { chooseTileGrid, LLAMA4_VISION } from "./tiling.js";

export interface PreprocessOptions {
  /** Side of one square tile in pixels (Llama 4: 336; vision_config.image_size). */
  readonly tileSize?: number;
  /** Largest number of tiles, global view not counted (Llama 4: 16). */
  readonly maxChunks?: number;
}

export interface PreprocessedImage {
  /** Normalised tiles [N, 3, S, S]: rows·cols tiles in row-major order, then the global view if any. */
  readonly pixels: Float32Array;
  /** The tile grid (Meta's aspect ratio): the canvas is rows·S high and cols·S wide. */
  readonly rows: number;
  readonly cols: number;
  /** N: rows·cols, plus 1 for the global view when rows·cols > 1. */
  readonly numTiles: number;
  readonly tileSize: number;
}

export function preprocessImage(image: RgbImage, opts: PreprocessOptions = {}): PreprocessedImage {
  const S = opts.tileSize ?? LLAMA4_VISION.tileSize;
  const maxChunks = opts.maxChunks ?? LLAMA4_VISION.maxChunks;
  const { width: w, height: h } = image;
  const { rows, cols } = chooseTileGrid(w, h, { tileSize: S, maxChunks });
  const canvasW = cols * S;
  const canvasH = rows * S;
  const { width: newW, height: newH } = sizeWithoutDistortion(w, h, canvasW, canvasH, S);
  const resized = resizeBilinear(image, newW, newH);

  const grid = rows * cols;
  const numTiles = grid > 1 ? grid + 1 : 1;
  const pixels = new Float32Array(numTiles * 3 * S * S);
  // The pasted image occupies the top-left newW × newH; the rest of the canvas is black.
  const black = normalizePixel(0);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const tileBase = (r * cols + c) * 3 * S * S;
      for (let y = 0; y < S; y++) {
        const cy = r * S + y;
        for (let x = 0; x < S; x++) {
          const cx = c * S + x;
          const inside = cy < newH && cx < newW;
          const src = (cy * newW + cx) * 3;
          for (let ch = 0; ch < 3; ch++) {
            pixels[tileBase + (ch * S + y) * S + x] = inside ? normalizePixel(resized.data[src + ch]!) : black;
          }
        }
      }
    }
  }
  if (grid > 1) {
    // Global view: the original image squeezed to S × S, aspect ratio not kept.
    const global = resizeBilinear(image, S, S);
    writeTile(pixels, grid * 3 * S * S, global, S);
  }
  return { pixels, rows, cols, numTiles, tileSize: S };
}

/** An S × S RGB image → normalised [3, S, S] at `offset`. */
function writeTile(out: Float32Array, offset: number, img: RgbImage, S: number): void {
  for (let y = 0; y < S; y++) {
    for (let x = 0; x < S; x++) {
      for (let ch = 0; ch < 3; ch++) out[offset + (ch * S + y) * S + x] = normalizePixel(img.data[(y * S + x) * 3 + ch]!);
    }
  }
}

/**
 * torchvision ToTensor + Normalize(0.5, 0.5) in float32: (v/255 − 0.5) / 0.5, each step rounded
 * to f32 like the reference's float32 tensors.
 */
export function normalizePixel(v: number): number {
  return Math.fround(Math.fround(Math.fround(v / 255) - 0.5) / 0.5);
}

/**
 * Meta's resize target (spec §5.1 step 4): upscaling is limited to one tile side, the aspect
 * ratio is kept, and the side that binds is filled exactly. Float arithmetic follows the
 * Python: floor(h · (tW / w)), not floor(h · tW / w).
 */
export function sizeWithoutDistortion(w: number, h: number, canvasW: number, canvasH: number, tileSize: number): { width: number; height: number } {
  const tW = Math.min(Math.max(w, tileSize), canvasW);
  const tH = Math.min(Math.max(h, tileSize), canvasH);
  const scaleW = tW / w;
  const scaleH = tH / h;
  let width: number;
  let height: number;
  if (scaleW < scaleH) {
    width = tW;
    height = Math.min(Math.floor(h * scaleW), tH);
  } else {
    height = tH;
    width = Math.min(Math.floor(w * scaleH), tW);
  }
  return { width: Math.max(1, width), height: Math.max(1, height) };
}

// ---------------------------------------------------------------------------------------------
// PIL's Image.resize(size, BILINEAR) for 8-bit images (Pillow's ImagingResample), re-implemented
// from its description: a separable two-pass convolution, horizontal first, with an 8-bit
// intermediate. The triangle filter's support (1 pixel) is widened by the downscale factor, so
// shrinking averages every source pixel (antialiasing). Weights are normalised in float64 and
// then converted to 22-bit fixed point; sums start at one half and are clipped to 0..255.

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);

/** Per output pixel: the first source index, how many sources, and fixed-point weights. */
interface ResampleCoefficients {
  /** Largest number of taps any output pixel uses: the row stride of `weights`. */
  readonly taps: number;
  readonly first: Int32Array; // [out]
  readonly count: Int32Array; // [out]
  readonly weights: Int32Array; // [out, taps]
}

function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/** Filter taps for resampling `inSize` source pixels onto `outSize` (Pillow's precompute_coeffs). */
function bilinearCoefficients(inSize: number, outSize: number): ResampleCoefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale; // the bilinear filter's support is 1
  const taps = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * taps);
  const w = new Float64Array(taps);
  const inverseScale = 1 / filterScale; // Pillow multiplies by the reciprocal; same rounding
  for (let o = 0; o < outSize; o++) {
    const center = (o + 0.5) * scale;
    // C's (int) cast truncates toward zero.
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let k = 0; k < xmax; k++) {
      w[k] = triangle((k + xmin - center + 0.5) * inverseScale);
      total += w[k]!;
    }
    for (let k = 0; k < xmax; k++) {
      const normalised = total !== 0 ? w[k]! / total : w[k]!;
      // Round half away from zero into fixed point (the weights here are never negative).
      weights[o * taps + k] = normalised < 0
        ? Math.trunc(-0.5 + normalised * (1 << PRECISION_BITS))
        : Math.trunc(0.5 + normalised * (1 << PRECISION_BITS));
    }
    first[o] = xmin;
    count[o] = xmax;
  }
  return { taps, first, count, weights };
}

function clip8(sum: number): number {
  if (sum >= 1 << (PRECISION_BITS + 8)) return 255;
  if (sum <= 0) return 0;
  return sum >> PRECISION_BITS;
}

function resampleHorizontal(src: RgbImage, outW: number): RgbImage {
  const { width: inW, height: H, data } = src;
  const k = bilinearCoefficients(inW, outW);
  const out = new Uint8Array(outW * H * 3);
  for (let y = 0; y < H; y++) {
    const row = y * inW * 3;
    for (let x = 0; x < outW; x++) {
      const x0 = k.first[x]!;
      const n = k.count[x]!;
      const wb = x * k.taps;
      let s0 = HALF, s1 = HALF, s2 = HALF;
      for (let i = 0; i < n; i++) {
        const wt = k.weights[wb + i]!;
        const p = row + (x0 + i) * 3;
        s0 += data[p]! * wt;
        s1 += data[p + 1]! * wt;
        s2 += data[p + 2]! * wt;
      }
      const o = (y * outW + x) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { width: outW, height: H, data: out };
}

function resampleVertical(src: RgbImage, outH: number): RgbImage {
  const { width: W, height: inH, data } = src;
  const k = bilinearCoefficients(inH, outH);
  const out = new Uint8Array(W * outH * 3);
  for (let y = 0; y < outH; y++) {
    const y0 = k.first[y]!;
    const n = k.count[y]!;
    const wb = y * k.taps;
    for (let x = 0; x < W; x++) {
      let s0 = HALF, s1 = HALF, s2 = HALF;
      for (let i = 0; i < n; i++) {
        const wt = k.weights[wb + i]!;
        const p = ((y0 + i) * W + x) * 3;
        s0 += data[p]! * wt;
        s1 += data[p + 1]! * wt;
        s2 += data[p + 2]! * wt;
      }
      const o = (y * W + x) * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { width: W, height: outH, data: out };
}

/**
 * PIL `Image.resize((width, height), Image.BILINEAR)` on an RGB image: exact pixel equality is
 * the goal. The same size returns a copy, as PIL does; each axis is resampled only if it changes.
 */
export function resizeBilinear(image: RgbImage, width: number, height: number): RgbImage {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`resize target must be positive integers, got ${width}×${height}`);
  }
  if (image.data.length !== image.width * image.height * 3) {
    throw new RangeError(`image data has ${image.data.length} bytes, expected ${image.width}×${image.height}×3`);
  }
  let out: RgbImage = image;
  if (width !== image.width) out = resampleHorizontal(out, width);
  if (height !== image.height) out = resampleVertical(out, height);
  return out === image ? { width, height, data: image.data.slice() } : out;
}
