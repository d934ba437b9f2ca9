// Public API of the Llama 4 chat format.

export { encodeContent, encodeDialog } from "./format.js";
export type { ContentEncodeOptions, DialogEncodeOptions, EncodedImage, EncodedPrompt, ImageGridFn } from "./format.js";
export {
  ChatFormatError,
  CHAT_ROLES,
  normalizeContent,
  normalizeMessage,
  normalizeMessages,
  STOP_REASONS,
} from "./messages.js";
export type {
  ChatMessage,
  ChatRole,
  ContentPart,
  ImagePart,
  ImageUrlPart,
  MessageContent,
  MetaToolCall,
  NormalizedContentPart,
  NormalizedMessage,
  OpenAIToolCall,
  StopReason,
  TextPart,
  ToolArguments,
} from "./messages.js";
export { pythonJsonLoads, PythonJsonError, tryPythonJsonLoads } from "./python-json.js";
export { parsePythonCallList } from "./python-calls.js";
export type { PythonCall } from "./python-calls.js";
export {
  PyFloat,
  pythonFloatRepr,
  pythonJsonDumps,
  pythonJsonString,
  pythonRepr,
  pythonStr,
  toJsonValue,
} from "./python-values.js";
export type { JsonObject, JsonValue, PyDict, PyObject, PyValue } from "./python-values.js";
export {
  extractBuiltinToolCall,
  extractCustomToolCall,
  parseAssistantReply,
  parseAssistantTokens,
} from "./reply.js";
export type {
  BuiltinToolCallMatch,
  CustomToolCallMatch,
  ParsedAssistantReply,
  ParsedToolCall,
  ToolCallExtractors,
} from "./reply.js";
export { renderChatTemplate, toTemplateMessage } from "./template.js";
export type { ChatTemplateOptions, TemplateMessage } from "./template.js";
export { CHAT_SPECIAL_TOKENS } from "./tokenizer.js";
export type { ChatEncodeOptions, ChatTokenizer } from "./tokenizer.js";
export {
  BUILTIN_TOOLS,
  isBuiltinTool,
  isToolPromptFormat,
  renderToolCall,
  TOOL_PROMPT_FORMATS,
} from "./tool-calls.js";
export type { BuiltinTool, ToolCall, ToolPromptFormat } from "./tool-calls.js";
