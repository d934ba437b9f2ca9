// The Llama 4 prompt, token for token as Meta's reference `ChatFormat` builds it:
//
//   <|begin_of_text|>
//   per message: <|header_start|>ROLE<|header_end|> "\n\n" CONTENT [context] [tool calls] <|eot|>|<|eom|>
//   <|header_start|>assistant<|header_end|> "\n\n"            (generation prompt)
//
// Every piece of text is encoded on its own, with special tokens NOT parsed, so BPE never
// merges across pieces and a user typing "<|eot|>" gets plain-text tokens.

import {
  chooseTileGrid,
  imageChunkCount,
  imageTokenIds,
  imageTokenLayout,
  LLAMA4_VISION,
  patchesPerTile,
  type TileGrid,
  type VisionLayoutConfig,
} from "../image/tiling.js";
import {
  ChatFormatError,
  normalizeContent,
  normalizeMessages,
  type ChatMessage,
  type ImagePart,
  type MessageContent,
  type NormalizedContentPart,
  type NormalizedMessage,
} from "./messages.js";
import { CHAT_SPECIAL_TOKENS, type ChatTokenizer } from "./tokenizer.js";
import { renderToolCall, ToolCallRenderError, type ToolPromptFormat } from "./tool-calls.js";

/** Picks the tile grid of an image, e.g. from its decoded pixels; `path` names the part. */
export type ImageGridFn = (image: ImagePart, path: string) => TileGrid;

export interface ContentEncodeOptions {
  tokenizer: ChatTokenizer;
  /**
   * Tile grid of each image. Default: {@link chooseTileGrid} on the part's width/height; an
   * image without them is an error unless this is given.
   */
  imageGrid?: ImageGridFn;
  /** Vision settings deciding tiles and patches per tile (default: Llama 4). */
  vision?: Partial<VisionLayoutConfig>;
}

export interface DialogEncodeOptions extends ContentEncodeOptions {
  /** Spelling of calls to custom tools in assistant messages (default "json", as the reference). */
  toolPromptFormat?: ToolPromptFormat;
  /** End with an open assistant header for the model to complete (default true). */
  addGenerationPrompt?: boolean;
}

/** One image of the prompt, in prompt order: what the vision encoder must be fed. */
export interface EncodedImage {
  /** Where the image was, e.g. `messages[0].content[1]`. */
  path: string;
  image: ImagePart;
  grid: TileGrid;
  /** Tiles including the global view: the first dimension of the pixel tensor. */
  chunks: number;
}

export interface EncodedPrompt {
  tokens: number[];
  /** The prompt as text; equals `tokenizer.decode(tokens)`. */
  text: string;
  images: EncodedImage[];
}

/** Accumulates ids and the matching text side by side. */
class PromptBuilder {
  readonly tokens: number[] = [];
  text = "";
  readonly images: EncodedImage[] = [];
  private readonly specialIds = new Map<string, number>();
  private readonly vision: VisionLayoutConfig;
  private readonly patchesPerTile: number;

  constructor(private readonly options: ContentEncodeOptions) {
    const v = options.vision ?? {};
    this.vision = {
      tileSize: v.tileSize ?? LLAMA4_VISION.tileSize,
      patchSize: v.patchSize ?? LLAMA4_VISION.patchSize,
      pixelShuffleRatio: v.pixelShuffleRatio ?? LLAMA4_VISION.pixelShuffleRatio,
      maxChunks: v.maxChunks ?? LLAMA4_VISION.maxChunks,
    };
    this.patchesPerTile = patchesPerTile(this.vision);
  }

  private specialId(name: string): number {
    let id = this.specialIds.get(name);
    if (id === undefined) {
      id = this.options.tokenizer.tokenId(name);
      this.specialIds.set(name, id);
    }
    return id;
  }

  private pushAll(ids: readonly number[]): void {
    // A loop, not push(...ids): image runs can be long enough to overflow the argument limit.
    for (const id of ids) this.tokens.push(id);
  }

  special(name: string): void {
    this.tokens.push(this.specialId(name));
    this.text += name;
  }

  /** Ordinary text; special-token strings in it stay plain text. */
  plain(text: string): void {
    if (text === "") return;
    this.pushAll(this.options.tokenizer.encode(text, { allowSpecial: false }));
    this.text += text;
  }

