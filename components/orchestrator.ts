/**
 * Identities and RBAC of deployed flows (`kubestep deploy`): the orchestrator's ServiceAccount, Role and
 * RoleBinding (what an orchestrator pod calls), and the deployer Role (what `kubestep deploy`, `trigger`,
 * `deployments list` and `event publish` call from a laptop or CI). Pure manifest builders, like the
 * submitter Role in namespace.ts; the cluster test applies exactly these objects.
 */
import * as pulumi from "@pulumi/pulumi";
import * as corev1 from "@pulumi/kubernetes/core/v1/index.js";
import * as rbacv1 from "@pulumi/kubernetes/rbac/v1/index.js";
import {
  MANAGED_BY,
  submitterRules,
  roleBindingManifest,
  type PolicyRule,
  type RoleBindingManifest,
  type RoleManifest,
  type ServiceAccountManifest,
  type Submitters,
} from "./namespace.js";
import { requireDnsLabel, resolveSpec } from "./validate.js";

/** Default name of the orchestrator's ServiceAccount, Role and RoleBinding (the runtime's default too). */
export const DEFAULT_ORCHESTRATOR_NAME = "kubestep-orchestrator";
/** Default name of the deployer Role. */
export const DEFAULT_DEPLOYER_ROLE = "kubestep-deployer";

/**
 * Exactly the calls an orchestrator pod makes (runtime/deploy/pod.ts): every call of a submitter (it submits
 * each step as a Job, watches Jobs and pods, follows logs, reads events, `@parallel` JobSets), and `configmaps`
 * list (the deployment records, to start the `@triggerOnFinish` flows, whose orchestrator Jobs it creates
 * with the `jobs` create it already has). No secrets, no pod creation, no exec.
 */
export function orchestratorRules(parallel: boolean): PolicyRule[] {
  return [...submitterRules(parallel), { apiGroups: [""], resources: ["configmaps"], verbs: ["list"] }];
}

/**
 * Exactly the calls of the deployment commands (runtime/cli/deploy.ts, runtime/exec/kubernetes/deploy-api.ts):
 * `configmaps` get/list/create/update/delete (the deployment record and the code package), `cronjobs`
 * get/create/update/delete (`@schedule`), `jobs` create/list (a triggered run's orchestrator Job; last runs)
 * and `jobs/status` get (`kubestep trigger --wait`).
 */
export function deployerRules(): PolicyRule[] {
  return [
    { apiGroups: [""], resources: ["configmaps"], verbs: ["get", "list", "create", "update", "delete"] },
    { apiGroups: ["batch"], resources: ["cronjobs"], verbs: ["get", "create", "update", "delete"] },
    { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "list"] },
    { apiGroups: ["batch"], resources: ["jobs/status"], verbs: ["get"] },
  ];
}

/** Options of {@link orchestratorObjects}. */
export interface OrchestratorObjectsOptions {
  /** Namespace of deployed flows. */
  namespace: string;
  /** Name of the ServiceAccount, Role and RoleBinding; default `kubestep-orchestrator`. */
  name?: string;
  /** Pod identity annotations (e.g. `eks.amazonaws.com/role-arn`) giving the orchestrator its datastore access. */
  annotations?: Record<string, string>;
  /** Labels of the ServiceAccount (e.g. `azure.workload.identity/use`). */
  labels?: Record<string, string>;
  /** Whether `@parallel` (JobSet) rights are granted; default true. */
  parallel?: boolean;
}

/** The orchestrator's objects. */
export interface OrchestratorObjects {
  /** Its ServiceAccount (token mounted: it calls the API server). */
  serviceAccount: ServiceAccountManifest;
  /** Its Role ({@link orchestratorRules}). */
  role: RoleManifest;
  /** The binding of the Role to the ServiceAccount. */
  roleBinding: RoleBindingManifest;
}

