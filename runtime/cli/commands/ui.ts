/**
 * `kubestep ui`: a local web app over any datastore: flows, runs, a run's graph and timeline, tasks with logs,
 * artifacts and cards. Stops on Ctrl-C.
 */
import { parseArgs, opt, UsageError } from "../args.js";
import { openChosenDatastore } from "../datastore-choice.js";

export const UI_USAGE = `Usage: kubestep ui [--datastore local|s3|gs|azure] [--stack NAME | --environment FILE] [--host H] [--port 8321]

Starts a web app showing every flow of the datastore, its runs, each run's graph, timeline, tasks, logs,
artifacts and cards; open pages update live while runs are running.

Options:
  --datastore <kind>      local (default) | s3 | gs | azure (or KUBESTEP_DEFAULT_DATASTORE)
  --stack <name>          the datastore of a Pulumi stack's environment (as kubestep run --stack)
  --environment <file>    the datastore of an environment JSON file (or KUBESTEP_ENVIRONMENT)
  --host <address>        address to listen on (default 127.0.0.1); any other address requires the access
                          token printed at start
  --port <N>              port (default 8321; 0 picks a free one)
  --help                  this help`;

/** Runs `kubestep ui`; resolves to the exit code once the server stops (SIGINT / SIGTERM). */
export async function cmdUi(argv: string[]): Promise<number> {
  const p = parseArgs(argv, ["datastore", "stack", "environment", "host", "port"], ["help"], false);
  if (p.flags.has("help")) {
    process.stdout.write(UI_USAGE + "\n");
    return 0;
  }
  if (p.positionals.length) throw new UsageError(`unexpected argument ${p.positionals[0]}`);
  const portText = opt(p, "port") ?? "8321";
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new UsageError(`--port ${JSON.stringify(portText)} is invalid; use a whole number from 0 to 65535`);
  const host = opt(p, "host") ?? "127.0.0.1";
  const { storage, chosen } = await openChosenDatastore({
    ...(opt(p, "datastore") !== undefined ? { datastore: opt(p, "datastore")! } : {}),
    ...(opt(p, "stack") !== undefined ? { stack: opt(p, "stack")! } : {}),
    ...(opt(p, "environment") !== undefined ? { environment: opt(p, "environment")! } : {}),
  });
  const { startUiServer } = await import("../../ui/server.js");
  const ui = await startUiServer({ storage, host, port });
  process.stderr.write(`kubestep ui: showing ${chosen.reason} (${storage.root})\n`);
  if (ui.token)
    process.stderr.write(
      `kubestep ui: listening on ${host}, so every request needs this access token (printed once):\n  ${ui.token}\n`,
    );
  process.stdout.write(`${ui.openUrl}\n`);
  await new Promise<void>((resolveStop) => {
    const stop = () => resolveStop();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
  await ui.close();
  return 0;
}
