// Child process for scripts/kl-divergence.ts: llama.cpp's full next-token distribution at
// every position of a token list, written as a Float32Array [T, V] of log-probabilities.
import { writeFileSync } from "node:fs";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, tokensArg, outPath] = process.argv.slice(2);
const tokens = tokensArg.split(",").map(Number);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const V = model.tokens.vocabSize ?? 202048;
const ctx = await model.createContext({ contextSize: tokens.length + 16, threads: 2 });
const seq = ctx.getSequence();
const out = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 1 << 30, topP: 1, minP: 0 } } }]));
const logp = new Float32Array(tokens.length * V).fill(-Infinity);
out.forEach((o, i) => {
  for (const [id, p] of o?.next?.probabilities ?? new Map()) logp[i * V + id] = Math.log(p);
});
writeFileSync(outPath, Buffer.from(logp.buffer));
await ctx.dispose();
await model.dispose();
process.exit(0);
