// Bounded load test for `llama4 serve`: N concurrent streaming chat clients (default 16) for a
// fixed time (default 60 s), loopback only. Reports failed requests, time to first token
// (p50/p99) and aggregate generated tokens/s. Stops by itself: after the deadline no new
// request starts, and the ones in flight (bounded by --max-tokens) are read to the end.
//
// Usage:
//   npx tsx scripts/load-test.ts [--model <dir>] [--tokenizer <file|dir> | --vocab-tokenizer]
//        [--parallel 8] [--max-queue 32] [--clients 16] [--duration 60] [--max-tokens 32]
//        [--temperature 0.8] [--json]
//     starts `llama4 serve --port 0` itself (default: the demo model) and stops it at the end;
//     --vocab-tokenizer gives a synthetic checkpoint (which has none) a byte-level tokenizer
//     with exactly its vocabulary size, so every id the random head samples is decodable;
//   npx tsx scripts/load-test.ts --url http://127.0.0.1:8080 [--api-key KEY] [--model-name NAME] …
//     uses a server that is already running (it must be on loopback);
//   npx tsx scripts/load-test.ts --direct --model <dir> … 
//     the same requests straight into an in-process BatchScheduler: no HTTP, no SSE, no
//     client process, to tell batching from serving overhead.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { encodeDialog } from "../src/chat/index.js";
import { openModel } from "../src/runtime/load.js";
import { BatchScheduler } from "../src/runtime/scheduler.js";
import { LLAMA4_SPECIAL_TOKENS, Tokenizer, tokenizerJsonFromRanks } from "../src/tokenizer/index.js";

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

interface Options {
  url: string | undefined;
  model: string | undefined;
  tokenizer: string | undefined;
  vocabTokenizer: boolean;
  direct: boolean;
  parallel: number;
  maxQueue: number;
  clients: number;
  durationS: number;
  maxTokens: number;
  apiKey: string | undefined;
  modelName: string | undefined;
  json: boolean;
  temperature: number;
}

