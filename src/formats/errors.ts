// One error type for every malformed input that enters through a file: it always names
// the file and, where there is one, the tensor or field, so a user can find the problem.
export class FormatError extends Error {
  constructor(
    readonly file: string,
    readonly what: string | undefined,
    detail: string,
  ) {
    super(`${file}${what ? `: ${what}` : ""}: ${detail}`);
    this.name = "FormatError";
  }
}
