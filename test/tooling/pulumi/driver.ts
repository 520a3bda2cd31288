/**
 * Runs one real Pulumi operation on the small stack and prints the outcome as JSON (see ./engine.ts).
 *
 *   eval "$(bash test/tooling/pulumi/setup.sh)"
 *   node --import tsx test/tooling/pulumi/driver.ts '{"op":"up","stack":"dev","workDir":"/tmp/ws",
 *     "config":{"namespace":{"value":"demo"},"greeting":{"value":"hi"},"token":{"value":"s3cret","secret":true}}}'
 *
 * The program is inline (./small-stack.ts): the Automation API serves its language runtime from this
 * process and runs the CLI (`KUBESTEP_PULUMI_CLI`) with `--client=127.0.0.1:<port>`, so no
 * pulumi-language-nodejs binary is involved. The engine's output goes to stderr, the JSON to stdout.
 */
import { dirname } from "node:path";
import { LocalWorkspace, PulumiCommand, type ConfigMap, type Stack } from "@pulumi/pulumi/automation/index.js";
import type { EngineRequest, EngineResult, StateResource } from "./engine.js";
import { PROJECT, smallStack } from "./small-stack.js";

async function main(): Promise<void> {
  const req = JSON.parse(process.argv[2] ?? "null") as EngineRequest | null;
  if (!req?.op || !req.stack || !req.workDir)
    throw new Error('usage: driver.ts \'{"op":"up|preview|destroy|rm","stack":...,"workDir":...}\'');
  const cli = process.env.KUBESTEP_PULUMI_CLI;
  if (!cli) throw new Error("KUBESTEP_PULUMI_CLI is not set: run with the environment of test/tooling/pulumi/setup.sh");
  if (!process.env.PULUMI_CONFIG_PASSPHRASE)
    throw new Error("PULUMI_CONFIG_PASSPHRASE is not set: run with the environment of test/tooling/pulumi/setup.sh");

  // The CLI lives in <root>/bin/pulumi.
  const pulumiCommand = await PulumiCommand.get({ root: dirname(dirname(cli)) });
  const stack: Stack = await LocalWorkspace.createOrSelectStack(
    { projectName: PROJECT, stackName: req.stack, program: async () => smallStack() },
    { workDir: req.workDir, pulumiCommand, secretsProvider: "passphrase" },
  );
  const ws = stack.workspace;
  if (req.config) {
    const config: ConfigMap = {};
    for (const [k, v] of Object.entries(req.config)) config[k] = { value: v.value, secret: v.secret ?? false };
    await stack.setAllConfig(config);
  }

  let log = "";
  const onOutput = (s: string): void => {
    log += s;
    process.stderr.write(s);
  };
  let result: string | undefined;
  let changes: Record<string, number> = {};
  switch (req.op) {
    case "up": {
      const r = await stack.up({ onOutput });
      result = r.summary.result;
      changes = { ...r.summary.resourceChanges };
      break;
    }
    case "preview": {
      const r = await stack.preview({
        onOutput,
        diff: true,
        ...(req.expectNoChanges ? { expectNoChanges: true } : {}),
      });
      changes = { ...r.changeSummary };
      break;
    }
    case "destroy": {
      const r = await stack.destroy({ onOutput });
      result = r.summary.result;
      changes = { ...r.summary.resourceChanges };
      break;
    }
    case "rm":
      await ws.removeStack(req.stack);
      break;
    default:
      throw new Error(`unknown op ${String(req.op)}`);
  }

  const outputs: EngineResult["outputs"] = {};
  const resources: StateResource[] = [];
  if (req.op !== "rm") {
    for (const [k, v] of Object.entries(await stack.outputs()))
      outputs[k] = { value: v.value as unknown, secret: v.secret };
    const state = await stack.exportStack();
    const deployed = (state.deployment as { resources?: StateResource[] } | undefined)?.resources ?? [];
    for (const r of deployed) resources.push({ urn: r.urn, type: r.type, ...(r.id ? { id: r.id } : {}) });
  }
  const out: EngineResult = {
    op: req.op,
    cliVersion: ws.pulumiVersion,
    backendUrl: (await ws.whoAmI()).url ?? "",
    ...(result ? { result } : {}),
    changes,
    outputs,
    resources,
    stacks: (await ws.listStacks()).map((s) => s.name),
    log,
  };
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`\n[driver] ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
