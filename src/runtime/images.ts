// Images in conversations (early fusion, spec §5.6): decode and preprocess every image part
// of the messages in prompt order, lay out its placeholder tokens by its tile grid, run the
// vision tower, and put the projected rows in place of the <|patch|> embeddings.
import { existsSync, readFileSync } from "node:fs";
import { FormatError } from "../formats/errors.js";
import { refKernels, type Kernels } from "../kernels/kernels.js";
import type { FastKernels } from "../kernels/fast.js";
import { join } from "node:path";
import type { Llama4TextModel } from "../model/llama4.js";
import { Llama4VisionModel } from "../model/vision.js";
import { multimodalEmbeddings } from "../model/multimodal.js";
import { loadVisionWeights } from "../formats/hf-vision.js";
import { TensorStore } from "../formats/checkpoint.js";
import { decodeImage, type RgbImage } from "../image/decode.js";
import { preprocessImage, type PreprocessedImage } from "../image/preprocess.js";
import { encodeDialog, type ChatMessage, type DialogEncodeOptions } from "../chat/index.js";

/** More images than this in one conversation is refused (each costs up to 17 tiles of compute). */
export const DEFAULT_MAX_IMAGES = 16;

export interface VisionRuntime {
  readonly vision: Llama4VisionModel;
  /** Token id of <|patch|> (config `image_token_index`). */
  readonly patchTokenId: number;
  /** Most tiles per image (preprocessor_config.json `max_patches`, default 16). */
  readonly maxChunks: number;
}

/**
 * Loads the vision tower of a model folder, or returns undefined when it has none. With the
 * text model's kernels (`model.kernels`), the tower's weights go to the same kernel memory
 * and it computes on the same kernels and threads.
 */
export function openVision(dir: string, kernels: Kernels = refKernels): VisionRuntime | undefined {
  if (!existsSync(join(dir, "config.json"))) return undefined;
  const store = TensorStore.open(dir);
  const has = store.names().some((n) => n.startsWith("vision_model."));
  store.close();
  if (!has) return undefined;
  const allocMatrix = (kernels as Partial<FastKernels>).allocMatrix;
  const { config, weights } = loadVisionWeights(dir, allocMatrix ? { allocMatrix } : {});
  let maxChunks = 16;
  const pre = join(dir, "preprocessor_config.json");
  if (existsSync(pre)) {
    let raw: unknown;
    try {
      raw = JSON.parse(readFileSync(pre, "utf8"));
    } catch (e) {
      throw new FormatError(pre, undefined, `is not valid JSON: ${(e as Error).message}`);
    }
    const mp = (raw as { max_patches?: unknown }).max_patches;
    if (mp !== undefined) {
      if (typeof mp !== "number" || !Number.isInteger(mp) || mp < 1) throw new FormatError(pre, "max_patches", `expected a positive integer, got ${JSON.stringify(mp)}`);
      maxChunks = mp;
    }
  }
  return { vision: new Llama4VisionModel(config, weights, kernels), patchTokenId: config.imageTokenIndex, maxChunks };
}

export class ImageInputError extends Error {
  constructor(readonly path: string, detail: string) {
    super(`${path}: ${detail}`);
    this.name = "ImageInputError";
  }
}

interface ImageSource {
  readonly path: string; // where in the messages, for errors
  /** A file path, encoded bytes, or already decoded RGB pixels. */
  readonly input: string | Buffer | RgbImage;
  readonly name: string;
}

/** Image parts of the messages in prompt order, with their bytes or file path. */
function imageSources(messages: readonly ChatMessage[], allowRemote: boolean): ImageSource[] {
  const out: ImageSource[] = [];
  messages.forEach((m, mi) => {
    for (const [field, value] of [["content", m.content], ["context", m.context]] as const) {
      if (!Array.isArray(value)) continue;
      value.forEach((part, pi) => {
        const path = `messages[${mi}].${field}[${pi}]`;
        if (part.type === "image") {
          if (part.pixels) out.push({ path, input: { width: part.pixels.width, height: part.pixels.height, data: part.pixels.data }, name: path });
          else if (part.data) out.push({ path, input: Buffer.from(part.data), name: path });
          else if (part.path) out.push({ path, input: part.path, name: part.path });
          else if (part.url) out.push({ path, input: fromUrl(part.url, path, allowRemote), name: path });
          else if (part.width === undefined || part.height === undefined) throw new ImageInputError(path, "image part has no path, data or url");
        } else if (part.type === "image_url") {
          const url = typeof part.image_url === "string" ? part.image_url : part.image_url.url;
          out.push({ path, input: fromUrl(url, path, allowRemote), name: path });
        }
      });
    }
  });
  return out;
}

