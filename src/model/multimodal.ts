// Early fusion (spec §5.6): image rows take the place of the `<|patch|>` token embeddings, in
// order; every other token, the image's start/end/separator tokens included, keeps its own.
import type { Llama4TextModel } from "./llama4.js";

/** Number of `patchTokenId` occurrences in `tokens`. */
export function countPatchTokens(tokens: ArrayLike<number>, patchTokenId: number): number {
  let n = 0;
  for (let t = 0; t < tokens.length; t++) if (tokens[t] === patchTokenId) n++;
  return n;
}

/**
 * Returns a copy of tokenEmbeddings [T, D] in which the row of the k-th `patchTokenId` token is
 * imageRows[k] (imageRows [R, D]: all tiles of all images in prompt order). R must equal the
 * number of patch tokens.
 */
export function mergeImageEmbeddings(
  tokenEmbeddings: Float32Array,
  tokens: ArrayLike<number>,
  imageRows: Float32Array,
  patchTokenId: number,
): Float32Array {
  const T = tokens.length;
  if (T === 0) {
    if (imageRows.length !== 0) throw new Error(`${imageRows.length} image values but no tokens to place them in`);
    return new Float32Array(0);
  }
  if (tokenEmbeddings.length % T !== 0) throw new Error(`token embeddings (${tokenEmbeddings.length} values) are not [${T}, D]`);
  const D = tokenEmbeddings.length / T;
  if (imageRows.length % D !== 0) throw new Error(`image rows (${imageRows.length} values) are not [R, ${D}]`);
  const R = imageRows.length / D;
  const slots = countPatchTokens(tokens, patchTokenId);
  if (slots !== R) {
    throw new Error(`the prompt has ${slots} <|patch|> tokens (id ${patchTokenId}) but the images give ${R} embedding rows: ` +
      "each image needs exactly its placeholder layout (see imageTokenIds) in the token list");
  }
  const out = tokenEmbeddings.slice();
  let k = 0;
  for (let t = 0; t < T; t++) {
    if (tokens[t] !== patchTokenId) continue;
    out.set(imageRows.subarray(k * D, (k + 1) * D), t * D);
    k++;
  }
  return out;
}

/** The decoder's input embeddings [T, D] for a prompt whose `<|patch|>` tokens stand for `imageRows`. */
export function multimodalEmbeddings(model: Llama4TextModel, tokens: ArrayLike<number>, imageRows: Float32Array, patchTokenId: number): Float32Array {
  return mergeImageEmbeddings(model.embed(tokens), tokens, imageRows, patchTokenId);
}
