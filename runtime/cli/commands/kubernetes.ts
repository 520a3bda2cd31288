/** `kubestep kubernetes list | kill`: the kubestep Jobs and JobSets of a namespace. */
import { parseArgs, opt, UsageError } from "../args.js";
import { currentUser } from "../../exec/orchestrator.js";
import { requirePeer } from "../../peers.js";
import { usage } from "../usage.js";
import { k8sModules } from "../common.js";

/** `kubestep kubernetes list|kill`. */
export async function cmdKubernetes(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  const p = parseArgs(rest, ["run-id", "user", "namespace", "kube-context"], ["help", "all"], false);
  if (p.flags.has("help") || sub === "--help" || sub === undefined)
    return usage("kubernetes", sub === undefined ? 2 : 0);
  if (sub !== "list" && sub !== "kill") throw new UsageError(`unknown subcommand kubernetes ${sub}; use list or kill`);
  await requirePeer("kubernetes", `kubestep kubernetes ${sub}`);
  const { loadKubeConfig, kubeApis, jobLabelSelector, readKubernetesEnv } = await k8sModules();
  const { kubeConfig } = await loadKubeConfig({
    ...(opt(p, "kube-context") ? { context: opt(p, "kube-context")! } : {}),
  });
  const { batch, core } = await kubeApis(kubeConfig);
  const namespace =
    opt(p, "namespace") ?? readKubernetesEnv(`kubernetes ${sub}`, process.env).options.namespace ?? "default";
  const runId = opt(p, "run-id");
  if (sub === "kill" && !runId) throw new UsageError("kubernetes kill needs --run-id <id>");
  const user = p.flags.has("all") || runId ? opt(p, "user") : (opt(p, "user") ?? currentUser());
  const labelSelector = jobLabelSelector({ ...(runId ? { runId } : {}), ...(user ? { user } : {}) });
  const { listJobSets, deleteJobSet } = await import("../../exec/kubernetes/jobset-api.js");
  // @parallel gangs run as JobSets where the cluster serves the API; their child Jobs carry the same labels.
  const [jobs, jobSets] = await Promise.all([
    batch.listNamespacedJob({ namespace, labelSelector }).then((l) => l.items),
    listJobSets(kubeConfig, namespace, labelSelector),
  ]);
  if (sub === "list") {
    if (!jobs.length && !jobSets.length)
      process.stdout.write(`no kubestep jobs in namespace ${namespace} matching ${labelSelector}\n`);
    for (const s of jobSets) {
      const a = s.metadata.annotations ?? {};
      const conditions = (s.status?.conditions ?? []) as Array<{ type?: string; status?: string }>;
      const done = (t: string) => conditions.some((c) => c.type === t && c.status === "True");
      const st = done("Completed") ? "succeeded" : done("Failed") ? "failed" : "running";
      process.stdout.write(
        `jobset/${s.metadata.name}  ${st.padEnd(9)} ${a["kubestep.io/flow"] ?? ""}/${a["kubestep.io/run"] ?? ""}/${a["kubestep.io/step"] ?? ""} attempt ${a["kubestep.io/attempt"] ?? ""} user=${a["kubestep.io/user"] ?? ""} (${s.spec.replicatedJobs.map((r) => r.name).join(" + ")})\n`,
      );
    }
    for (const j of jobs) {
      const a = j.metadata?.annotations ?? {};
      const st = j.status?.succeeded
        ? "succeeded"
        : j.status?.failed
          ? "failed"
          : j.status?.active
            ? "running"
            : "pending";
      process.stdout.write(
        `${j.metadata?.name}  ${st.padEnd(9)} ${a["kubestep.io/flow"] ?? ""}/${a["kubestep.io/run"] ?? ""}/${a["kubestep.io/step"] ?? ""}/${a["kubestep.io/task"] ?? ""} attempt ${a["kubestep.io/attempt"] ?? ""} user=${a["kubestep.io/user"] ?? ""}\n`,
      );
    }
    return 0;
  }
  // JobSets first: a JobSet controller recreates a child Job deleted under a live JobSet.
  await Promise.all(jobSets.map((s) => deleteJobSet(kubeConfig, namespace, s.metadata.name!)));
  await Promise.all(
    jobs.map((j) =>
      batch
        .deleteNamespacedJob({
          namespace,
          name: j.metadata!.name!,
          propagationPolicy: "Background",
          gracePeriodSeconds: 0,
        })
        .catch((e: unknown) => {
          // A JobSet's child Job may already be gone with its JobSet.
          if ((e as { code?: number }).code !== 404) throw e;
        }),
    ),
  );
  await core.deleteCollectionNamespacedPod({ namespace, labelSelector, gracePeriodSeconds: 0 });
  process.stdout.write(
    `deleted ${jobSets.length ? `${jobSets.length} JobSet(s), ` : ""}${jobs.length} job(s) and their pods of run ${runId} in namespace ${namespace}\n`,
  );
  return 0;
}
