/**
 * Every generated Job must pass the real apiserver: for a matrix of option combinations (every option at
 * least once, through the decorator, `--with`, the KUBESTEP_KUBERNETES_* variables and the environment),
 * build the Job and create it with a server-side dry run (`dryRun=All`) on the local cluster.
 * Needs KUBECONFIG (fails without it). Uses its own namespace, deleted at the end.
 */
import { strict as assert } from "node:assert";
import type { V1Container, V1Job } from "@kubernetes/client-node";
import type { KubestepEnvironment } from "../../../runtime/environment.js";
import { resolveKubernetesConfig, type KubernetesConfigInput } from "../../../runtime/kubernetes/config.js";
import { buildJob, type RunContext } from "../../../runtime/kubernetes/jobspec.js";
import { KUBERNETES_OPTION_NAMES, type KubernetesOptions } from "../../../runtime/kubernetes/options.js";
import { KUBERNETES_ENV_VARS, parseWithKubernetes } from "../../../runtime/kubernetes/config.js";
import { KubeHttp, loadKubeconfig } from "../../helpers/kube-http.js";
import { parseQuantity } from "../../../runtime/contract/units.js";

/** A quantity's value; a malformed one fails the test. */
function quantityValue(q: string | number): number {
  const v = parseQuantity(q);
  if (v === undefined) throw new Error(`not a quantity: ${q}`);
  return v;
}

const NS = `kubestep-dryrun-${Date.now().toString(36)}`;
const NODE_MAJOR = process.versions.node.split(".")[0];

const ENVIRONMENT: KubestepEnvironment = {
  version: 1,
  name: "dryrun",
  namespace: NS,
  serviceAccount: "kubestep-runner",
  datastore: { kind: "s3", root: "s3://bucket/prefix" },
  image: `localhost/node:${NODE_MAJOR}-local`,
  imagePullSecrets: ["env-pull"],
  defaults: { cpu: 0.5, memory: 1024, disk: 2048, qos: "Burstable" },
  podLabels: { "azure.workload.identity/use": "true" },
  podAnnotations: { "example.com/owner": "ml-team" },
  gpuPools: [
    {
      name: "t4",
      vendor: "nvidia",
      resourceName: "nvidia.com/gpu",
      nodeLabels: { "kubestep.io/gpu-pool": "t4" },
      taints: [{ key: "nvidia.com/gpu", effect: "NoSchedule" }],
    },
    {
      name: "mi250",
      vendor: "amd",
      resourceName: "amd.com/gpu",
      nodeLabels: { "kubestep.io/gpu-pool": "mi250" },
      taints: [{ key: "amd.com/gpu", value: "present", effect: "NoSchedule" }],
    },
  ],
};

interface Case {
  name: string;
  decorator?: KubernetesOptions;
  with?: string;
  env?: Record<string, string>;
  resources?: KubernetesConfigInput["resources"];
  timeoutSeconds?: number;
  environment?: KubestepEnvironment;
  ctx?: Partial<RunContext>;
}

