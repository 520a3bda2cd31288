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
import * as networkingv1 from "@pulumi/kubernetes/networking/v1/index.js";
import { ensure, Problems, requireDnsLabel, requireOneOf, resolveSpec, shown, validateAll } from "./validate.js";
import { isDnsSubdomain } from "../runtime/contract/index.js";

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
 * Exactly the Kubernetes API calls the runtime makes (runtime/exec/kubernetes/ and runtime/cli/), and
 * nothing else:
 * - `batch/jobs` create (a step attempt), list + watch (the run's watch; `kubestep kubernetes list`),
 *   delete (cleanup, Ctrl-C, `kubestep kubernetes kill`);
 * - `pods` get (log follower), list + watch (the run's watch), deletecollection (cleanup and kill delete
 *   a Job's pods by label selector);
 * - `pods/log` get (live logs); `events` list (explaining a pending or failed attempt);
 * - `jobset.x-k8s.io/jobsets` list (`kubestep kubernetes list/kill` look for a run's JobSets wherever
 *   the cluster serves the API) and, with `@parallel`, create and delete (the gang; its Jobs and pods
 *   are followed through the Job and pod watches).
 * The JobSet API check reads `GET /apis` (discovery), which every authenticated user may read.
 * No secrets, no pod creation, no exec, no get on Jobs (never read one by one).
 */
export function submitterRules(parallel: boolean): PolicyRule[] {
  const rules: PolicyRule[] = [
    { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "list", "watch", "delete"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch", "deletecollection"] },
    { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
    { apiGroups: [""], resources: ["events"], verbs: ["list"] },
  ];
  rules.push({
    apiGroups: ["jobset.x-k8s.io"],
    resources: ["jobsets"],
    verbs: parallel ? ["create", "list", "delete"] : ["list"],
  });
  return rules;
}

/** Pod Security Standards levels (https://kubernetes.io/docs/concepts/security/pod-security-standards/). */
export const POD_SECURITY_LEVELS = ["privileged", "baseline", "restricted"] as const;
/** A Pod Security Standards level. */
export type PodSecurityLevel = (typeof POD_SECURITY_LEVELS)[number];

/** Pod Security admission settings of the namespace (labels `pod-security.kubernetes.io/<mode>`). */
export interface PodSecurity {
  /** Level pods must meet to be admitted; default `baseline` (kubestep's step pods meet it). */
  enforce?: PodSecurityLevel;
  /** Level that produces a warning for the submitter when a pod does not meet it; default `restricted`. */
  warn?: PodSecurityLevel;
  /** Level that is recorded in the audit log when a pod does not meet it; default `restricted`. */
  audit?: PodSecurityLevel;
  /** Version of the standards, e.g. `v1.34`; default `latest`. */
  version?: string;
}

/** The Pod Security admission defaults: enforce baseline, warn and audit restricted. */
export const DEFAULT_POD_SECURITY: Required<PodSecurity> = {
  enforce: "baseline",
  warn: "restricted",
  audit: "restricted",
  version: "latest",
};

/** The namespace labels of a Pod Security setting (`false` = none: the cluster's defaults apply). */
export function podSecurityLabels(ps: PodSecurity | false = {}): Record<string, string> {
  if (ps === false) return {};
  ensure(
    typeof ps === "object" && ps !== null,
    "podSecurity",
    `must be { enforce?, warn?, audit?, version? } or false (got ${shown(ps)})`,
  );
  const p = new Problems();
  for (const k of Object.keys(ps))
    p.ensure(
      ["enforce", "warn", "audit", "version"].includes(k),
      `podSecurity.${k}`,
      "unknown field (allowed: enforce, warn, audit, version)",
    );
  const v = { ...DEFAULT_POD_SECURITY, ...ps };
  for (const mode of ["enforce", "warn", "audit"] as const)
    p.check(() => requireOneOf(v[mode], POD_SECURITY_LEVELS, `podSecurity.${mode}`));
  p.ensure(
    typeof v.version === "string" && /^(latest|v1\.\d+)$/.test(v.version),
    "podSecurity.version",
    `must be "latest" or a Kubernetes minor version like "v1.34" (got ${shown(v.version)})`,
  );
  p.throwIfAny("podSecurity");
  const labels: Record<string, string> = {};
  for (const mode of ["enforce", "warn", "audit"] as const) {
    labels[`pod-security.kubernetes.io/${mode}`] = v[mode];
    labels[`pod-security.kubernetes.io/${mode}-version`] = v.version;
  }
  return labels;
}

/** NetworkPolicies of the namespace. */
export interface NetworkPolicies {
  /** Create the policies; default true. */
  enabled?: boolean;
  /** Other namespaces (names) whose pods may connect to step pods, e.g. a monitoring namespace; default none. */
  ingressFromNamespaces?: string[];
  /**
   * Restrict egress to these CIDRs (plus DNS and the namespace itself), e.g. the datastore's and the
   * registry's ranges; default: egress is open (steps download code, data and packages).
   */
  egressCidrs?: string[];
}

/** A plain NetworkPolicy manifest. */
export interface NetworkPolicyManifest {
  apiVersion: "networking.k8s.io/v1";
  kind: "NetworkPolicy";
  metadata: ObjectMeta & { namespace: string };
  spec: {
    podSelector: Record<string, never>;
    policyTypes: ("Ingress" | "Egress")[];
    ingress?: {
      from: ({ podSelector: Record<string, never> } | { namespaceSelector: { matchLabels: Record<string, string> } })[];
    }[];
    egress?: (
      | { to: ({ podSelector: Record<string, never> } | { ipBlock: { cidr: string } })[] }
      | { ports: { protocol: "UDP" | "TCP"; port: number }[] }
    )[];
  };
}

const CIDR = /^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2}|[0-9a-fA-F:]+\/\d{1,3})$/;

/**
 * The namespace's NetworkPolicies: `kubestep-default-deny-ingress` (no ingress to any pod),
 * `kubestep-allow-same-namespace` (pods of the namespace reach each other: `@parallel` gangs), and
 * optionally `kubestep-allow-from-namespaces` and, with `egressCidrs`, `kubestep-restrict-egress`.
 * Egress stays open unless `egressCidrs` is given.
 */
export function networkPolicyManifests(namespace: string, np: NetworkPolicies = {}): NetworkPolicyManifest[] {
  ensure(
    typeof np === "object" && np !== null,
    "networkPolicies",
    `must be { enabled?, ingressFromNamespaces?, egressCidrs? } (got ${shown(np)})`,
  );
  const p = new Problems();
  for (const k of Object.keys(np))
    p.ensure(
      ["enabled", "ingressFromNamespaces", "egressCidrs"].includes(k),
      `networkPolicies.${k}`,
      "unknown field (allowed: enabled, ingressFromNamespaces, egressCidrs)",
    );
  p.ensure(
    np.enabled === undefined || typeof np.enabled === "boolean",
    "networkPolicies.enabled",
    `must be true or false (got ${shown(np.enabled)})`,
  );
  const from = np.ingressFromNamespaces ?? [];
  if (
    p.ensure(
      Array.isArray(from),
      "networkPolicies.ingressFromNamespaces",
      `must be a list of namespace names (got ${shown(from)})`,
    )
  )
    from.forEach((n, i) => p.check(() => requireDnsLabel(n, `networkPolicies.ingressFromNamespaces[${i}]`)));
  const cidrs = np.egressCidrs;
  if (
    cidrs !== undefined &&
    p.ensure(
      Array.isArray(cidrs) && cidrs.length > 0,
      "networkPolicies.egressCidrs",
      `must be a non-empty list of CIDRs such as "10.0.0.0/8", or unset for open egress (got ${shown(cidrs)})`,
    )
  )
    cidrs.forEach((c, i) =>
      p.ensure(
        typeof c === "string" && CIDR.test(c),
        `networkPolicies.egressCidrs[${i}]`,
        `must be a CIDR such as "10.0.0.0/8" (got ${shown(c)})`,
      ),
    );
  p.throwIfAny("networkPolicies");
  if (np.enabled === false) return [];
  const meta = (name: string) => ({ name, namespace, labels: { ...MANAGED_BY } });
  const all: NetworkPolicyManifest[] = [
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("kubestep-default-deny-ingress"),
      spec: { podSelector: {}, policyTypes: ["Ingress"] },
    },
    {
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("kubestep-allow-same-namespace"),
      spec: { podSelector: {}, policyTypes: ["Ingress"], ingress: [{ from: [{ podSelector: {} }] }] },
    },
  ];
  if (from.length)
    all.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("kubestep-allow-from-namespaces"),
      spec: {
        podSelector: {},
        policyTypes: ["Ingress"],
        ingress: [
          { from: from.map((n) => ({ namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": n } } })) },
        ],
      },
    });
  if (cidrs !== undefined)
    all.push({
      apiVersion: "networking.k8s.io/v1",
      kind: "NetworkPolicy",
      metadata: meta("kubestep-restrict-egress"),
      spec: {
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
          { to: cidrs.map((cidr) => ({ ipBlock: { cidr } })) },
        ],
      },
    });
  return all;
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
    metadata: {
      name,
      namespace: o.namespace,
      labels: { ...MANAGED_BY, ...(o.labels ?? {}) },
      annotations: { ...(o.annotations ?? {}) },
    },
    automountServiceAccountToken: o.automountToken ?? false,
  };
  if (o.imagePullSecrets && o.imagePullSecrets.length)
    sa.imagePullSecrets = o.imagePullSecrets.map((n) => ({ name: n }));
  return sa;
}

/** The submitter Role ({@link submitterRules}). */
export function submitterRoleManifest(namespace: string, parallel = true, name = DEFAULT_SUBMITTER_ROLE): RoleManifest {
  ensure(isDnsSubdomain(name), "submitterRole", `must be a Kubernetes object name (got ${shown(name)})`);
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
  (submitters.users ?? []).forEach((u, i) =>
    ensure(
      typeof u === "string" && u !== "",
      `submitters.users[${i}]`,
      `must be a non-empty user name (got ${shown(u)})`,
    ),
  );
  (submitters.groups ?? []).forEach((g, i) =>
    ensure(
      typeof g === "string" && g !== "",
      `submitters.groups[${i}]`,
      `must be a non-empty group name (got ${shown(g)})`,
    ),
  );
  (submitters.serviceAccounts ?? []).forEach((s, i) => {
    requireDnsLabel(s?.name, `submitters.serviceAccounts[${i}].name`);
    if (s.namespace !== undefined) requireDnsLabel(s.namespace, `submitters.serviceAccounts[${i}].namespace`);
  });
  return [
    ...(submitters.users ?? []).map((name): Subject => ({ kind: "User", apiGroup: api, name })),
    ...(submitters.groups ?? []).map((name): Subject => ({ kind: "Group", apiGroup: api, name })),
    ...(submitters.serviceAccounts ?? []).map((s): Subject => ({
      kind: "ServiceAccount",
      name: s.name,
      namespace: s.namespace ?? namespace,
    })),
  ];
}

/**
 * The RoleBinding of Role `roleName` to `people` (users, groups, service accounts; service accounts default to
 * `namespace`); `property` and `doWhat` name them in the error when nobody is named.
 */
export function roleBindingManifest(
  namespace: string,
  people: Submitters,
  roleName: string,
  property: string,
  doWhat: string,
): RoleBindingManifest {
  const subjects = submitterSubjects(people, namespace);
  ensure(
    subjects.length > 0,
    property,
    `must name at least one user, group or service account allowed to ${doWhat} (got none)`,
  );
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "RoleBinding",
    metadata: { name: roleName, namespace, labels: { ...MANAGED_BY } },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: roleName },
    subjects,
  };
}

