/**
 * Namespace + identities + RBAC for kubestep steps: the namespace (labels, optional
 * ResourceQuota and LimitRange), the ServiceAccount step pods run as (pod identity annotations,
 * no Kubernetes API rights, token not mounted unless asked), and the submitter Role holding
 * exactly what the runtime uses, bound to the given users, groups and service accounts.
 *
 * The Kubernetes objects are built by the exported pure functions below; the component only
 * creates them, and the cluster test applies exactly the same objects to a real cluster.
 */
import * as pulumi from "@pulumi/pulumi";
import * as corev1 from "@pulumi/kubernetes/core/v1/index.js";
import * as rbacv1 from "@pulumi/kubernetes/rbac/v1/index.js";
import { DNS_SUBDOMAIN, ensure, requireDnsLabel, resolveSpec, shown } from "./validate.js";

/** Object metadata of the manifests built here. */
export interface ObjectMeta {
  /** Object name. */
  name: string;
  /** Namespace (namespaced objects only). */
  namespace?: string;
  /** Labels. */
  labels?: Record<string, string>;
  /** Annotations. */
  annotations?: Record<string, string>;
}

/** A plain Namespace manifest. */
export interface NamespaceManifest {
  apiVersion: "v1";
  kind: "Namespace";
  metadata: ObjectMeta;
}

/** A plain ServiceAccount manifest. */
export interface ServiceAccountManifest {
  apiVersion: "v1";
  kind: "ServiceAccount";
  metadata: ObjectMeta & { namespace: string };
  automountServiceAccountToken: boolean;
  imagePullSecrets?: { name: string }[];
}

/** One RBAC policy rule. */
export interface PolicyRule {
  /** API groups (`""` = core). */
  apiGroups: string[];
  /** Resources (and subresources like `pods/log`). */
  resources: string[];
  /** Verbs. */
  verbs: string[];
}

/** A plain Role manifest. */
export interface RoleManifest {
  apiVersion: "rbac.authorization.k8s.io/v1";
  kind: "Role";
  metadata: ObjectMeta & { namespace: string };
  rules: PolicyRule[];
}

/** An RBAC subject. */
export interface Subject {
  /** `User`, `Group` or `ServiceAccount`. */
  kind: "User" | "Group" | "ServiceAccount";
  /** Name of the user, group or service account. */
  name: string;
  /** Namespace of a service account. */
  namespace?: string;
  /** `rbac.authorization.k8s.io` for users and groups. */
  apiGroup?: string;
}

/** A plain RoleBinding manifest. */
export interface RoleBindingManifest {
  apiVersion: "rbac.authorization.k8s.io/v1";
  kind: "RoleBinding";
  metadata: ObjectMeta & { namespace: string };
  roleRef: { apiGroup: "rbac.authorization.k8s.io"; kind: "Role"; name: string };
  subjects: Subject[];
}

/** A plain ResourceQuota manifest. */
export interface ResourceQuotaManifest {
  apiVersion: "v1";
  kind: "ResourceQuota";
  metadata: ObjectMeta & { namespace: string };
  spec: { hard: Record<string, string> };
}

/** A plain LimitRange manifest (one `Container` limit). */
export interface LimitRangeManifest {
  apiVersion: "v1";
  kind: "LimitRange";
  metadata: ObjectMeta & { namespace: string };
  spec: {
    limits: {
      type: "Container";
      default?: Record<string, string>;
      defaultRequest?: Record<string, string>;
      max?: Record<string, string>;
      min?: Record<string, string>;
    }[];
  };
}

/** Container limits of the namespace's LimitRange (quantities as Kubernetes spells them, e.g. `"2"`, `"4Gi"`). */
export interface ContainerLimits {
  /** Limits applied to containers that set none. */
  default?: Record<string, string>;
  /** Requests applied to containers that set none. */
  defaultRequest?: Record<string, string>;
  /** Largest limits a container may set. */
  max?: Record<string, string>;
  /** Smallest requests a container may set. */
  min?: Record<string, string>;
}

/** A Kubernetes service account (namespace + name) allowed to submit steps. */
export interface ServiceAccountRef {
  /** Namespace of the service account; defaults to the kubestep namespace. */
  namespace?: string;
  /** Name of the service account. */
  name: string;
}

/** Who may submit steps: bound to the submitter Role. */
export interface Submitters {
  /** Kubernetes user names (as the cluster's authenticator reports them, e.g. IAM-mapped users). */
  users?: string[];
  /** Kubernetes group names. */
  groups?: string[];
  /** Service accounts (e.g. a CI runner's). */
  serviceAccounts?: ServiceAccountRef[];
}

