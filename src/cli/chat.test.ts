// `llama4 chat` in a real terminal (tmux): replies stream, /reset and /system work, and
// Ctrl-C stops a reply without quitting; then `run` and the session's cache reuse.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { join } from "node:path";
import { repoRoot, requireShared } from "../../test/support.js";
import { runCli } from "../../test/cli.js";
import { openModel } from "../runtime/load.js";
import { ChatSession } from "../runtime/chat-session.js";
import { generateAll } from "../runtime/generator.js";
import { Tokenizer } from "../tokenizer/index.js";
import { encodeDialog } from "../chat/index.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function haveTmux(): boolean {
  return spawnSync("tmux", ["-V"]).status === 0;
}

async function waitFor(read: () => string, pattern: RegExp, what: string, ms = 20000): Promise<string> {
  const end = Date.now() + ms;
  for (;;) {
    const screen = read();
    if (pattern.test(screen)) return screen;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; screen:\n${screen}`);
    await sleep(100);
  }
}

test("chat under tmux: streaming, Ctrl-C stops the reply only, /reset, /exit", { timeout: 90_000 }, async (t) => {
  const model = requireShared(t, "fixtures/llama4/tiny-scout-fullvocab");
  const tok = requireShared(t, "llama4/tokenizer.model");
  if (!model || !tok) return;
  if (!haveTmux()) {
    if (process.env.CI === "true") throw new Error("tmux is required on CI (.ci/run installs it)");
    t.skip("tmux not installed");
    return;
  }
  const session = `llama4-chat-test-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync("tmux", args, { encoding: "utf8" });
  const screen = () => tmux("capture-pane", "-p", "-t", session, "-S", "-200");
  const cmd = [process.execPath, "--import", "tsx", join(repoRoot, "src/cli/main.ts"), "chat", "--model", model, "--tokenizer", tok,
    "--temperature", "1", "--seed", "3", "--max-tokens", "100000", "--quiet"].map((a) => `'${a}'`).join(" ");
  tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50", "-c", repoRoot, cmd);
  t.after(() => spawnSync("tmux", ["kill-session", "-t", session]));

  await waitFor(screen, /\/help for commands/, "the banner");
  await waitFor(screen, /^>\s*$/m, "the prompt");
  tmux("send-keys", "-t", session, "Tell me a very long story", "Enter");
  // The fixture's context (4096) bounds the reply; it streams for seconds, so Ctrl-C lands mid-reply.
  const before = await waitFor(screen, /Tell me a very long story\n.{40,}/s, "streamed text");
  await sleep(300);
  tmux("send-keys", "-t", session, "C-c");
  const stopped = await waitFor(screen, /\(stopped\)\n>\s*$/m, "the reply to stop and a new prompt");
  assert.ok(stopped.length >= before.length);

  tmux("send-keys", "-t", session, "/reset", "Enter");
  await waitFor(screen, /\(conversation reset\)\n>\s*$/m, "/reset");
  tmux("send-keys", "-t", session, "/system Be brief.", "Enter");
  await waitFor(screen, /\(system prompt set; conversation reset\)/, "/system");
  tmux("send-keys", "-t", session, "/image /nonexistent.png", "Enter");
  await waitFor(screen, /no such file: \/nonexistent\.png/, "/image of a missing file");
  tmux("send-keys", "-t", session, `/image ${join(repoRoot, "package.json")}`, "Enter");
  await waitFor(screen, /this model has no vision weights/, "/image on a text-only model");
  tmux("send-keys", "-t", session, "/exit", "Enter");
  const end = Date.now() + 10000;
  while (spawnSync("tmux", ["has-session", "-t", session]).status === 0 && Date.now() < end) await sleep(100);
  assert.notEqual(spawnSync("tmux", ["has-session", "-t", session]).status, 0, "chat should exit on /exit");
});

test("run: chat-formatted and raw prompts, JSON result with usage and timings", (t) => {
  const model = requireShared(t, "fixtures/llama4/tiny-scout-fullvocab");
  const tok = requireShared(t, "llama4/tokenizer.model");
  if (!model || !tok) return;
  const r = runCli(["run", "--model", model, "--tokenizer", tok, "--temperature", "0", "--max-tokens", "8", "--json", "Hello", "there"]);
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { text: string; tokens: number[]; usage: { prompt_tokens: number; completion_tokens: number }; finish_reason: string; timings: Record<string, number> };
  const tokenizer = Tokenizer.load(tok);
  const prompt = encodeDialog([{ role: "user", content: "Hello there" }], { tokenizer }).tokens;
  assert.equal(j.usage.prompt_tokens, prompt.length);
  assert.ok(j.tokens.length <= 8 && j.tokens.length === j.usage.completion_tokens);
  assert.ok(j.timings.decode_tok_s! > 0 && j.timings.load_s! > 0);
  const stdin = runCli(["run", "--model", model, "--tokenizer", tok, "--raw", "--temperature", "0", "--max-tokens", "4", "--quiet"], "Once upon a time");
  assert.equal(stdin.status, 0, stdin.stderr);
  const bad = runCli(["run", "--model", model, "--tokenizer", join(model, "missing.model"), "hi"]);
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /missing\.model/);
});

test("a chat session reuses its cache and replies exactly as a fresh one would", async (t) => {
  const model = requireShared(t, "fixtures/llama4/tiny-scout-fullvocab");
  const tok = requireShared(t, "llama4/tokenizer.model");
  if (!model || !tok) return;
  const { model: m } = openModel(model);
  const tokenizer = Tokenizer.load(tok);
  const opts = { maxTokens: 6, sampling: { temperature: 0 }, tokenizer, stopTokens: tokenizer.eosIds };
  const session = new ChatSession(m, 7); // small blocks, chunk 8: rewinds cross chunk edges
  const history = [{ role: "user" as const, content: "Hi" }];
  const first = await collect(session.reply(encodeDialog(history, { tokenizer }).tokens, opts));
  const turn2 = [...history, { role: "assistant" as const, content: first }, { role: "user" as const, content: "And then?" }];
  const prompt2 = encodeDialog(turn2, { tokenizer }).tokens;
  const cachedBefore = session.cachedTokens.length;
  const second = await collect(session.reply(prompt2, opts));
  const fresh = await generateAll(m, prompt2, opts);
  assert.equal(second, fresh.text);
  assert.ok(cachedBefore > 10, "the first turn stays cached");
  // Regenerating the same turn rewinds instead of starting over.
  assert.equal(await collect(session.reply(prompt2, opts)), fresh.text);
});

async function collect(it: AsyncGenerator<{ type: string; text?: string }>): Promise<string> {
  let text = "";
  for await (const ev of it) if (ev.type === "token") text += ev.text ?? "";
  return text;
}