function fromUrl(url: string, path: string, allowRemote: boolean): Buffer {
  const m = /^data:([^;,]*)(;base64)?,(.*)$/s.exec(url);
  if (m) return m[2] ? Buffer.from(m[3]!, "base64") : Buffer.from(decodeURIComponent(m[3]!), "latin1");
  if (/^https?:/i.test(url)) {
    throw new ImageInputError(path, allowRemote ? "remote image URLs are not fetched by this build" : "remote image URLs are refused; send the image as a data: URL");
  }
  throw new ImageInputError(path, `unsupported image URL ${JSON.stringify(url.slice(0, 40))} (expected a data: URL)`);
}

export interface MultimodalPrompt {
  readonly tokens: number[];
  /** Input embeddings [T, D] with image rows merged in; undefined when there are no images. */
  readonly embeddings: Float32Array | undefined;
  readonly images: number;
}

export interface MultimodalOptions extends DialogEncodeOptions {
  readonly maxImages?: number;
  readonly allowRemoteImages?: boolean;
  /**
   * Encoded images by file path, kept across calls: a conversation re-encodes its whole
   * history every turn, and the vision tower is the expensive part.
   */
  readonly imageCache?: Map<string, { grid: { rows: number; cols: number }; rows: Float32Array }>;
}

/** The prompt tokens of `messages` and, when they hold images, the merged input embeddings. */
export async function encodeMultimodalDialog(
  model: Llama4TextModel, vision: VisionRuntime | undefined, messages: readonly ChatMessage[], opts: MultimodalOptions,
): Promise<MultimodalPrompt> {
  const sources = imageSources(messages, opts.allowRemoteImages ?? false);
  if (sources.length === 0) return { tokens: encodeDialog(messages, opts).tokens, embeddings: undefined, images: 0 };
  if (!vision) throw new ImageInputError(sources[0]!.path, "this model has no vision weights (vision_model.*), so it cannot take images");
  const max = opts.maxImages ?? DEFAULT_MAX_IMAGES;
  if (sources.length > max) throw new ImageInputError(sources[max]!.path, `too many images: ${sources.length}, the limit is ${max}`);

  const c = vision.vision.config;
  const encodedImages: { grid: { rows: number; cols: number }; rows: Float32Array }[] = [];
  for (const s of sources) {
    const key = typeof s.input === "string" ? s.input : undefined;
    const hit = key !== undefined ? opts.imageCache?.get(key) : undefined;
    if (hit) {
      encodedImages.push(hit);
      continue;
    }
    const rgb = typeof s.input === "string" || Buffer.isBuffer(s.input) ? await decodeImage(s.input, { name: s.name }) : s.input;
    const p: PreprocessedImage = preprocessImage(rgb, { tileSize: c.imageSize, maxChunks: vision.maxChunks });
    const entry = { grid: { rows: p.rows, cols: p.cols }, rows: vision.vision.embedTiles(p.pixels, p.numTiles) };
    if (key !== undefined) opts.imageCache?.set(key, entry);
    encodedImages.push(entry);
  }
  let next = 0;
  const encoded = encodeDialog(messages, {
    ...opts,
    vision: { tileSize: c.imageSize, patchSize: c.patchSize, pixelShuffleRatio: c.pixelShuffleRatio },
    // Images are visited in prompt order: hand out the grids decoded above in that order.
    imageGrid: (_image, path) => {
      const e = encodedImages[next];
      if (!e || sources[next]!.path !== path) throw new ImageInputError(path, "image order mismatch while laying out the prompt");
      next++;
      return e.grid;
    },
  });
  const rows = encodedImages.map((e) => e.rows);
  const all = new Float32Array(rows.reduce((n, r) => n + r.length, 0));
  rows.reduce((at, r) => (all.set(r, at), at + r.length), 0);
  return { tokens: encoded.tokens, embeddings: multimodalEmbeddings(model, encoded.tokens, all, vision.patchTokenId), images: sources.length };
}