/** The label every kubestep-managed object carries. */
export const MANAGED_BY: Record<string, string> = { "app.kubernetes.io/managed-by": "kubestep" };
/** Default name of the step pods' service account. */
export const DEFAULT_STEP_SERVICE_ACCOUNT = "kubestep-step";
/** Default name of the submitter Role and its RoleBinding. */
export const DEFAULT_SUBMITTER_ROLE = "kubestep-submitter";

/**
 * Exactly the Kubernetes API rights the runtime uses to submit and follow steps: Jobs
 * create/get/list/watch/delete, pods get/list/watch, pods/log get, events list/watch and, for
 * `@parallel`, JobSets (jobset.x-k8s.io) create/get/list/watch/delete. No secrets, no pod creation.
 */
export function submitterRules(parallel: boolean): PolicyRule[] {
  const rules: PolicyRule[] = [
    { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get", "list", "watch", "delete"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
    { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
    { apiGroups: [""], resources: ["events"], verbs: ["list", "watch"] },
  ];
  if (parallel) rules.push({ apiGroups: ["jobset.x-k8s.io"], resources: ["jobsets"], verbs: ["create", "get", "list", "watch", "delete"] });
  return rules;
}

/** The Namespace object. */
export function namespaceManifest(name: string, labels: Record<string, string> = {}): NamespaceManifest {
  requireDnsLabel(name, "namespace");
  return { apiVersion: "v1", kind: "Namespace", metadata: { name, labels: { ...MANAGED_BY, ...labels } } };
}

/** Options of {@link stepServiceAccountManifest}. */
export interface StepServiceAccountOptions {
  /** Namespace. */
  namespace: string;
  /** Service account name; default `kubestep-step`. */
  name?: string;
  /** Pod identity annotations (e.g. `eks.amazonaws.com/role-arn`). */
  annotations?: Record<string, string>;
  /** Labels (e.g. `azure.workload.identity/use`). */
  labels?: Record<string, string>;
  /** Mount an API token into step pods; default false (steps get no Kubernetes API rights). */
  automountToken?: boolean;
  /** Image pull secrets attached to the service account. */
  imagePullSecrets?: string[];
}

/** The ServiceAccount step pods run as: carries the pod identity, has no API rights, no token mounted by default. */
export function stepServiceAccountManifest(o: StepServiceAccountOptions): ServiceAccountManifest {
  const name = o.name ?? DEFAULT_STEP_SERVICE_ACCOUNT;
  requireDnsLabel(name, "stepServiceAccount");
  const sa: ServiceAccountManifest = {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name, namespace: o.namespace, labels: { ...MANAGED_BY, ...(o.labels ?? {}) }, annotations: { ...(o.annotations ?? {}) } },
    automountServiceAccountToken: o.automountToken ?? false,
  };
  if (o.imagePullSecrets && o.imagePullSecrets.length) sa.imagePullSecrets = o.imagePullSecrets.map((n) => ({ name: n }));
  return sa;
}

/** The submitter Role ({@link submitterRules}). */
export function submitterRoleManifest(namespace: string, parallel = true, name = DEFAULT_SUBMITTER_ROLE): RoleManifest {
  ensure(DNS_SUBDOMAIN.test(name), "submitterRole", `must be a Kubernetes object name (got ${shown(name)})`);
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "Role",
    metadata: { name, namespace, labels: { ...MANAGED_BY } },
    rules: submitterRules(parallel),
  };
}

/** RBAC subjects for the given submitters; service accounts default to `namespace`. */
export function submitterSubjects(submitters: Submitters, namespace: string): Subject[] {
  const api = "rbac.authorization.k8s.io";
  (submitters.users ?? []).forEach((u, i) => ensure(typeof u === "string" && u !== "", `submitters.users[${i}]`, `must be a non-empty user name (got ${shown(u)})`));
  (submitters.groups ?? []).forEach((g, i) => ensure(typeof g === "string" && g !== "", `submitters.groups[${i}]`, `must be a non-empty group name (got ${shown(g)})`));
  (submitters.serviceAccounts ?? []).forEach((s, i) => {
    requireDnsLabel(s?.name, `submitters.serviceAccounts[${i}].name`);
    if (s.namespace !== undefined) requireDnsLabel(s.namespace, `submitters.serviceAccounts[${i}].namespace`);
  });
  return [
    ...(submitters.users ?? []).map((name): Subject => ({ kind: "User", apiGroup: api, name })),
    ...(submitters.groups ?? []).map((name): Subject => ({ kind: "Group", apiGroup: api, name })),
    ...(submitters.serviceAccounts ?? []).map((s): Subject => ({ kind: "ServiceAccount", name: s.name, namespace: s.namespace ?? namespace })),
  ];
}

