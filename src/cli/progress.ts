// A loading progress bar on stderr (only when stderr is a terminal and not --quiet).
import cliProgress from "cli-progress";
import type { LoadProgress } from "../formats/hf.js";

export function loadProgressBar(label: string, quiet: boolean): { update: (p: LoadProgress) => void; stop: () => void } {
  if (quiet || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {loaded}/{total} MB`, stream: process.stderr, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(p) {
      const mb = (b: number) => (b / 1e6).toFixed(0);
      if (!started) {
        bar.start(p.totalBytes, 0, { loaded: mb(0), total: mb(p.totalBytes) });
        started = true;
      }
      bar.update(p.loadedBytes, { loaded: mb(p.loadedBytes), total: mb(p.totalBytes) });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}
