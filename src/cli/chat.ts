// `llama4 chat`: an interactive conversation in the terminal. Replies stream; the KV cache
// is kept between turns (only new tokens are fed). Ctrl-C stops a reply without quitting;
// at the prompt, Ctrl-C twice (or Ctrl-D, or /exit) quits.
import type { Command } from "commander";
import { createInterface, type Interface } from "node:readline";
import { existsSync } from "node:fs";
import type { ChatMessage } from "../chat/index.js";
import { encodeMultimodalDialog, openVision, type VisionRuntime } from "../runtime/images.js";
import { ChatSession } from "../runtime/chat-session.js";
import { addModelOptions, addSamplingOptions, loadChatModel, samplingParams, timingLine, type ModelCliOptions, type SamplingCliOptions } from "./chat-model.js";

interface ChatCliOptions extends ModelCliOptions, SamplingCliOptions {
  system?: string;
}

const HELP = `commands:
  /reset           forget the conversation (keeps the system prompt)
  /system <text>   set the system prompt and start over ("/system" alone clears it)
  /image <path>    attach an image to your next message (repeatable)
  /help            this text
  /exit            quit (also Ctrl-D, or Ctrl-C twice at the prompt)
multi-line input: end a line with \\ to continue it, or wrap a block in """ lines.
Ctrl-C while a reply streams stops the reply.`;

export function registerChatCommand(program: Command): void {
  const cmd = program
    .command("chat")
    .description("interactive chat in the terminal (history, multi-line input, /reset, /system; Ctrl-C stops a reply)")
    .option("--system <text>", "system prompt");
  addModelOptions(cmd);
  addSamplingOptions(cmd);
  cmd.action(async (o: ChatCliOptions) => {
    const m = loadChatModel(o);
    const session = new ChatSession(m.model);
    let system = o.system;
    let history: ChatMessage[] = [];
    let pendingImages: string[] = [];
    let vision: VisionRuntime | undefined;
    const imageCache = new Map<string, { grid: { rows: number; cols: number }; rows: Float32Array }>();
    const out = process.stdout;
    out.write(`llama4 chat — /help for commands${m.isDemo ? " (demo model: random weights)" : ""}\n`);

    const rl: Interface = createInterface({ input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true, historySize: 200 });
    let replying: AbortController | undefined;
    let lastSigint = 0;
    let closed = false;
    rl.on("SIGINT", () => {
      if (replying) {
        replying.abort();
        return;
      }
      const now = Date.now();
      if (now - lastSigint < 2000) {
        rl.close();
        return;
      }
      lastSigint = now;
      rl.write(null, { ctrl: true, name: "u" }); // clear the line being typed
      out.write("\n(press Ctrl-C again, or Ctrl-D, to quit)\n");
      rl.prompt();
    });
    const lines: string[] = [];
    rl.on("line", (l) => lines.push(l));
    rl.on("close", () => { closed = true; });

    /** Next line of input, or undefined at end of input. */
    const nextLine = (prompt: string): Promise<string | undefined> =>
      new Promise((resolve) => {
        if (lines.length > 0) return resolve(lines.shift());
        if (closed) return resolve(undefined);
        rl.setPrompt(prompt);
        rl.prompt();
        const onLine = () => { cleanup(); resolve(lines.shift()); };
        const onClose = () => { cleanup(); resolve(lines.shift()); };
        const cleanup = () => { rl.off("line", onLine); rl.off("close", onClose); };
        // Registered after the buffering listener, so the line is already queued.
        rl.on("line", onLine);
        rl.on("close", onClose);
      });

    /** One user message: continuation lines ending in "\", or a """ block. */
    const readMessage = async (): Promise<string | undefined> => {
      let first = await nextLine("> ");
      if (first === undefined) return undefined;
      if (first.trim() === '"""') {
        const block: string[] = [];
        for (;;) {
          const l = await nextLine("… ");
          if (l === undefined || l.trim() === '"""') return block.join("\n");
          block.push(l);
        }
      }
      const parts: string[] = [];
      while (first !== undefined && first.endsWith("\\")) {
        parts.push(first.slice(0, -1));
        first = await nextLine("… ");
      }
      if (first !== undefined) parts.push(first);
      return parts.join("\n");
    };

    for (;;) {
      const text = await readMessage();
      if (text === undefined) break;
      const trimmed = text.trim();
      if (trimmed === "") continue;
      if (trimmed.startsWith("/")) {
        const [name, ...rest] = trimmed.split(/\s+/);
        const arg = trimmed.slice(name!.length).trim();
        if (name === "/exit" || name === "/quit") break;
        if (name === "/help") out.write(`${HELP}\n`);
        else if (name === "/reset") {
          history = [];
          session.reset();
          out.write("(conversation reset)\n");
        } else if (name === "/system") {
          system = rest.length > 0 ? arg : undefined;
          history = [];
          session.reset();
          out.write(system === undefined ? "(system prompt cleared; conversation reset)\n" : "(system prompt set; conversation reset)\n");
        } else if (name === "/image") {
          if (!arg) out.write("usage: /image <path>\n");
          else if (!existsSync(arg)) out.write(`no such file: ${arg}\n`);
          else {
            vision ??= openVision(m.dir, m.model.kernels);
            if (!vision) out.write("this model has no vision weights; it cannot take images\n");
            else {
              pendingImages.push(arg);
              out.write(`(image ${pendingImages.length} attached to your next message)\n`);
            }
          }
        } else out.write(`unknown command ${name}; /help lists them\n`);
        continue;
      }

      const images = pendingImages.map((path) => ({ type: "image" as const, path }));
      pendingImages = [];
      history.push({ role: "user", content: images.length > 0 ? [...images, { type: "text", text }] : text });
      const messages: ChatMessage[] = system !== undefined ? [{ role: "system", content: system }, ...history] : history;
      let prompt: number[];
      let embeddings: Float32Array | undefined;
      try {
        ({ tokens: prompt, embeddings } = await encodeMultimodalDialog(m.model, vision, messages, { tokenizer: m.tokenizer, imageCache }));
      } catch (err) {
        history.pop();
        out.write(`error: ${(err as Error).message}\n`);
        continue;
      }
      replying = new AbortController();
      let reply = "";
      try {
        for await (const ev of session.reply(prompt, {
          maxTokens: o.maxTokens, sampling: samplingParams(o, m), stopTokens: m.stopTokens, stopStrings: o.stop,
          tokenizer: m.tokenizer, signal: replying.signal, ...(embeddings && { promptEmbeddings: embeddings }),
        })) {
          if (ev.type === "token") {
            out.write(ev.text);
            reply += ev.text;
          } else {
            out.write(ev.finishReason === "abort" ? "\n(stopped)\n" : "\n");
            if (!o.quiet) process.stderr.write(`${timingLine(ev)}\n`);
          }
        }
      } finally {
        replying = undefined;
      }
      history.push({ role: "assistant", content: reply });
    }
    rl.close();
    out.write("\n");
  });
}
