/**
 * Where the runtime gets its {@link KubestepEnvironment}: a Pulumi stack output (`--stack dev`,
 * via the `pulumi` CLI, no `@pulumi/*` import), a file (`--environment env.json`) or the
 * `KUBESTEP_ENVIRONMENT` variable (inline JSON or a path). Everything is validated with
 * {@link parseEnvironment}; failures say what went wrong and what to do.
 */
import { execFile } from "node:child_process";
import { readFile } from "node:fs/promises";
import { parseEnvironment, type KubestepEnvironment } from "./environment.js";
import { KubestepError } from "./errors.js";

/** Why an environment could not be loaded (missing CLI, unknown stack, unreadable or malformed JSON). */
export class EnvironmentSourceError extends KubestepError {
  constructor(message: string) {
    super(message);
    this.name = "EnvironmentSourceError";
  }
}

/** Options of {@link loadEnvironment}. */
export interface LoadEnvironmentOptions {
  /** Pulumi stack whose output `kubestep` is the environment (`--stack`). */
  stack?: string;
  /** Path of a JSON environment file (`--environment`). */
  environment?: string;
  /** Process environment (reads `KUBESTEP_ENVIRONMENT`, `PATH`); default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Working directory for `pulumi` (the directory holding Pulumi.yaml); default the current one. */
  cwd?: string;
  /** The pulumi executable; default `pulumi` found on `PATH`. */
  pulumiCommand?: string;
}

/** Describes a JSON.parse failure with line and column. */
function jsonError(text: string, err: unknown, source: string): EnvironmentSourceError {
  const msg = err instanceof Error ? err.message : String(err);
  const m = /position (\d+)/.exec(msg);
  let where = "";
  if (m) {
    const pos = Number(m[1]);
    const before = text.slice(0, pos);
    const line = before.split("\n").length;
    const column = pos - before.lastIndexOf("\n");
    where = ` at line ${line}, column ${column} (position ${pos})`;
  }
  return new EnvironmentSourceError(`malformed JSON in ${source}${where}: ${msg}`);
}

function parseJson(text: string, source: string): KubestepEnvironment {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw jsonError(text, e, source);
  }
  return parseEnvironment(value, source);
}

async function readJsonFile(path: string, source: string): Promise<KubestepEnvironment> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new EnvironmentSourceError(
      `cannot read ${source}: ${code === "ENOENT" ? "no such file" : (e as Error).message}`,
    );
  }
  return parseJson(text, source);
}

/** Runs `pulumi stack output kubestep --json --stack <stack>` and validates the result. */
export async function loadStackEnvironment(
  stack: string,
  opts: Omit<LoadEnvironmentOptions, "stack" | "environment"> = {},
): Promise<KubestepEnvironment> {
  const env = opts.env ?? process.env;
  const cmd = opts.pulumiCommand ?? "pulumi";
  const source = `pulumi stack ${stack} (output kubestep)`;
  const { stdout } = await new Promise<{ stdout: string }>((resolve, reject) => {
    execFile(
      cmd,
      ["stack", "output", "kubestep", "--json", "--stack", stack],
      { env, cwd: opts.cwd, maxBuffer: 16 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (!err) return resolve({ stdout });
        const code = (err as NodeJS.ErrnoException).code;
        if (code === "ENOENT")
          return reject(
            new EnvironmentSourceError(
              `--stack ${stack} needs the Pulumi CLI, but \`${cmd}\` was not found on PATH. Install it (https://www.pulumi.com/docs/install/, e.g. \`curl -fsSL https://get.pulumi.com | sh\`), ` +
                "or pass the environment directly with --environment <file.json> or KUBESTEP_ENVIRONMENT (JSON or a path; `pulumi stack output kubestep --json` prints it).",
            ),
          );
        const detail = String(stderr).trim() || String(stdout).trim() || (err as Error).message;
        reject(
          new EnvironmentSourceError(
            `\`${cmd} stack output kubestep --json --stack ${stack}\` failed (exit ${typeof code === "number" ? code : (err as { code?: unknown }).code}): ${detail}`,
          ),
        );
      },
    );
  });
  if (stdout.trim() === "" || stdout.trim() === "null" || stdout.trim() === "undefined")
    throw new EnvironmentSourceError(
      `stack ${stack} has no output "kubestep"; deploy the kubestep stack program (pulumi up --stack ${stack}) first`,
    );
  return parseJson(stdout, source);
}

/**
 * Loads the environment from (in order) `stack`, `environment`, or `KUBESTEP_ENVIRONMENT`
 * (inline JSON when it starts with `{`, a path otherwise). Returns `undefined` when none is given.
 */
export async function loadEnvironment(opts: LoadEnvironmentOptions = {}): Promise<KubestepEnvironment | undefined> {
  const env = opts.env ?? process.env;
  if (opts.stack !== undefined && opts.environment !== undefined)
    throw new EnvironmentSourceError(
      `pass either --stack (${opts.stack}) or --environment (${opts.environment}), not both`,
    );
  if (opts.stack !== undefined) {
    if (opts.stack === "") throw new EnvironmentSourceError("--stack needs a stack name, e.g. --stack dev");
    return loadStackEnvironment(opts.stack, opts);
  }
  if (opts.environment !== undefined) return readJsonFile(opts.environment, `environment file ${opts.environment}`);
  const value = env.KUBESTEP_ENVIRONMENT;
  if (value === undefined || value.trim() === "") return undefined;
  if (value.trim().startsWith("{")) return parseJson(value, "KUBESTEP_ENVIRONMENT (inline JSON)");
  return readJsonFile(value.trim(), `KUBESTEP_ENVIRONMENT file ${value.trim()}`);
}
