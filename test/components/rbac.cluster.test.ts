/**
 * Real-cluster test of the StepNamespace objects: applies exactly what the component's pure
 * functions build (RBAC, Pod Security labels, NetworkPolicies, the dev stack's ResourceQuota and
 * LimitRange), then acts as a bound submitter
 * (token auth) and proves every Kubernetes call the runtime makes (runtime/exec/kubernetes,
 * runtime/cli) is allowed, what it never makes is denied, and a real flow, an @parallel gang
 * (JobSet) and `kubestep kubernetes list/kill` work with that identity under the namespace's Pod
 * Security admission and NetworkPolicies. Needs KUBECONFIG (fails without it).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { KubeHttp, loadKubeconfig } from "../helpers/kube-http.js";
import {
  provisionSubmitter,
  serviceAccountToken,
  submitterAuth,
  submitterKubeconfig,
  type SubmitterCredentials,
} from "./submitter-identity.js";
import { parseKubeconfig } from "../helpers/kube-http.js";
import { podSecurityLabels, type ContainerLimits, type StepNamespaceObjects } from "../../components/namespace.js";

const yaml = createRequire(import.meta.url)("js-yaml") as { load(s: string): unknown };
const devConfig = (
  yaml.load(readFileSync(new URL("../../Pulumi.dev.yaml", import.meta.url), "utf8")) as {
    config: Record<string, unknown>;
  }
).config;
const DEV = {
  resourceQuota: devConfig["kubestep:resourceQuota"] as Record<string, string>,
  limitRange: devConfig["kubestep:limitRange"] as ContainerLimits,
};

const suffix = Math.random().toString(36).slice(2, 8);
const NS = `ks-rbac-${suffix}`;
const OTHER = `ks-rbac-other-${suffix}`;

const JOB = (name: string) => ({
  apiVersion: "batch/v1",
  kind: "Job",
  metadata: { name },
  spec: {
    backoffLimit: 0,
    template: {
      spec: {
        restartPolicy: "Never",
        serviceAccountName: "kubestep-step",
        containers: [
          {
            name: "step",
            image: "localhost/node:20-local",
            imagePullPolicy: "Never",
            command: ["node", "-e", "console.log(1)"],
          },
        ],
      },
    },
  },
});

interface Obj {
  metadata: { name: string; labels?: Record<string, string> };
  status?: { succeeded?: number; failed?: number; phase?: string };
  rules?: { apiGroups?: string[]; resources?: string[]; verbs: string[] }[];
  automountServiceAccountToken?: boolean;
}

describe("components/namespace RBAC on a real cluster", function () {
  this.timeout(180000);
  let admin: KubeHttp;
  let submitter: KubeHttp;
  let creds: SubmitterCredentials;
  let objects: StepNamespaceObjects;

  before(async () => {
    assert.ok(
      process.env.KUBECONFIG,
      "KUBECONFIG must point at the local cluster (export KUBECONFIG=/tmp/local-cluster/admin.kubeconfig)",
    );
    admin = new KubeHttp(loadKubeconfig(process.env.KUBECONFIG.split(":")[0]));
    await admin.create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: OTHER } });
    // The dev stack's quota and limit range, so every step below runs under a shipped stack's limits.
    const out = await provisionSubmitter(admin, {
      namespace: NS,
      labels: { test: "rbac" },
      submitters: { serviceAccounts: [{ name: "submitter" }] },
      resourceQuota: DEV.resourceQuota,
      limitRange: DEV.limitRange,
    });
    objects = out.objects;
    creds = out.credentials;
    // go through the kubeconfig the helper writes, as a flow run would
    submitter = new KubeHttp(parseKubeconfig(submitterKubeconfig(creds)));
  });

  after(async () => {
    if (!admin) return;
    for (const name of [NS, OTHER]) await admin.request("DELETE", `/api/v1/namespaces/${name}`);
  });

  it("applied exactly the component's objects", async () => {
    const role = await admin.get<Obj>(
      `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles/${objects.submitterRole.metadata.name}`,
    );
    assert.deepEqual(
      role.rules?.map((r) => ({ apiGroups: r.apiGroups, resources: r.resources, verbs: r.verbs })),
      objects.submitterRole.rules,
    );
    const sa = await admin.get<Obj>(`/api/v1/namespaces/${NS}/serviceaccounts/kubestep-step`);
    assert.equal(sa.automountServiceAccountToken, false);
    const ns = await admin.get<Obj>(`/api/v1/namespaces/${NS}`);
    assert.equal(ns.metadata.labels?.["app.kubernetes.io/managed-by"], "kubestep");
    assert.equal(ns.metadata.labels?.test, "rbac");
    for (const [k, v] of Object.entries(podSecurityLabels())) assert.equal(ns.metadata.labels?.[k], v, k);
    const policies = await admin.get<{ items: { metadata: { name: string }; spec: unknown }[] }>(
      `/apis/networking.k8s.io/v1/namespaces/${NS}/networkpolicies`,
    );
    assert.deepEqual(
      policies.items.map((p) => p.metadata.name).sort(),
      objects.networkPolicies.map((p) => p.metadata.name).sort(),
    );
    assert.deepEqual(policies.items.map((p) => p.metadata.name).sort(), [
      "kubestep-allow-same-namespace",
      "kubestep-default-deny-ingress",
    ]);
    const quota = await admin.get<{ spec: { hard: Record<string, string> } }>(
      `/api/v1/namespaces/${NS}/resourcequotas/kubestep-quota`,
    );
    assert.deepEqual(quota.spec.hard, objects.resourceQuota!.spec.hard);
    assert.ok(objects.limitRange, "the dev stack's limit range is applied");
    await admin.get(`/api/v1/namespaces/${NS}/limitranges/kubestep-limits`);
  });

  it("enforces Pod Security baseline in the namespace: a privileged pod is refused at admission", async () => {
    const bad = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "privileged" },
      spec: {
        hostNetwork: true,
        containers: [
          {
            name: "c",
            image: "localhost/node:20-local",
            imagePullPolicy: "Never",
            securityContext: { privileged: true },
          },
        ],
      },
    };
    const r = await admin.request("POST", `/api/v1/namespaces/${NS}/pods`, bad);
    assert.equal(r.status, 403, r.text);
    assert.match(
      (r.body as { message: string }).message,
      /violates PodSecurity "baseline:latest": host namespaces \(hostNetwork=true\), privileged/,
    );
  });

  it("lets the submitter make every Job, pod, log and event call the runtime makes (and none it does not)", async () => {
    // jobs: watch + create (an attempt), list (the run's watch relists; `kubestep kubernetes list`)
    const watch = submitter.watch(`/apis/batch/v1/namespaces/${NS}/jobs`);
    assert.equal(await watch.status, 200);
    await submitter.create(`/apis/batch/v1/namespaces/${NS}/jobs`, JOB("hello"));
    let job: Obj | undefined;
    for (let i = 0; i < 240; i++) {
      job = (
        await submitter.get<{ items: Obj[] }>(
          `/apis/batch/v1/namespaces/${NS}/jobs?fieldSelector=metadata.name%3Dhello`,
        )
      ).items[0];
      assert.ok(!job?.status?.failed, `job failed: ${JSON.stringify(job?.status)}`);
      if (job?.status?.succeeded) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(job?.status?.succeeded, 1);
    const jobs = await submitter.get<{ items: Obj[] }>(`/apis/batch/v1/namespaces/${NS}/jobs`);
    assert.deepEqual(
      jobs.items.map((j) => j.metadata.name),
      ["hello"],
    );
    watch.stop();
    assert.ok(watch.events.includes("ADDED:hello"), `watch saw ${watch.events.join(", ")}`);
    // Never called by the runtime, so not granted: get a single Job.
    assert.equal((await submitter.request("GET", `/apis/batch/v1/namespaces/${NS}/jobs/hello`)).status, 403);

    // pods: list + watch (the run's watch), get (the log follower)
    const pods = await submitter.get<{ items: Obj[] }>(`/api/v1/namespaces/${NS}/pods?labelSelector=job-name%3Dhello`);
    assert.equal(pods.items.length, 1);
    const podName = pods.items[0].metadata.name;
    const pod = await submitter.get<Obj>(`/api/v1/namespaces/${NS}/pods/${podName}`);
    assert.equal(pod.status?.phase, "Succeeded");
    const podWatch = submitter.watch(`/api/v1/namespaces/${NS}/pods?labelSelector=job-name%3Dhello`);
    assert.equal(await podWatch.status, 200);
    podWatch.stop();
    // pods/log: get (live logs, follow included)
    const log = await submitter.request("GET", `/api/v1/namespaces/${NS}/pods/${podName}/log`);
    assert.equal(log.status, 200);
    assert.equal(log.text.trim(), "1");
    assert.equal(
      (await submitter.request("GET", `/api/v1/namespaces/${NS}/pods/${podName}/log?follow=true&timestamps=true`))
        .status,
      200,
    );
    // events: list by involved object (explaining an attempt); never watched, so not granted
    const events = await submitter.get<{ items: unknown[] }>(
      `/api/v1/namespaces/${NS}/events?fieldSelector=involvedObject.name%3D${podName}`,
    );
    assert.ok(events.items.length > 0);
    assert.equal(
      (await submitter.request("GET", `/api/v1/namespaces/${NS}/events?watch=true&timeoutSeconds=1`)).status,
      403,
    );

    // cleanup and kill: delete the Job (background propagation), then its pods by label (deletecollection)
    const del = await submitter.request(
      "DELETE",
      `/apis/batch/v1/namespaces/${NS}/jobs/hello?propagationPolicy=Background&gracePeriodSeconds=0`,
    );
    assert.equal(del.status, 200, del.text);
    const delPods = await submitter.request(
      "DELETE",
      `/api/v1/namespaces/${NS}/pods?labelSelector=job-name%3Dhello&gracePeriodSeconds=0`,
    );
    assert.equal(delPods.status, 200, delPods.text);
    for (let i = 0; i < 40; i++) {
      if (
        (
          await submitter.get<{ items: Obj[] }>(
            `/apis/batch/v1/namespaces/${NS}/jobs?fieldSelector=metadata.name%3Dhello`,
          )
        ).items.length === 0
      )
        break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.deepEqual(
      (
        await submitter.get<{ items: Obj[] }>(
          `/apis/batch/v1/namespaces/${NS}/jobs?fieldSelector=metadata.name%3Dhello`,
        )
      ).items,
      [],
    );
    assert.equal(
      (await submitter.request("DELETE", `/api/v1/namespaces/${NS}/pods/${podName}`)).status,
      403,
      "single pods are never deleted by the runtime",
    );
  });

  it("lets the submitter create, list and delete JobSets (what @parallel and list/kill call), and nothing else on them", async () => {
    const jobSet = {
      apiVersion: "jobset.x-k8s.io/v1alpha2",
      kind: "JobSet",
      metadata: { name: "gang" },
      spec: {
        replicatedJobs: [
          {
            name: "w",
            replicas: 1,
            template: {
              spec: {
                backoffLimit: 0,
                template: {
                  spec: {
                    restartPolicy: "Never",
                    serviceAccountName: "kubestep-step",
                    containers: [
                      {
                        name: "c",
                        image: "localhost/node:20-local",
                        imagePullPolicy: "Never",
                        command: ["node", "-e", "1"],
                      },
                    ],
                  },
                },
              },
            },
          },
        ],
      },
    };
    const base = `/apis/jobset.x-k8s.io/v1alpha2/namespaces/${NS}/jobsets`;
    const created = await submitter.request("POST", base, jobSet);
    assert.equal(created.status, 201, created.text);
    assert.equal((await submitter.request("GET", `${base}/gang`)).status, 403);
    assert.deepEqual(
      (await submitter.get<{ items: Obj[] }>(base)).items.map((j) => j.metadata.name),
      ["gang"],
    );
    assert.equal((await submitter.request("GET", `${base}?watch=true&timeoutSeconds=1`)).status, 403);
    const del = await submitter.request("DELETE", `${base}/gang?propagationPolicy=Background`);
    assert.equal(del.status, 200, del.text);
  });

  it("denies the submitter secrets, direct pod creation, other verbs and other namespaces", async () => {
    assert.equal((await submitter.request("GET", `/api/v1/namespaces/${NS}/secrets`)).status, 403);
    await admin.create(`/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "team-token" },
      stringData: { token: "x" },
    });
    assert.equal((await submitter.request("GET", `/api/v1/namespaces/${NS}/secrets/team-token`)).status, 403);
    assert.equal(
      (
        await submitter.request("POST", `/api/v1/namespaces/${NS}/secrets`, {
          metadata: { name: "s" },
          stringData: { a: "b" },
        })
      ).status,
      403,
    );
    const pod = {
      apiVersion: "v1",
      kind: "Pod",
      metadata: { name: "direct" },
      spec: { containers: [{ name: "c", image: "localhost/node:20-local", imagePullPolicy: "Never" }] },
    };
    assert.equal((await submitter.request("POST", `/api/v1/namespaces/${NS}/pods`, pod)).status, 403);
    assert.equal((await submitter.request("POST", `/api/v1/namespaces/${NS}/pods/x/exec?command=sh`)).status, 403);
    assert.equal(
      (
        await submitter.request(
          "PATCH",
          `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles/kubestep-submitter`,
          {},
        )
      ).status,
      403,
    );
    assert.equal((await submitter.request("GET", `/apis/batch/v1/namespaces/${OTHER}/jobs`)).status, 403);
    assert.equal((await submitter.request("GET", `/api/v1/namespaces/${OTHER}/pods`)).status, 403);
    assert.equal((await submitter.request("POST", `/apis/batch/v1/namespaces/${OTHER}/jobs`, JOB("x"))).status, 403);
    assert.equal((await submitter.request("GET", `/apis/batch/v1/jobs`)).status, 403);
  });

  it("gives the step service account no Kubernetes API rights", async () => {
    const { token } = await serviceAccountToken(admin, NS, "kubestep-step");
    const step = new KubeHttp(submitterAuth({ ...creds, token, serviceAccount: "kubestep-step" }));
    assert.equal((await step.request("GET", `/api/v1/namespaces/${NS}/pods`)).status, 403);
    assert.equal((await step.request("GET", `/apis/batch/v1/namespaces/${NS}/jobs`)).status, 403);
  });

  it("runs a real @kubernetes flow with exactly the submitter's rights (a token bound by the component's RoleBinding)", async function () {
    for (const v of [
      "KUBESTEP_DATASTORE_SYSROOT_S3",
      "KUBESTEP_S3_ENDPOINT_URL",
      "AWS_ACCESS_KEY_ID",
      "AWS_SECRET_ACCESS_KEY",
    ])
      assert.ok(process.env[v], `${v} must be set (npm test starts the S3 server, versitygw)`);
    // The admin provides the datastore credentials; the submitter cannot read or create secrets.
    await admin.create(`/api/v1/namespaces/${NS}/secrets`, {
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "kubestep-s3" },
      stringData: {
        AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!,
        AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY!,
      },
    });
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { kubestep, FLOWS, runIdOf } = await import("../helpers/cli.js");
    const dir = mkdtempSync(join(tmpdir(), "ks-submitter-"));
    writeFileSync(join(dir, "kubeconfig"), submitterKubeconfig(creds));
    const r = await kubestep(["run", join(FLOWS, "k8s", "mixed.ts"), "--datastore", "s3"], {
      cwd: dir,
      env: {
        KUBECONFIG: join(dir, "kubeconfig"),
        KUBESTEP_KUBERNETES_NAMESPACE: NS,
        KUBESTEP_KUBERNETES_SERVICE_ACCOUNT: objects.stepServiceAccount.metadata.name,
        KUBESTEP_KUBERNETES_CONTAINER_IMAGE: `localhost/node:${process.versions.node.split(".")[0]}-local`,
      },
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /words=A10,BB10,CCC10 sum=12/);
    // The pods ran as the step service account, which itself has no API rights.
    const pods = await admin.get<{ items: { spec: { serviceAccountName: string } }[] }>(
      `/api/v1/namespaces/${NS}/pods?labelSelector=app.kubernetes.io%2Fpart-of%3Dkubestep`,
    );
    assert.ok(pods.items.length >= 4);
    assert.ok(pods.items.every((p) => p.spec.serviceAccountName === objects.stepServiceAccount.metadata.name));

    // `kubestep kubernetes list` and `kill` with the same identity (list Jobs; delete them and their pods).
    const id = runIdOf(r);
    const cliEnv = { KUBECONFIG: join(dir, "kubeconfig"), KUBESTEP_KUBERNETES_NAMESPACE: NS };
    const list = await kubestep(["kubernetes", "list", "--run-id", id], { cwd: dir, env: cliEnv });
    assert.equal(list.code, 0, list.stderr);
    assert.equal(
      list.stdout
        .trim()
        .split("\n")
        .filter((l) => l.includes(`MixedFlow/${id}/`)).length,
      4,
      list.stdout,
    );
    const kill = await kubestep(["kubernetes", "kill", "--run-id", id], { cwd: dir, env: cliEnv });
    assert.equal(kill.code, 0, kill.stderr);
    assert.match(kill.stdout, /deleted 4 job\(s\) and their pods/);
    for (let i = 0; i < 60; i++) {
      if (
        (
          await admin.get<{ items: unknown[] }>(
            `/apis/batch/v1/namespaces/${NS}/jobs?labelSelector=kubestep.io%2Frun%3D${id}`,
          )
        ).items.length === 0
      )
        break;
      await new Promise((s) => setTimeout(s, 250));
    }
    assert.deepEqual(
      (
        await admin.get<{ items: unknown[] }>(
          `/apis/batch/v1/namespaces/${NS}/jobs?labelSelector=kubestep.io%2Frun%3D${id}`,
        )
      ).items,
      [],
    );
  });

  // The NetworkPolicies are in place, but the local cluster's bridge CNI does not enforce NetworkPolicies:
  // this proves the gang runs as the submitter with them applied, not that a policy engine lets it through.
  it("runs an @parallel gang through JobSet as the submitter, with the namespace's Pod Security labels and NetworkPolicies in place", async function () {
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { kubestep, FLOWS } = await import("../helpers/cli.js");
    const dir = mkdtempSync(join(tmpdir(), "ks-submitter-gang-"));
    writeFileSync(join(dir, "kubeconfig"), submitterKubeconfig(creds));
    const r = await kubestep(
      [
        "run",
        join(FLOWS, "parallel.ts"),
        "--datastore",
        "s3",
        "--with",
        'kubernetes:cpu=0.2,memory=256,secrets=["kubestep-s3"]',
      ],
      {
        cwd: dir,
        env: {
          KUBECONFIG: join(dir, "kubeconfig"),
          KUBESTEP_KUBERNETES_NAMESPACE: NS,
          KUBESTEP_KUBERNETES_SERVICE_ACCOUNT: objects.stepServiceAccount.metadata.name,
          KUBESTEP_KUBERNETES_CONTAINER_IMAGE: `localhost/node:${process.versions.node.split(".")[0]}-local`,
        },
      },
    );
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stderr + r.stdout, /created JobSet \S+ \(3 nodes\)/);
    assert.match(
      r.stdout,
      /nodes=3 received=\["hello from 1\/3 \(control task \d+\)","hello from 2\/3 \(control task \d+\)"\]/,
    );
  });
});