/** The RoleBinding of the submitter Role to the given submitters. */
export function submitterRoleBindingManifest(
  namespace: string,
  submitters: Submitters,
  roleName = DEFAULT_SUBMITTER_ROLE,
): RoleBindingManifest {
  return roleBindingManifest(namespace, submitters, roleName, "submitters", "submit steps");
}

/** The namespace's ResourceQuota (`hard` as Kubernetes spells it, e.g. `{ "requests.nvidia.com/gpu": "4" }`). */
export function resourceQuotaManifest(namespace: string, hard: Record<string, string>): ResourceQuotaManifest {
  ensure(
    typeof hard === "object" &&
      hard !== null &&
      Object.keys(hard).length > 0 &&
      Object.values(hard).every((v) => typeof v === "string" && v !== ""),
    "resourceQuota",
    `must map resource names to quantities, e.g. { "requests.cpu": "64" } (got ${shown(hard)})`,
  );
  return {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: { name: "kubestep-quota", namespace, labels: { ...MANAGED_BY } },
    spec: { hard: { ...hard } },
  };
}

/** The namespace's LimitRange for containers. */
export function limitRangeManifest(namespace: string, limits: ContainerLimits): LimitRangeManifest {
  const keys = ["default", "defaultRequest", "max", "min"] as const;
  for (const k of Object.keys(limits ?? {}))
    ensure((keys as readonly string[]).includes(k), `limitRange.${k}`, `unknown field (allowed: ${keys.join(", ")})`);
  ensure(
    keys.some((k) => limits[k] !== undefined),
    "limitRange",
    `must set at least one of ${keys.join(", ")} (got ${shown(limits)})`,
  );
  const limit: LimitRangeManifest["spec"]["limits"][number] = { type: "Container" };
  for (const k of keys) if (limits[k] !== undefined) limit[k] = { ...limits[k] };
  return {
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: { name: "kubestep-limits", namespace, labels: { ...MANAGED_BY } },
    spec: { limits: [limit] },
  };
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
  podSecurity?: PodSecurity | false;
  networkPolicies?: NetworkPolicies;
}