function parseArgs(argv: readonly string[]): Options {
  const value = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith("--")) throw new Error(`${name} needs a value`);
    return v;
  };
  const int = (name: string, dflt: number, min: number): number => {
    const v = value(name);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min}, got ${v}`);
    return n;
  };
  return {
    url: value("--url"),
    model: value("--model"),
    tokenizer: value("--tokenizer"),
    vocabTokenizer: argv.includes("--vocab-tokenizer"),
    direct: argv.includes("--direct"),
    parallel: int("--parallel", 8, 1),
    maxQueue: int("--max-queue", 32, 0),
    clients: int("--clients", 16, 1),
    durationS: int("--duration", 60, 1),
    maxTokens: int("--max-tokens", 32, 1),
    apiKey: value("--api-key"),
    modelName: value("--model-name"),
    json: argv.includes("--json"),
    temperature: Number(value("--temperature") ?? 0.8),
  };
}

function modelVocabSize(dir: string): number {
  const config = JSON.parse(readFileSync(join(dir, "config.json"), "utf8")) as { vocab_size?: number; text_config?: { vocab_size?: number } };
  const v = config.text_config?.vocab_size ?? config.vocab_size;
  if (typeof v !== "number") throw new Error(`${dir}/config.json: no vocab_size`);
  return v;
}

/**
 * A byte-level BPE tokenizer.json with exactly `vocabSize` ids: the 256 bytes, then byte
 * pairs (printable ASCII first), then the 2,048 Llama 4 special tokens at the end.
 */
function writeVocabTokenizer(dir: string, vocabSize: number): void {
  const nRanks = vocabSize - LLAMA4_SPECIAL_TOKENS.length;
  if (nRanks < 256 || nRanks > 256 + 256 * 256) throw new Error(`cannot make a byte-pair tokenizer of ${vocabSize} ids`);
  const ranks: Uint8Array[] = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
  const order = [...Array.from({ length: 95 }, (_, i) => 32 + i), ...Array.from({ length: 256 }, (_, b) => b).filter((b) => b < 32 || b > 126)];
  outer: for (const a of order) {
    for (const b of order) {
      if (ranks.length >= nRanks) break outer;
      ranks.push(Uint8Array.of(a, b));
    }
  }
  const specials = LLAMA4_SPECIAL_TOKENS.map((content, i) => ({ content, id: nRanks + i }));
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizerJsonFromRanks(ranks, specials)));
}

function requireLoopback(url: string): void {
  const host = new URL(url).hostname;
  if (!["127.0.0.1", "localhost", "[::1]", "::1"].includes(host)) throw new Error(`refusing to load-test ${url}: loopback addresses only`);
}

/** Starts `llama4 serve --port 0` and resolves with its URL once the weights are loaded. */
async function startServer(o: Options, tokenizer: string | undefined): Promise<{ url: string; child: ChildProcess }> {
  const args = ["--import", "tsx", join(repoRoot, "src/cli/main.ts"), "serve", "--port", "0", "--quiet",
    "--parallel", String(o.parallel), "--max-queue", String(Math.max(o.maxQueue, o.clients)),
    ...(o.model ? ["--model", o.model] : []), ...(tokenizer ? ["--tokenizer", tokenizer] : [])];
  const child = spawn(process.execPath, args, { cwd: repoRoot, stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.setEncoding("utf8");
  const url = await new Promise<string>((ok, fail) => {
    child.stderr!.on("data", (d: string) => {
      stderr += d;
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) ok(m[1]!);
    });
    child.on("exit", (code) => fail(new Error(`server exited (${code}):\n${stderr}`)));
  });
  return { url, child };
}

interface RequestResult {
  ok: boolean;
  error?: string;
  /** Seconds from sending to the first content. */
  ttft?: number;
  completionTokens: number;
  seconds: number;
}

const PROMPTS = [
  "Tell me a story about a llama who counts the stars.",
  "Summarize the plot of a detective novel in three sentences.",
  "What is the capital of France, and why is it famous?",
  "Write a haiku about mountains.",
  "Explain mixture-of-experts models to a ten year old, with an example involving a school and its teachers.",
  "List five uses for a paperclip.",
];

/** One streaming chat request, read to the end; usage comes from the final chunk. */
async function oneRequest(url: string, o: Options, n: number): Promise<RequestResult> {
  const t0 = performance.now();
  const body = {
    ...(o.modelName && { model: o.modelName }),
    messages: [{ role: "user", content: PROMPTS[n % PROMPTS.length] }],
    max_tokens: o.maxTokens,
    temperature: o.temperature,
    seed: n,
    stream: true,
    stream_options: { include_usage: true },
  };
  const seconds = () => (performance.now() - t0) / 1000;
  try {
    const res = await fetch(`${url}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(o.apiKey && { authorization: `Bearer ${o.apiKey}` }) },
      body: JSON.stringify(body),
    });
    if (res.status !== 200 || !res.body) return { ok: false, error: `HTTP ${res.status}`, completionTokens: 0, seconds: seconds() };
    let ttft: number | undefined;
    let tokens = 0;
    let buffer = "";
    let sawDone = false;
    const decoder = new TextDecoder();
    for await (const part of res.body) {
      buffer += decoder.decode(part, { stream: true });
      for (let i = buffer.indexOf("\n\n"); i >= 0; i = buffer.indexOf("\n\n")) {
        const event = buffer.slice(0, i);
        buffer = buffer.slice(i + 2);
        if (!event.startsWith("data: ")) continue;
        const data = event.slice(6);
        if (data === "[DONE]") {
          sawDone = true;
          continue;
        }
        const chunk = JSON.parse(data) as { error?: { message: string }; choices?: { delta?: { content?: string } }[]; usage?: { completion_tokens: number } | null };
        if (chunk.error) return { ok: false, error: chunk.error.message, completionTokens: tokens, seconds: seconds() };
        if (ttft === undefined && chunk.choices?.[0]?.delta?.content) ttft = seconds();
        if (chunk.usage) tokens = chunk.usage.completion_tokens;
      }
    }
    if (!sawDone) return { ok: false, error: "stream ended without [DONE]", completionTokens: tokens, seconds: seconds() };
    return { ok: true, ...(ttft !== undefined && { ttft }), completionTokens: tokens, seconds: seconds() };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err.message : String(err), completionTokens: 0, seconds: seconds() };
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** The same requests as `oneRequest`, submitted to an in-process scheduler. */
function directDriver(o: Options, tokenizerPath: string | undefined): { run: (n: number) => Promise<RequestResult>; generated: () => number } {
  if (!o.model) throw new Error("--direct needs --model");
  const { model } = openModel(o.model);
  const tokenizer = Tokenizer.load(tokenizerPath ?? o.model);
  const stopTokens = [...tokenizer.eosIds];
  const scheduler = new BatchScheduler(model, { parallel: o.parallel, maxQueue: Math.max(o.maxQueue, o.clients) });
  const run = async (n: number): Promise<RequestResult> => {
    const t0 = performance.now();
    const prompt = encodeDialog([{ role: "user", content: PROMPTS[n % PROMPTS.length]! }], { tokenizer }).tokens;
    let ttft: number | undefined;
    let tokens = 0;
    for await (const ev of scheduler.submit({ prompt, maxTokens: o.maxTokens, sampling: { temperature: o.temperature, seed: n }, stopTokens, tokenizer })) {
      if (ev.type === "token" && ev.text && ttft === undefined) ttft = (performance.now() - t0) / 1000;
      if (ev.type === "done") tokens = ev.tokens.length;
    }
    return { ok: true, ...(ttft !== undefined && { ttft }), completionTokens: tokens, seconds: (performance.now() - t0) / 1000 };
  };
  return { run, generated: () => scheduler.stats.generatedTokens };
}

