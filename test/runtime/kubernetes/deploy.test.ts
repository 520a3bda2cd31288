import { strict as assert } from "node:assert";
import { gunzipSync, gzipSync } from "node:zlib";
import { resolveKubernetesConfig } from "../../../runtime/kubernetes/config.js";
import type { DeploymentRecord } from "../../../runtime/deploy/record.js";
import { parseDeploymentRecord, DeploymentRecordError } from "../../../runtime/deploy/record.js";
import {
  buildCodeConfigMaps,
  buildCronJob,
  codeConfigMapsInUse,
  buildDeploymentConfigMap,
  buildOrchestratorJob,
  codeConfigMapNames,
  codeParts,
  CODE_PART_BYTES,
  deploymentName,
  deploymentSelector,
  orchestratorBootstrapCommand,
  orchestratorJobName,
  CODE_MOUNT,
  DEPLOYED_RUN_ENV,
  RECORD_KEY,
} from "../../../runtime/kubernetes/deploy.js";
import { isDnsLabel } from "../../../runtime/contract/names.js";

const SHA = "a".repeat(64);
function record(over: Partial<DeploymentRecord> = {}): DeploymentRecord {
  return {
    format: 1,
    flowName: "TrainFlow",
    version: 3,
    createdAt: "2026-01-02T03:04:05.000Z",
    user: "alice",
    namespace: "ml",
    datastore: { kind: "s3", root: "s3://bucket/prefix" },
    taskCode: { sha: "b".repeat(64), key: `TrainFlow/code/${"b".repeat(64)}.mjs` },
    orchestratorCode: {
      sha: SHA,
      key: `TrainFlow/code/${SHA}.mjs`,
      configMaps: codeConfigMapNames("TrainFlow", SHA, 2),
    },
    params: { n: { name: "n", options: { default: 5 } }, label: { name: "label", options: { type: "string" } } },
    stepConfigs: { start: resolveKubernetesConfig({ step: "start", env: {}, withOverrides: { namespace: "ml" } }) },
    podEnv: { KUBESTEP_S3_ENDPOINT_URL: "http://10.0.0.5:4568", AWS_REGION: "us-east-1" },
    orchestrator: {
      serviceAccount: "kubestep-orchestrator",
      image: "node:20-slim",
      imagePullPolicy: "IfNotPresent",
      secrets: ["kubestep-s3"],
      imagePullSecrets: ["regcred"],
      backoffLimit: 4,
    },
    events: [],
    upstreamFlows: [],
    tags: ["prod"],
    maxWorkers: 16,
    maxNumSplits: 100,
    ...over,
  };
}

