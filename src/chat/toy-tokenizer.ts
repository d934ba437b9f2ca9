// A byte-level stand-in tokenizer for tests and examples that must run without the real
// vocabulary: every UTF-8 byte is its own id (0-255) and the Llama 4 special tokens keep
// their real ids. Token boundaries therefore differ from the real BPE; texts do not.

import type { ChatEncodeOptions, ChatTokenizer } from "./tokenizer.js";

/** Llama 4 special tokens used by chat prompts, with their real ids. */
const SPECIAL_IDS: ReadonlyMap<string, number> = new Map([
  ["<|begin_of_text|>", 200000],
  ["<|end_of_text|>", 200001],
  ["<|header_start|>", 200005],
  ["<|header_end|>", 200006],
  ["<|eom|>", 200007],
  ["<|eot|>", 200008],
  ["<|python_start|>", 200016],
  ["<|python_end|>", 200017],
  ["<|image_start|>", 200080],
  ["<|image_end|>", 200081],
  ["<|tile_x_separator|>", 200084],
  ["<|tile_y_separator|>", 200085],
  ["<|image|>", 200090],
  ["<|patch|>", 200092],
]);

export class ToyByteTokenizer implements ChatTokenizer {
  private readonly names = new Map([...SPECIAL_IDS].map(([name, id]) => [id, name]));

  tokenId(name: string): number {
    const id = SPECIAL_IDS.get(name);
    if (id === undefined) throw new Error(`unknown special token ${name}`);
    return id;
  }

  encode(text: string, options: ChatEncodeOptions = {}): number[] {
    if (!options.allowSpecial) return [...Buffer.from(text, "utf8")];
    const ids: number[] = [];
    let rest = text;
    while (rest.length > 0) {
      // Earliest special-token occurrence; the text before it is plain bytes.
      let at = -1;
      let found = "";
      for (const name of SPECIAL_IDS.keys()) {
        const i = rest.indexOf(name);
        if (i >= 0 && (at < 0 || i < at)) {
          at = i;
          found = name;
        }
      }
      if (at < 0) {
        ids.push(...Buffer.from(rest, "utf8"));
        break;
      }
      ids.push(...Buffer.from(rest.slice(0, at), "utf8"), SPECIAL_IDS.get(found)!);
      rest = rest.slice(at + found.length);
    }
    return ids;
  }

  decode(ids: number[]): string {
    let out = "";
    let bytes: number[] = [];
    const flush = (): void => {
      out += Buffer.from(bytes).toString("utf8");
      bytes = [];
    };
    for (const id of ids) {
      const name = this.names.get(id);
      if (name !== undefined) {
        flush();
        out += name;
      } else if (id >= 0 && id < 256) bytes.push(id);
      else throw new Error(`unknown id ${id}`);
    }
    flush();
    return out;
  }
}
