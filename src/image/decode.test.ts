// Decoding: every accepted format to RGB8, alpha over white with PIL's rounding, EXIF
// orientation, GIF first frame, and clear errors for bad input. Images are made in-test.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { writeFileSync } from "node:fs";
import sharp from "sharp";
import { requireShared, tempDir } from "../../test/support.js";
import { blendOverWhite, decodeImage, ImageDecodeError, sniffImageFormat } from "./decode.js";

const W = 3;
const H = 2;
// RGBA pixels: opaque, half, transparent and in-between alphas.
const RGBA = Buffer.from([255, 0, 0, 255, 0, 255, 0, 128, 0, 0, 255, 0, 10, 20, 30, 64, 200, 100, 50, 255, 1, 2, 3, 1]);

function rgbOf(rgba: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < rgba.length; i += 4) out.push(rgba[i]!, rgba[i + 1]!, rgba[i + 2]!);
  return out;
}

function overWhite(rgba: Uint8Array): number[] {
  const out: number[] = [];
  for (let i = 0; i < rgba.length; i += 4) for (let c = 0; c < 3; c++) out.push(blendOverWhite(rgba[i + c]!, rgba[i + 3]!));
  return out;
}

test("blendOverWhite is PIL's rounded (v·a + 255·(255−a)) / 255", () => {
  for (let v = 0; v < 256; v += 5) {
    for (let a = 0; a < 256; a++) {
      assert.equal(blendOverWhite(v, a), Math.round((v * a + 255 * (255 - a)) / 255), `v=${v} a=${a}`);
    }
  }
  assert.equal(blendOverWhite(0, 0), 255);
  assert.equal(blendOverWhite(17, 255), 17);
});

test("PNG: opaque RGB exact, RGBA composited over white, grey expanded", async () => {
  const rgb = Buffer.from(rgbOf(RGBA));
  const png = await sharp(rgb, { raw: { width: W, height: H, channels: 3 } }).png().toBuffer();
  const a = await decodeImage(png);
  assert.deepEqual([a.width, a.height], [W, H]);
  assert.deepEqual([...a.data], [...rgb]);

  const pngA = await sharp(RGBA, { raw: { width: W, height: H, channels: 4 } }).png().toBuffer();
  assert.deepEqual([...(await decodeImage(pngA)).data], overWhite(RGBA));

  const grey = Buffer.from([0, 50, 100, 150, 200, 250]);
  const pngG = await sharp(grey, { raw: { width: W, height: H, channels: 1 } }).png().toBuffer();
  assert.deepEqual([...(await decodeImage(pngG)).data], [...grey].flatMap((v) => [v, v, v]));
});

test("WebP (lossless, with alpha) and GIF (first frame only)", async () => {
  const webp = await sharp(RGBA, { raw: { width: W, height: H, channels: 4 } }).webp({ lossless: true, exact: true }).toBuffer();
  assert.equal(sniffImageFormat(webp), "webp");
  assert.deepEqual([...(await decodeImage(webp)).data], overWhite(RGBA));

  // Two 2×2 frames: red, then blue. Only the first may come back.
  const frames = Buffer.from([...Array(4).fill([255, 0, 0]).flat(), ...Array(4).fill([0, 0, 255]).flat()]);
  const gif = await sharp(frames, { raw: { width: 2, height: 4, channels: 3, pageHeight: 2 } }).gif().toBuffer();
  assert.equal(sniffImageFormat(gif), "gif");
  const g = await decodeImage(gif);
  assert.deepEqual([g.width, g.height], [2, 2]);
  assert.deepEqual([...g.data], Array(4).fill([255, 0, 0]).flat());
});