/** The orchestrator's ServiceAccount, Role and RoleBinding. */
export function orchestratorObjects(o: OrchestratorObjectsOptions): OrchestratorObjects {
  const name = o.name ?? DEFAULT_ORCHESTRATOR_NAME;
  requireDnsLabel(o.namespace, "namespace");
  requireDnsLabel(name, "orchestrator.name");
  const labels = { ...MANAGED_BY };
  return {
    serviceAccount: {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: {
        name,
        namespace: o.namespace,
        labels: { ...labels, ...(o.labels ?? {}) },
        annotations: { ...(o.annotations ?? {}) },
      },
      automountServiceAccountToken: true,
    },
    role: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name, namespace: o.namespace, labels },
      rules: orchestratorRules(o.parallel ?? true),
    },
    roleBinding: {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name, namespace: o.namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: o.namespace }],
    },
  };
}

/** The deployer Role ({@link deployerRules}); bind it next to the submitter Role to whoever deploys flows. */
export function deployerRoleManifest(namespace: string, name = DEFAULT_DEPLOYER_ROLE): RoleManifest {
  requireDnsLabel(namespace, "namespace");
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace, labels: { ...MANAGED_BY } },
    rules: deployerRules(),
  };
}

/** The RoleBinding of the deployer Role to whoever deploys flows (users, groups, service accounts; service accounts default to `namespace`). */
export function deployerRoleBindingManifest(
  namespace: string,
  deployers: Submitters,
  roleName = DEFAULT_DEPLOYER_ROLE,
): RoleBindingManifest {
  requireDnsLabel(namespace, "namespace");
  return roleBindingManifest(namespace, deployers, roleName, "deployments.deployers", "deploy flows");
}

/** Arguments of {@link OrchestratorIdentity}. */
export interface OrchestratorIdentityArgs {
  /** Namespace of deployed flows (the StepNamespace's). */
  namespace: pulumi.Input<string>;
  /** Name of the ServiceAccount, Role and RoleBinding; default `kubestep-orchestrator` (what `kubestep deploy` uses). */
  name?: pulumi.Input<string>;
  /** Pod identity annotations giving orchestrator pods their datastore access (usually the step service account's). */
  annotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Labels of the ServiceAccount (e.g. `azure.workload.identity/use: "true"`). */
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Also grant what `@parallel` needs (JobSets); default true. */
  parallel?: pulumi.Input<boolean>;
}

/**
 * `kubestep:orchestrator:OrchestratorIdentity`: the ServiceAccount orchestrator pods of deployed flows run as, its
 * Role ({@link orchestratorRules}) and the RoleBinding, exactly as {@link orchestratorObjects} builds them.
 */
export class OrchestratorIdentity extends pulumi.ComponentResource {
  /** Name of the ServiceAccount (pass it to `kubestep deploy --orchestrator-service-account` when not the default). */
  public readonly serviceAccount: pulumi.Output<string>;
  /** Name of the Role. */
  public readonly role: pulumi.Output<string>;
  /** The objects as built by {@link orchestratorObjects}. */
  public readonly objects: pulumi.Output<OrchestratorObjects>;

  constructor(name: string, args: OrchestratorIdentityArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:orchestrator:OrchestratorIdentity", name, args, opts);
    const objects = resolveSpec(args, (a) => orchestratorObjects(a as OrchestratorObjectsOptions));
    this.objects = objects;
    const sa = new corev1.ServiceAccount(
      `${name}-orchestrator-sa`,
      {
        metadata: objects.apply((o) => o.serviceAccount.metadata),
        automountServiceAccountToken: objects.apply((o) => o.serviceAccount.automountServiceAccountToken),
      },
      { parent: this },
    );
    const role = new rbacv1.Role(
      `${name}-orchestrator`,
      { metadata: objects.apply((o) => o.role.metadata), rules: objects.apply((o) => o.role.rules) },
      { parent: this },
    );
    new rbacv1.RoleBinding(
      `${name}-orchestrator`,
      {
        metadata: objects.apply((o) => o.roleBinding.metadata),
        roleRef: objects.apply((o) => o.roleBinding.roleRef),
        subjects: objects.apply((o) => o.roleBinding.subjects),
      },
      { parent: this, dependsOn: [sa, role] },
    );
    this.serviceAccount = sa.metadata.name;
    this.role = role.metadata.name;
    this.registerOutputs({ serviceAccount: this.serviceAccount, role: this.role });
  }
}
