// Parser for the tiktoken ranks format (`tokenizer.model`): one `<base64 bytes> <rank>` per
// line. Ranks must be 0, 1, 2, ... in file order; they are the token ids.
import { TokenBytesTable } from "./vocab.js";

const BASE64_VALUE = (() => {
  const table = new Int8Array(256).fill(-1);
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();
const EQUALS = 0x3d;
const SPACE = 0x20;
const NEWLINE = 0x0a;
const CR = 0x0d;

/** Parses a tiktoken ranks file; `source` names it in errors. */
export function parseTiktokenRanks(data: Uint8Array, source: string): TokenBytesTable {
  if (data.length === 0) throw new Error(`${source}: file is empty`);
  // Decoded bytes are always shorter than the text; one pool sized by the file suffices.
  const pool = new Uint8Array(data.length);
  let starts: Int32Array<ArrayBuffer> = new Int32Array(1024);
  let lengths: Int32Array<ArrayBuffer> = new Int32Array(1024);
  let poolUsed = 0;
  let rankCount = 0;
  let lineNo = 0;
  let pos = 0;
  const fail = (msg: string): never => {
    throw new Error(`${source}: line ${lineNo}: ${msg}`);
  };
  while (pos < data.length) {
    lineNo++;
    let end = data.indexOf(NEWLINE, pos);
    if (end < 0) end = data.length;
    let lineEnd = end;
    if (lineEnd > pos && data[lineEnd - 1] === CR) lineEnd--;
    const lineStart = pos;
    pos = end + 1;
    if (lineEnd === lineStart) continue; // blank lines are ignored, as in tiktoken
    const space = data.indexOf(SPACE, lineStart);
    if (space < 0 || space >= lineEnd) fail(`expected "<base64> <rank>", got ${quoteLine(data, lineStart, lineEnd)}`);
    const decodedLength = decodeBase64(data, lineStart, space, pool, poolUsed);
    if (decodedLength < 0) fail(`invalid base64 ${quoteLine(data, lineStart, space)}`);
    if (decodedLength === 0) fail("empty token");
    const rank = parseRank(data, space + 1, lineEnd);
    if (rank < 0) fail(`invalid rank ${quoteLine(data, space + 1, lineEnd)}`);
    if (rank !== rankCount) {
      fail(
        rank < rankCount
          ? `duplicate or out-of-order rank ${rank} (expected ${rankCount})`
          : `non-contiguous rank ${rank} (expected ${rankCount})`,
      );
    }
    if (rankCount === starts.length) {
      starts = grow(starts);
      lengths = grow(lengths);
    }
    starts[rankCount] = poolUsed;
    lengths[rankCount] = decodedLength;
    poolUsed += decodedLength;
    rankCount++;
  }
  if (rankCount === 0) throw new Error(`${source}: no tokens (file has only blank lines)`);
  return new TokenBytesTable(pool.subarray(0, poolUsed), starts.slice(0, rankCount), lengths.slice(0, rankCount), (id, other) => {
    throw new Error(`${source}: line ${lineOfRank(data, id)}: token of rank ${id} duplicates the bytes of rank ${other}`);
  });
}

function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

/** Strict base64 (padding optional) of data[start..end) into out at offset; -1 if invalid. */
function decodeBase64(data: Uint8Array, start: number, end: number, out: Uint8Array, offset: number): number {
  let padStart = end;
  while (padStart > start && data[padStart - 1] === EQUALS) padStart--;
  const padding = end - padStart;
  if (padding > 2 || (padding > 0 && (end - start) % 4 !== 0)) return -1;
  const chars = padStart - start;
  if (chars % 4 === 1) return -1;
  let n = offset;
  let acc = 0;
  let bits = 0;
  for (let i = start; i < padStart; i++) {
    const v = BASE64_VALUE[data[i]!]!;
    if (v < 0) return -1;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[n++] = (acc >> bits) & 0xff;
    }
  }
  return n - offset;
}

function parseRank(data: Uint8Array, start: number, end: number): number {
  if (start >= end || end - start > 9) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = data[i]! - 0x30;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

function quoteLine(data: Uint8Array, start: number, end: number): string {
  const text = Buffer.from(data.subarray(start, Math.min(end, start + 60))).toString("utf8");
  return JSON.stringify(end - start > 60 ? text + "..." : text);
}

/** Line number of a rank's line (only used for error messages). */
function lineOfRank(data: Uint8Array, rank: number): number {
  let line = 0;
  let seen = -1;
  let pos = 0;
  while (pos < data.length && seen < rank) {
    line++;
    let end = data.indexOf(NEWLINE, pos);
    if (end < 0) end = data.length;
    if (end > pos && !(end === pos + 1 && data[pos] === CR)) seen++;
    pos = end + 1;
  }
  return line;
}

/** Serializes ranks (index = rank) in the tiktoken text format. */
export function formatTiktokenRanks(ranks: ReadonlyArray<Uint8Array>): string {
  const lines: string[] = [];
  ranks.forEach((bytes, rank) => lines.push(`${Buffer.from(bytes).toString("base64")} ${rank}`));
  return lines.join("\n") + "\n";
}