test("JPEG: EXIF orientation is applied", async () => {
  // 32×16: left half black, right half white. Orientation 6 displays it turned 90° clockwise,
  // so the black half ends up on top of a 16×32 image.
  const px = new Uint8Array(32 * 16 * 3);
  for (let y = 0; y < 16; y++) for (let x = 16; x < 32; x++) px.fill(255, (y * 32 + x) * 3, (y * 32 + x) * 3 + 3);
  const jpeg = await sharp(px, { raw: { width: 32, height: 16, channels: 3 } }).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
  const img = await decodeImage(jpeg);
  assert.deepEqual([img.width, img.height], [16, 32]);
  const at = (x: number, y: number) => img.data[(y * img.width + x) * 3]!;
  assert.ok(at(8, 4) < 30, `top should be black, got ${at(8, 4)}`);
  assert.ok(at(8, 28) > 225, `bottom should be white, got ${at(8, 28)}`);
});

test("bad input fails with an error that names the file", async (t) => {
  const dir = tempDir(t);
  const png = await sharp(RGBA, { raw: { width: W, height: H, channels: 4 } }).png().toBuffer();
  const zeroWidth = Buffer.from(png);
  zeroWidth.writeUInt32BE(0, 16);
  zeroWidth.writeUInt32BE(crc32(zeroWidth.subarray(12, 29)), 29);
  const cases: { name: string; bytes: Uint8Array; message: RegExp }[] = [
    { name: "empty.png", bytes: new Uint8Array(0), message: /empty/ },
    { name: "text.png", bytes: Buffer.from("this is not an image at all"), message: /unsupported image format/ },
    { name: "image.bmp", bytes: Buffer.from([0x42, 0x4d, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]), message: /unsupported image format/ },
    { name: "truncated.png", bytes: png.subarray(0, 40), message: /corrupt or unreadable PNG/ },
    { name: "zero-width.png", bytes: zeroWidth, message: /corrupt or unreadable PNG|zero size/ },
    { name: "garbage.jpg", bytes: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.alloc(64, 7)]), message: /corrupt or unreadable JPEG/ },
  ];
  for (const c of cases) {
    const path = join(dir, c.name);
    writeFileSync(path, c.bytes);
    await assert.rejects(decodeImage(path), (e: unknown) => {
      assert.ok(e instanceof ImageDecodeError, `${c.name}: ${String(e)}`);
      assert.ok(e.message.startsWith(path), e.message);
      assert.match(e.message, c.message);
      return true;
    });
  }
  await assert.rejects(decodeImage(join(dir, "missing.png")), /missing\.png: cannot read/);
  await assert.rejects(decodeImage(Buffer.from("nope"), { name: "upload #3" }), /^ImageDecodeError: upload #3: unsupported/);
});

test("a header claiming a gigantic canvas is refused before decoding", async () => {
  // A valid 3×2 PNG whose IHDR is rewritten to 100000 × 100000 (CRC fixed): 10^10 pixels
  // claimed by a file of a few dozen bytes.
  const png = Buffer.from(await sharp(RGBA, { raw: { width: W, height: H, channels: 4 } }).png().toBuffer());
  png.writeUInt32BE(100_000, 16);
  png.writeUInt32BE(100_000, 20);
  png.writeUInt32BE(crc32(png.subarray(12, 29)), 29);
  await assert.rejects(decodeImage(png, { name: "bomb.png" }), /bomb\.png: image is 100000×100000 = 10000000000 pixels, above the limit/);
  // The limit is configurable.
  const small = await sharp(RGBA, { raw: { width: W, height: H, channels: 4 } }).png().toBuffer();
  await assert.rejects(decodeImage(small, { maxPixels: 5 }), /6 pixels, above the limit of 5/);
});

test("the tiny-vision fixture images decode to their stated sizes", async (t) => {
  const dir = requireShared(t, "fixtures/llama4/tiny-vision");
  if (!dir) return;
  const sizes = [[40, 30], [90, 50], [28, 28]];
  for (let k = 0; k < 3; k++) {
    const img = await decodeImage(join(dir, `image${k}.png`));
    assert.deepEqual([img.width, img.height], sizes[k]);
    assert.equal(img.data.length, img.width * img.height * 3);
  }
});

/** CRC-32 (IEEE), for patching a PNG chunk in the test above. */
function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}