describe("deployment manifests", () => {
  it("names are deterministic DNS labels; the CronJob's fits its 52-character limit", () => {
    const long = "AVeryLongFlowNameThatGoesOnAndOnForeverAndEverFlow";
    for (const n of [
      deploymentName("TrainFlow"),
      deploymentName(long),
      orchestratorJobName(long, "1700000000000-abcd"),
      ...codeConfigMapNames(long, SHA, 3),
    ])
      assert.ok(isDnsLabel(n), n);
    assert.ok(deploymentName(long).length <= 52, deploymentName(long));
    assert.equal(deploymentName("TrainFlow"), deploymentName("TrainFlow"));
    assert.notEqual(deploymentName("TrainFlow"), deploymentName("Trainflow"));
    assert.equal(orchestratorJobName("F", "r1"), orchestratorJobName("F", "r1"));
    assert.notEqual(orchestratorJobName("F", "r1"), orchestratorJobName("F", "r2"));
    assert.deepEqual(codeConfigMapNames("TrainFlow", SHA, 2), [
      "ks-code-trainflow-aaaaaaaaaaaa-0",
      "ks-code-trainflow-aaaaaaaaaaaa-1",
    ]);
    assert.throws(() => codeConfigMapNames("F", SHA, 0), /parts must be a whole number >= 1, got 0/);
    assert.equal(
      deploymentSelector("TrainFlow", "orchestrator"),
      "app.kubernetes.io/part-of=kubestep,kubestep.io/deployment=TrainFlow,kubestep.io/component=orchestrator",
    );
    assert.equal(deploymentSelector(), "app.kubernetes.io/part-of=kubestep,kubestep.io/deployment");
  });

  it("the deployment ConfigMap holds the record and its summary fields", () => {
    const r = record({ schedule: { cron: "0 * * * *", timezone: "Europe/Paris", allowOverlap: false } });
    const cm = buildDeploymentConfigMap(r);
    assert.equal(cm.metadata!.name, deploymentName("TrainFlow"));
    assert.equal(cm.metadata!.namespace, "ml");
    assert.deepEqual(cm.metadata!.labels, {
      "app.kubernetes.io/part-of": "kubestep",
      "kubestep.io/deployment": "TrainFlow",
      "kubestep.io/component": "deployment",
      "kubestep.io/flow": "TrainFlow",
    });
    assert.deepEqual(parseDeploymentRecord(cm.data![RECORD_KEY]!, "test"), r);
    assert.equal(cm.data!.flow, "TrainFlow");
    assert.equal(cm.data!.version, "3");
    assert.equal(cm.data!.codeSha, SHA);
    assert.equal(cm.data!.codeKey, `TrainFlow/code/${SHA}.mjs`);
    assert.equal(cm.data!.createdAt, "2026-01-02T03:04:05.000Z");
    assert.equal(cm.data!.parameters, JSON.stringify({ n: 5, label: null }));
    assert.equal(cm.data!.schedule, "0 * * * * Europe/Paris");
    assert.equal(buildDeploymentConfigMap(record()).data!.schedule, undefined);
    assert.deepEqual(buildDeploymentConfigMap(r), cm);
  });

  it("a bad record is refused with what is missing", () => {
    assert.throws(
      () => parseDeploymentRecord("{", "ConfigMap ml/x"),
      (e: unknown) => e instanceof DeploymentRecordError && /^ConfigMap ml\/x: not JSON/.test(e.message),
    );
    assert.throws(
      () => parseDeploymentRecord(JSON.stringify({ format: 1, flowName: "F" }), "cm"),
      /cm: not a kubestep deployment record \(format 1, missing version, namespace, datastore, taskCode, orchestratorCode, stepConfigs, orchestrator\)/,
    );
  });

  it("the code is split into ConfigMap parts that join back to the package", () => {
    const bytes = Buffer.from(Array.from({ length: 3 * CODE_PART_BYTES }, (_, i) => (i * 7919) % 251));
    const gz = gzipSync(bytes, { level: 0 });
    const parts = codeParts(gz);
    assert.equal(parts.length, Math.ceil(gz.byteLength / CODE_PART_BYTES));
    assert.ok(parts.every((p) => p.byteLength <= CODE_PART_BYTES));
    assert.deepEqual(gunzipSync(Buffer.concat(parts)), bytes);
    const names = codeConfigMapNames("TrainFlow", SHA, parts.length);
    const cms = buildCodeConfigMaps(
      record({ orchestratorCode: { sha: SHA, key: "k", configMaps: names } }),
      parts.map((p) => Buffer.from(p).toString("base64")),
    );
    assert.deepEqual(
      cms.map((c) => c.metadata!.name),
      names,
    );
    assert.deepEqual(
      cms.map((c) => Object.keys(c.binaryData!)),
      parts.map((_, i) => [`code.mjs.gz.${i}`]),
    );
    assert.deepEqual(
      cms.map((c) => c.metadata!.annotations!["kubestep.io/code-part"]),
      parts.map((_, i) => `${i + 1}/${parts.length}`),
    );
    assert.ok(
      cms.every(
        (c) =>
          c.metadata!.labels!["kubestep.io/component"] === "code" &&
          c.metadata!.labels!["kubestep.io/code"] === SHA.slice(0, 12),
      ),
    );
    // Base64 of a part stays under the API server's 1 MiB object limit.
    assert.ok(cms.every((c) => Buffer.byteLength(Object.values(c.binaryData!)[0]!) < 1024 * 1024 - 10_000));
    assert.throws(() => buildCodeConfigMaps(record(), ["only-one"]), /1 parts for 2 ConfigMaps/);
    assert.equal(codeParts(new Uint8Array()).length, 1);
  });

  it("the orchestrator Job runs the bootstrap with the run, its service account, secrets, code volume and failure policy", () => {
    const r = record();
    const job = buildOrchestratorJob({
      deployment: r,
      runId: "1700-ab",
      params: { n: 7 },
      trigger: { type: "manual", user: "bob" },
    });
    assert.equal(job.apiVersion, "batch/v1");
    assert.equal(job.kind, "Job");
    assert.equal(job.metadata!.name, orchestratorJobName("TrainFlow", "1700-ab"));
    assert.equal(job.metadata!.namespace, "ml");
    assert.equal(job.metadata!.labels!["kubestep.io/run"], "1700-ab");
    assert.equal(job.metadata!.labels!["kubestep.io/component"], "orchestrator");
    assert.equal(job.metadata!.labels!["app.kubernetes.io/name"], "kubestep-orchestrator");
    assert.deepEqual(job.metadata!.annotations, {
      "kubestep.io/flow": "TrainFlow",
      "kubestep.io/run": "1700-ab",
      "kubestep.io/trigger": "manual",
      "kubestep.io/version": "3",
    });
    const spec = job.spec!;
    assert.equal(spec.backoffLimit, 4);
    assert.deepEqual(spec.podFailurePolicy, {
      rules: [{ action: "FailJob", onExitCodes: { containerName: "orchestrator", operator: "In", values: [1, 70] } }],
    });
    const pod = spec.template.spec!;
    assert.equal(pod.restartPolicy, "Never");
    assert.equal(pod.serviceAccountName, "kubestep-orchestrator");
    assert.deepEqual(pod.imagePullSecrets, [{ name: "regcred" }]);
    assert.deepEqual(pod.volumes, [
      {
        name: "kubestep-code",
        projected: { sources: r.orchestratorCode.configMaps.map((name) => ({ configMap: { name } })) },
      },
    ]);
    const c = pod.containers[0]!;
    assert.equal(c.name, "orchestrator");
    assert.equal(c.image, "node:20-slim");
    assert.equal(c.imagePullPolicy, "IfNotPresent");
    assert.deepEqual(c.command, orchestratorBootstrapCommand());
    assert.deepEqual(c.envFrom, [{ secretRef: { name: "kubestep-s3" } }]);
    assert.deepEqual(c.volumeMounts, [{ name: "kubestep-code", mountPath: CODE_MOUNT, readOnly: true }]);
    const env = Object.fromEntries(c.env!.map((e) => [e.name, e.value ?? e.valueFrom]));
    assert.deepEqual(JSON.parse(env[DEPLOYED_RUN_ENV] as string), {
      deployment: r,
      runId: "1700-ab",
      params: { n: 7 },
      trigger: { type: "manual", user: "bob" },
    });
    assert.equal(env.KUBESTEP_CODE_SHA, SHA);
    assert.deepEqual(env.KUBESTEP_ORCHESTRATOR_JOB, {
      fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/job-name']" },
    });
    assert.deepEqual(env.KUBESTEP_ORCHESTRATOR_JOB_UID, {
      fieldRef: { fieldPath: "metadata.labels['batch.kubernetes.io/controller-uid']" },
    });
    assert.equal(env.KUBESTEP_S3_ENDPOINT_URL, "http://10.0.0.5:4568");
    assert.equal(env.AWS_REGION, "us-east-1");
    assert.deepEqual(
      buildOrchestratorJob({
        deployment: r,
        runId: "1700-ab",
        params: { n: 7 },
        trigger: { type: "manual", user: "bob" },
      }),
      job,
    );
    assert.deepEqual(
      buildOrchestratorJob({
        deployment: record({ orchestrator: { ...r.orchestrator, secrets: [], imagePullSecrets: [] } }),
        runId: "x",
        trigger: { type: "manual", user: "u" },
      }).spec!.template.spec!.imagePullSecrets,
      undefined,
    );
    // The environment's pod labels (e.g. AKS workload identity) reach orchestrator pods; kubestep's own labels win.
    const labelled = buildOrchestratorJob({
      deployment: record({
        orchestrator: {
          ...r.orchestrator,
          podLabels: { "azure.workload.identity/use": "true", "kubestep.io/component": "mine" },
        },
      }),
      runId: "x",
      trigger: { type: "manual", user: "u" },
    }).spec!.template.metadata!.labels!;
    assert.equal(labelled["azure.workload.identity/use"], "true");
    assert.equal(labelled["kubestep.io/component"], "orchestrator");
    assert.equal(job.spec!.template.metadata!.labels!["azure.workload.identity/use"], undefined);
  });

  it("the CronJob: schedule, timeZone, Forbid unless overlap is allowed, Jobs that are orchestrator runs with the schedule as trigger", () => {
    const r = record({ schedule: { cron: "*/5 * * * *", timezone: "Europe/Paris", allowOverlap: false } });
    const cj = buildCronJob(r);
    assert.equal(cj.apiVersion, "batch/v1");
    assert.equal(cj.kind, "CronJob");
    assert.equal(cj.metadata!.name, deploymentName("TrainFlow"));
    assert.equal(cj.metadata!.labels!["kubestep.io/component"], "schedule");
    assert.equal(cj.spec!.schedule, "*/5 * * * *");
    assert.equal(cj.spec!.timeZone, "Europe/Paris");
    assert.equal(cj.spec!.concurrencyPolicy, "Forbid");
    assert.equal(cj.spec!.jobTemplate.metadata!.labels!["kubestep.io/component"], "orchestrator");
    const env = cj.spec!.jobTemplate.spec!.template.spec!.containers[0]!.env!;
    const run = JSON.parse(env.find((e) => e.name === DEPLOYED_RUN_ENV)!.value!) as { runId?: string };
    assert.deepEqual(run, {
      deployment: r,
      trigger: { type: "schedule", cron: "*/5 * * * *", timezone: "Europe/Paris" },
    });
    assert.equal(run.runId, undefined, "a scheduled run's id is its Job's name");
    const allowed = buildCronJob(record({ schedule: { cron: "0 0 * * *", allowOverlap: true } }));
    assert.equal(allowed.spec!.concurrencyPolicy, "Allow");
    assert.equal(allowed.spec!.timeZone, undefined);
    assert.throws(() => buildCronJob(record()), /flow TrainFlow has no schedule/);
  });

  it("the code ConfigMaps in use are those of unfinished orchestrator Jobs", () => {
    const older = record({
      orchestratorCode: {
        sha: "c".repeat(64),
        key: "k",
        configMaps: codeConfigMapNames("TrainFlow", "c".repeat(64), 2),
      },
    });
    const running = buildOrchestratorJob({ deployment: older, runId: "r1", trigger: { type: "manual", user: "u" } });
    const finished = {
      ...buildOrchestratorJob({ deployment: record(), runId: "r2", trigger: { type: "manual", user: "u" } }),
      status: { conditions: [{ type: "Complete", status: "True" }] },
    };
    const failed = {
      ...buildOrchestratorJob({ deployment: record(), runId: "r3", trigger: { type: "manual", user: "u" } }),
      status: { conditions: [{ type: "Failed", status: "True" }] },
    };
    assert.deepEqual(codeConfigMapsInUse([running, finished, failed]), older.orchestratorCode.configMaps);
    assert.deepEqual(codeConfigMapsInUse([running, running]), older.orchestratorCode.configMaps);
    assert.deepEqual(codeConfigMapsInUse([finished]), []);
  });

  it("the bootstrap joins the parts in numeric order, checks the sha and calls runOrchestrator", () => {
    const [node, ...rest] = orchestratorBootstrapCommand();
    assert.equal(node, "node");
    const script = rest[rest.length - 1]!;
    assert.match(script, /Number\(a\.split\("\."\)\.pop\(\)\) - Number\(b\.split\("\."\)\.pop\(\)\)/);
    assert.match(script, /process\.env\.KUBESTEP_CODE_SHA/);
    assert.match(script, /await pkg\.runOrchestrator\(\)/);
  });
});
