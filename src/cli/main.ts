#!/usr/bin/env node
// The `llama4` command: one file per subcommand, each registering itself here.
import { Command, CommanderError } from "commander";
import { registerCommands } from "./commands.js";
import { formatError } from "./errors.js";

const program = new Command();
program
  .name("llama4")
  .description("Llama 4 (Scout, Maverick) inference in TypeScript")
  .version("0.1.0")
  .showHelpAfterError()
  .exitOverride();

registerCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else {
    process.stderr.write(`llama4: ${formatError(err)}\n`);
    process.exitCode = 1;
  }
}
