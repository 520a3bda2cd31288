/** `kubestep card get <Flow/run/step/task>`: writes a task's card as one self-contained HTML file to stdout. */
import { parseArgs, opt, UsageError } from "../args.js";
import { openChosenDatastore } from "../datastore-choice.js";
import { FlowDatastore } from "../../datastore/flowstore.js";
import { cardToHtml } from "../../ui/render.js";

export const CARD_USAGE = `Usage: kubestep card get <Flow/run/step/task> [--datastore <kind>] [--stack NAME] > card.html

Writes the card the task made with current.card.append(...) as one self-contained HTML file (images and
charts inline, no script).`;

/** Runs `kubestep card`; resolves to the exit code. */
export async function cmdCard(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const p = parseArgs(rest, ["datastore", "stack", "environment"], ["help"], false);
  if (sub === "--help" || sub === "-h" || p.flags.has("help")) {
    process.stdout.write(CARD_USAGE + "\n");
    return 0;
  }
  if (sub !== "get")
    throw new UsageError(
      sub === undefined
        ? "missing the subcommand; use kubestep card get <Flow/run/step/task>"
        : `unknown subcommand card ${sub}; use card get`,
    );
  const parts = (p.positionals[0] ?? "").split("/").filter(Boolean);
  if (parts.length !== 4 || p.positionals.length > 1)
    throw new UsageError(
      `expected one task pathspec Flow/run/step/task, got ${JSON.stringify(p.positionals.join(" "))}`,
    );
  const [flow, run, step, task] = parts as [string, string, string, string];
  const { storage } = await openChosenDatastore({
    ...(opt(p, "datastore") !== undefined ? { datastore: opt(p, "datastore")! } : {}),
    ...(opt(p, "stack") !== undefined ? { stack: opt(p, "stack")! } : {}),
    ...(opt(p, "environment") !== undefined ? { environment: opt(p, "environment")! } : {}),
  });
  const ds = new FlowDatastore(storage, flow);
  const card = await ds.readCard(run, step, task);
  if (!card) {
    const meta = await ds.readTask(run, step, task);
    throw new UsageError(
      meta
        ? `task ${parts.join("/")} made no card (a step makes one with current.card.append(...))`
        : `no task ${parts.join("/")} in ${storage.root}`,
    );
  }
  process.stdout.write(cardToHtml(card));
  return 0;
}
