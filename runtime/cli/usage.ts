/** The CLI's usage texts of the core commands, and printing them. */

export const USAGE: Record<string, string> = {
  main: `kubestep — write a flow as a TypeScript class of steps, run it locally or on Kubernetes.

Usage: kubestep <command> [options]

Commands:
  run <flow.ts>                      run a flow (flow parameters as --name value)
  resume <flow.ts> [step]            re-run a failed run from its failed step, reusing finished tasks
  show <flow.ts>                     print the flow's graph and parameters
  runs <Flow>                        list the runs of a flow
  logs <Flow/run/step[/task]>        print the logs of tasks
  dump <Flow/run/step/task>          print a task's artifacts
  kubernetes list|kill               list or delete a run's Kubernetes jobs
  ui                                 browse flows, runs, graphs, logs, artifacts and cards in a browser
  card get <Flow/run/step/task>      write a task's card as a self-contained HTML file
  deploy <flow.ts> [--delete]        deploy a flow to the cluster (schedule, triggers); runs need no laptop
  trigger <Flow> [--param value]     start a run of a deployed flow now, in the cluster
  deployments list                   what is deployed: version, schedule, triggers, last runs
  event publish <name> [--payload k=v]  start the deployed flows that @trigger on the event
  argo-workflows create <flow.ts>    the flow as an Argo WorkflowTemplate (--only-json prints it)

Run \`kubestep <command> --help\` for a command's options.`,
  run: `Usage: kubestep run <flow.ts> [--<param> value ...] [options]

Options:
  --flow <Name>           the flow to run when the file exports several
  --max-workers <N>       tasks run at once (default 16)
  --max-num-splits <N>    largest foreach allowed (default 100)
  --tag <tag>             tag the run (repeatable)
  --run-id <id>           use this run id instead of a generated one
  --datastore <kind>      local (default) | s3 | gs | azure (or KUBESTEP_DEFAULT_DATASTORE)
  --with kubernetes[:k=v,...]  run every step on Kubernetes, with option overrides (e.g. cpu=4,memory=8000)
  --stack <name>          read the environment from \`pulumi stack output kubestep --stack <name>\`
  --environment <file>    read the environment from a JSON file (or KUBESTEP_ENVIRONMENT)
  --kube-context <name>   kubeconfig context to use (default: the current one)
  --isolation <kind>      local tasks in worker threads of the CLI (thread, the default) or one node
                          process each (process); or KUBESTEP_LOCAL_ISOLATION. Code that cannot run in
                          a thread (process.chdir, native addons, external packages, child_process)
                          always gets processes
  --quiet                 do not print task output, only progress and errors
  --help                  this help`,
  resume: `Usage: kubestep resume <flow.ts> [step] [options]

Re-runs <step> (default: the first step that did not finish) and everything after it, in a new run that
reuses the artifacts of every finished task before it (no recomputation). Each reused artifact is checked
first (present, its size, its sha256): a task whose artifacts are damaged is recomputed, with the steps after it.

A run left running by a CLI that died (killed, SIGKILL, machine lost) is continued in place when no step and
no --run-id is given: its finished tasks are kept and its Kubernetes Jobs, still running or finished meanwhile,
are re-attached rather than submitted again, so no task runs twice.

Options:
  --origin-run-id <id>    the run to resume (default: the latest run of the flow)
  --flow, --max-workers, --max-num-splits, --tag, --run-id, --datastore, --with, --stack, --environment,
  --kube-context, --isolation, --quiet: as for run`,
  show: `Usage: kubestep show <flow.ts> [--flow <Name>]

Prints the steps, their transitions and decorators, and the parameters.`,
  runs: `Usage: kubestep runs <Flow> [--datastore <kind>]

Lists runs with status, start time, tags and parameters, newest last.`,
  logs: `Usage: kubestep logs <Flow/run/step[/task]> [--attempt N] [--datastore <kind>]

Prints the stored output of every task of a step (or of one task); the last attempt unless --attempt.`,
  dump: `Usage: kubestep dump <Flow/run/step/task> [--artifact <name>] [--datastore <kind>]

Prints the task's artifacts (all, or one).`,
  kubernetes: `Usage: kubestep kubernetes list [--run-id R] [--user U] [--all] [--namespace N] [--kube-context C]
       kubestep kubernetes kill --run-id R [--namespace N] [--kube-context C]

list: the kubestep Jobs in the namespace (default KUBESTEP_KUBERNETES_NAMESPACE or "default"), selected on the
server by label: your own unless --user or --all. kill: deletes a run's Jobs and their pods.`,
};

/** Prints the usage of `cmd` (to stderr when `code` is an error) and returns `code`. */
export function usage(cmd: string, code: number): number {
  (code ? process.stderr : process.stdout).write(USAGE[cmd]! + "\n");
  return code;
}
