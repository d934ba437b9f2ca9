// Llama 4 image tiling: which grid of 336×336 tiles an image is cut into (spec §5.1 steps 2-3)
// and the run of special tokens that stands for the image in the prompt (spec §5.6).
// Pixel work (resize, pad, normalise) lives elsewhere; this module only needs the size.

/** A tile grid: the image canvas is `rows × tileSize` high and `cols × tileSize` wide. */
export interface TileGrid {
  rows: number;
  cols: number;
}

export interface TileGridOptions {
  /** Side of one square tile in pixels (Llama 4: 336). */
  tileSize?: number;
  /** Largest number of tiles, global view not counted (Llama 4: 16). */
  maxChunks?: number;
}

/** The vision settings that decide the image token layout. */
export interface VisionLayoutConfig {
  tileSize: number;
  patchSize: number;
  pixelShuffleRatio: number;
  maxChunks: number;
}

/** Llama 4 Scout / Maverick vision settings (HF `vision_config`, Meta `VisionArgs`). */
export const LLAMA4_VISION: Readonly<VisionLayoutConfig> = Object.freeze({
  tileSize: 336,
  patchSize: 14,
  pixelShuffleRatio: 0.5,
  maxChunks: 16,
});

/** `<|patch|>` tokens per tile for Llama 4: (336/14)² · 0.5² = 144. */
export const LLAMA4_PATCHES_PER_TILE = 144;

