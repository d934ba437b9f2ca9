// `llama4 bench`: load time, prompt and decode throughput, decode memory bandwidth, peak RSS.
import type { Command } from "commander";
import { availableParallelism } from "node:os";
import { openModel } from "../runtime/load.js";
import { runBenchmark } from "../runtime/bench.js";
import { openVision } from "../runtime/images.js";
import { KV_TYPE_HELP, parseIntArg, parseKVTypeArg } from "./args.js";

interface BenchCliOptions {
  model: string;
  promptTokens: number;
  genTokens: number;
  threads: number;
  kernels: "wasm" | "ref";
  visionTiles: number;
  json?: boolean;
  kvType: "f32" | "f16" | "q8_0";
}

export function registerBenchCommand(program: Command): void {
  program
    .command("bench")
    .description("measure load time, prompt and decode tokens/s, decode GB/s and peak RSS")
    .requiredOption("--model <dir|gguf>", "model folder or GGUF file")
    .option("--prompt-tokens <n>", "prompt length", parseIntArg("--prompt-tokens", 1), 512)
    .option("--gen-tokens <n>", "tokens to decode", parseIntArg("--gen-tokens", 1), 128)
    .option("--threads <n>", "worker threads", parseIntArg("--threads", 1), availableParallelism())
    .option("--kernels <k>", "wasm (WASM SIMD on --threads threads) or ref (plain TS)", "wasm")
    .option("--vision-tiles <n>", "also time the vision tower on n tiles (multimodal checkpoints)", parseIntArg("--vision-tiles", 0), 0)
    .option("--kv-type <type>", KV_TYPE_HELP, parseKVTypeArg, "f32")
    .option("--json", "print one JSON line")
    .action((o: BenchCliOptions) => {
      const t0 = performance.now();
      if (o.kernels !== "wasm" && o.kernels !== "ref") throw new Error(`--kernels must be wasm or ref, got ${JSON.stringify(o.kernels)}`);
      const { model, source, kernels } = openModel(o.model, { threads: o.threads, kernels: o.kernels, kvType: o.kvType });
      const loadS = (performance.now() - t0) / 1000;
      const r = runBenchmark(model, o.promptTokens, o.genTokens);
      let vision: { vision_tiles: number; vision_tile_s: number; vision_load_s: number } | undefined;
      if (o.visionTiles > 0) {
        const tv = performance.now();
        const v = openVision(o.model, kernels);
        if (!v) throw new Error(`${o.model}: --vision-tiles needs a checkpoint with a vision tower`);
        const loadV = (performance.now() - tv) / 1000;
        const S = v.vision.config.imageSize;
        const pixels = Float32Array.from({ length: o.visionTiles * 3 * S * S }, (_, i) => Math.sin(i * 0.37));
        const t1 = performance.now();
        v.vision.embedTiles(pixels, o.visionTiles);
        vision = { vision_tiles: o.visionTiles, vision_tile_s: (performance.now() - t1) / 1000 / o.visionTiles, vision_load_s: loadV };
      }
      const result = {
        model: o.model,
        threads: o.threads,
        kernels: kernels.name,
        weight_bytes: source.weightBytes,
        load_s: loadS,
        ...r,
        ...vision,
        peak_rss_mb: (process.resourceUsage().maxRSS * 1024) / 1e6,
      };
      if (o.json) {
        process.stdout.write(JSON.stringify(result) + "\n");
        return;
      }
      const rows: [string, string][] = [
        ["model", o.model],
        ["weights", `${(source.weightBytes / 1e6).toFixed(0)} MB`],
        ["threads / kernels", `${o.threads} / ${result.kernels}`],
        ["KV cache", r.kv_type],
        ["load", `${loadS.toFixed(2)} s`],
        ["prompt", `${r.prompt_tokens} tok in ${r.prompt_s.toFixed(2)} s = ${r.prompt_tok_s.toFixed(1)} tok/s`],
        ["decode", `${r.gen_tokens} tok in ${r.decode_s.toFixed(2)} s = ${r.decode_tok_s.toFixed(2)} tok/s`],
        ["decode traffic", `${(r.bytes_per_token / 1e6).toFixed(1)} MB/token = ${r.decode_gb_s.toFixed(2)} GB/s`],
        ...(vision ? [["vision tower", `${vision.vision_tile_s.toFixed(2)} s per tile (${o.visionTiles} tiles)`] as [string, string]] : []),
        ["peak RSS", `${result.peak_rss_mb.toFixed(0)} MB`],
      ];
      for (const [k, v] of rows) process.stdout.write(`${k.padEnd(18)} ${v}\n`);
    });
}
