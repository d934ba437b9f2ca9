// Preprocessing against Meta's reference: the tiny-vision golden pixel values (from the PNG
// files, through our decoder and PIL-exact resampler), plus hand-checked resampling, the
// resize target rule, padding, tile order and the global view.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { requireShared } from "../../test/support.js";
import { SafetensorsFile, readTensor } from "../formats/safetensors.js";
import { decodeImage, type RgbImage } from "./decode.js";
import { normalizePixel, preprocessImage, resizeBilinear, sizeWithoutDistortion } from "./preprocess.js";

function solid(width: number, height: number, rgb: readonly [number, number, number]): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) data.set(rgb, i * 3);
  return { width, height, data };
}

function row(values: number[]): RgbImage {
  return { width: values.length, height: 1, data: Uint8Array.from(values.flatMap((v) => [v, v, v])) };
}

function channel0(img: RgbImage): number[] {
  return Array.from({ length: img.width * img.height }, (_, i) => img.data[i * 3]!);
}

test("tiny-vision: pixel values from the PNG files equal Meta's reference", async (t) => {
  const dir = requireShared(t, "fixtures/llama4/tiny-vision");
  if (!dir) return;
  const golden = JSON.parse(readFileSync(join(dir, "golden.json"), "utf8")) as {
    tile_size: number;
    max_num_chunks: number;
    images: { file: string; aspect_ratio_rows_cols: [number, number]; num_tiles_total: number }[];
  };
  const file = SafetensorsFile.open(join(dir, "golden.safetensors"));
  try {
    for (const [k, info] of golden.images.entries()) {
      const img = await decodeImage(join(dir, info.file));
      const p = preprocessImage(img, { tileSize: golden.tile_size, maxChunks: golden.max_num_chunks });
      assert.deepEqual([p.rows, p.cols], info.aspect_ratio_rows_cols, `image${k} grid`);
      assert.equal(p.numTiles, info.num_tiles_total);
      const ref = readTensor(file, `image${k}.pixel_values`);
      assert.deepEqual(ref.shape, [p.numTiles, 3, p.tileSize, p.tileSize]);
      const want = ref.data as Float32Array;
      let maxErr = 0;
      for (let i = 0; i < want.length; i++) maxErr = Math.max(maxErr, Math.abs(want[i]! - p.pixels[i]!));
      t.diagnostic(`image${k} (${img.width}×${img.height}): max |pixel − golden| = ${maxErr}`);
      assert.ok(maxErr <= 1e-6, `image${k}: max abs error ${maxErr}`);
    }
  } finally {
    file.close();
  }
});

test("PIL bilinear by hand: downscaling widens the filter, upscaling interpolates", () => {
  // 4 → 2: support 2 source pixels each side, weights 3/7, 3/7, 1/7 and 1/7, 3/7, 3/7.
  assert.deepEqual(channel0(resizeBilinear(row([0, 100, 200, 255]), 2, 1)), [71, 209]);
  // 2 → 4: plain linear interpolation between pixel centres, edges clamped.
  assert.deepEqual(channel0(resizeBilinear(row([0, 255]), 4, 1)), [0, 64, 191, 255]);
  // Vertical pass is the same filter.
  const col: RgbImage = { width: 1, height: 4, data: row([0, 100, 200, 255]).data };
  assert.deepEqual(channel0(resizeBilinear(col, 1, 2)), [71, 209]);
  // Same size: an untouched copy.
  const same = row([1, 2, 3]);
  const copy = resizeBilinear(same, 3, 1);
  assert.deepEqual([...copy.data], [...same.data]);
  assert.notEqual(copy.data, same.data);
});

test("resizing a constant image keeps it constant, up or down, any ratio", () => {
  const sizes: [number, number, number, number][] = [
    [37, 23, 56, 56], [200, 90, 56, 56], [5, 300, 13, 17], [1, 1, 9, 4], [640, 480, 336, 252], [33, 7, 1, 1],
  ];
  for (const [w, h, W, H] of sizes) {
    for (const rgb of [[0, 0, 0], [255, 255, 255], [13, 128, 254]] as const) {
      const out = resizeBilinear(solid(w, h, rgb), W, H);
      assert.equal(out.data.length, W * H * 3);
      for (let i = 0; i < W * H; i++) {
        assert.deepEqual([...out.data.subarray(i * 3, i * 3 + 3)], [...rgb], `${w}×${h} → ${W}×${H}, pixel ${i}`);
      }
    }
  }
});

