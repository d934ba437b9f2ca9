// `llama4 serve`: the OpenAI-compatible HTTP server. Binds first (so /health answers 503
// while the weights load), loads, prints the URL on stderr, and on SIGTERM/SIGINT drains:
// new requests get 503, running ones get --shutdown-grace-ms to finish, the rest are
// cancelled, and the process exits 0.
import type { Command } from "commander";
import type { Server } from "node:http";
import { basename, extname } from "node:path";
import { TensorStore } from "../formats/checkpoint.js";
import { buildApp, createServingModel, metricsSnapshot, ServerState } from "../server/app.js";
import { openVision } from "../runtime/images.js";
import { ServerMetrics } from "../server/metrics.js";
import { parseIntArg } from "./args.js";
import { addModelOptions, loadChatModel, type ModelCliOptions } from "./chat-model.js";
import { formatError } from "./errors.js";

interface ServeCliOptions extends ModelCliOptions {
  host: string;
  port: number;
  apiKey?: string;
  parallel: number;
  maxQueue: number;
  ctx?: number;
  maxBatchTokens?: number;
  allowRemoteImages?: boolean;
  shutdownGraceMs: number;
}

/** `[::1]:8080` for IPv6 hosts, `127.0.0.1:8080` otherwise. */
function httpUrl(host: string, port: number): string {
  return `http://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

/** Whether the checkpoint holds a vision tower (headers only; false for anything unreadable). */
function hasVisionWeights(path: string): boolean {
  try {
    const store = TensorStore.open(path);
    try {
      return store.names().some((n) => n.startsWith("vision_model."));
    } finally {
      store.close();
    }
  } catch {
    return false;
  }
}

function modelId(path: string | undefined): string {
  if (path === undefined) return "demo-scout";
  const name = basename(path.replace(/[\\/]+$/, ""));
  return extname(name).toLowerCase() === ".gguf" ? name.slice(0, -5) : name;
}

/**
 * Waits for the HTTP server to close. Keep-alive connections that go idle after closing began
 * would otherwise hold it open for the keep-alive timeout (72 s in Fastify), so idle ones are
 * closed as they appear, and whatever is left after 5 s is cut.
 */
async function closeHttp(server: Server, closing: Promise<unknown>): Promise<void> {
  const idle = setInterval(() => server.closeIdleConnections(), 100);
  const hard = setTimeout(() => server.closeAllConnections(), 5000);
  try {
    await closing;
  } finally {
    clearInterval(idle);
    clearTimeout(hard);
  }
}

export function registerServeCommand(program: Command): void {
  const cmd = program
    .command("serve")
    .description("OpenAI-compatible HTTP server: /v1/chat/completions, /v1/completions, /v1/models, /health, /metrics")
    .option("--host <addr>", "address to bind (loopback unless you say otherwise)", "127.0.0.1")
    .option("--port <n>", "port (0: any free port)", parseIntArg("--port", 0), 8080)
    .option("--api-key <key>", "require Authorization: Bearer <key> on /v1 routes (default: $LLAMA4_API_KEY, else none)")
    .option("--parallel <n>", "sequences decoded together in one batch", parseIntArg("--parallel", 1), 4)
    .option("--max-queue <n>", "requests allowed to wait beyond --parallel (more get 429)", parseIntArg("--max-queue", 0), 32)
    .option("--ctx <n>", "context length per request, prompt + reply (default: the model's)", parseIntArg("--ctx", 2))
    .option("--max-batch-tokens <n>", "most tokens in one forward pass (prompt chunks + decode rows)", parseIntArg("--max-batch-tokens", 1))
    .option("--allow-remote-images", "accept http(s) image URLs, not only data: URLs")
    .option("--shutdown-grace-ms <ms>", "on SIGTERM/SIGINT, time running requests get to finish", parseIntArg("--shutdown-grace-ms", 0), 10_000);
  addModelOptions(cmd);
  cmd.action(async (o: ServeCliOptions) => {
    const log = (msg: string) => process.stderr.write(`llama4 serve: ${msg}\n`);
    const apiKey = o.apiKey ?? process.env.LLAMA4_API_KEY;
    if (apiKey === "") throw new Error("--api-key must not be empty");
    const state = new ServerState();
    const metrics = new ServerMetrics(() => metricsSnapshot(state)).start();
    const app = buildApp({ state, metrics, allowRemoteImages: o.allowRemoteImages ?? false, ...(apiKey !== undefined && { apiKey }) });
    await app.listen({ host: o.host, port: o.port });
    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : o.port;

    try {
      // Loading reads the weights synchronously; give the event loop one turn first.
      await new Promise<void>((r) => setImmediate(r));
      const loaded = loadChatModel({ ...o, quiet: o.quiet ?? false });
      state.ready(createServingModel(loaded, {
        id: modelId(o.model),
        parallel: o.parallel,
        maxQueue: o.maxQueue,
        ...(o.ctx !== undefined && { ctx: o.ctx }),
        ...(o.maxBatchTokens !== undefined && { maxBatchTokens: o.maxBatchTokens }),
        ...(hasVisionWeights(loaded.dir) && { vision: openVision(loaded.dir, loaded.model.kernels) }),
      }));
    } catch (err) {
      metrics.stop();
      await app.close();
      throw err;
    }
    const m = state.model!;
    log(`listening on ${httpUrl(o.host, port)} (model ${m.id}, context ${m.contextLength}, parallel ${o.parallel}, queue ${o.maxQueue}` +
      `${apiKey !== undefined ? ", API key required" : ""}${o.host === "127.0.0.1" || o.host === "::1" || o.host === "localhost" ? "" : "; NOT loopback"})`);

    await new Promise<void>((resolve) => {
      let stopping = false;
      const onSignal = (signal: NodeJS.Signals) => {
        if (stopping) {
          log(`${signal} again: cancelling running requests now`);
          void m.scheduler.close(0);
          return;
        }
        stopping = true;
        log(`${signal}: draining (new requests get 503; running ones have ${o.shutdownGraceMs} ms)`);
        state.drain();
        void (async () => {
          try {
            await m.scheduler.close(o.shutdownGraceMs);
            await closeHttp(app.server, app.close());
          } catch (err) {
            log(`error while shutting down: ${formatError(err)}`);
          }
          metrics.stop();
          process.off("SIGTERM", onSignal);
          process.off("SIGINT", onSignal);
          log("stopped");
          resolve();
        })();
      };
      process.on("SIGTERM", onSignal);
      process.on("SIGINT", onSignal);
    });
    process.exitCode = 0;
    // The kernels' worker threads (or a stuck socket) would keep the process alive.
    setTimeout(() => process.exit(0), 100).unref();
  });
}
