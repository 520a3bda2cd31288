import assert from "node:assert/strict";
import * as pulumi from "@pulumi/pulumi";
import { inputError, inputErrors, ofType, one, resetResources, settle, setupMocks, T, valueOf } from "./mocks.js";
import {
  StepNamespace,
  limitRangeManifest,
  namespaceManifest,
  networkPolicyManifests,
  podSecurityLabels,
  stepNamespaceObjects,
  submitterRoleBindingManifest,
  submitterRoleManifest,
  submitterRules,
} from "../../components/namespace.js";

// What runtime/exec/kubernetes and runtime/cli call (see rbac-runtime-calls.test.ts, which derives it from the source).
const EXACT_RULES = [
  { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "list", "watch", "delete"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "deletecollection"] },
  { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
  { apiGroups: [""], resources: ["events"], verbs: ["list"] },
];
const JOBSETS = { apiGroups: ["jobset.x-k8s.io"], resources: ["jobsets"], verbs: ["create", "list", "delete"] };
const JOBSETS_LIST = { apiGroups: ["jobset.x-k8s.io"], resources: ["jobsets"], verbs: ["list"] };
const PSA = {
  "pod-security.kubernetes.io/enforce": "baseline",
  "pod-security.kubernetes.io/enforce-version": "latest",
  "pod-security.kubernetes.io/warn": "restricted",
  "pod-security.kubernetes.io/warn-version": "latest",
  "pod-security.kubernetes.io/audit": "restricted",
  "pod-security.kubernetes.io/audit-version": "latest",
};

