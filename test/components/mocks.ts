/**
 * The ONE shared Pulumi mock setup for component and stack tests (mocks are process-global).
 * Records every registered resource — type, name, inputs, protect, parent — echoes the inputs
 * back as state and fills the computed fields the components read (ids, ARNs, names, emails,
 * principal ids), so no output stays pending and no test hangs.
 */
import * as pulumi from "@pulumi/pulumi";

/** One registered resource as the engine would have received it. */
export interface Recorded {
  /** Type token, e.g. `aws:s3/bucket:Bucket`. */
  type: string;
  /** Logical name. */
  name: string;
  /** Inputs after resolution (what would be sent to the provider). */
  inputs: Record<string, unknown>;
  /** The `protect` resource option. */
  protect: boolean;
  /** URN of the parent ("" for the stack). */
  parent: string;
  /** Custom resource (true) or component (false). */
  custom: boolean;
  /** URNs of the explicit `dependsOn` resources. */
  dependsOn: string[];
  /** The `ignoreChanges` resource option. */
  ignoreChanges: string[];
  /** The provider reference (`<urn>::<id>`, "" for the default provider). */
  provider: string;
}

/** The region the mocked AWS provider is configured with (what a bucket without `region` gets). */
export const PROVIDER_REGION = "eu-central-1";

/** Every resource registered since the last {@link resetResources}. */
export const resources: Recorded[] = [];

const ACCOUNT = "123456789012";
const SUBSCRIPTION = "00000000-0000-0000-0000-000000000000";

/** Registration options seen by the monitor, keyed by `type::name`. */
type SeenOptions = { protect: boolean; parent: string; dependsOn: string[]; ignoreChanges: string[]; provider: string };
const seenOptions = new Map<string, SeenOptions>();
let inflight = 0;
let installed = false;

function computed(
  type: string,
  name: string,
  inputs: Record<string, unknown>,
): { id: string; state: Record<string, unknown> } {
  const s: Record<string, unknown> = { ...inputs };
  let id = `${name}-id`;
  if (type === "aws:s3/bucket:Bucket") {
    const bucket = (inputs.bucket as string | undefined) ?? `${name}-a1b2c3`;
    Object.assign(s, {
      bucket,
      arn: `arn:aws:s3:::${bucket}`,
      region: (inputs.region as string | undefined) ?? PROVIDER_REGION,
    });
    id = bucket;
  } else if (type === "aws:eks/nodeGroup:NodeGroup") {
    Object.assign(s, {
      arn: `arn:aws:eks:mock::${ACCOUNT}:nodegroup/${inputs.nodeGroupName}`,
      resources: [{ autoscalingGroups: [{ name: `eks-${inputs.nodeGroupName}-asg` }] }],
    });
  } else if (type === "aws:iam/policy:Policy") {
    Object.assign(s, { arn: `arn:aws:iam::${ACCOUNT}:policy/${name}` });
  } else if (type === "aws:iam/role:Role") {
    const roleName = (inputs.name as string | undefined) ?? `${name}-r1`;
    Object.assign(s, { name: roleName, arn: `arn:aws:iam::${ACCOUNT}:role/${roleName}` });
    id = roleName;
  } else if (type.startsWith("aws:")) {
    s.arn = `arn:aws:mock::${ACCOUNT}:${name}`;
  } else if (type === "gcp:serviceaccount/account:Account") {
    const email = `${inputs.accountId}@${inputs.project ?? "proj"}.iam.gserviceaccount.com`;
    Object.assign(s, { email, name: `projects/${inputs.project ?? "proj"}/serviceAccounts/${email}` });
    id = s.name as string;
  } else if (type === "gcp:storage/bucket:Bucket") {
    s.name = (inputs.name as string | undefined) ?? `${name}-a1b2c3`;
    s.url = `gs://${s.name}`;
    id = s.name as string;
  } else if (type.startsWith("azure-native:")) {
    const resourceName =
      (inputs.accountName && type.endsWith("StorageAccount") ? inputs.accountName : undefined) ??
      inputs.containerName ??
      inputs.resourceName ??
      (type.endsWith("StorageAccount") ? `${name.replace(/[^a-z0-9]/g, "")}abc` : name);
    const rg = (inputs.resourceGroupName as string | undefined) ?? "rg";
    id = `/subscriptions/${SUBSCRIPTION}/resourceGroups/${rg}/providers/${type.split(":")[2]}/${resourceName}`;
    Object.assign(s, { name: resourceName });
    if (type.endsWith("UserAssignedIdentity"))
      Object.assign(s, { name, principalId: `principal-${name}`, clientId: `client-${name}` });
  } else if (type.startsWith("kubernetes:")) {
    const metadata = { ...((inputs.metadata as Record<string, unknown> | undefined) ?? {}) };
    if (metadata.name === undefined) metadata.name = `${name}-k8s`;
    s.metadata = metadata;
  }
  return { id, state: s };
}

