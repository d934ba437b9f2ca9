// Reading the fixtures' golden.safetensors (tokens, logit rows, logits, greedy, debug tensors).
import { SafetensorsFile, readTensor } from "../src/formats/safetensors.js";

export interface GoldenPrompt {
  readonly name: string;
  readonly tokens: number[];
  readonly logitRows: number[];
  readonly logits: Float32Array; // [rows, V]
  readonly greedy: number[];
}

export function readGoldenPrompts(path: string): { file: SafetensorsFile; prompts: GoldenPrompt[] } {
  const file = SafetensorsFile.open(path);
  const prompts: GoldenPrompt[] = [];
  for (let i = 0; file.tensors.has(`p${i}.tokens`); i++) {
    const name = `p${i}`;
    prompts.push({
      name,
      tokens: Array.from(readTensor(file, `${name}.tokens`).data as Int32Array),
      logitRows: Array.from(readTensor(file, `${name}.logit_rows`).data as Int32Array),
      logits: readTensor(file, `${name}.logits`).data as Float32Array,
      greedy: Array.from(readTensor(file, `${name}.greedy`).data as Int32Array),
    });
  }
  return { file, prompts };
}

/** Largest |a[rows[i]] − golden[i]| over the golden's rows of width V. */
export function maxAbsDiffAtRows(logits: Float32Array, golden: Float32Array, rows: readonly number[], V: number): number {
  let max = 0;
  rows.forEach((r, i) => {
    for (let v = 0; v < V; v++) max = Math.max(max, Math.abs(logits[r * V + v]! - golden[i * V + v]!));
  });
  return max;
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}
