// `llama4 convert`: a Hugging Face Llama 4 folder → one GGUF file, as llama.cpp writes it.
import type { Command } from "commander";
import { InvalidArgumentError } from "commander";
import { GGUF_OUT_TYPES, convertHfToGguf, type GgufOutType } from "../formats/gguf-llama4.js";
import { loadProgressBar } from "./progress.js";

interface ConvertCliOptions {
  model: string;
  out: string;
  type: GgufOutType;
  tokenizer?: string;
  name?: string;
  quiet?: boolean;
}

function parseOutType(v: string): GgufOutType {
  if (!(GGUF_OUT_TYPES as readonly string[]).includes(v)) {
    throw new InvalidArgumentError(`--type must be one of ${GGUF_OUT_TYPES.join(", ")}, got ${JSON.stringify(v)}`);
  }
  return v as GgufOutType;
}

export function registerConvertCommand(program: Command): void {
  program
    .command("convert")
    .description("convert a Hugging Face Llama 4 checkpoint to GGUF (llama.cpp's names, keys and quantization mixes)")
    .requiredOption("--model <dir>", "Hugging Face model folder (config.json + safetensors)")
    .requiredOption("--out <file>", "output .gguf file")
    .option("--type <t>", `tensor type: ${GGUF_OUT_TYPES.join(" | ")}`, parseOutType, "f16" as GgufOutType)
    .option("--tokenizer <file|dir>", "tokenizer.json / tokenizer.model (or a folder) to embed as the GGUF vocabulary")
    .option("--name <name>", "general.name (default: the model folder's name)")
    .option("--quiet", "no progress or summary output")
    .action((o: ConvertCliOptions) => {
      const bar = loadProgressBar("converting", !!o.quiet);
      const r = convertHfToGguf(o.model, o.out, {
        type: o.type,
        ...(o.tokenizer !== undefined && { tokenizer: o.tokenizer }),
        ...(o.name !== undefined && { name: o.name }),
        // The bar counts bytes; weights converted stand in for them (same ratio).
        onProgress: (p) => bar.update({ loadedBytes: p.doneWeights, totalBytes: p.totalWeights }),
      });
      bar.stop();
      if (!o.quiet) {
        const counts = new Map<string, number>();
        for (const t of r.tensors) counts.set(t.type, (counts.get(t.type) ?? 0) + 1);
        const mix = [...counts].map(([type, n]) => `${n} ${type}`).join(", ");
        process.stderr.write(`wrote ${r.path}: ${(r.bytes / 1e6).toFixed(1)} MB, ${r.tensors.length} tensors (${mix})\n`);
        for (const f of r.fallbacks) process.stderr.write(`  fallback ${f} (row length not a whole number of blocks)\n`);
      }
    });
}