/** Installs the mocks (once per process) for `stack` of project `kubestep`. Call before creating resources. */
export async function setupMocks(stack = "test"): Promise<void> {
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
        const o = seenOptions.get(`${args.type}::${args.name}`) ?? {
          protect: false,
          parent: "",
          dependsOn: [],
          ignoreChanges: [],
          provider: "",
        };
        resources.push({
          type: args.type,
          name: args.name,
          inputs: args.inputs as Record<string, unknown>,
          protect: o.protect,
          parent: o.parent,
          custom: args.custom ?? true,
          dependsOn: o.dependsOn,
          ignoreChanges: o.ignoreChanges,
          provider: o.provider,
        });
        return computed(args.type, args.name, args.inputs as Record<string, unknown>);
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        return { ...(args.inputs as Record<string, unknown>) };
      },
    },
    "kubestep",
    stack,
    false,
  );
  // Wrap the mock monitor to see the resource options (protect, parent) of each registration.
  type Req = {
    getType(): string;
    getName(): string;
    getProtect(): boolean | undefined;
    getParent(): string;
    getDependenciesList(): string[];
    getIgnorechangesList(): string[];
    getProvider(): string;
  };
  type Monitor = { registerResource(req: Req, cb: (err: unknown, res: unknown) => void): unknown };
  const monitor = pulumi.runtime.getMonitor() as unknown as Monitor;
  const original = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, cb) => {
    seenOptions.set(`${req.getType()}::${req.getName()}`, {
      protect: req.getProtect() ?? false,
      parent: req.getParent(),
      dependsOn: req.getDependenciesList(),
      ignoreChanges: req.getIgnorechangesList(),
      provider: req.getProvider(),
    });
    inflight++;
    return original(req, (err, res) => {
      inflight--;
      cb(err, res);
    });
  };
  installed = true;
}

/** Clears the record. */
export function resetResources(): void {
  resources.length = 0;
}

/** Waits until every pending registration has finished. */
export async function settle(): Promise<void> {
  if (!installed) throw new Error("setupMocks() first");
  let quiet = 0;
  while (quiet < 5) {
    await new Promise((r) => setTimeout(r, 5));
    quiet = inflight === 0 ? quiet + 1 : 0;
  }
}

/** The value of an output. */
export function valueOf<T>(o: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => o.apply((v) => resolve(v)));
}

/** Resources of a type token (e.g. `kubernetes:rbac.authorization.k8s.io/v1:Role`), optionally whose name starts with `prefix`. */
export function ofType(type: string, prefix = ""): Recorded[] {
  return resources.filter((r) => r.type === type && r.name.startsWith(prefix));
}

/** The single resource of a type (with a name prefix); throws unless there is exactly one. */
export function one(type: string, prefix = ""): Recorded {
  const found = ofType(type, prefix);
  if (found.length !== 1)
    throw new Error(
      `expected one ${type} named ${prefix}*, found ${found.length}: ${found.map((r) => r.name).join(", ")}`,
    );
  return found[0];
}

/** Runs `fn` and returns the `InputPropertyError` it throws (fails if it throws anything else or nothing). */
export function inputError(fn: () => unknown): pulumi.InputPropertyError {
  try {
    fn();
  } catch (e) {
    if (pulumi.InputPropertyError.isInstance(e)) return e;
    throw new Error(`expected an InputPropertyError, got ${String(e)}`, { cause: e });
  }
  throw new Error("expected an InputPropertyError, nothing was thrown");
}

/**
 * Runs `fn` and returns the problems of the `InputPropertiesError` it throws, as `{ path: reason }`
 * in the order reported (fails if it throws anything else or nothing).
 */
export function inputErrors(fn: () => unknown): Record<string, string> {
  try {
    fn();
  } catch (e) {
    if (pulumi.InputPropertiesError.isInstance(e))
      return Object.fromEntries(e.errors.map((x) => [x.propertyPath, x.reason]));
    throw new Error(`expected an InputPropertiesError, got ${String(e)}`, { cause: e });
  }
  throw new Error("expected an InputPropertiesError, nothing was thrown");
}

/** Logical names of the resources a recorded resource explicitly depends on (`dependsOn`). */
export function dependsOnNames(r: Recorded): string[] {
  return r.dependsOn.map((urn) => urn.split("::").pop()!).sort();
}

/** Common type tokens. */
export const T = {
  namespace: "kubernetes:core/v1:Namespace",
  serviceAccount: "kubernetes:core/v1:ServiceAccount",
  resourceQuota: "kubernetes:core/v1:ResourceQuota",
  limitRange: "kubernetes:core/v1:LimitRange",
  role: "kubernetes:rbac.authorization.k8s.io/v1:Role",
  roleBinding: "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding",
  daemonSet: "kubernetes:apps/v1:DaemonSet",
  networkPolicy: "kubernetes:networking.k8s.io/v1:NetworkPolicy",
  helmRelease: "kubernetes:helm.sh/v3:Release",
  kubernetesProvider: "pulumi:providers:kubernetes",
  asgTag: "aws:autoscaling/tag:Tag",
  iamPolicy: "aws:iam/policy:Policy",
  gcpProjectIam: "gcp:projects/iAMMember:IAMMember",
  eksNodeGroup: "aws:eks/nodeGroup:NodeGroup",
  iamRole: "aws:iam/role:Role",
  iamRolePolicy: "aws:iam/rolePolicy:RolePolicy",
  iamRolePolicyAttachment: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
  s3Bucket: "aws:s3/bucket:Bucket",
  s3Encryption: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
  s3PublicAccess: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
  s3Versioning: "aws:s3/bucketVersioning:BucketVersioning",
  s3Lifecycle: "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
  s3Policy: "aws:s3/bucketPolicy:BucketPolicy",
  gkeNodePool: "gcp:container/nodePool:NodePool",
  gcsBucket: "gcp:storage/bucket:Bucket",
  gcsBucketIam: "gcp:storage/bucketIAMMember:BucketIAMMember",
  gsa: "gcp:serviceaccount/account:Account",
  gsaIam: "gcp:serviceaccount/iAMMember:IAMMember",
  aksAgentPool: "azure-native:containerservice:AgentPool",
  azStorageAccount: "azure-native:storage:StorageAccount",
  azBlobService: "azure-native:storage:BlobServiceProperties",
  azContainer: "azure-native:storage:BlobContainer",
  azIdentity: "azure-native:managedidentity:UserAssignedIdentity",
  azFederation: "azure-native:managedidentity:FederatedIdentityCredential",
  azRoleAssignment: "azure-native:authorization:RoleAssignment",
} as const;