async function generatedTotal(url: string): Promise<number | undefined> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const m = /^llama4_generated_tokens_total (\d+)$/m.exec(text);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  let tmp: string | undefined;
  let server: { url: string; child: ChildProcess } | undefined;
  try {
    let tokenizer = o.tokenizer;
    if (o.vocabTokenizer) {
      if (!o.model) throw new Error("--vocab-tokenizer needs --model");
      tmp = mkdtempSync(join(tmpdir(), "llama4-load-"));
      writeVocabTokenizer(tmp, modelVocabSize(o.model));
      tokenizer = tmp;
    }
    let url = o.url;
    let run: (n: number) => Promise<RequestResult>;
    let generated: () => Promise<number | undefined>;
    if (o.direct) {
      const d = directDriver(o, tokenizer);
      run = d.run;
      generated = async () => d.generated();
    } else {
      if (url === undefined) {
        server = await startServer(o, tokenizer);
        url = server.url;
      }
      requireLoopback(url);
      const target = url;
      run = (n) => oneRequest(target, o, n);
      generated = () => generatedTotal(target);
    }
    const where = o.direct ? "an in-process scheduler (no HTTP)" : url;
    if (!o.json) process.stderr.write(`load test: ${o.clients} streaming clients for ${o.durationS} s against ${where} (max_tokens ${o.maxTokens})\n`);

    const before = await generated();
    const results: RequestResult[] = [];
    const start = performance.now();
    const deadline = start + o.durationS * 1000;
    let next = 0;
    let serverGone = false;
    server?.child.once("exit", () => { serverGone = true; });
    await Promise.all(Array.from({ length: o.clients }, async () => {
      while (performance.now() < deadline && !serverGone) {
        const r = await run(next++);
        results.push(r);
        // A failing server must not turn this into a hot loop.
        if (!r.ok) await new Promise((ok) => setTimeout(ok, 200));
      }
    }));
    if (serverGone) throw new Error("the server exited during the load test");
    const elapsed = (performance.now() - start) / 1000;
    const after = await generated();

    const ok = results.filter((r) => r.ok);
    const failed = results.filter((r) => !r.ok);
    const ttfts = ok.flatMap((r) => (r.ttft !== undefined ? [r.ttft] : [])).sort((a, b) => a - b);
    const tokens = ok.reduce((s, r) => s + r.completionTokens, 0);
    const report = {
      target: where,
      clients: o.clients,
      parallel: o.url === undefined ? o.parallel : undefined,
      duration_s: Number(elapsed.toFixed(2)),
      requests: results.length,
      failed: failed.length,
      errors: [...new Set(failed.map((r) => r.error))].slice(0, 5),
      ttft_p50_s: Number(percentile(ttfts, 0.5).toFixed(3)),
      ttft_p99_s: Number(percentile(ttfts, 0.99).toFixed(3)),
      completion_tokens: tokens,
      tokens_per_s: Number((tokens / elapsed).toFixed(2)),
      generated_tokens_per_s: before !== undefined && after !== undefined ? Number(((after - before) / elapsed).toFixed(2)) : undefined,
    };
    if (o.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else {
      process.stdout.write(
        `requests ${report.requests} (failed ${report.failed})${report.errors.length ? ` errors: ${report.errors.join("; ")}` : ""}\n` +
        `time to first token: p50 ${report.ttft_p50_s} s, p99 ${report.ttft_p99_s} s\n` +
        `aggregate: ${report.completion_tokens} tokens in ${report.duration_s} s = ${report.tokens_per_s} tok/s` +
        `${report.generated_tokens_per_s !== undefined ? ` (scheduler counter: ${report.generated_tokens_per_s} tok/s)` : ""}\n`,
      );
    }
    process.exitCode = failed.length > 0 ? 1 : 0;
  } finally {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      server.child.kill("SIGTERM");
      await new Promise((r) => server!.child.once("exit", r));
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

await main();
// The model's kernel worker threads would keep an in-process (--direct) run alive.
process.exit();
