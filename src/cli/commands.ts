// Every subcommand of `llama4`, registered in the order `--help` lists them.
import type { Command } from "commander";
import { registerInspectCommand } from "./inspect.js";
import { registerEvalCommand } from "./eval.js";
import { registerGenerateCommand } from "./generate.js";
import { registerSynthCommand } from "./synth.js";
import { registerTemplateCommand } from "./template.js";
import { registerRunCommand } from "./run.js";
import { registerChatCommand } from "./chat.js";
import { registerServeCommand } from "./serve.js";
import { registerTokenizeCommands } from "./tokenize.js";
import { registerBenchCommand } from "./bench.js";
import { registerConvertCommand } from "./convert.js";

export function registerCommands(program: Command): void {
  registerRunCommand(program);
  registerChatCommand(program);
  registerServeCommand(program);
  registerInspectCommand(program);
  registerEvalCommand(program);
  registerGenerateCommand(program);
  registerSynthCommand(program);
  registerTemplateCommand(program);
  registerTokenizeCommands(program);
  registerBenchCommand(program);
  registerConvertCommand(program);
}
