// Locating the shared fixtures (../shared beside the checkout, or $LLAMA4_SHARED_DIR).
// Off CI a missing fixture skips its test; with CI=true it is a failure.
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { TestContext } from "node:test";

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export function sharedDir(): string {
  return process.env.LLAMA4_SHARED_DIR ?? resolve(repoRoot, "..", "shared");
}

/** Absolute path of a file under shared/, e.g. sharedPath("fixtures/llama4/tiny-scout"). */
export function sharedPath(rel: string): string {
  return join(sharedDir(), rel);
}

/**
 * Returns the path when it exists. Otherwise skips the test (off CI) or throws (CI=true),
 * so a CI machine without fixtures can never pass vacuously.
 */
export function requireShared(t: TestContext, rel: string): string | undefined {
  const p = sharedPath(rel);
  if (existsSync(p)) return p;
  if (process.env.CI === "true") throw new Error(`fixture missing on CI: ${p}`);
  t.skip(`fixture not found: ${p} (set LLAMA4_SHARED_DIR)`);
  return undefined;
}

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";

/** A fresh temporary folder, removed when the test ends. */
export function tempDir(t: TestContext, prefix = "llama4-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
