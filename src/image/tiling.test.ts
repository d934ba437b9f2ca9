import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { requireShared } from "../../test/support.js";
import {
  chooseTileGrid,
  imageChunkCount,
  imageTokenIds,
  imageTokenLayout,
  LLAMA4_IMAGE_TOKEN_IDS,
  LLAMA4_PATCHES_PER_TILE,
  LLAMA4_VISION,
  patchesPerTile,
  supportedTileGrids,
} from "./tiling.js";

interface GoldenImageSize {
  width: number;
  height: number;
  aspectRatio: [number, number];
  numTiles: number;
  numChunksWithGlobal: number;
}

interface GoldenImageLayout {
  numChunks: number;
  aspectRatio: [number, number];
  ids: number[];
  text: string;
}

interface ChatGolden {
  visionArgs: { patchesPerChunk: number; maxNumChunks: number };
  imageSizes: GoldenImageSize[];
  imageLayouts: GoldenImageLayout[];
}

const GOLDEN = "fixtures/llama4/chat/golden.json";

function loadGolden(path: string): ChatGolden {
  return JSON.parse(readFileSync(path, "utf8")) as ChatGolden;
}

test("golden imageSizes: tile grid chosen per image size", (t) => {
  const p = requireShared(t, GOLDEN);
  if (!p) return;
  const golden = loadGolden(p);
  assert.ok(golden.imageSizes.length > 0);
  for (const c of golden.imageSizes) {
    const grid = chooseTileGrid(c.width, c.height, { maxChunks: golden.visionArgs.maxNumChunks });
    const label = `${c.width}x${c.height}`;
    assert.deepEqual([grid.rows, grid.cols], c.aspectRatio, label);
    assert.equal(grid.rows * grid.cols, c.numTiles, label);
    assert.equal(imageChunkCount(grid), c.numChunksWithGlobal, label);
  }
});

test("golden imageLayouts: image token ids and text", (t) => {
  const p = requireShared(t, GOLDEN);
  if (!p) return;
  const golden = loadGolden(p);
  assert.equal(patchesPerTile(LLAMA4_VISION), golden.visionArgs.patchesPerChunk);
  assert.ok(golden.imageLayouts.length > 0);
  for (const c of golden.imageLayouts) {
    const [rows, cols] = c.aspectRatio;
    const label = `${rows}x${cols}`;
    assert.deepEqual(imageTokenIds(rows, cols, LLAMA4_PATCHES_PER_TILE), c.ids, label);
    assert.equal(imageTokenLayout(rows, cols, LLAMA4_PATCHES_PER_TILE).join(""), c.text, label);
    // numChunks is the size of the tensor the golden generator fed in; the reference only
    // looks at whether it is 1, which must agree with the grid.
    assert.equal(c.numChunks === 1, rows * cols === 1, label);
  }
});

test("patches per tile follows the reference formula", () => {
  assert.equal(patchesPerTile(LLAMA4_VISION), 144);
  assert.equal(patchesPerTile({ tileSize: 336, patchSize: 14, pixelShuffleRatio: 1 }), 576);
  assert.equal(patchesPerTile({ tileSize: 28, patchSize: 14, pixelShuffleRatio: 0.5 }), 1);
  assert.throws(() => patchesPerTile({ tileSize: 336, patchSize: 15, pixelShuffleRatio: 0.5 }), /not divisible/);
});

test("supported grids: every rows·cols ≤ maxChunks once, in reference order", () => {
  const grids = supportedTileGrids(16);
  // Number of (rows, cols) pairs with rows·cols ≤ 16 = Σ_{n≤16} d(n) = 50.
  assert.equal(grids.length, 50);
  assert.equal(new Set(grids.map((g) => `${g.rows}x${g.cols}`)).size, 50);
  assert.ok(grids.every((g) => g.rows * g.cols <= 16));
  // Grouped by ratio in order of first appearance (n = 16 first): ratio 1/16 holds only 1x16,
  // then ratio 1/4 holds 2x8 and, from n = 4, 1x4.
  assert.deepEqual(grids.slice(0, 3), [
    { rows: 1, cols: 16 },
    { rows: 2, cols: 8 },
    { rows: 1, cols: 4 },
  ]);
  assert.deepEqual(supportedTileGrids(1), [{ rows: 1, cols: 1 }]);
});

test("best fit: least upscaling, else least downscaling, then the smallest canvas", () => {
  // Fits one tile: 1x1 (scale 336/200), no bigger canvas needed.
  assert.deepEqual(chooseTileGrid(200, 150), { rows: 1, cols: 1 });
  // One pixel too wide for a tile: two columns.
  assert.deepEqual(chooseTileGrid(337, 336), { rows: 1, cols: 2 });
  assert.deepEqual(chooseTileGrid(336, 337), { rows: 2, cols: 1 });
  // Too large for any canvas: the largest scale (< 1) is the 4x4 canvas.
  assert.deepEqual(chooseTileGrid(5000, 5000), { rows: 4, cols: 4 });
  // Very wide: all 16 tiles in one row would still shrink it least.
  assert.deepEqual(chooseTileGrid(20000, 100), { rows: 1, cols: 16 });
  // A smaller budget limits the grid.
  assert.deepEqual(chooseTileGrid(1344, 1344, { maxChunks: 4 }), { rows: 2, cols: 2 });
  assert.deepEqual(chooseTileGrid(1344, 1344, { maxChunks: 1 }), { rows: 1, cols: 1 });
  // Another tile size scales the canvases.
  assert.deepEqual(chooseTileGrid(500, 500, { tileSize: 448 }), { rows: 2, cols: 2 });
});

test("chooseTileGrid rejects sizes that are not positive integers", () => {
  assert.throws(() => chooseTileGrid(0, 10), /image width must be a positive integer/);
  assert.throws(() => chooseTileGrid(10, 1.5), /image height must be a positive integer/);
  assert.throws(() => chooseTileGrid(10, 10, { maxChunks: 0 }), /maxChunks/);
});

test("image token layout: one tile, and several tiles with a global view", () => {
  assert.deepEqual(imageTokenLayout(1, 1, 2), ["<|image_start|>", "<|image|>", "<|patch|>", "<|patch|>", "<|image_end|>"]);
  assert.deepEqual(imageTokenLayout(2, 2, 1), [
    "<|image_start|>",
    "<|patch|>",
    "<|tile_x_separator|>",
    "<|patch|>",
    "<|tile_y_separator|>",
    "<|patch|>",
    "<|tile_x_separator|>",
    "<|patch|>",
    "<|tile_y_separator|>",
    "<|image|>",
    "<|patch|>",
    "<|image_end|>",
  ]);
  // Total = 3 + N·(tiles + 1) + tiles for several tiles (spec §5.6), 3 + N for one.
  for (const [rows, cols] of [
    [1, 1],
    [1, 2],
    [3, 1],
    [2, 3],
    [4, 4],
  ] as const) {
    const tiles = rows * cols;
    const expected = tiles === 1 ? 3 + 144 : 3 + 144 * (tiles + 1) + tiles;
    assert.equal(imageTokenLayout(rows, cols, 144).length, expected, `${rows}x${cols}`);
  }
  const ids = imageTokenIds(1, 2, 1);
  assert.deepEqual(ids, [200080, 200092, 200084, 200092, 200085, 200090, 200092, 200081]);
  assert.equal(LLAMA4_IMAGE_TOKEN_IDS["<|patch|>"], 200092);
  assert.deepEqual(imageTokenIds(1, 1, 1, (name) => name.length), [15, 9, 9, 13]);
});