describe("components/namespace", () => {
  before(() => setupMocks());
  beforeEach(() => resetResources());

  describe("pure manifests", () => {
    it("submitter rules are exactly what the runtime uses (+ JobSets for @parallel), never secrets or pod creation", () => {
      assert.deepEqual(submitterRules(false), [...EXACT_RULES, JOBSETS_LIST]);
      assert.deepEqual(submitterRules(true), [...EXACT_RULES, JOBSETS]);
      for (const r of submitterRules(true)) {
        assert.ok(!r.resources.includes("secrets"));
        if (r.resources.includes("pods")) assert.ok(!r.verbs.includes("create"));
      }
    });
    it("binds users, groups and service accounts", () => {
      const rb = submitterRoleBindingManifest("ml", {
        users: ["alice"],
        groups: ["ml-team"],
        serviceAccounts: [{ name: "ci" }, { namespace: "ci", name: "runner" }],
      });
      assert.deepEqual(rb.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "kubestep-submitter" });
      assert.deepEqual(rb.subjects, [
        { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "alice" },
        { kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "ml-team" },
        { kind: "ServiceAccount", name: "ci", namespace: "ml" },
        { kind: "ServiceAccount", name: "runner", namespace: "ci" },
      ]);
      assert.equal(rb.metadata.namespace, "ml");
    });
    it("rejects bad names and an empty submitter list naming the property", () => {
      let e = inputError(() => namespaceManifest("Bad_NS"));
      assert.equal(e.propertyPath, "namespace");
      assert.match(e.reason, /Bad_NS/);
      e = inputError(() => submitterRoleBindingManifest("ml", {}));
      assert.equal(e.propertyPath, "submitters");
      e = inputError(() => submitterRoleBindingManifest("ml", { serviceAccounts: [{ name: "Nope!" }] }));
      assert.equal(e.propertyPath, "submitters.serviceAccounts[0].name");
      e = inputError(() => limitRangeManifest("ml", { maximum: { cpu: "1" } } as never));
      assert.equal(e.propertyPath, "limitRange.maximum");
      assert.deepEqual(
        Object.keys(
          inputErrors(() =>
            stepNamespaceObjects({ namespace: "ml", submitters: { users: ["a"] }, stepServiceAccount: "UPPER" }),
          ),
        ),
        ["stepServiceAccount"],
      );
    });
    it("reports every problem of the namespace's arguments at once", () => {
      const all = inputErrors(() =>
        stepNamespaceObjects({
          namespace: "ml",
          submitters: {},
          stepServiceAccount: "UPPER",
          limitRange: { maximum: {} } as never,
          podSecurity: { enforce: "strict" as never },
          networkPolicies: { egressCidrs: ["10.0.0.0"] },
        }),
      );
      assert.deepEqual(Object.keys(all), [
        "podSecurity.enforce",
        "stepServiceAccount",
        "submitters",
        "limitRange.maximum",
        "networkPolicies.egressCidrs[0]",
      ]);
    });
    it("Pod Security admission labels: enforce baseline, warn and audit restricted by default; configurable or off", () => {
      assert.deepEqual(podSecurityLabels(), PSA);
      assert.deepEqual(
        podSecurityLabels({ enforce: "restricted", version: "v1.34" })["pod-security.kubernetes.io/enforce"],
        "restricted",
      );
      assert.equal(
        podSecurityLabels({ enforce: "restricted", version: "v1.34" })["pod-security.kubernetes.io/warn-version"],
        "v1.34",
      );
      assert.deepEqual(podSecurityLabels(false), {});
      assert.deepEqual(namespaceManifest("ml", podSecurityLabels()).metadata.labels, {
        "app.kubernetes.io/managed-by": "kubestep",
        ...PSA,
      });
    });
    it("NetworkPolicies: default-deny ingress, same-namespace allowed, egress open by default; ingress sources and egress CIDRs configurable", () => {
      const d = networkPolicyManifests("ml");
      assert.deepEqual(
        d.map((p) => [p.metadata.name, p.spec]),
        [
          ["kubestep-default-deny-ingress", { podSelector: {}, policyTypes: ["Ingress"] }],
          [
            "kubestep-allow-same-namespace",
            { podSelector: {}, policyTypes: ["Ingress"], ingress: [{ from: [{ podSelector: {} }] }] },
          ],
        ],
      );
      assert.ok(
        d.every((p) => !p.spec.policyTypes.includes("Egress")),
        "egress is open by default",
      );
      const c = networkPolicyManifests("ml", { ingressFromNamespaces: ["monitoring"], egressCidrs: ["10.0.0.0/8"] });
      assert.deepEqual(c[2].spec.ingress, [
        { from: [{ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": "monitoring" } } }] },
      ]);
      assert.deepEqual(c[3].spec, {
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [
          { to: [{ podSelector: {} }] },
          {
            ports: [
              { protocol: "UDP", port: 53 },
              { protocol: "TCP", port: 53 },
            ],
          },
          { to: [{ ipBlock: { cidr: "10.0.0.0/8" } }] },
        ],
      });
      assert.deepEqual(networkPolicyManifests("ml", { enabled: false }), []);
    });
  });

  describe("StepNamespace", () => {
    it("creates namespace, step SA, Role, RoleBinding, quota and limits with the exact inputs", async () => {
      const ns = new StepNamespace("t1", {
        namespace: "ml-dev",
        labels: { team: "ml" },
        stepServiceAccountAnnotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x" },
        imagePullSecrets: ["regcred"],
        submitters: { groups: ["ml-team"] },
        resourceQuota: { "requests.nvidia.com/gpu": "4" },
        limitRange: { defaultRequest: { cpu: "1", memory: "2Gi" } },
      });
      assert.equal(await valueOf(ns.namespace), "ml-dev");
      assert.equal(await valueOf(ns.serviceAccount), "kubestep-step");
      await settle();
      const nsr = one(T.namespace, "t1");
      assert.deepEqual(nsr.inputs.metadata, {
        name: "ml-dev",
        labels: { "app.kubernetes.io/managed-by": "kubestep", team: "ml", ...PSA },
      });
      assert.deepEqual(
        ofType(T.networkPolicy, "t1").map((r) => ({ metadata: r.inputs.metadata, spec: r.inputs.spec })),
        networkPolicyManifests("ml-dev").map((p) => ({ metadata: p.metadata, spec: p.spec })),
      );
      const sa = one(T.serviceAccount, "t1");
      assert.deepEqual(sa.inputs.metadata, {
        name: "kubestep-step",
        namespace: "ml-dev",
        labels: { "app.kubernetes.io/managed-by": "kubestep" },
        annotations: { "eks.amazonaws.com/role-arn": "arn:aws:iam::1:role/x" },
      });
      assert.equal(sa.inputs.automountServiceAccountToken, false);
      assert.deepEqual(sa.inputs.imagePullSecrets, [{ name: "regcred" }]);
      const role = one(T.role, "t1");
      assert.deepEqual(role.inputs.rules, [...EXACT_RULES, JOBSETS]);
      assert.deepEqual(role.inputs.metadata, {
        name: "kubestep-submitter",
        namespace: "ml-dev",
        labels: { "app.kubernetes.io/managed-by": "kubestep" },
      });
      const rb = one(T.roleBinding, "t1");
      assert.deepEqual(rb.inputs.subjects, [{ kind: "Group", apiGroup: "rbac.authorization.k8s.io", name: "ml-team" }]);
      assert.deepEqual(rb.inputs.roleRef, {
        apiGroup: "rbac.authorization.k8s.io",
        kind: "Role",
        name: "kubestep-submitter",
      });
      assert.deepEqual(one(T.resourceQuota, "t1").inputs.spec, { hard: { "requests.nvidia.com/gpu": "4" } });
      assert.deepEqual(one(T.limitRange, "t1").inputs.spec, {
        limits: [{ type: "Container", defaultRequest: { cpu: "1", memory: "2Gi" } }],
      });
      for (const r of [nsr, sa, role, rb]) assert.match(r.parent, /StepNamespace::t1$/);
      // the component creates exactly the objects the pure functions build
      assert.deepEqual(role.inputs.rules, submitterRoleManifest("ml-dev").rules);
    });
    it("omits JobSets without @parallel, mounts the token only when asked, and creates no quota/limits unless given", async () => {
      new StepNamespace("t2", {
        namespace: "ml2",
        parallel: false,
        automountStepServiceAccountToken: true,
        submitters: { users: ["bob"] },
      });
      await settle();
      assert.deepEqual(one(T.role, "t2").inputs.rules, [...EXACT_RULES, JOBSETS_LIST]);
      assert.equal(one(T.serviceAccount, "t2").inputs.automountServiceAccountToken, true);
      assert.equal(ofType(T.resourceQuota, "t2").length, 0);
      assert.equal(ofType(T.limitRange, "t2").length, 0);
    });
    it("takes outputs inside nested arguments (a CI service account's name, an egress CIDR from a VPC)", async () => {
      new StepNamespace("t4", {
        namespace: "ml4",
        submitters: { serviceAccounts: [{ namespace: "ci", name: pulumi.output("runner") }] },
        networkPolicies: { egressCidrs: [pulumi.output("10.1.0.0/16")] },
      });
      await settle();
      assert.deepEqual(one(T.roleBinding, "t4").inputs.subjects, [
        { kind: "ServiceAccount", name: "runner", namespace: "ci" },
      ]);
      const egress = ofType(T.networkPolicy, "t4").find(
        (r) => (r.inputs.metadata as { name: string }).name === "kubestep-restrict-egress",
      )!;
      assert.deepEqual((egress.inputs.spec as { egress: unknown[] }).egress[2], {
        to: [{ ipBlock: { cidr: "10.1.0.0/16" } }],
      });
    });
    it("throws InputPropertiesError from the constructor for invalid arguments", () => {
      const e = inputErrors(() => new StepNamespace("t3", { namespace: "ok", submitters: { users: [] } }));
      assert.deepEqual(Object.keys(e), ["submitters"]);
      assert.match(e.submitters, /at least one/);
    });
  });
});
