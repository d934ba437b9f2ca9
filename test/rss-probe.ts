// Child process for the memory test: load a model, prefill and decode a few tokens, then
// report peak RSS next to the bytes of weights loaded.
import { openModel } from "../src/runtime/load.js";
import { generateGreedy } from "../src/runtime/generate.js";

const dir = process.argv[2];
if (!dir) throw new Error("usage: rss-probe <model dir>");
const { model, source } = openModel(dir);
const tokens = generateGreedy(model, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], { maxTokens: 4 });
process.stdout.write(JSON.stringify({
  maxRssBytes: process.resourceUsage().maxRSS * 1024,
  weightBytes: source.weightBytes,
  tokens,
}) + "\n");
