// `llama4 run [prompt]`: one reply, streamed to stdout (chat format unless --raw).
import type { Command } from "commander";
import type { ChatMessage } from "../chat/index.js";
import { generate, type GenerationEvent } from "../runtime/generator.js";
import { readStdin } from "./args.js";
import { encodeMultimodalDialog, openVision } from "../runtime/images.js";
import { addModelOptions, addSamplingOptions, loadChatModel, samplingParams, timingLine, type ModelCliOptions, type SamplingCliOptions } from "./chat-model.js";

interface RunCliOptions extends ModelCliOptions, SamplingCliOptions {
  image: string[];
  raw?: boolean;
  system?: string;
  json?: boolean;
}

export function registerRunCommand(program: Command): void {
  const cmd = program
    .command("run")
    .description("reply to a prompt (argument or stdin), streaming the text")
    .argument("[prompt...]", "the prompt (default: read stdin)")
    .option("--image <path>", "attach an image to the prompt (repeatable; PNG, JPEG, WebP, GIF)", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option("--raw", "no chat format: continue the prompt text as is")
    .option("--system <text>", "system prompt")
    .option("--json", "print one JSON result (text, tokens, usage, timings) instead of streaming");
  addModelOptions(cmd);
  addSamplingOptions(cmd);
  cmd.action(async (words: string[], o: RunCliOptions) => {
    const prompt = words.length > 0 ? words.join(" ") : process.stdin.isTTY ? "" : (await readStdin()).toString("utf8");
    if (prompt === "") throw new Error("run: give a prompt as an argument or on stdin");
    const m = loadChatModel(o);
    let tokens: number[];
    let embeddings: Float32Array | undefined;
    if (o.raw) {
      if (o.image.length > 0) throw new Error("run: --image needs the chat format (drop --raw)");
      tokens = m.tokenizer.encode(prompt, { bos: m.tokenizer.bosId !== undefined });
    } else {
      const messages: ChatMessage[] = [];
      if (o.system !== undefined) messages.push({ role: "system", content: o.system });
      const images = o.image.map((path) => ({ type: "image" as const, path }));
      messages.push({ role: "user", content: images.length > 0 ? [...images, { type: "text", text: prompt }] : prompt });
      const vision = o.image.length > 0 ? openVision(m.dir, m.model.kernels) : undefined;
      ({ tokens, embeddings } = await encodeMultimodalDialog(m.model, vision, messages, { tokenizer: m.tokenizer }));
    }
    const ac = new AbortController();
    const onSigint = () => ac.abort();
    process.once("SIGINT", onSigint);
    let done: Extract<GenerationEvent, { type: "done" }> | undefined;
    try {
      for await (const ev of generate(m.model, tokens, {
        maxTokens: o.maxTokens, sampling: samplingParams(o, m), stopTokens: m.stopTokens, stopStrings: o.stop,
        tokenizer: m.tokenizer, signal: ac.signal, ...(embeddings && { promptEmbeddings: embeddings }),
      })) {
        if (ev.type === "token") {
          if (!o.json && ev.text) process.stdout.write(ev.text);
        } else {
          done = ev;
        }
      }
    } finally {
      process.off("SIGINT", onSigint);
    }
    if (!done) return;
    if (o.json) {
      process.stdout.write(JSON.stringify({
        text: done.text,
        tokens: done.tokens,
        finish_reason: done.finishReason,
        usage: { prompt_tokens: done.promptTokens, completion_tokens: done.tokens.length },
        timings: {
          load_s: m.loadSeconds,
          prompt_s: done.promptSeconds,
          prompt_tok_s: done.promptTokens / Math.max(done.promptSeconds, 1e-9),
          decode_s: done.decodeSeconds,
          decode_tok_s: done.tokens.length / Math.max(done.decodeSeconds, 1e-9),
        },
        demo_model: m.isDemo,
      }) + "\n");
    } else {
      process.stdout.write("\n");
      if (!o.quiet) process.stderr.write(`${timingLine(done)}\n`);
    }
  });
}
