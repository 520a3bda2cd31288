/**
 * Runs the real Pulumi engine on the small stack (./small-stack.ts) from tests.
 *
 * {@link pulumiEnvironment} runs ./setup.sh (builds or finds the CLI, logs in to a file backend) and
 * returns its environment. {@link runEngine} runs one operation in a fresh `node` process
 * (./driver.ts): the Automation API serves the inline program's language runtime in that process and
 * drives the real CLI with `--client=<its address>`; the CLI starts the dynamic provider plugin
 * (./bin/pulumi-resource-pulumi-nodejs), which creates the objects in the cluster. A separate process
 * per operation keeps the engine's global runtime state apart from the mocha process, whose other
 * tests use `pulumi.runtime.setMocks`.
 */
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";

/** Operations the driver runs. */
export type EngineOp = "up" | "preview" | "destroy" | "rm";

/** One operation on one stack (the driver's argument, as JSON). */
export interface EngineRequest {
  op: EngineOp;
  /** Stack name (created on first use). */
  stack: string;
  /** Workspace directory: Pulumi.yaml and Pulumi.<stack>.yaml (its config and encryption salt) live here. */
  workDir: string;
  /** Config set on the stack before the operation. */
  config?: Record<string, { value: string; secret?: boolean }>;
  /** `preview` only: make the CLI fail if the preview proposes any change. */
  expectNoChanges?: boolean;
}

/** One resource of the stack's state (from `pulumi stack export`). */
export interface StateResource {
  urn: string;
  type: string;
  id?: string;
}

/** What the driver reports. */
export interface EngineResult {
  op: EngineOp;
  /** `pulumi version` of the CLI that ran. */
  cliVersion: string;
  /** `pulumi whoami` backend URL. */
  backendUrl: string;
  /** up/destroy: the update summary's result (`succeeded`, ...). */
  result?: string;
  /** up/destroy: resourceChanges of the update summary; preview: the change summary. */
  changes: Record<string, number>;
  /** The stack's outputs after the operation (empty after rm). */
  outputs: Record<string, { value: unknown; secret: boolean }>;
  /** The stack's resources after the operation (empty after rm). */
  resources: StateResource[];
  /** Stacks of the project in the backend after the operation. */
  stacks: string[];
  /** The engine's own output (what `pulumi up` prints). */
  log: string;
}

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const SETUP = fileURLToPath(new URL("./setup.sh", import.meta.url));
const DRIVER = fileURLToPath(new URL("./driver.ts", import.meta.url));

interface Ran {
  /** Exit code (null when killed or not started). */
  code: number | null;
  stdout: string;
  stderr: string;
  /** Why it did not exit 0, when it did not. */
  failure?: string;
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(
      file,
      args,
      { cwd: ROOT, env, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        if (!error) return resolve({ code: 0, stdout, stderr });
        const code = typeof error.code === "number" ? error.code : null;
        const failure = error.killed
          ? `killed (${error.signal}) after ${timeoutMs / 1000} s`
          : code !== null
            ? `exit ${code}`
            : error.message;
        resolve({ code, stdout, stderr, failure });
      },
    );
  });
}

/** The environment from ./setup.sh: the CLI and the plugin wrapper on PATH, PULUMI_HOME, file backend, passphrase, offline. */
export async function pulumiEnvironment(timeoutMs: number): Promise<Record<string, string>> {
  const r = await run("bash", [SETUP, "--json"], process.env, timeoutMs);
  if (r.failure) throw new Error(`test/tooling/pulumi/setup.sh failed (${r.failure}):\n${r.stderr.trim()}`);
  const line = r.stdout.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(line) as Record<string, string>;
  } catch {
    throw new Error(`test/tooling/pulumi/setup.sh printed no JSON environment:\n${r.stdout}\n${r.stderr}`);
  }
}

/** Runs one engine operation in a fresh process with `env` (from {@link pulumiEnvironment}); throws with the engine's output on failure. */
export async function runEngine(
  req: EngineRequest,
  env: Record<string, string>,
  timeoutMs = 300_000,
): Promise<EngineResult> {
  const r = await run(
    process.execPath,
    ["--import", "tsx", DRIVER, JSON.stringify(req)],
    { ...process.env, ...env },
    timeoutMs,
  );
  if (r.failure) throw new Error(`pulumi ${req.op} of stack ${req.stack} failed (${r.failure}):\n${r.stderr.trim()}`);
  try {
    return JSON.parse(r.stdout) as EngineResult;
  } catch {
    throw new Error(
      `pulumi ${req.op} of stack ${req.stack}: the driver printed no JSON result:\n${r.stdout}\n${r.stderr}`,
    );
  }
}