/** Every object a {@link StepNamespace} creates. */
export interface StepNamespaceObjects {
  namespace: NamespaceManifest;
  stepServiceAccount: ServiceAccountManifest;
  submitterRole: RoleManifest;
  submitterRoleBinding: RoleBindingManifest;
  resourceQuota?: ResourceQuotaManifest;
  limitRange?: LimitRangeManifest;
  networkPolicies: NetworkPolicyManifest[];
}

/**
 * Builds (and validates) every object of a {@link StepNamespace} from resolved arguments; every
 * problem is reported at once (`InputPropertiesError`).
 */
export function stepNamespaceObjects(a: StepNamespaceSpecInput): StepNamespaceObjects {
  return validateAll("kubestep:namespace:StepNamespace", (p) => {
    let namespace: NamespaceManifest | undefined;
    let psLabels: Record<string, string> = {};
    p.check(() => (psLabels = podSecurityLabels(a.podSecurity)));
    p.check(() => (namespace = namespaceManifest(a.namespace, { ...(a.labels ?? {}), ...psLabels })));
    let role: RoleManifest | undefined;
    p.check(() => (role = submitterRoleManifest(a.namespace, a.parallel ?? true)));
    let sa: ServiceAccountManifest | undefined;
    p.check(
      () =>
        (sa = stepServiceAccountManifest({
          namespace: a.namespace,
          name: a.stepServiceAccount,
          annotations: a.stepServiceAccountAnnotations,
          labels: a.stepServiceAccountLabels,
          automountToken: a.automountStepServiceAccountToken,
          imagePullSecrets: a.imagePullSecrets,
        })),
    );
    let binding: RoleBindingManifest | undefined;
    p.check(() => (binding = submitterRoleBindingManifest(a.namespace, a.submitters ?? {}, DEFAULT_SUBMITTER_ROLE)));
    let quota: ResourceQuotaManifest | undefined;
    if (a.resourceQuota !== undefined) p.check(() => (quota = resourceQuotaManifest(a.namespace, a.resourceQuota!)));
    let limits: LimitRangeManifest | undefined;
    if (a.limitRange !== undefined) p.check(() => (limits = limitRangeManifest(a.namespace, a.limitRange!)));
    let policies: NetworkPolicyManifest[] = [];
    p.check(() => (policies = networkPolicyManifests(a.namespace, a.networkPolicies)));
    p.throwIfAny("kubestep:namespace:StepNamespace");
    const objects: StepNamespaceObjects = {
      namespace: namespace!,
      stepServiceAccount: sa!,
      submitterRole: role!,
      submitterRoleBinding: binding!,
      networkPolicies: policies,
    };
    if (quota) objects.resourceQuota = quota;
    if (limits) objects.limitRange = limits;
    return objects;
  });
}

