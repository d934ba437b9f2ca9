// User-facing error text: our own errors already name the file and field; anything else
// gets its message, never a stack trace, unless LLAMA4_DEBUG is set.
export function formatError(err: unknown): string {
  if (process.env.LLAMA4_DEBUG && err instanceof Error && err.stack) return err.stack;
  if (err instanceof Error) return err.message;
  return String(err);
}
