// Child process for the llama.cpp agreement test: next-token probabilities from llama.cpp
// (node-llama-cpp) at every position of a token list. Prints JSON: per position, the top
// `k` [token, probability] pairs.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const [modelPath, tokensArg, kArg] = process.argv.slice(2);
const tokens = tokensArg.split(",").map(Number);
const k = Number(kArg);
const llama = await getLlama({ gpu: false, build: "never", logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath });
const ctx = await model.createContext({ contextSize: 256, threads: 1 });
const seq = ctx.getSequence();
const out = await seq.controlledEvaluate(tokens.map((t) => [t, { generateNext: { probabilities: true, options: { temperature: 1, topK: 1 << 30, topP: 1, minP: 0 } } }]));
const rows = out.map((o) => [...(o?.next?.probabilities ?? new Map()).entries()].slice(0, k));
process.stdout.write(JSON.stringify(rows) + "\n");
await ctx.dispose();
await model.dispose();
process.exit(0);