/** {@link Submitters} whose names may be outputs (e.g. a CI service account created elsewhere). */
export interface SubmittersArgs {
  /** Kubernetes user names. */
  users?: pulumi.Input<pulumi.Input<string>[]>;
  /** Kubernetes group names. */
  groups?: pulumi.Input<pulumi.Input<string>[]>;
  /** Service accounts allowed to submit. */
  serviceAccounts?: pulumi.Input<
    pulumi.Input<{
      /** Namespace of the service account; defaults to the kubestep namespace. */
      namespace?: pulumi.Input<string>;
      /** Name of the service account. */
      name: pulumi.Input<string>;
    }>[]
  >;
}

/** {@link NetworkPolicies} as component arguments: which policies exist is plain, the names and CIDRs may be outputs. */
export interface NetworkPoliciesArgs {
  /** Create the policies; default true. */
  enabled?: boolean;
  /** Other namespaces whose pods may connect to step pods; default none. */
  ingressFromNamespaces?: pulumi.Input<string>[];
  /** Restrict egress to these CIDRs (plus DNS and the namespace itself); default: egress open. */
  egressCidrs?: pulumi.Input<string>[];
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
  submitters: pulumi.Input<SubmittersArgs>;
  /** Also grant what `@parallel` needs (JobSets); default true. */
  parallel?: pulumi.Input<boolean>;
  /** Optional ResourceQuota `hard` limits, e.g. `{ "requests.nvidia.com/gpu": "8" }`. */
  resourceQuota?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Optional LimitRange for containers. */
  limitRange?: pulumi.Input<ContainerLimits>;
  /** Pod Security admission labels; default enforce `baseline`, warn and audit `restricted`; `false` for none. */
  podSecurity?: pulumi.Input<PodSecurity | false>;
  /** NetworkPolicies; default: deny ingress except from the namespace itself, egress open. The object and its lists are plain (they decide which policies exist); items may be outputs. */
  networkPolicies?: NetworkPoliciesArgs;
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
  /** Names of the NetworkPolicies. */
  public readonly networkPolicies: pulumi.Output<string[]>;
  /** The objects as built by {@link stepNamespaceObjects}. */
  public readonly objects: pulumi.Output<StepNamespaceObjects>;

