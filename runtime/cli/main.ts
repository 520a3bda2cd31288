/**
 * The `kubestep` command: parses the command name and dispatches to runtime/cli/commands/ (one module per command
 * family), and maps errors to exit codes. Exit codes: 0 success, 1 the run failed,
 * 2 bad usage or a flow definition error (nothing ran), 130 interrupted.
 */
import { UsageError } from "./args.js";
import { isKubestepError } from "../errors.js";
import { redact } from "../redact.js";
import { USAGE, usage } from "./usage.js";
import { deployHelpers } from "./common.js";

/** Runs the CLI; resolves to the exit code. */
export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case "run":
        return await (await import("./commands/run.js")).runOrResume(rest, false);
      case "resume":
        return await (await import("./commands/run.js")).runOrResume(rest, true);
      case "show":
        return await (await import("./commands/inspect.js")).cmdShow(rest);
      case "runs":
        return await (await import("./commands/inspect.js")).cmdRuns(rest);
      case "logs":
        return await (await import("./commands/inspect.js")).cmdLogs(rest);
      case "dump":
        return await (await import("./commands/inspect.js")).cmdDump(rest);
      case "kubernetes":
        return await (await import("./commands/kubernetes.js")).cmdKubernetes(rest);
      case "ui":
        return await (await import("./commands/ui.js")).cmdUi(rest);
      case "card":
        return await (await import("./commands/card.js")).cmdCard(rest);
      case "deploy":
        return await (await import("./commands/deploy.js")).cmdDeploy(rest, deployHelpers);
      case "trigger":
        return await (await import("./commands/deploy.js")).cmdTrigger(rest, deployHelpers);
      case "deployments":
        return await (await import("./commands/deploy.js")).cmdDeployments(rest, deployHelpers);
      case "event":
        return await (await import("./commands/deploy.js")).cmdEvent(rest, deployHelpers);
      case "argo-workflows":
        return await (await import("./commands/argo.js")).cmdArgoWorkflows(rest, deployHelpers);
      case undefined:
      case "help":
      case "--help":
      case "-h":
        return usage("main", cmd === undefined ? 2 : 0);
      default:
        process.stderr.write(`kubestep: unknown command ${JSON.stringify(cmd)}\n\n`);
        return usage("main", 2);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`kubestep ${cmd}: ${e.message}\n\n`);
      if (cmd === "argo-workflows")
        return (process.stderr.write((await import("./commands/argo.js")).ARGO_USAGE + "\n"), 2);
      if (!USAGE[cmd!] && ["deploy", "trigger", "deployments", "event"].includes(cmd!))
        return (process.stderr.write((await import("./commands/deploy.js")).DEPLOY_USAGE[cmd as "deploy"] + "\n"), 2);
      return usage(USAGE[cmd!] ? cmd! : "main", 2);
    }
    // Every error kubestep raises for bad input or configuration (flow definition, parameters, decorators,
    // environment, kubeconfig, datastore, missing peers) carries its exit code; recognised by brand, so the
    // errors of the flow's code package (its own copy of the runtime) count too.
    if (isKubestepError(e)) {
      process.stderr.write(`kubestep ${cmd}: ${redact(e.message)}\n`);
      return e.exitCode;
    }
    process.stderr.write(`kubestep ${cmd}: ${redact((e as Error).stack ?? String(e))}\n`);
    return 1;
  }
}