const CASES: Case[] = [
  { name: "defaults only" },
  { name: "environment defaults", environment: ENVIRONMENT },
  {
    name: "Guaranteed, fractional cpu, sizes with units, timeout",
    decorator: {
      qos: "Guaranteed",
      cpu: 0.25,
      memory: "512Mi",
      disk: "1GB",
      image: `localhost/node:${NODE_MAJOR}-local`,
      imagePullPolicy: "Never",
    },
    timeoutSeconds: 3600,
  },
  {
    name: "BestEffort with an AMD GPU from a pool",
    decorator: { qos: "BestEffort", gpu: 1, gpuVendor: "amd" },
    environment: ENVIRONMENT,
  },
  {
    name: "custom GPU resource, computePool, user tolerations and selector",
    decorator: {
      gpu: 2,
      gpuResourceName: "nvidia.com/mig-1g.5gb",
      computePool: "t4",
      nodeSelector: "zone=a",
      tolerations: [{ key: "spot", operator: "Exists", effect: "NoSchedule" }],
    },
    environment: ENVIRONMENT,
  },
  { name: "gpu 0 stays unconstrained", decorator: { gpu: 0 }, environment: ENVIRONMENT },
  { name: "non-GPU compute pool", decorator: { computePool: "highmem" } },
  {
    name: "tmpfs and shared memory",
    decorator: {
      memory: 4096,
      useTmpfs: true,
      tmpfsSize: 1024,
      tmpfsPath: "/scratch",
      tmpfsTempdir: false,
      sharedMemory: 2048,
    },
  },
  { name: "tmpfs with default size and tempdir", decorator: { useTmpfs: true } },
  {
    name: "PVCs, secrets, pull secrets, service account, namespace",
    decorator: {
      persistentVolumeClaims: { data: "/data", "models.v2": "/mnt/models" },
      secrets: ["s3-creds", "api-token"],
      imagePullSecrets: ["regcred"],
      serviceAccount: "runner",
      namespace: NS,
    },
  },
  {
    name: "labels, annotations, port, securityContext, NoExecute toleration, hostnameResolutionTimeout",
    decorator: {
      labels: { team: "ml", "example.com/cost-center": "42" },
      annotations: { "example.com/note": "anything: even, commas = and spaces" },
      port: 8080,
      securityContext: {
        runAsUser: 1000,
        runAsGroup: 1000,
        runAsNonRoot: true,
        allowPrivilegeEscalation: false,
        privileged: false,
      },
      tolerations: [
        { key: "node.kubernetes.io/unreachable", operator: "Exists", effect: "NoExecute", tolerationSeconds: 30 },
      ],
      hostnameResolutionTimeout: 120,
    },
  },
  { name: "privileged", decorator: { securityContext: { privileged: true } } },
  {
    name: "CUDA image for cudaVersion, one GPU of a custom resource",
    decorator: { cudaVersion: "12.4", gpuResourceName: "nvidia.com/mig-1g.5gb" },
  },
  {
    name: "Burstable with the environment's memory limit factor",
    environment: { ...ENVIRONMENT, defaults: { memoryLimitFactor: 1.25 } },
  },
  {
    name: "@resources max merge",
    decorator: { cpu: 1, memory: 2000 },
    resources: { cpu: 3, memory: 1000, disk: 30000, gpu: 1, sharedMemory: 256 },
  },
  {
    name: "--with overrides",
    with: 'kubernetes:cpu=2,memory=3000,image=localhost/node:20-local,labels={"via":"with"},useTmpfs=true',
  },
  {
    name: "every KUBESTEP_KUBERNETES_* variable",
    env: {
      KUBESTEP_KUBERNETES_SERVICE_ACCOUNT: "sa-from-env",
      KUBESTEP_KUBERNETES_CONTAINER_IMAGE: "team/app:1",
      KUBESTEP_KUBERNETES_CONTAINER_REGISTRY: "registry.example.com",
      KUBESTEP_KUBERNETES_IMAGE_PULL_POLICY: "Always",
      KUBESTEP_KUBERNETES_IMAGE_PULL_SECRETS: '["pull-a","pull-b"]',
      KUBESTEP_KUBERNETES_CPU: "1500m",
      KUBESTEP_KUBERNETES_MEMORY: "3GB",
      KUBESTEP_KUBERNETES_DISK: "5Gi",
      KUBESTEP_KUBERNETES_GPU_VENDOR: "amd",
      KUBESTEP_KUBERNETES_NODE_SELECTOR: "disk=ssd,zone=b",
      KUBESTEP_KUBERNETES_TOLERATIONS: '[{"key":"dedicated","operator":"Equal","value":"ml","effect":"NoSchedule"}]',
      KUBESTEP_KUBERNETES_QOS: "Guaranteed",
      KUBESTEP_KUBERNETES_PERSISTENT_VOLUME_CLAIMS: '{"scratch":"/scratch"}',
      KUBESTEP_KUBERNETES_SHARED_MEMORY: "512",
      KUBESTEP_KUBERNETES_SECRETS: "env-a,env-b",
      KUBESTEP_KUBERNETES_LABELS: "source=env",
      KUBESTEP_KUBERNETES_ANNOTATIONS: "example.com/src=env",
      KUBESTEP_KUBERNETES_PORT: "9000",
      KUBESTEP_KUBERNETES_JOB_TTL_SECONDS_AFTER_FINISHED: "600",
      KUBESTEP_KUBERNETES_INJECT_NODE: "always",
      KUBESTEP_KUBERNETES_NODE_IMAGE: "team/node-runtime:20",
    },
    decorator: { gpu: 1 },
  },
  {
    name: "an image without node: Node.js injected (init container, volume), Guaranteed with a GPU and a security context",
    decorator: {
      image: "localhost/nonode:bookworm-local",
      injectNode: "auto",
      nodeImage: `localhost/node:${NODE_MAJOR}-local`,
      qos: "Guaranteed",
      gpu: 1,
      useTmpfs: true,
      securityContext: { runAsUser: 1000, runAsNonRoot: true, allowPrivilegeEscalation: false },
    },
  },
  {
    name: "long, odd run context values",
    ctx: {
      flowName: "A".repeat(120) + "Flow",
      stepName: "step_" + "x".repeat(80),
      runId: "run/2024:01",
      taskId: "t".repeat(90),
      attempt: 100,
      user: "alice.o'neil@example.com",
    },
  },
];

