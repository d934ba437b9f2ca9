// tool_choice "required" or a named tool: the reply must be one call in the Llama 4 JSON form
// the reply parser reads, {"name": "<tool>", "parameters": {…}}, with the name one of the
// offered tools (exactly the named one for a named choice) and the parameters a JSON object.
// When a tool's parameters schema is a plain object schema (`properties`, no
// `additionalProperties` allowed), its top-level keys are restricted to those properties,
// each at most once; values are any JSON. `required` is not enforced.
//
// Like JSON mode, it works byte by byte on the token bytes: a fixed prefix spelled per tool
// (`{"name": "get_weather", "parameters": `), then the parameters object (the JSON scanner),
// then the closing `}`. Where only a few tokens can come next (the prefix, between JSON
// tokens) it hands the generator the candidate tokens, so the constrained choice is one
// masked draw instead of thousands of rejected ones.
import type { TokenConstraint } from "../runtime/generator.js";
import { candidateTokens, JsonPrefixScanner, type TokenBytesCache } from "./json-constraint.js";
import type { FunctionTool } from "./tools.js";

const enc = new TextEncoder();
const RBRACE = 0x7d;

/** Phases of the call text: the fixed prefix with the name, the parameters, the final "}". */
const PREFIX = 0, PARAMS = 1, SUFFIX = 2, DONE = 3;

interface ToolLiteral {
  /** `{"name": "<name>", "parameters": ` as UTF-8. */
  readonly prefix: Uint8Array;
  /** The scanner for this tool's parameters object (key restriction set, nothing pushed). */
  readonly params: JsonPrefixScanner;
}

/** The top-level keys a tool's parameters may have, or undefined for any. */
export function declaredKeys(tool: FunctionTool): string[] | undefined {
  const schema = tool.function.parameters;
  if (schema === undefined) return undefined;
  const props = schema.properties;
  if (typeof props !== "object" || props === null || Array.isArray(props)) return undefined;
  if (schema.type !== undefined && schema.type !== "object") return undefined;
  const extra = schema.additionalProperties;
  if (extra !== undefined && extra !== false) return undefined;
  return Object.keys(props);
}

class CallState {
  phase = PREFIX;
  /** Bytes of the prefix written so far. */
  pos = 0;
  /** The tools (indices into the sorted literals) whose prefix still matches. */
  lo = 0;
  hi = 0;
  readonly scanner = new JsonPrefixScanner();

  constructor(private readonly tools: readonly ToolLiteral[]) {
    this.hi = tools.length;
  }

  copyFrom(o: CallState): void {
    this.phase = o.phase;
    this.pos = o.pos;
    this.lo = o.lo;
    this.hi = o.hi;
    this.scanner.copyFrom(o.scanner);
  }

  push(b: number): boolean {
    switch (this.phase) {
      case PREFIX: {
        const pos = this.pos;
        const t = this.tools;
        // Prefixes are sorted, so the tools that continue with b form a range.
        let lo = this.lo;
        while (lo < this.hi && t[lo]!.prefix[pos] !== b) lo++;
        if (lo === this.hi) return false;
        let hi = lo + 1;
        while (hi < this.hi && t[hi]!.prefix[pos] === b) hi++;
        this.lo = lo;
        this.hi = hi;
        this.pos = pos + 1;
        // Names differ and end with a quote, so a finished prefix is one tool's alone.
        if (this.pos === t[lo]!.prefix.length) {
          this.phase = PARAMS;
          this.scanner.copyFrom(t[lo]!.params);
        }
        return true;
      }
      case PARAMS:
        if (!this.scanner.push(b)) return false;
        if (this.scanner.done) this.phase = SUFFIX;
        return true;
      case SUFFIX:
        if (b !== RBRACE) return false;
        this.phase = DONE;
        return true;
      default:
        return false;
    }
  }

  /** The fewest bytes that finish the call from here. */
  distance(): number {
    switch (this.phase) {
      case PREFIX: {
        let rest = Infinity;
        for (let i = this.lo; i < this.hi; i++) rest = Math.min(rest, this.tools[i]!.prefix.length - this.pos);
        return rest + 2 + 1; // {} and }
      }
      case PARAMS: return this.scanner.distance() + 1;
      case SUFFIX: return 1;
      default: return 0;
    }
  }
}

export interface ToolCallConstraintOptions {
  /** The reply's token budget (max_tokens): as in JSON mode, the call is closed within it. */
  readonly maxTokens?: number;
}

/** Forces the reply to be one call of one of `tools`. */
export class ToolCallConstraint implements TokenConstraint {
  private readonly state: CallState;
  private readonly scratch: CallState;
  private accepted = 0;
  /** The budget forced the call closed (so its arguments may be cut short): finish "length". */
  budgetForcedClose = false;

  constructor(private readonly bytes: TokenBytesCache, tools: readonly FunctionTool[], private readonly opts: ToolCallConstraintOptions = {}) {
    if (tools.length === 0) throw new Error("a tool call constraint needs at least one tool");
    const literals = tools.map((t): ToolLiteral => {
      const keys = declaredKeys(t);
      const params = new JsonPrefixScanner();
      if (keys) params.restrictKeys(keys);
      return { prefix: enc.encode(`{"name": ${JSON.stringify(t.function.name)}, "parameters": `), params };
    });
    literals.sort((a, b) => compareBytes(a.prefix, b.prefix));
    this.state = new CallState(literals);
    this.scratch = new CallState(literals);
  }

  get complete(): boolean {
    return this.state.phase === DONE;
  }

  allows(token: number): boolean {
    const bytes = this.bytes.get(token);
    if (bytes === undefined || bytes.length === 0) return false;
    const s = this.scratch;
    s.copyFrom(this.state);
    for (let i = 0; i < bytes.length; i++) if (!s.push(bytes[i]!)) return false;
    const left = this.tokensLeft();
    // Within budget: the call must still fit in the tokens left (one byte per token at worst).
    // A budget already too small for the shortest call cannot be kept; then it only cuts.
    return left === undefined || s.distance() <= left - 1 || this.state.distance() > left;
  }

  accept(token: number): void {
    const left = this.tokensLeft();
    // Tight: only the shortest way to close the call fits in what is left. Tight in the
    // prefix changes nothing (the prefix is that shortest way); in the parameters it cuts.
    const phase = this.state.phase;
    if (left !== undefined && (phase === PARAMS || phase === SUFFIX) && this.state.distance() === left) this.budgetForcedClose = true;
    this.accepted++;
    const bytes = this.bytes.get(token);
    if (bytes !== undefined) for (let i = 0; i < bytes.length; i++) this.state.push(bytes[i]!);
  }

  candidates(): readonly number[] | undefined {
    const fork = this.scratch;
    return candidateTokens(this.bytes, {
      fork: () => {
        fork.copyFrom(this.state);
        return fork;
      },
      feed: (s, b) => s.push(b),
    });
  }

  private tokensLeft(): number | undefined {
    const budget = this.opts.maxTokens;
    return budget !== undefined && budget >= 2 ? budget - this.accepted : undefined;
  }
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length && i < b.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}
