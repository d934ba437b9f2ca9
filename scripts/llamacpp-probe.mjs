// Child process for scripts/bench-llamacpp.ts: llama.cpp (through node-llama-cpp) on one
// GGUF file, measured the way `llama4 bench` measures: load, prompt (no sampling), greedy
// decode of N tokens, peak RSS. Prints one JSON line.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, promptTokens, genTokens, threads] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4]), Number(process.argv[5])];
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const t0 = performance.now();
const model = await llama.loadModel({ modelPath });
const ctx = await model.createContext({ contextSize: promptTokens + genTokens + 16, threads, batchSize: 512 });
const loadS = (performance.now() - t0) / 1000;
const seq = ctx.getSequence();
// Same pseudo-random prompt as llama4 bench.
const vocab = model.tokens.vocabSize ?? 202048;
const prompt = Array.from({ length: promptTokens }, (_, i) => (i * 7919 + 13) % Math.min(vocab, 200000));
const t1 = performance.now();
await seq.evaluateWithoutGeneratingNewTokens(prompt);
const promptS = (performance.now() - t1) / 1000;
const t2 = performance.now();
let n = 0;
for await (const _ of seq.evaluate([prompt[prompt.length - 1]], { temperature: 0 })) if (++n >= genTokens) break;
const decodeS = (performance.now() - t2) / 1000;
process.stdout.write(JSON.stringify({
  engine: "llama.cpp (node-llama-cpp 3.21.1)", load_s: loadS, prompt_tokens: promptTokens, prompt_s: promptS,
  prompt_tok_s: promptTokens / promptS, gen_tokens: n, decode_s: decodeS, decode_tok_s: n / decodeS,
  peak_rss_mb: (process.resourceUsage().maxRSS * 1024) / 1e6,
}) + "\n");
await ctx.dispose();
await model.dispose();
process.exit(0);