function assertQuantities(
  actual: Record<string, string> | undefined,
  expected: Record<string, string> | undefined,
  what: string,
) {
  assert.deepEqual(Object.keys(actual ?? {}).sort(), Object.keys(expected ?? {}).sort(), `${what} keys`);
  for (const [k, v] of Object.entries(expected ?? {}))
    assert.equal(quantityValue(actual![k]!), quantityValue(v), `${what}.${k}: ${actual![k]} vs ${v}`);
}

/** Checks that the server's copy kept every field we set (the apiserver may add defaults and canonicalize quantities). */
function assertKept(got: V1Job, want: V1Job) {
  assert.equal(got.metadata!.name, want.metadata!.name);
  assert.equal(got.metadata!.namespace, want.metadata!.namespace);
  assert.deepEqual(got.metadata!.labels, want.metadata!.labels);
  assert.deepEqual(got.metadata!.annotations, want.metadata!.annotations);
  for (const k of ["backoffLimit", "ttlSecondsAfterFinished", "activeDeadlineSeconds"] as const)
    assert.equal(got.spec![k], want.spec![k], k);
  const gt = got.spec!.template,
    wt = want.spec!.template;
  for (const [k, v] of Object.entries(wt.metadata!.labels!))
    assert.equal(gt.metadata!.labels![k], v, `template label ${k}`);
  assert.deepEqual(gt.metadata!.annotations, wt.metadata!.annotations);
  const gp = gt.spec!,
    wp = wt.spec!;
  for (const k of ["restartPolicy", "serviceAccountName", "nodeSelector", "tolerations", "imagePullSecrets"] as const)
    assert.deepEqual(gp[k], wp[k], k);
  assert.equal(gp.volumes?.length, wp.volumes?.length, "volumes");
  for (const [i, wv] of (wp.volumes ?? []).entries()) {
    const gv = gp.volumes![i]!;
    assert.equal(gv.name, wv.name);
    assert.deepEqual(gv.persistentVolumeClaim, wv.persistentVolumeClaim);
    assert.equal(gv.emptyDir?.medium, wv.emptyDir?.medium);
    if (wv.emptyDir?.sizeLimit)
      assert.equal(quantityValue(gv.emptyDir!.sizeLimit!), quantityValue(wv.emptyDir.sizeLimit), "sizeLimit");
  }
  assert.equal(gp.containers.length, 1);
  const gc: V1Container = gp.containers[0]!,
    wc: V1Container = wp.containers[0]!;
  for (const k of [
    "name",
    "image",
    "imagePullPolicy",
    "command",
    "env",
    "envFrom",
    "volumeMounts",
    "securityContext",
  ] as const) {
    const g = gc[k] as unknown,
      w = wc[k] as unknown;
    // The server adds defaults (e.g. fieldRef.apiVersion, readOnly); compare what we set.
    if (k === "imagePullPolicy" && w === undefined) {
      // We leave it out unless set: the apiserver's default is Always for :latest or untagged, else IfNotPresent.
      const tag = /:([^/:@]+)$/.exec(wc.image!)?.[1];
      assert.equal(g, tag === undefined || tag === "latest" ? "Always" : "IfNotPresent", "defaulted imagePullPolicy");
    } else if (k === "env")
      assert.deepEqual(
        (g as V1Container["env"])!.map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]),
        (w as V1Container["env"])!.map((e) => [e.name, e.value ?? e.valueFrom?.fieldRef?.fieldPath]),
      );
    else assert.deepEqual(g, w, `container.${k}`);
  }
  assert.deepEqual(
    gc.ports?.map((p) => [p.containerPort, p.protocol]),
    wc.ports?.map((p) => [p.containerPort, p.protocol]),
  );
  assertQuantities(
    gc.resources?.requests as Record<string, string>,
    wc.resources?.requests as Record<string, string>,
    "requests",
  );
  assertQuantities(
    gc.resources?.limits as Record<string, string>,
    wc.resources?.limits as Record<string, string>,
    "limits",
  );
  // The init container that brings Node.js into images without it (when injected).
  const init = (p: typeof gp) =>
    p.initContainers?.map((c) => [
      c.name,
      c.image,
      c.command,
      c.volumeMounts?.map((m) => [m.name, m.mountPath]),
      c.securityContext,
    ]);
  assert.deepEqual(init(gp), init(wp), "initContainers");
  (wp.initContainers ?? []).forEach((w, i) => {
    const g = gp.initContainers![i]!;
    assertQuantities(g.resources?.requests, w.resources?.requests, `initContainers[${i}].requests`);
    assertQuantities(g.resources?.limits, w.resources?.limits, `initContainers[${i}].limits`);
  });
  assert.deepEqual(
    gp.volumes?.map((v) => v.name),
    wp.volumes?.map((v) => v.name),
    "volumes",
  );
}

