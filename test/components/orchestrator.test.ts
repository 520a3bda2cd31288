/**
 * The orchestrator and deployer Roles (components/orchestrator.ts) are exactly what deployed flows call: the
 * deployer Role = every call of the deployment commands (runtime/cli/commands/deploy.ts, runtime/exec/kubernetes/deploy-api.ts);
 * the orchestrator Role = the submitter's calls (it submits steps like `kubestep run`) + the calls of the
 * deploy-api functions an orchestrator pod uses (runtime/deploy/pod.ts). A new call without its right fails here.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as pulumi from "@pulumi/pulumi";
import {
  deployerRoleManifest,
  deployerRules,
  orchestratorObjects,
  orchestratorRules,
  OrchestratorIdentity,
  DEFAULT_ORCHESTRATOR_NAME,
} from "../../components/orchestrator.js";
import { inputError, one, resetResources, settle, setupMocks, T, valueOf } from "./mocks.js";
import { submitterRules } from "../../components/namespace.js";
import { DEFAULT_ORCHESTRATOR_SERVICE_ACCOUNT } from "../../runtime/kubernetes/deploy.js";

const src = (rel: string) => readFileSync(fileURLToPath(new URL(`../../${rel}`, import.meta.url)), "utf8");
const RESOURCE: Record<string, [string, string]> = {
  Job: ["batch", "jobs"],
  JobStatus: ["batch", "jobs/status"],
  CronJob: ["batch", "cronjobs"],
  ConfigMap: ["", "configmaps"],
};
const VERB: Record<string, string> = {
  create: "create",
  read: "get",
  list: "list",
  delete: "delete",
  replace: "update",
  patch: "patch",
};
const flat = (rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[]) =>
  new Set(
    rules.flatMap((r) =>
      r.apiGroups.flatMap((g) => r.resources.flatMap((res) => r.verbs.map((v) => `${g}/${res}:${v}`))),
    ),
  );

/** Calls in a source text, optionally only inside the named exported functions. */
function calls(text: string, only?: string[]): Set<string> {
  const out = new Set<string>();
  const bodies = only
    ? only.map((fn) => {
        const m = new RegExp(`export async function ${fn}\\([\\s\\S]*?\\n}\\n`).exec(text);
        assert.ok(m, `no function ${fn}`);
        return m[0];
      })
    : [text];
  for (const body of bodies)
    for (const m of body.matchAll(/\.(create|read|list|delete|replace|patch)Namespaced(\w+?)\(/g)) {
      const r = RESOURCE[m[2]!];
      assert.ok(r, `call ${m[1]}Namespaced${m[2]}: map it to a resource here and to a rule`);
      out.add(`${r[0]}/${r[1]}:${VERB[m[1]!]}`);
    }
  return out;
}

describe("components/orchestrator: deployed flows' Roles", () => {
  it("the deployer Role grants exactly the deployment commands' calls", () => {
    const used = new Set([
      ...calls(src("runtime/exec/kubernetes/deploy-api.ts")),
      ...calls(src("runtime/cli/commands/deploy.ts")),
    ]);
    assert.deepEqual([...used].sort(), [...flat(deployerRules())].sort());
    assert.deepEqual([...used].sort(), [
      "/configmaps:create",
      "/configmaps:delete",
      "/configmaps:get",
      "/configmaps:list",
      "/configmaps:update",
      "batch/cronjobs:create",
      "batch/cronjobs:delete",
      "batch/cronjobs:get",
      "batch/cronjobs:update",
      "batch/jobs/status:get",
      "batch/jobs:create",
      "batch/jobs:list",
    ]);
  });

  it("the orchestrator Role = the submitter's rights + what the orchestrator pod calls for @triggerOnFinish", () => {
    const pod = src("runtime/deploy/pod.ts");
    const used = [
      ...pod.matchAll(
        /\b(listDeployments|startDeployedRun|readDeployment|deleteDeployment|applyConfigMap|applyCronJob|listOrchestratorJobs)\(/g,
      ),
    ].map((m) => m[1]!);
    assert.deepEqual([...new Set(used)].sort(), ["listDeployments", "startDeployedRun"]);
    const podCalls = calls(src("runtime/exec/kubernetes/deploy-api.ts"), [...new Set(used)]);
    const expected = new Set([...flat(submitterRules(true)), ...podCalls]);
    assert.deepEqual([...flat(orchestratorRules(true))].sort(), [...expected].sort());
    assert.ok(flat(orchestratorRules(true)).has("/configmaps:list"));
    assert.ok(!flat(orchestratorRules(true)).has("/secrets:get"));
    assert.deepEqual(flat(orchestratorRules(false)).has("jobset.x-k8s.io/jobsets:create"), false);
  });

  it("builds the ServiceAccount (token mounted, pod identity), Role and RoleBinding the runtime's default names", () => {
    assert.equal(DEFAULT_ORCHESTRATOR_NAME, DEFAULT_ORCHESTRATOR_SERVICE_ACCOUNT);
    const o = orchestratorObjects({
      namespace: "ml",
      annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r" },
      labels: { "azure.workload.identity/use": "true" },
    });
    assert.deepEqual(o.serviceAccount, {
      apiVersion: "v1",
      kind: "ServiceAccount",
      automountServiceAccountToken: true,
      metadata: {
        name: "kubestep-orchestrator",
        namespace: "ml",
        labels: { "app.kubernetes.io/managed-by": "kubestep", "azure.workload.identity/use": "true" },
        annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r" },
      },
    });
    assert.deepEqual(o.role.rules, orchestratorRules(true));
    assert.deepEqual(o.roleBinding.roleRef, {
      apiGroup: "rbac.authorization.k8s.io",
      kind: "Role",
      name: "kubestep-orchestrator",
    });
    assert.deepEqual(o.roleBinding.subjects, [
      { kind: "ServiceAccount", name: "kubestep-orchestrator", namespace: "ml" },
    ]);
    assert.deepEqual(deployerRoleManifest("ml").rules, deployerRules());
    const path = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return `${(e as { propertyPath?: string }).propertyPath}: ${(e as Error).message}`;
      }
      return "no error";
    };
    assert.match(
      path(() => orchestratorObjects({ namespace: "Bad_NS" })),
      /^namespace: must be a Kubernetes name.*\(got "Bad_NS"\)$/,
    );
    assert.match(
      path(() => orchestratorObjects({ namespace: "ml", name: "x".repeat(64) })),
      /^orchestrator\.name: must be a Kubernetes name/,
    );
  });

  describe("OrchestratorIdentity (Pulumi, mocked engine)", () => {
    before(() => setupMocks());
    beforeEach(() => resetResources());

    it("creates the ServiceAccount, Role and RoleBinding exactly as orchestratorObjects builds them, taking outputs", async () => {
      const id = new OrchestratorIdentity("o1", {
        namespace: pulumi.output("ml"),
        annotations: { "eks.amazonaws.com/role-arn": pulumi.output("arn:aws:iam::1:role/r") },
      });
      assert.equal(await valueOf(id.serviceAccount), "kubestep-orchestrator");
      assert.equal(await valueOf(id.role), "kubestep-orchestrator");
      await settle();
      const built = orchestratorObjects({
        namespace: "ml",
        annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/r" },
      });
      const sa = one(T.serviceAccount, "o1");
      assert.deepEqual(sa.inputs.metadata, built.serviceAccount.metadata);
      assert.equal(sa.inputs.automountServiceAccountToken, true);
      assert.deepEqual(one(T.role, "o1").inputs.rules, built.role.rules);
      const rb = one(T.roleBinding, "o1");
      assert.deepEqual(rb.inputs.roleRef, built.roleBinding.roleRef);
      assert.deepEqual(rb.inputs.subjects, built.roleBinding.subjects);
      for (const r of [sa, rb]) assert.match(r.parent, /OrchestratorIdentity::o1$/);
    });

    it("refuses bad names from the constructor, naming the property", () => {
      const e = inputError(() => new OrchestratorIdentity("o2", { namespace: "Bad_NS" }));
      assert.equal(e.propertyPath, "namespace");
      assert.match(e.reason, /must be a Kubernetes name.*\(got "Bad_NS"\)/);
    });
  });
});