  image(image: ImagePart, path: string): void {
    let grid: TileGrid;
    if (this.options.imageGrid) {
      grid = this.options.imageGrid(image, path);
      if (!Number.isInteger(grid.rows) || !Number.isInteger(grid.cols) || grid.rows < 1 || grid.cols < 1) {
        throw new ChatFormatError(path, `imageGrid returned an invalid grid ${JSON.stringify(grid)}`);
      }
    } else if (image.width !== undefined && image.height !== undefined) {
      grid = chooseTileGrid(image.width, image.height, this.vision);
    } else {
      throw new ChatFormatError(path, "image without size info: give width and height, or pass imageGrid");
    }
    this.pushAll(imageTokenIds(grid.rows, grid.cols, this.patchesPerTile, (name) => this.specialId(name)));
    this.text += imageTokenLayout(grid.rows, grid.cols, this.patchesPerTile).join("");
    this.images.push({ path, image, grid: { rows: grid.rows, cols: grid.cols }, chunks: imageChunkCount(grid) });
  }

  /** Content items one after another, nothing in between. */
  content(content: string | NormalizedContentPart[], path: string): void {
    if (typeof content === "string") {
      this.plain(content);
      return;
    }
    content.forEach((part, i) => {
      if (part.type === "text") this.plain(part.text);
      else this.image(part, `${path}[${i}]`);
    });
  }

  header(role: string): void {
    this.special(CHAT_SPECIAL_TOKENS.headerStart);
    // The reference writes tool results under the role name "ipython".
    this.plain(role === "tool" ? "ipython" : role);
    this.special(CHAT_SPECIAL_TOKENS.headerEnd);
    this.plain("\n\n");
  }

  message(message: NormalizedMessage, path: string, toolPromptFormat: ToolPromptFormat): void {
    this.header(message.role);
    this.content(message.content, `${path}.content`);
    if (message.role === "user" && message.context !== undefined) {
      this.plain("\n\n");
      this.content(message.context, `${path}.context`);
    }
    if (message.role === "assistant") {
      message.toolCalls.forEach((call, i) => {
        try {
          this.plain(renderToolCall(call, toolPromptFormat));
        } catch (err) {
          if (err instanceof ToolCallRenderError) {
            throw new ChatFormatError(`${path}.toolCalls[${i}].${err.field}`, err.message);
          }
          throw err;
        }
      });
    }
    // <|eom|> means "more is coming": after a tool call (the tool's answer follows), when the
    // assistant stopped with end_of_message, and after every tool result.
    const endOfMessage =
      message.role === "tool" ||
      (message.role === "assistant" && (message.stopReason === "end_of_message" || message.toolCalls.length > 0));
    this.special(endOfMessage ? CHAT_SPECIAL_TOKENS.endOfMessage : CHAT_SPECIAL_TOKENS.endOfTurn);
  }

  result(): EncodedPrompt {
    return { tokens: this.tokens, text: this.text, images: this.images };
  }
}

/**
 * Encodes a dialog into the Llama 4 prompt (reference `ChatFormat.encode_dialog_prompt`):
 * one BOS, each message with its header and terminator, images inline, then (by default) the
 * open assistant header. Messages may be OpenAI-style or Meta-style; invalid ones throw a
 * {@link ChatFormatError} naming the message index and field.
 */
export function encodeDialog(messages: readonly ChatMessage[], options: DialogEncodeOptions): EncodedPrompt {
  const normalized = normalizeMessages(messages);
  const toolPromptFormat = options.toolPromptFormat ?? "json";
  const builder = new PromptBuilder(options);
  builder.special(CHAT_SPECIAL_TOKENS.beginOfText);
  normalized.forEach((message, i) => builder.message(message, `messages[${i}]`, toolPromptFormat));
  if (options.addGenerationPrompt ?? true) builder.header("assistant");
  return builder.result();
}

/**
 * Encodes bare content with no headers (reference `ChatFormat.encode_content`): BOS before
 * the first item, then the items. An empty list gives no tokens at all, as in the reference.
 */
export function encodeContent(content: MessageContent, options: ContentEncodeOptions): EncodedPrompt {
  const normalized = normalizeContent(content, "content");
  const builder = new PromptBuilder(options);
  if (typeof normalized === "string" || normalized.length > 0) builder.special(CHAT_SPECIAL_TOKENS.beginOfText);
  builder.content(normalized, "content");
  return builder.result();
}
