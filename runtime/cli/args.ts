/** Command-line parsing: positionals, `--opt value`, `--opt=value`, repeatable options, flags. */
import { KubestepError } from "../errors.js";

/** A parsed command line. */
export interface ParsedArgs {
  positionals: string[];
  /** Known options (last value wins, or all values for repeatable ones). */
  options: Record<string, string[]>;
  /** Options the command does not know (flow parameters for run). */
  extra: Record<string, string>;
  /** Flags (options without a value). */
  flags: Set<string>;
}

/** Thrown for a bad command line; the CLI prints it with the command's usage and exits 2. */
export class UsageError extends KubestepError {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parses argv given the command's known value options and flags. */
export function parseArgs(
  argv: string[],
  valueOptions: string[],
  flagOptions: string[],
  allowExtra: boolean,
): ParsedArgs {
  const out: ParsedArgs = { positionals: [], options: {}, extra: {}, flags: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--") {
      out.positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith("--") || a === "-") {
      if (a === "-h") out.flags.add("help");
      else out.positionals.push(a);
      continue;
    }
    const eq = a.indexOf("=");
    const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
    if (flagOptions.includes(name)) {
      if (eq > 0) throw new UsageError(`--${name} takes no value`);
      out.flags.add(name);
      continue;
    }
    let value: string | undefined = eq > 0 ? a.slice(eq + 1) : undefined;
    if (value === undefined) {
      value = argv[i + 1];
      if (value === undefined || (value.startsWith("--") && value.length > 2))
        throw new UsageError(`--${name} needs a value`);
      i++;
    }
    if (valueOptions.includes(name)) (out.options[name] ??= []).push(value);
    else if (allowExtra) out.extra[name] = value;
    else throw new UsageError(`unknown option --${name}`);
  }
  return out;
}

/** The last value of an option. */
export function opt(p: ParsedArgs, name: string): string | undefined {
  const v = p.options[name];
  return v?.[v.length - 1];
}

/** A positive integer option. */
export function intOpt(p: ParsedArgs, name: string, dflt: number): number {
  const v = opt(p, name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--${name} ${JSON.stringify(v)} is invalid; expected a whole number >= 1`);
  return n;
}