function buildCase(c: Case): V1Job {
  const env = { KUBESTEP_KUBERNETES_NAMESPACE: NS, ...(c.env ?? {}) };
  const config = resolveKubernetesConfig({
    step: "train",
    env,
    decorator: c.decorator,
    resources: c.resources,
    timeoutSeconds: c.timeoutSeconds,
    withOverrides: c.with ? parseWithKubernetes(c.with) : undefined,
    environment: c.environment,
  });
  return buildJob(config, {
    flowName: "DryRunFlow",
    runId: "1700000000000",
    stepName: "train",
    taskId: "1",
    attempt: 0,
    user: "tester",
    command: ["node", "-e", "console.log('hi')"],
    env: { KUBESTEP_FLOW: "DryRunFlow", KUBESTEP_DATASTORE_ROOT: "s3://bucket/prefix" },
    ...c.ctx,
  });
}

describe("kubernetes Job: server-side dry run on the local cluster", function () {
  this.timeout(120_000);
  let kube: KubeHttp;

  before(async () => {
    const path = process.env.KUBECONFIG;
    if (!path)
      throw new Error(
        "KUBECONFIG is not set: this test needs the local cluster (export KUBECONFIG=/tmp/local-cluster/admin.kubeconfig)",
      );
    kube = new KubeHttp(loadKubeconfig(path));
    const r = await kube.request("POST", "/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: NS },
    });
    assert.equal(r.status, 201, `creating namespace ${NS}: ${JSON.stringify(r.body)}`);
  });

  after(async () => {
    if (!kube) return;
    const r = await kube.request("DELETE", `/api/v1/namespaces/${NS}`);
    assert.ok(r.status === 200 || r.status === 202, `deleting namespace ${NS}: ${r.status}`);
  });

  it("the matrix exercises every option and every variable", () => {
    const used = new Set<string>();
    for (const c of CASES) {
      for (const k of Object.keys(c.decorator ?? {})) used.add(k);
      for (const k of Object.keys(c.with ? parseWithKubernetes(c.with) : {})) used.add(k);
    }
    assert.deepEqual(
      KUBERNETES_OPTION_NAMES.filter((o) => !used.has(o)),
      [],
      "options not exercised through the decorator or --with",
    );
    const vars = new Set(CASES.flatMap((c) => Object.keys(c.env ?? {})));
    const missing = [...Object.keys(KUBERNETES_ENV_VARS), "CONTAINER_REGISTRY", "JOB_TTL_SECONDS_AFTER_FINISHED"]
      .map((s) => `KUBESTEP_KUBERNETES_${s}`)
      .filter((v) => !vars.has(v) && v !== "KUBESTEP_KUBERNETES_NAMESPACE");
    assert.deepEqual(missing, []);
  });

  for (const c of CASES) {
    it(`accepts: ${c.name}`, async () => {
      const job = buildCase(c);
      const r = await kube.request("POST", `/apis/batch/v1/namespaces/${job.metadata!.namespace}/jobs?dryRun=All`, job);
      assert.equal(r.status, 201, `apiserver rejected the Job: ${JSON.stringify(r.body)}`);
      assertKept(r.body as V1Job, job);
    });
  }

  it("the dry run really validates: a broken Job is rejected with 422", async () => {
    const job = buildCase({ name: "broken" });
    job.metadata!.labels!["kubestep.io/user"] = "not a valid label value!";
    const r = await kube.request("POST", `/apis/batch/v1/namespaces/${NS}/jobs?dryRun=All`, job);
    assert.equal(r.status, 422, JSON.stringify(r.body));
  });

  it("dry runs create nothing", async () => {
    const r = await kube.request("GET", `/apis/batch/v1/namespaces/${NS}/jobs`);
    assert.equal(r.status, 200);
    assert.deepEqual((r.body as { items: unknown[] }).items.length, 0);
  });
});
