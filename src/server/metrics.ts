// Prometheus text exposition for `GET /metrics`: requests by route and status, prompt and
// generated tokens, queue depth, running sequences, recent tokens/s and KV-cache bytes.

/** What the server reports at scrape time (all counters cumulative since start). */
export interface MetricsSnapshot {
  readonly loaded: boolean;
  readonly queued: number;
  readonly active: number;
  readonly kvBytes: number;
  readonly promptTokens: number;
  readonly generatedTokens: number;
  /** Requests ended early (client gone, shutdown). */
  readonly cancelledRequests: number;
}

const EMPTY: MetricsSnapshot = { loaded: false, queued: 0, active: 0, kvBytes: 0, promptTokens: 0, generatedTokens: 0, cancelledRequests: 0 };

export class ServerMetrics {
  private readonly requests = new Map<string, number>();
  /** (time in ms, generated tokens so far), one per second, for the recent rate. */
  private readonly samples: { t: number; generated: number }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly snapshot: () => MetricsSnapshot = () => EMPTY,
    private readonly windowSeconds = 10,
  ) {}

  /** Starts sampling the token counter (the timer never keeps the process alive). */
  start(): this {
    this.timer ??= setInterval(() => this.sample(), 1000).unref();
    this.sample();
    return this;
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  recordRequest(route: string, method: string, status: number): void {
    const key = `${method}\u0000${route}\u0000${status}`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  /** Generated tokens per second over the last `windowSeconds` (all sequences together). */
  tokensPerSecond(now = performance.now()): number {
    const s = this.snapshot();
    const oldest = this.samples.find((x) => now - x.t <= this.windowSeconds * 1000);
    if (!oldest || now - oldest.t < 1) return 0;
    return ((s.generatedTokens - oldest.generated) * 1000) / (now - oldest.t);
  }

  render(): string {
    const s = this.snapshot();
    const lines: string[] = [];
    const metric = (name: string, type: "counter" | "gauge", help: string, values: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, v] of values) lines.push(`${name}${labels} ${Number.isFinite(v) ? v : 0}`);
    };
    const requests = [...this.requests].sort(([a], [b]) => a.localeCompare(b)).map(([key, n]): [string, number] => {
      const [method, route, status] = key.split("\u0000") as [string, string, string];
      return [`{method="${method}",route="${escapeLabel(route)}",status="${status}"}`, n];
    });
    metric("llama4_http_requests_total", "counter", "HTTP requests answered, by method, route and status.", requests);
    metric("llama4_prompt_tokens_total", "counter", "Prompt tokens processed.", [["", s.promptTokens]]);
    metric("llama4_generated_tokens_total", "counter", "Tokens generated.", [["", s.generatedTokens]]);
    metric("llama4_cancelled_requests_total", "counter", "Generations stopped early because the client went away or the server shut down.", [["", s.cancelledRequests]]);
    metric("llama4_queue_depth", "gauge", "Requests waiting for a free sequence slot.", [["", s.queued]]);
    metric("llama4_active_sequences", "gauge", "Sequences being decoded now.", [["", s.active]]);
    metric("llama4_tokens_per_second", "gauge", `Generated tokens per second over the last ${this.windowSeconds} s.`, [["", round(this.tokensPerSecond())]]);
    metric("llama4_kv_cache_bytes", "gauge", "Bytes held by the KV caches of running sequences.", [["", s.kvBytes]]);
    metric("llama4_model_loaded", "gauge", "1 once the weights are loaded.", [["", s.loaded ? 1 : 0]]);
    return `${lines.join("\n")}\n`;
  }

  private sample(): void {
    const now = performance.now();
    this.samples.push({ t: now, generated: this.snapshot().generatedTokens });
    while (this.samples.length > 0 && now - this.samples[0]!.t > this.windowSeconds * 1000) this.samples.shift();
  }
}

function escapeLabel(v: string): string {
  return v.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}