  constructor(name: string, args: StepNamespaceArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:namespace:StepNamespace", name, args, opts);
    const objects = resolveSpec(args, (a) => stepNamespaceObjects(a as StepNamespaceSpecInput));
    this.objects = objects;

    const ns = new corev1.Namespace(
      `${name}-ns`,
      { metadata: objects.apply((o) => o.namespace.metadata) },
      { parent: this },
    );
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
        {
          metadata: objects.apply((o) => o.resourceQuota!.metadata),
          spec: objects.apply((o) => o.resourceQuota!.spec),
        },
        child,
      );
    if (args.limitRange !== undefined)
      new corev1.LimitRange(
        `${name}-limits`,
        { metadata: objects.apply((o) => o.limitRange!.metadata), spec: objects.apply((o) => o.limitRange!.spec) },
        child,
      );
    // One resource per policy (networkPolicies is a plain value, so the set is known now).
    const policyNames = policyNamesOf(args.networkPolicies);
    for (const policy of policyNames)
      new networkingv1.NetworkPolicy(
        `${name}-${policy.replace(/^kubestep-/, "netpol-")}`,
        {
          metadata: objects.apply((o) => o.networkPolicies.find((x) => x.metadata.name === policy)!.metadata),
          spec: objects.apply((o) => o.networkPolicies.find((x) => x.metadata.name === policy)!.spec),
        },
        child,
      );

    this.namespace = ns.metadata.name;
    this.serviceAccount = sa.metadata.name;
    this.submitterRole = role.metadata.name;
    this.networkPolicies = objects.apply((o) => o.networkPolicies.map((x) => x.metadata.name));
    this.registerOutputs({
      namespace: this.namespace,
      serviceAccount: this.serviceAccount,
      submitterRole: this.submitterRole,
      networkPolicies: this.networkPolicies,
    });
  }
}

/** The NetworkPolicy names a (plain) setting produces; each is a resource. */
function policyNamesOf(np: NetworkPoliciesArgs | undefined): string[] {
  const plain = typeof np === "object" && np !== null ? np : {};
  if (plain.enabled === false) return [];
  const names = ["kubestep-default-deny-ingress", "kubestep-allow-same-namespace"];
  if (Array.isArray(plain.ingressFromNamespaces) && plain.ingressFromNamespaces.length)
    names.push("kubestep-allow-from-namespaces");
  if (plain.egressCidrs !== undefined) names.push("kubestep-restrict-egress");
  return names;
}
