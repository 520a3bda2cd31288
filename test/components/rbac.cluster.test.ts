/**
 * Real-cluster test of the StepNamespace RBAC: applies exactly the objects the component's pure
 * functions build, then acts as a bound submitter (token auth) and proves it can do what the
 * runtime needs and nothing more. Needs KUBECONFIG (fails without it).
 */
import assert from "node:assert/strict";
import { KubeHttp, loadKubeconfig } from "../helpers/kube-http.js";
import { provisionSubmitter, serviceAccountToken, submitterAuth, submitterKubeconfig, type SubmitterCredentials } from "./submitter-identity.js";
import { parseKubeconfig } from "../helpers/kube-http.js";
import type { StepNamespaceObjects } from "../../components/namespace.js";

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
        containers: [{ name: "step", image: "localhost/node:20-local", imagePullPolicy: "Never", command: ["node", "-e", "console.log(1)"] }],
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
    assert.ok(process.env.KUBECONFIG, "KUBECONFIG must point at the local cluster (export KUBECONFIG=/tmp/local-cluster/admin.kubeconfig)");
    admin = new KubeHttp(loadKubeconfig(process.env.KUBECONFIG.split(":")[0]));
    await admin.create("/api/v1/namespaces", { apiVersion: "v1", kind: "Namespace", metadata: { name: OTHER } });
    const out = await provisionSubmitter(admin, { namespace: NS, labels: { test: "rbac" }, submitters: { serviceAccounts: [{ name: "submitter" }] } });
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
    const role = await admin.get<Obj>(`/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles/${objects.submitterRole.metadata.name}`);
    assert.deepEqual(
      role.rules?.map((r) => ({ apiGroups: r.apiGroups, resources: r.resources, verbs: r.verbs })),
      objects.submitterRole.rules,
    );
    const sa = await admin.get<Obj>(`/api/v1/namespaces/${NS}/serviceaccounts/kubestep-step`);
    assert.equal(sa.automountServiceAccountToken, false);
    const ns = await admin.get<Obj>(`/api/v1/namespaces/${NS}`);
    assert.equal(ns.metadata.labels?.["app.kubernetes.io/managed-by"], "kubestep");
    assert.equal(ns.metadata.labels?.test, "rbac");
  });

  it("lets the submitter create, get, list, watch and delete Jobs and read their pods, logs and events", async () => {
    const watch = submitter.watch(`/apis/batch/v1/namespaces/${NS}/jobs`);
    assert.equal(await watch.status, 200);
    await submitter.create(`/apis/batch/v1/namespaces/${NS}/jobs`, JOB("hello"));
    let job: Obj | undefined;
    for (let i = 0; i < 240; i++) {
      job = await submitter.get<Obj>(`/apis/batch/v1/namespaces/${NS}/jobs/hello`);
      assert.ok(!job.status?.failed, `job failed: ${JSON.stringify(job.status)}`);
      if (job.status?.succeeded) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(job?.status?.succeeded, 1);
    const jobs = await submitter.get<{ items: Obj[] }>(`/apis/batch/v1/namespaces/${NS}/jobs`);
    assert.deepEqual(jobs.items.map((j) => j.metadata.name), ["hello"]);
    watch.stop();
    assert.ok(watch.events.includes("ADDED:hello"), `watch saw ${watch.events.join(", ")}`);

    const pods = await submitter.get<{ items: Obj[] }>(`/api/v1/namespaces/${NS}/pods?labelSelector=job-name%3Dhello`);
    assert.equal(pods.items.length, 1);
    const podName = pods.items[0].metadata.name;
    const pod = await submitter.get<Obj>(`/api/v1/namespaces/${NS}/pods/${podName}`);
    assert.equal(pod.status?.phase, "Succeeded");
    const podWatch = submitter.watch(`/api/v1/namespaces/${NS}/pods`);
    assert.equal(await podWatch.status, 200);
    podWatch.stop();
    const log = await submitter.request("GET", `/api/v1/namespaces/${NS}/pods/${podName}/log`);
    assert.equal(log.status, 200);
    assert.equal(log.text.trim(), "1");
    const events = await submitter.get<{ items: unknown[] }>(`/api/v1/namespaces/${NS}/events`);
    assert.ok(events.items.length > 0);
    const eventWatch = submitter.watch(`/api/v1/namespaces/${NS}/events`);
    assert.equal(await eventWatch.status, 200);
    eventWatch.stop();

    const del = await submitter.request("DELETE", `/apis/batch/v1/namespaces/${NS}/jobs/hello`, { propagationPolicy: "Background" });
    assert.equal(del.status, 200);
    for (let i = 0; i < 40; i++) {
      if ((await submitter.request("GET", `/apis/batch/v1/namespaces/${NS}/jobs/hello`)).status === 404) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    assert.equal((await submitter.request("GET", `/apis/batch/v1/namespaces/${NS}/jobs/hello`)).status, 404);
  });

  it("denies the submitter secrets, direct pod creation, other verbs and other namespaces", async () => {
    assert.equal((await submitter.request("GET", `/api/v1/namespaces/${NS}/secrets`)).status, 403);
    await admin.create(`/api/v1/namespaces/${NS}/secrets`, { apiVersion: "v1", kind: "Secret", metadata: { name: "team-token" }, stringData: { token: "x" } });
    assert.equal((await submitter.request("GET", `/api/v1/namespaces/${NS}/secrets/team-token`)).status, 403);
    assert.equal((await submitter.request("POST", `/api/v1/namespaces/${NS}/secrets`, { metadata: { name: "s" }, stringData: { a: "b" } })).status, 403);
    const pod = { apiVersion: "v1", kind: "Pod", metadata: { name: "direct" }, spec: { containers: [{ name: "c", image: "localhost/node:20-local", imagePullPolicy: "Never" }] } };
    assert.equal((await submitter.request("POST", `/api/v1/namespaces/${NS}/pods`, pod)).status, 403);
    assert.equal((await submitter.request("POST", `/api/v1/namespaces/${NS}/pods/x/exec?command=sh`)).status, 403);
    assert.equal((await submitter.request("PATCH", `/apis/rbac.authorization.k8s.io/v1/namespaces/${NS}/roles/kubestep-submitter`, {})).status, 403);
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
    for (const v of ["KUBESTEP_DATASTORE_SYSROOT_S3", "KUBESTEP_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"])
      assert.ok(process.env[v], `${v} must be set (npm test starts the S3 server, versitygw)`);
    // The admin provides the datastore credentials; the submitter cannot read or create secrets.
    await admin.create(`/api/v1/namespaces/${NS}/secrets`, { apiVersion: "v1", kind: "Secret", metadata: { name: "kubestep-s3" }, stringData: { AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID!, AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY! } });
    const { mkdtempSync, writeFileSync } = await import("node:fs");
    const { tmpdir } = await import("node:os");
    const { join } = await import("node:path");
    const { kubestep, FLOWS } = await import("../helpers/cli.js");
    const dir = mkdtempSync(join(tmpdir(), "ks-submitter-"));
    writeFileSync(join(dir, "kubeconfig"), submitterKubeconfig(creds));
    const r = await kubestep(["run", join(FLOWS, "k8s", "mixed.ts"), "--datastore", "s3"], {
      cwd: dir,
      env: {
        KUBECONFIG: join(dir, "kubeconfig"), KUBESTEP_KUBERNETES_NAMESPACE: NS, KUBESTEP_KUBERNETES_SERVICE_ACCOUNT: objects.stepServiceAccount.metadata.name,
        KUBESTEP_KUBERNETES_CONTAINER_IMAGE: `localhost/node:${process.versions.node.split(".")[0]}-local`,
      },
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /words=A10,BB10,CCC10 sum=12/);
    // The pods ran as the step service account, which itself has no API rights.
    const pods = await admin.get<{ items: { spec: { serviceAccountName: string } }[] }>(`/api/v1/namespaces/${NS}/pods?labelSelector=app.kubernetes.io%2Fpart-of%3Dkubestep`);
    assert.ok(pods.items.length >= 4);
    assert.ok(pods.items.every((p) => p.spec.serviceAccountName === objects.stepServiceAccount.metadata.name));
  });
});
