/**
 * The submitter Role is exactly what the runtime calls: this test reads the runtime's Kubernetes code
 * (runtime/exec/kubernetes/, runtime/cli/, runtime/cli/commands/) and derives every (API group, resource, verb) it uses —
 * client-node calls (`createNamespacedJob`, `deleteCollectionNamespacedPod`, ...), watches, the log
 * stream and the JobSet calls — then compares them with `submitterRules(true)`. A new call in the
 * runtime without its right (or a right nothing calls) fails here, naming it.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { submitterRules } from "../../components/namespace.js";

const ROOT = fileURLToPath(new URL("../../runtime/", import.meta.url));
const DIRS = ["exec/kubernetes", "cli", "cli/commands"];
/** The deployment commands' calls: the deployer Role's, checked in orchestrator.test.ts. */
const DEPLOYER_FILES = ["runtime/exec/kubernetes/deploy-api.ts", "runtime/cli/commands/deploy.ts"];
/**
 * `kubestep argo-workflows` writes Argo objects and code ConfigMaps: rights of whoever installs workflows in an Argo
 * namespace (README, "For teams that run Argo Workflows"), not of the submitter Role; its calls are asserted below.
 */
const ARGO_FILES = ["runtime/cli/commands/argo.ts"];

const RESOURCE: Record<string, [group: string, resource: string]> = {
  Job: ["batch", "jobs"],
  Pod: ["", "pods"],
  PodLog: ["", "pods/log"],
  Event: ["", "events"],
};
const VERB: Record<string, string> = {
  create: "create",
  read: "get",
  list: "list",
  delete: "delete",
  deleteCollection: "deletecollection",
  patch: "patch",
  replace: "update",
};
/** The runtime's JobSet wrappers (`createJobSet`, `listJobSets`, ...): `<verb>JobSet(s)`. */
const JOBSET_WRAPPER = /(?<!function )\b(create|get|list|watch|patch|update|delete)JobSets?\(/g;
const JOBSET_VERB: Record<string, string> = {
  create: "create",
  get: "get",
  list: "list",
  watch: "watch",
  patch: "patch",
  update: "update",
  delete: "delete",
};

/** Every (group/resource:verb) the runtime's Kubernetes code uses, with where. */
function runtimeCalls(): Map<string, string[]> {
  const calls = new Map<string, string[]>();
  const add = (group: string, resource: string, verb: string, where: string) =>
    calls.set(`${group}/${resource}:${verb}`, [...(calls.get(`${group}/${resource}:${verb}`) ?? []), where]);
  for (const dir of DIRS)
    for (const file of readdirSync(join(ROOT, dir)).filter(
      (f) =>
        f.endsWith(".ts") &&
        !DEPLOYER_FILES.includes(`runtime/${dir}/${f}`) &&
        !ARGO_FILES.includes(`runtime/${dir}/${f}`),
    )) {
      const src = readFileSync(join(ROOT, dir, file), "utf8");
      const where = `runtime/${dir}/${file}`;
      for (const m of src.matchAll(
        /\.(create|read|list|delete|deleteCollection|patch|replace|get)Namespaced(\w+?)\(/g,
      )) {
        // Custom objects (JobSets) are reached through the JobSet wrappers, counted where they are called.
        if (m[2] === "CustomObject") {
          assert.match(
            src,
            new RegExp(`export async function ${m[1] === "get" ? "get" : m[1]}JobSets?\\(`),
            `${where} calls ${m[1]}NamespacedCustomObject outside a ${m[1]}JobSet wrapper: map it here`,
          );
          continue;
        }
        const r = RESOURCE[m[2]];
        assert.ok(
          r,
          `${where} calls ${m[1]}Namespaced${m[2]}: map it to a resource here and to a rule in submitterRules`,
        );
        add(r[0], r[1], VERB[m[1]], where);
      }
      // Watches: the runtime's watch streams name their collection path.
      if (/\.watch\s*\(/.test(src))
        for (const m of src.matchAll(/`\/apis?\/(?:([a-z.]+)\/)?v\d\w*\/namespaces\/\$\{\w+\}\/(\w+)`/g))
          add(m[1] && !m[1].startsWith("v") ? m[1] : "", m[2], "watch", where);
      if (/\/pods\/\$\{\w+\}\/log\?/.test(src)) add("", "pods/log", "get", where);
      for (const m of src.replace(/^import .*$/gm, "").matchAll(JOBSET_WRAPPER))
        add("jobset.x-k8s.io", "jobsets", JOBSET_VERB[m[1]], where);
    }
  return calls;
}

describe("components/namespace: the submitter Role = the runtime's Kubernetes calls", () => {
  it("grants every call the runtime makes and nothing it never makes", () => {
    const calls = runtimeCalls();
    const granted = new Set(
      submitterRules(true).flatMap((r) =>
        r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`))),
      ),
    );
    const used = new Set(calls.keys());
    assert.deepEqual([...used].filter((c) => !granted.has(c)).sort(), [], "calls without a right");
    assert.deepEqual([...granted].filter((c) => !used.has(c)).sort(), [], "rights nothing calls");
    // The calls found (so a broken scan cannot pass by finding nothing).
    assert.deepEqual([...used].sort(), [
      "/events:list",
      "/pods/log:get",
      "/pods:deletecollection",
      "/pods:get",
      "/pods:list",
      "/pods:watch",
      "batch/jobs:create",
      "batch/jobs:delete",
      "batch/jobs:list",
      "batch/jobs:watch",
      "jobset.x-k8s.io/jobsets:create",
      "jobset.x-k8s.io/jobsets:delete",
      "jobset.x-k8s.io/jobsets:list",
    ]);
  });

  it("keeps the argo-workflows command's calls to Argo objects and ConfigMaps (the rights README lists)", () => {
    const src = readFileSync(fileURLToPath(new URL("../../runtime/cli/commands/argo.ts", import.meta.url)), "utf8");
    const calls = [
      ...new Set(
        [...src.matchAll(/\.(create|read|list|delete|replace|get)Namespaced(\w+?)\(/g)].map((m) => `${m[1]}:${m[2]}`),
      ),
    ].sort();
    assert.deepEqual(calls, [
      "create:ConfigMap",
      "create:CustomObject",
      "delete:ConfigMap",
      "delete:CustomObject",
      "get:CustomObject",
      "list:ConfigMap",
      "read:ConfigMap",
      "replace:ConfigMap",
      "replace:CustomObject",
    ]);
  });
});
