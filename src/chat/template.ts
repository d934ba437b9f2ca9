// The Hugging Face route: render a checkpoint's Jinja chat template instead of the built-in
// Meta format. The two agree on plain system/user/assistant turns, not on tools (see spec §6.3).
// The rendered text holds special tokens as text, so encode it with `allowSpecial: true`; it
// starts with `bos_token` already, so add no second BOS.

import { Template } from "@huggingface/jinja";
import { normalizeMessages, type ChatMessage, type NormalizedContentPart, type NormalizedMessage } from "./messages.js";
import { toJsonValue, type JsonObject, type JsonValue } from "./python-values.js";

export interface ChatTemplateOptions {
  /** Value of `bos_token` (default `<|begin_of_text|>`). */
  bosToken?: string;
  /** Value of `eos_token` (default `<|eot|>`, the Llama 4 instruct end of turn). */
  eosToken?: string;
  /** Value of `add_generation_prompt` (default true). */
  addGenerationPrompt?: boolean;
  /** Tool definitions (OpenAI JSON-schema style), passed as `tools`. */
  tools?: JsonValue[];
  /** Any other template variables (e.g. `custom_tools`, `date_string`). */
  variables?: Record<string, unknown>;
}

type TemplatePart = { type: "text"; text: string } | { type: "image"; url?: string; width?: number; height?: number };

/** A message in the shape HF chat templates read (OpenAI style, arguments as objects). */
export interface TemplateMessage {
  role: string;
  content: string | TemplatePart[];
  context?: string | TemplatePart[];
  tool_calls?: { id?: string; type: "function"; function: { name: string; arguments: JsonObject } }[];
  tool_call_id?: string;
  stop_reason?: string;
}

function templateContent(content: string | NormalizedContentPart[]): string | TemplatePart[] {
  if (typeof content === "string") return content;
  return content.map((part): TemplatePart => {
    if (part.type === "text") return { type: "text", text: part.text };
    const image: TemplatePart = { type: "image" };
    if (part.url !== undefined) image.url = part.url;
    if (part.width !== undefined) image.width = part.width;
    if (part.height !== undefined) image.height = part.height;
    return image;
  });
}

/** Converts a normalised message to the shape chat templates expect. */
export function toTemplateMessage(message: NormalizedMessage): TemplateMessage {
  const out: TemplateMessage = { role: message.role, content: templateContent(message.content) };
  if (message.context !== undefined) out.context = templateContent(message.context);
  if (message.toolCalls.length > 0) {
    out.tool_calls = message.toolCalls.map((call) => {
      const converted: NonNullable<TemplateMessage["tool_calls"]>[number] = {
        type: "function",
        function: { name: call.toolName, arguments: toJsonValue(call.arguments) as JsonObject },
      };
      if (call.callId !== undefined) converted.id = call.callId;
      return converted;
    });
  }
  if (message.toolCallId !== undefined) out.tool_call_id = message.toolCallId;
  if (message.stopReason !== undefined) out.stop_reason = message.stopReason;
  return out;
}

/**
 * Renders a Jinja chat template (as shipped in `tokenizer_config.json` / `chat_template.jinja`)
 * for a dialog. Messages are validated and normalised first, like for {@link encodeDialog}.
 */
export function renderChatTemplate(
  template: string,
  messages: readonly ChatMessage[],
  options: ChatTemplateOptions = {},
): string {
  const normalized = normalizeMessages(messages);
  const context: Record<string, unknown> = {
    ...options.variables,
    messages: normalized.map(toTemplateMessage),
    bos_token: options.bosToken ?? "<|begin_of_text|>",
    eos_token: options.eosToken ?? "<|eot|>",
    add_generation_prompt: options.addGenerationPrompt ?? true,
  };
  if (options.tools !== undefined) context.tools = options.tools;
  return new Template(template).render(context);
}