test("resize target: upscaling limited to one tile, aspect ratio kept (Meta's docstring cases)", () => {
  assert.deepEqual(sizeWithoutDistortion(400, 200, 1000, 1200, 600), { width: 600, height: 300 });
  assert.deepEqual(sizeWithoutDistortion(2000, 200, 1000, 1200, 600), { width: 1000, height: 100 });
  assert.deepEqual(sizeWithoutDistortion(400, 200, 1000, 1200, 2000), { width: 1000, height: 500 });
  // tiny-vision: 40×30 on one 56 tile upscales to 56×42; 90×50 on 1×2 tiles stays as is.
  assert.deepEqual(sizeWithoutDistortion(40, 30, 56, 56, 56), { width: 56, height: 42 });
  assert.deepEqual(sizeWithoutDistortion(90, 50, 112, 56, 56), { width: 90, height: 50 });
});

test("normalisation maps 0..255 onto [−1, 1] in float32", () => {
  assert.equal(normalizePixel(0), -1);
  assert.equal(normalizePixel(255), 1);
  assert.equal(normalizePixel(128), Math.fround(Math.fround(Math.fround(128 / 255) - 0.5) * 2));
});

test("black padding bottom/right, row-major tiles, channel planes, global view last", () => {
  const S = 56;
  const rgb = [10, 128, 250] as const;
  // 90×50 → grid 1×2 (canvas 112×56), no resize; the image covers x < 90, y < 50.
  const p = preprocessImage(solid(90, 50, rgb), { tileSize: S });
  assert.deepEqual([p.rows, p.cols, p.numTiles], [1, 2, 3]);
  assert.equal(p.pixels.length, 3 * 3 * S * S);
  const at = (tile: number, ch: number, y: number, x: number) => p.pixels[((tile * 3 + ch) * S + y) * S + x]!;
  for (let ch = 0; ch < 3; ch++) {
    const v = normalizePixel(rgb[ch]!);
    assert.equal(at(0, ch, 0, 0), v);
    assert.equal(at(0, ch, 49, 55), v);
    assert.equal(at(0, ch, 50, 0), -1, "rows below the image are black");
    assert.equal(at(1, ch, 10, 33), v, "tile 1 column 33 is image column 89");
    assert.equal(at(1, ch, 10, 34), -1, "image column 90 is padding");
    assert.equal(at(2, ch, 55, 55), v, "the global view is the whole image, squeezed, unpadded");
  }

  // A 56×112 image fills a 2×1 grid exactly: top half red → tile 0, bottom half blue → tile 1.
  const tall = solid(56, 112, [255, 0, 0]);
  for (let i = 56 * 56; i < 56 * 112; i++) tall.data.set([0, 0, 255], i * 3);
  const q = preprocessImage(tall, { tileSize: S });
  assert.deepEqual([q.rows, q.cols, q.numTiles], [2, 1, 3]);
  const qa = (tile: number, ch: number, y: number, x: number) => q.pixels[((tile * 3 + ch) * S + y) * S + x]!;
  assert.deepEqual([qa(0, 0, 30, 30), qa(0, 2, 30, 30)], [1, -1]);
  assert.deepEqual([qa(1, 0, 30, 30), qa(1, 2, 30, 30)], [-1, 1]);
  assert.deepEqual([qa(2, 0, 5, 5), qa(2, 2, 50, 5)], [1, 1]);

  // One tile: no global view.
  const one = preprocessImage(solid(20, 20, rgb), { tileSize: S });
  assert.deepEqual([one.rows, one.cols, one.numTiles], [1, 1, 1]);
  assert.equal(one.pixels.length, 3 * S * S);
});
