// A Hugging Face checkpoint's tensors: one `model.safetensors`, or shards listed by
// `model.safetensors.index.json`. Only headers are read on open; data comes by offset.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { FormatError } from "./errors.js";
import { SafetensorsFile, type TensorInfo } from "./safetensors.js";

export class TensorStore {
  private readonly byName = new Map<string, SafetensorsFile>();

  private constructor(readonly files: readonly SafetensorsFile[]) {
    for (const f of files) for (const name of f.tensors.keys()) this.byName.set(name, f);
  }

  /** Opens a model folder (or a single .safetensors / index .json file). */
  static open(path: string): TensorStore {
    const p = resolve(path);
    if (!existsSync(p)) throw new FormatError(p, undefined, "does not exist");
    if (statSync(p).isDirectory()) {
      const index = join(p, "model.safetensors.index.json");
      if (existsSync(index)) return TensorStore.fromIndex(index);
      const single = join(p, "model.safetensors");
      if (existsSync(single)) return new TensorStore([SafetensorsFile.open(single)]);
      const any = readdirSync(p).filter((f) => f.endsWith(".safetensors")).sort();
      if (any.length === 0) throw new FormatError(p, undefined, "holds no model.safetensors, index, or *.safetensors file");
      return TensorStore.openFiles(any.map((f) => join(p, f)));
    }
    if (p.endsWith(".json")) return TensorStore.fromIndex(p);
    return new TensorStore([SafetensorsFile.open(p)]);
  }

  static openFiles(paths: readonly string[]): TensorStore {
    const files: SafetensorsFile[] = [];
    try {
      for (const path of paths) files.push(SafetensorsFile.open(path));
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
    const seen = new Map<string, string>();
    for (const f of files) {
      for (const name of f.tensors.keys()) {
        const other = seen.get(name);
        if (other) throw new FormatError(f.path, `tensor ${name}`, `also present in ${other}`);
        seen.set(name, f.path);
      }
    }
    return new TensorStore(files);
  }

  private static fromIndex(indexPath: string): TensorStore {
    let index: unknown;
    try {
      index = JSON.parse(readFileSync(indexPath, "utf8"));
    } catch (e) {
      throw new FormatError(indexPath, undefined, `is not valid JSON: ${(e as Error).message}`);
    }
    const map = (index as { weight_map?: unknown } | null)?.weight_map;
    if (map === null || typeof map !== "object" || Array.isArray(map)) {
      throw new FormatError(indexPath, "weight_map", "missing or not an object of tensor name → shard file");
    }
    const shards = new Map<string, string[]>();
    for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
      if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\")) {
        throw new FormatError(indexPath, `weight_map.${name}`, `must be a shard file name, got ${JSON.stringify(shard)}`);
      }
      const list = shards.get(shard) ?? [];
      list.push(name);
      shards.set(shard, list);
    }
    const dir = dirname(indexPath);
    for (const shard of shards.keys()) {
      if (!existsSync(join(dir, shard))) throw new FormatError(indexPath, `shard ${shard}`, "is listed but the file does not exist");
    }
    const store = TensorStore.openFiles([...shards.keys()].sort().map((s) => join(dir, s)));
    for (const [shard, names] of shards) {
      for (const name of names) {
        const f = store.byName.get(name);
        if (!f || basename(f.path) !== shard) {
          throw new FormatError(indexPath, `weight_map.${name}`, `says ${shard}, but that shard has no such tensor`);
        }
      }
    }
    return store;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  info(name: string): TensorInfo {
    const f = this.byName.get(name);
    if (!f) throw new FormatError(this.files.map((x) => basename(x.path)).join(", "), `tensor ${name}`, "is missing from the checkpoint");
    return f.info(name);
  }

  readInto(name: string, target: ArrayBufferView, byteOffset = 0): void {
    const f = this.byName.get(name);
    if (!f) throw new FormatError(this.files.map((x) => basename(x.path)).join(", "), `tensor ${name}`, "is missing from the checkpoint");
    f.readInto(name, target, byteOffset);
  }

  get totalBytes(): number {
    let n = 0;
    for (const f of this.files) for (const t of f.tensors.values()) n += t.byteLength;
    return n;
  }

  close(): void {
    for (const f of this.files) f.close();
  }
}