function checkPositiveInteger(value: number, what: string): void {
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${what} must be a positive integer, got ${String(value)}`);
  }
}

/**
 * Every grid with rows·cols ≤ maxChunks, in the reference's list order: for n from maxChunks
 * down to 1, each factor pair (rows ascending) of n, grouped by aspect ratio rows/cols in the
 * order each ratio first appears. The order only matters for ties (first one wins), and keeping
 * the reference order makes such ties resolve the same way.
 */
export function supportedTileGrids(maxChunks: number): TileGrid[] {
  checkPositiveInteger(maxChunks, "maxChunks");
  const byRatio = new Map<number, TileGrid[]>();
  for (let n = maxChunks; n >= 1; n--) {
    for (let rows = 1; rows <= n; rows++) {
      if (n % rows !== 0) continue;
      const grid = { rows, cols: n / rows };
      const ratio = grid.rows / grid.cols;
      const group = byRatio.get(ratio);
      if (group) group.push(grid);
      else byRatio.set(ratio, [grid]);
    }
  }
  return [...byRatio.values()].flat();
}

/**
 * The tile grid the reference preprocessing picks for a `width × height` image.
 *
 * For each canvas the scale is min(canvasW/width, canvasH/height). If some canvas can hold the
 * image without shrinking (scale ≥ 1) the smallest such scale wins (least upscaling); otherwise
 * the largest scale (least downscaling). Among canvases with exactly that scale the smallest
 * area wins, first in list order on a tie. Scales are rounded to float32 because the reference
 * computes them in float32 tensors, which decides what counts as "exactly equal".
 */
export function chooseTileGrid(width: number, height: number, options: TileGridOptions = {}): TileGrid {
  const tileSize = options.tileSize ?? LLAMA4_VISION.tileSize;
  const maxChunks = options.maxChunks ?? LLAMA4_VISION.maxChunks;
  checkPositiveInteger(width, "image width");
  checkPositiveInteger(height, "image height");
  checkPositiveInteger(tileSize, "tileSize");

  const grids = supportedTileGrids(maxChunks);
  const scales = grids.map((g) =>
    Math.min(Math.fround((g.cols * tileSize) / width), Math.fround((g.rows * tileSize) / height)),
  );

  const upscales = scales.filter((s) => s >= 1);
  const chosenScale = upscales.length > 0 ? Math.min(...upscales) : Math.max(...scales);

  let best: TileGrid | undefined;
  for (let i = 0; i < grids.length; i++) {
    const grid = grids[i]!;
    if (scales[i] !== chosenScale) continue;
    if (best === undefined || grid.rows * grid.cols < best.rows * best.cols) best = grid;
  }
  // chosenScale is one of `scales`, so some grid always matches.
  return { ...best! };
}

/** Number of tiles fed to the vision encoder: the grid, plus one global view when it has > 1 tile. */
export function imageChunkCount(grid: TileGrid): number {
  const tiles = grid.rows * grid.cols;
  return tiles > 1 ? tiles + 1 : tiles;
}

/**
 * `<|patch|>` tokens per tile, computed the way the reference `ChatFormat` does: patches per
 * side squared, divided by the pixel-shuffle reduction round(1/ratio²).
 */
export function patchesPerTile(config: Pick<VisionLayoutConfig, "tileSize" | "patchSize" | "pixelShuffleRatio">): number {
  const { tileSize, patchSize, pixelShuffleRatio } = config;
  checkPositiveInteger(tileSize, "tileSize");
  checkPositiveInteger(patchSize, "patchSize");
  if (tileSize % patchSize !== 0) {
    throw new Error(`tileSize ${tileSize} is not divisible by patchSize ${patchSize}`);
  }
  if (!(pixelShuffleRatio > 0 && pixelShuffleRatio <= 1)) {
    throw new Error(`pixelShuffleRatio must be in (0, 1], got ${String(pixelShuffleRatio)}`);
  }
  const perSide = tileSize / patchSize;
  const shuffleReduction = Math.round(1 / (pixelShuffleRatio * pixelShuffleRatio));
  return Math.floor((perSide * perSide) / shuffleReduction);
}

/** The special tokens an image is spelled with. */
export type ImageTokenName =
  | "<|image_start|>"
  | "<|image_end|>"
  | "<|image|>"
  | "<|patch|>"
  | "<|tile_x_separator|>"
  | "<|tile_y_separator|>";

/** Llama 4 ids of the image tokens (200000 + index in the special-token list). */
export const LLAMA4_IMAGE_TOKEN_IDS: Readonly<Record<ImageTokenName, number>> = Object.freeze({
  "<|image_start|>": 200080,
  "<|image_end|>": 200081,
  "<|tile_x_separator|>": 200084,
  "<|tile_y_separator|>": 200085,
  "<|image|>": 200090,
  "<|patch|>": 200092,
});

/**
 * Token names standing for one image with the given grid (spec §5.6):
 * - one tile: `<|image_start|> <|image|> <|patch|>×N <|image_end|>`;
 * - several: the tiles row by row (`<|tile_x_separator|>` between columns, `<|tile_y_separator|>`
 *   after every row), then the global view `<|image|> <|patch|>×N`, then `<|image_end|>`.
 * Each `<|patch|>` is later replaced by one vision embedding, in this order.
 */
export function imageTokenLayout(rows: number, cols: number, patchesPerTileCount: number): ImageTokenName[] {
  checkPositiveInteger(rows, "rows");
  checkPositiveInteger(cols, "cols");
  checkPositiveInteger(patchesPerTileCount, "patchesPerTile");
  const patches: ImageTokenName[] = new Array<ImageTokenName>(patchesPerTileCount).fill("<|patch|>");
  const out: ImageTokenName[] = ["<|image_start|>"];
  if (rows * cols === 1) {
    out.push("<|image|>", ...patches, "<|image_end|>");
    return out;
  }
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      out.push(...patches);
      if (c < cols - 1) out.push("<|tile_x_separator|>");
    }
    out.push("<|tile_y_separator|>");
  }
  out.push("<|image|>", ...patches, "<|image_end|>");
  return out;
}

/** Same as {@link imageTokenLayout}, as ids; `idOf` maps names to ids (default: Llama 4). */
export function imageTokenIds(
  rows: number,
  cols: number,
  patchesPerTileCount: number,
  idOf: (name: ImageTokenName) => number = (name) => LLAMA4_IMAGE_TOKEN_IDS[name],
): number[] {
  const ids = new Map<ImageTokenName, number>();
  return imageTokenLayout(rows, cols, patchesPerTileCount).map((name) => {
    let id = ids.get(name);
    if (id === undefined) {
      id = idOf(name);
      ids.set(name, id);
    }
    return id;
  });
}
