// Parsing helpers shared by subcommands: every bad value names its option.
import { InvalidArgumentError } from "commander";

export function parseIntArg(name: string, min = 0) {
  return (v: string): number => {
    const n = Number(v);
    if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) {
      throw new InvalidArgumentError(`${name} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    }
    return n;
  };
}

export function parseFloatArg(name: string, min = -Infinity) {
  return (v: string): number => {
    const n = Number(v);
    if (v.trim() === "" || !Number.isFinite(n) || n < min) throw new InvalidArgumentError(`${name} must be a number >= ${min}, got ${JSON.stringify(v)}`);
    return n;
  };
}

/** --kv-type: f32 | f16 | q8_0. */
export function parseKVTypeArg(v: string): "f32" | "f16" | "q8_0" {
  if (v === "f32" || v === "f16" || v === "q8_0") return v;
  throw new InvalidArgumentError(`--kv-type must be f32, f16 or q8_0, got ${JSON.stringify(v)}`);
}

/** Help text of --kv-type. */
export const KV_TYPE_HELP = "KV cache element type: f32 (default), f16 or q8_0 (head_dim a multiple of 32)";

/** "1,2,3" (spaces allowed) → [1, 2, 3]. */
export function parseTokenList(v: string): number[] {
  const parts = v.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (parts.length === 0) throw new InvalidArgumentError("--tokens needs at least one token id, e.g. --tokens 1,2,3");
  return parts.map((s) => {
    if (!/^\d+$/.test(s)) throw new InvalidArgumentError(`--tokens: ${JSON.stringify(s)} is not a token id (non-negative integer)`);
    return Number(s);
  });
}

/** All of stdin as bytes (decode as UTF-8 where text is expected). */
export async function readStdin(): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === "string" ? Buffer.from(chunk, "utf8") : (chunk as Buffer));
  return Buffer.concat(chunks);
}