/** The RoleBinding of the submitter Role to the given submitters. */
export function submitterRoleBindingManifest(namespace: string, submitters: Submitters, roleName = DEFAULT_SUBMITTER_ROLE): RoleBindingManifest {
  const subjects = submitterSubjects(submitters, namespace);
  ensure(subjects.length > 0, "submitters", "must name at least one user, group or service account allowed to submit steps (got none)");
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: roleName, namespace, labels: { ...MANAGED_BY } },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: roleName },
    subjects,
  };
}

/** The namespace's ResourceQuota (`hard` as Kubernetes spells it, e.g. `{ "requests.nvidia.com/gpu": "4" }`). */
export function resourceQuotaManifest(namespace: string, hard: Record<string, string>): ResourceQuotaManifest {
  ensure(
    typeof hard === "object" && hard !== null && Object.keys(hard).length > 0 && Object.values(hard).every((v) => typeof v === "string" && v !== ""),
    "resourceQuota",
    `must map resource names to quantities, e.g. { "requests.cpu": "64" } (got ${shown(hard)})`,
  );
  return { apiVersion: "v1", kind: "ResourceQuota", metadata: { name: "kubestep-quota", namespace, labels: { ...MANAGED_BY } }, spec: { hard: { ...hard } } };
}

/** The namespace's LimitRange for containers. */
export function limitRangeManifest(namespace: string, limits: ContainerLimits): LimitRangeManifest {
  const keys = ["default", "defaultRequest", "max", "min"] as const;
  for (const k of Object.keys(limits ?? {}))
    ensure((keys as readonly string[]).includes(k), `limitRange.${k}`, `unknown field (allowed: ${keys.join(", ")})`);
  ensure(keys.some((k) => limits[k] !== undefined), "limitRange", `must set at least one of ${keys.join(", ")} (got ${shown(limits)})`);
  const limit: LimitRangeManifest["spec"]["limits"][number] = { type: "Container" };
  for (const k of keys) if (limits[k] !== undefined) limit[k] = { ...limits[k] };
  return { apiVersion: "v1", kind: "LimitRange", metadata: { name: "kubestep-limits", namespace, labels: { ...MANAGED_BY } }, spec: { limits: [limit] } };
}

/** Plain (resolved) arguments of {@link StepNamespace}; see {@link StepNamespaceArgs}. */
export interface StepNamespaceSpecInput {
  namespace: string;
  labels?: Record<string, string>;
  stepServiceAccount?: string;
  stepServiceAccountAnnotations?: Record<string, string>;
  stepServiceAccountLabels?: Record<string, string>;
  automountStepServiceAccountToken?: boolean;
  imagePullSecrets?: string[];
  submitters: Submitters;
  parallel?: boolean;
  resourceQuota?: Record<string, string>;
  limitRange?: ContainerLimits;
}

/** Every object a {@link StepNamespace} creates. */
export interface StepNamespaceObjects {
  namespace: NamespaceManifest;
  stepServiceAccount: ServiceAccountManifest;
  submitterRole: RoleManifest;
  submitterRoleBinding: RoleBindingManifest;
  resourceQuota?: ResourceQuotaManifest;
  limitRange?: LimitRangeManifest;
}

/** Builds (and validates) every object of a {@link StepNamespace} from resolved arguments. */
export function stepNamespaceObjects(a: StepNamespaceSpecInput): StepNamespaceObjects {
  const namespace = namespaceManifest(a.namespace, a.labels);
  const role = submitterRoleManifest(a.namespace, a.parallel ?? true);
  const objects: StepNamespaceObjects = {
    namespace,
    stepServiceAccount: stepServiceAccountManifest({
      namespace: a.namespace,
      name: a.stepServiceAccount,
      annotations: a.stepServiceAccountAnnotations,
      labels: a.stepServiceAccountLabels,
      automountToken: a.automountStepServiceAccountToken,
      imagePullSecrets: a.imagePullSecrets,
    }),
    submitterRole: role,
    submitterRoleBinding: submitterRoleBindingManifest(a.namespace, a.submitters ?? {}, role.metadata.name),
  };
  if (a.resourceQuota !== undefined) objects.resourceQuota = resourceQuotaManifest(a.namespace, a.resourceQuota);
  if (a.limitRange !== undefined) objects.limitRange = limitRangeManifest(a.namespace, a.limitRange);
  return objects;
}

