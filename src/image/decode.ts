// Image files → 8-bit RGB pixels for the vision path (spec §5.1 step 1). Decoding is done by
// sharp (libvips); everything that decides pixel values Meta's reference would see (alpha
// compositing over white, palette and grey expansion) is done here so it stays under our control.
//
// Differences from Meta's `convert_image_to_rgb` (PIL), on purpose:
// - EXIF orientation is applied (PIL's Image.open does not rotate); a phone photo is upright.
// - Every image with an alpha channel is composited over white. Meta does this for PIL mode
//   "RGBA" only; for grey+alpha ("LA") and palette images with transparency PIL's convert("RGB")
//   drops alpha and shows whatever colour the transparent pixels hold. Opaque pixels agree.
// - Embedded ICC profiles are ignored, as PIL does, so the raw samples reach the model.
import { readFile } from "node:fs/promises";
import sharp, { type OutputInfo } from "sharp";

/** An 8-bit RGB image, rows top to bottom, pixels left to right: data [H, W, 3]. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

export type ImageFormat = "png" | "jpeg" | "webp" | "gif";

export interface DecodeOptions {
  /**
   * Largest width·height accepted. Checked from the header before any pixel is decoded, so a
   * small file that claims a huge canvas (a decompression bomb) costs nothing. Default
   * {@link DEFAULT_MAX_IMAGE_PIXELS}.
   */
  readonly maxPixels?: number;
  /** Name used in errors when decoding a Buffer (a path names itself). */
  readonly name?: string;
}

/** PIL's MAX_IMAGE_PIXELS (~89.5 megapixels, 0.36 GB as RGBA): larger images are refused. */
export const DEFAULT_MAX_IMAGE_PIXELS = 89_478_485;

/** A file that is not a readable, supported, sanely sized image. The message names the file. */
export class ImageDecodeError extends Error {
  constructor(readonly file: string, detail: string) {
    super(`${file}: ${detail}`);
    this.name = "ImageDecodeError";
  }
}

/** The container format from the first bytes, or undefined when it is none we accept. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | undefined {
  const at = (i: number, s: string) => [...s].every((ch, k) => bytes[i + k] === ch.charCodeAt(0));
  if (bytes.length >= 8 && bytes[0] === 0x89 && at(1, "PNG\r\n\x1a\n")) return "png";
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (bytes.length >= 12 && at(0, "RIFF") && at(8, "WEBP")) return "webp";
  if (bytes.length >= 6 && (at(0, "GIF87a") || at(0, "GIF89a"))) return "gif";
  return undefined;
}

/**
 * Decodes a PNG, JPEG, WebP or GIF (first frame) file or buffer to RGB8, upright per EXIF,
 * with any transparency composited over white. Throws {@link ImageDecodeError} naming the
 * file for unreadable, corrupt, unsupported, empty or oversized images.
 */
export async function decodeImage(input: string | Uint8Array, opts: DecodeOptions = {}): Promise<RgbImage> {
  const name = typeof input === "string" ? input : (opts.name ?? "<image buffer>");
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_IMAGE_PIXELS;
  let bytes: Uint8Array;
  if (typeof input === "string") {
    try {
      bytes = await readFile(input);
    } catch (e) {
      throw new ImageDecodeError(name, `cannot read: ${(e as Error).message}`);
    }
  } else {
    bytes = input;
  }
  if (bytes.length === 0) throw new ImageDecodeError(name, "file is empty");
  const format = sniffImageFormat(bytes);
  // Sniffing first keeps every other format libvips knows (SVG, PDF, TIFF, ...) out.
  if (!format) throw new ImageDecodeError(name, "unsupported image format (expected PNG, JPEG, WebP or GIF)");

  // Header only: the size check happens before pixel data is touched.
  let width: number;
  let height: number;
  try {
    const meta = await sharp(bytes, { limitInputPixels: false, pages: 1 }).metadata();
    width = meta.width;
    height = meta.height;
  } catch (e) {
    throw new ImageDecodeError(name, `corrupt or unreadable ${format.toUpperCase()}: ${sharpMessage(e)}`);
  }
  if (!(width > 0 && height > 0)) throw new ImageDecodeError(name, `image has zero size (${width}×${height})`);
  if (width * height > maxPixels) {
    throw new ImageDecodeError(name, `image is ${width}×${height} = ${width * height} pixels, above the limit of ${maxPixels} (decompression bomb guard)`);
  }

  let raw: { data: Buffer; info: OutputInfo };
  try {
    raw = await sharp(bytes, { autoOrient: true, ignoreIcc: true, pages: 1, failOn: "error", limitInputPixels: maxPixels })
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
  } catch (e) {
    throw new ImageDecodeError(name, `corrupt or unreadable ${format.toUpperCase()}: ${sharpMessage(e)}`);
  }
  return toRgb(raw.data, raw.info.width, raw.info.height, raw.info.channels, name);
}

/** Expands grey, drops or composites alpha: any 1-4 channel 8-bit buffer → RGB [H, W, 3]. */
function toRgb(src: Uint8Array, width: number, height: number, channels: number, name: string): RgbImage {
  if (src.length !== width * height * channels) {
    throw new ImageDecodeError(name, `decoder returned ${src.length} bytes for ${width}×${height}×${channels}`);
  }
  const n = width * height;
  const out = new Uint8Array(n * 3);
  const hasAlpha = channels === 2 || channels === 4;
  const colour = channels >= 3;
  for (let i = 0; i < n; i++) {
    const s = i * channels;
    const a = hasAlpha ? src[s + channels - 1]! : 255;
    for (let c = 0; c < 3; c++) {
      const v = src[s + (colour ? c : 0)]!;
      out[i * 3 + c] = a === 255 ? v : blendOverWhite(v, a);
    }
  }
  return { width, height, data: out };
}

/**
 * PIL's paste-with-mask blend of `v` over white: round((v·a + 255·(255 − a)) / 255), with
 * PIL's exact integer division by 255 (add 128, then (t + (t >> 8)) >> 8).
 */
export function blendOverWhite(v: number, a: number): number {
  const t = v * a + 255 * (255 - a) + 128;
  return ((t >> 8) + t) >> 8;
}

function sharpMessage(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).trim().replace(/\s+/g, " ");
}
