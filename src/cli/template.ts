// `llama4 template`: the prompt a dialog becomes, as text and token ids.
//
//   llama4 template --tokenizer <file|dir> --messages <file.json>
//                   [--tool-format json|function_tag|python_list] [--no-generation-prompt]
//                   [--chat-template <file>]
//
// Built-in Meta format by default; --chat-template renders a Jinja template instead (HF route).
import { readFileSync } from "node:fs";
import { InvalidArgumentError, type Command } from "commander";
import {
  ChatFormatError,
  encodeDialog,
  isToolPromptFormat,
  normalizeMessages,
  renderChatTemplate,
  TOOL_PROMPT_FORMATS,
  type JsonValue,
  type NormalizedMessage,
  type ToolPromptFormat,
} from "../chat/index.js";
import { Tokenizer } from "../tokenizer/index.js";

export interface MessagesFile {
  messages: NormalizedMessage[];
  tools?: JsonValue[];
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses the `--messages` file: a JSON array of messages, or `{"messages": [...], "tools"?: [...]}`. */
export function parseMessagesFile(text: string, file: string): MessagesFile {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new Error(`${file}: invalid JSON: ${(err as Error).message}`);
  }
  let rawMessages: unknown;
  let tools: JsonValue[] | undefined;
  if (Array.isArray(data)) {
    rawMessages = data;
  } else if (isRecord(data) && "messages" in data) {
    rawMessages = data.messages;
    if (data.tools !== undefined && data.tools !== null) {
      if (!Array.isArray(data.tools)) throw new Error(`${file}: "tools" must be a list of tool definitions`);
      tools = data.tools as JsonValue[];
    }
  } else {
    throw new Error(`${file}: expected a JSON array of messages or an object {"messages": [...], "tools": [...]}`);
  }
  try {
    const messages = normalizeMessages(rawMessages);
    return tools === undefined ? { messages } : { messages, tools };
  } catch (err) {
    if (err instanceof ChatFormatError) throw new Error(`${file}: ${err.message}`);
    throw err;
  }
}

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`cannot read ${what} ${file}: ${(err as Error).message}`);
  }
}

interface ChatTemplateSource {
  template: string;
  bosToken?: string;
}

/** A `.jinja` file, or a `tokenizer_config.json` holding `chat_template` (and `bos_token`). */
export function parseChatTemplateFile(text: string, file: string): ChatTemplateSource {
  if (!text.trimStart().startsWith("{")) return { template: text };
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch {
    // Not JSON after all: a template that starts with "{" (e.g. "{{- bos_token }}").
    return { template: text };
  }
  if (!isRecord(config)) return { template: text };
  let template = config.chat_template;
  // Some configs hold a list of named templates; "default" is the chat one.
  if (Array.isArray(template)) {
    const named = template.find((t: unknown) => isRecord(t) && t.name === "default") as Record<string, unknown> | undefined;
    template = named?.template;
  }
  if (typeof template !== "string") throw new Error(`${file}: no "chat_template" string in this JSON file`);
  const bos = config.bos_token;
  const bosToken = typeof bos === "string" ? bos : isRecord(bos) && typeof bos.content === "string" ? bos.content : undefined;
  return bosToken === undefined ? { template } : { template, bosToken };
}

export interface TemplateCommandOptions {
  tokenizer: string;
  messages: string;
  toolFormat: ToolPromptFormat;
  generationPrompt: boolean;
  chatTemplate?: string;
}

export interface TemplateResult {
  text: string;
  tokens: number[];
}

/** What `llama4 template` prints; `warn` receives notes for stderr. */
export function runTemplateCommand(options: TemplateCommandOptions, warn: (line: string) => void = () => {}): TemplateResult {
  // Messages first: a bad file should be reported before the slower tokenizer load.
  const { messages, tools } = parseMessagesFile(readText(options.messages, "messages file"), options.messages);
  const source = options.chatTemplate
    ? parseChatTemplateFile(readText(options.chatTemplate, "chat template"), options.chatTemplate)
    : undefined;
  const tokenizer = Tokenizer.load(options.tokenizer);

  if (source) {
    const text = renderChatTemplate(source.template, messages, {
      addGenerationPrompt: options.generationPrompt,
      ...(tools ? { tools } : {}),
      ...(source.bosToken !== undefined ? { bosToken: source.bosToken } : {}),
    });
    // The template writes special tokens as text (BOS included), so they are parsed here.
    return { text, tokens: tokenizer.encode(text, { allowSpecial: true }) };
  }
  if (tools) warn("the built-in Meta format does not render tool definitions; \"tools\" is ignored (use --chat-template)");
  const prompt = encodeDialog(messages, {
    tokenizer,
    toolPromptFormat: options.toolFormat,
    addGenerationPrompt: options.generationPrompt,
  });
  return { text: prompt.text, tokens: prompt.tokens };
}

function parseToolFormat(value: string): ToolPromptFormat {
  if (!isToolPromptFormat(value)) {
    throw new InvalidArgumentError(`--tool-format must be one of ${TOOL_PROMPT_FORMATS.join(", ")}, got ${JSON.stringify(value)}`);
  }
  return value;
}

export function registerTemplateCommand(program: Command): void {
  program
    .command("template")
    .description("render a chat dialog as the Llama 4 prompt: prints {\"text\", \"tokens\"} as JSON")
    .requiredOption("--tokenizer <file|dir>", "tokenizer.model, tokenizer.json, or a directory holding one")
    .requiredOption("--messages <file.json>", 'JSON array of messages, or {"messages": [...], "tools": [...]}')
    .option("--tool-format <format>", `how custom tool calls are written (${TOOL_PROMPT_FORMATS.join(", ")})`, parseToolFormat, "json")
    .option("--no-generation-prompt", "do not end with the open assistant header")
    .option("--chat-template <file>", "render this Jinja template (.jinja, or tokenizer_config.json) instead of the built-in format")
    .action((opts: { tokenizer: string; messages: string; toolFormat: ToolPromptFormat; generationPrompt: boolean; chatTemplate?: string }) => {
      const result = runTemplateCommand(opts, (line) => process.stderr.write(`llama4: warning: ${line}\n`));
      process.stdout.write(`${JSON.stringify({ text: result.text, tokens: result.tokens })}\n`);
    });
}