/** Arguments of {@link StepNamespace}. */
export interface StepNamespaceArgs {
  /** Namespace step Jobs run in (created by this component). */
  namespace: pulumi.Input<string>;
  /** Extra labels on the namespace. */
  labels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Name of the service account step pods run as; default `kubestep-step`. */
  stepServiceAccount?: pulumi.Input<string>;
  /** Annotations on the step service account, e.g. `eks.amazonaws.com/role-arn` for pod identity. */
  stepServiceAccountAnnotations?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Labels on the step service account. */
  stepServiceAccountLabels?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Mount a Kubernetes API token into step pods; default false. */
  automountStepServiceAccountToken?: pulumi.Input<boolean>;
  /** Image pull secrets attached to the step service account (they must exist in the namespace). */
  imagePullSecrets?: pulumi.Input<pulumi.Input<string>[]>;
  /** Users, groups and service accounts allowed to submit steps (at least one). */
  submitters: pulumi.Input<Submitters>;
  /** Also grant what `@parallel` needs (JobSets); default true. */
  parallel?: pulumi.Input<boolean>;
  /** Optional ResourceQuota `hard` limits, e.g. `{ "requests.nvidia.com/gpu": "8" }`. */
  resourceQuota?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Optional LimitRange for containers. */
  limitRange?: pulumi.Input<ContainerLimits>;
}

/**
 * `kubestep:namespace:StepNamespace`: namespace, step service account, submitter Role and
 * RoleBinding, and optionally a ResourceQuota and a LimitRange.
 */
export class StepNamespace extends pulumi.ComponentResource {
  /** Name of the namespace. */
  public readonly namespace: pulumi.Output<string>;
  /** Name of the step service account. */
  public readonly serviceAccount: pulumi.Output<string>;
  /** Name of the submitter Role. */
  public readonly submitterRole: pulumi.Output<string>;
  /** The objects as built by {@link stepNamespaceObjects}. */
  public readonly objects: pulumi.Output<StepNamespaceObjects>;

  constructor(name: string, args: StepNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:namespace:StepNamespace", name, args, opts);
    const objects = resolveSpec(args, (a) => stepNamespaceObjects(a as StepNamespaceSpecInput));
    this.objects = objects;

    const ns = new corev1.Namespace(`${name}-ns`, { metadata: objects.apply((o) => o.namespace.metadata) }, { parent: this });
    // Namespaced children depend on the namespace object so they are created after it.
    const child = { parent: this, dependsOn: [ns] };
    const sa = new corev1.ServiceAccount(
      `${name}-step-sa`,
      {
        metadata: objects.apply((o) => o.stepServiceAccount.metadata),
        automountServiceAccountToken: objects.apply((o) => o.stepServiceAccount.automountServiceAccountToken),
        imagePullSecrets: objects.apply((o) => o.stepServiceAccount.imagePullSecrets ?? []),
      },
      child,
    );
    const role = new rbacv1.Role(
      `${name}-submitter`,
      { metadata: objects.apply((o) => o.submitterRole.metadata), rules: objects.apply((o) => o.submitterRole.rules) },
      child,
    );
    new rbacv1.RoleBinding(
      `${name}-submitters`,
      {
        metadata: objects.apply((o) => o.submitterRoleBinding.metadata),
        roleRef: objects.apply((o) => o.submitterRoleBinding.roleRef),
        subjects: objects.apply((o) => o.submitterRoleBinding.subjects),
      },
      { parent: this, dependsOn: [ns, role] },
    );
    if (args.resourceQuota !== undefined)
      new corev1.ResourceQuota(
        `${name}-quota`,
        { metadata: objects.apply((o) => o.resourceQuota!.metadata), spec: objects.apply((o) => o.resourceQuota!.spec) },
        child,
      );
    if (args.limitRange !== undefined)
      new corev1.LimitRange(
        `${name}-limits`,
        { metadata: objects.apply((o) => o.limitRange!.metadata), spec: objects.apply((o) => o.limitRange!.spec) },
        child,
      );

    this.namespace = ns.metadata.name;
    this.serviceAccount = sa.metadata.name;
    this.submitterRole = role.metadata.name;
    this.registerOutputs({ namespace: this.namespace, serviceAccount: this.serviceAccount, submitterRole: this.submitterRole });
  }
}
