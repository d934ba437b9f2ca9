// `llama4 synth`: write a random-weight checkpoint of a preset architecture at any scale.
import type { Command } from "commander";
import { synthCheckpoint, type SynthDType } from "../synth/synth.js";
import { parseIntArg } from "./args.js";

interface SynthCliOptions {
  preset: string; dtype: string; seed: number; out: string; shardMb?: number; quiet?: boolean;
  hidden?: number; layers?: number; experts?: number; heads?: number; kvHeads?: number; headDim?: number;
  expertHidden?: number; denseHidden?: number; vocab?: number; chunk?: number;
  vision?: boolean; visionHidden?: number; visionLayers?: number; visionHeads?: number; visionIntermediate?: number;
  imageSize?: number; projectorDim?: number;
}

export function registerSynthCommand(program: Command): void {
  const int = (name: string) => parseIntArg(name, 1);
  program
    .command("synth")
    .description("write a random-weight Llama 4 checkpoint in Hugging Face format (config.json + safetensors)")
    .requiredOption("--preset <name>", "scout | maverick | behemoth")
    .option("--hidden <n>", "hidden size", int("--hidden"))
    .option("--layers <n>", "decoder layers", int("--layers"))
    .option("--experts <n>", "routed experts", int("--experts"))
    .option("--heads <n>", "query heads", int("--heads"))
    .option("--kv-heads <n>", "key/value heads", int("--kv-heads"))
    .option("--head-dim <n>", "head dimension", int("--head-dim"))
    .option("--expert-hidden <n>", "expert (and shared expert) FFN width", int("--expert-hidden"))
    .option("--dense-hidden <n>", "dense FFN width", int("--dense-hidden"))
    .option("--vocab <n>", "vocabulary size", int("--vocab"))
    .option("--chunk <n>", "local attention chunk size", int("--chunk"))
    .option("--vision", "also write the vision tower and projector (released shape unless overridden)")
    .option("--vision-hidden <n>", "vision width", int("--vision-hidden"))
    .option("--vision-layers <n>", "vision encoder layers", int("--vision-layers"))
    .option("--vision-heads <n>", "vision heads", int("--vision-heads"))
    .option("--vision-intermediate <n>", "vision MLP width", int("--vision-intermediate"))
    .option("--image-size <n>", "tile side in pixels", int("--image-size"))
    .option("--projector-dim <n>", "adapter/projector width", int("--projector-dim"))
    .option("--dtype <t>", "f32 | bf16", "bf16")
    .option("--seed <n>", "random seed", parseIntArg("--seed", 0), 0)
    .option("--shard-mb <n>", "shard size limit in MB (default 2048)", int("--shard-mb"))
    .option("--quiet", "no summary on stderr")
    .requiredOption("--out <dir>", "output folder")
    .action((o: SynthCliOptions) => {
      if (o.dtype !== "f32" && o.dtype !== "bf16") throw new Error(`--dtype must be f32 or bf16, got ${JSON.stringify(o.dtype)}`);
      const r = synthCheckpoint({
        preset: o.preset,
        dtype: o.dtype as SynthDType,
        seed: o.seed,
        out: o.out,
        ...(o.shardMb !== undefined && { shardBytes: o.shardMb * 1024 * 1024 }),
        ...(o.vision && {
          vision: Object.fromEntries(Object.entries({
            hidden: o.visionHidden, layers: o.visionLayers, heads: o.visionHeads, intermediate: o.visionIntermediate,
            imageSize: o.imageSize, projectorDim: o.projectorDim,
          }).filter(([, v]) => v !== undefined)),
        }),
        overrides: {
          hidden: o.hidden, layers: o.layers, experts: o.experts, heads: o.heads, kvHeads: o.kvHeads, headDim: o.headDim,
          expertHidden: o.expertHidden, denseHidden: o.denseHidden, vocab: o.vocab, chunk: o.chunk,
        },
      });
      if (!o.quiet) {
        process.stderr.write(`wrote ${r.files.length} shard(s), ${(r.parameters / 1e6).toFixed(1)}M parameters, ${(r.totalBytes / 1e6).toFixed(1)} MB to ${o.out} (random weights)\n`);
      }
    });
}
