/**
 * Test helper: applies the StepNamespace objects (built by the component's exported pure
 * functions) to a real cluster, creates a submitter ServiceAccount bound by the RoleBinding, and
 * turns its token into a kubeconfig — so a test, or a full `@kubernetes` flow run
 * (`KUBECONFIG=<written file> kubestep run ...`), can act as a bound submitter.
 */
import { KubeHttp, type KubeAuth } from "../helpers/kube-http.js";
import {
  stepNamespaceObjects,
  type StepNamespaceObjects,
  type StepNamespaceSpecInput,
} from "../../components/namespace.js";

/** Cluster coordinates + bearer token of a submitter. */
export interface SubmitterCredentials {
  /** API server URL. */
  server: string;
  /** Base64 PEM of the cluster CA. */
  caData: string;
  /** Bearer token of the submitter service account. */
  token: string;
  /** Namespace the submitter works in. */
  namespace: string;
  /** Name of the submitter service account. */
  serviceAccount: string;
}

/** A kubeconfig (JSON, which is valid YAML) that authenticates as the submitter with its token. */
export function submitterKubeconfig(c: SubmitterCredentials): string {
  const name = `kubestep-submitter-${c.namespace}`;
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name, cluster: { server: c.server, "certificate-authority-data": c.caData } }],
      users: [{ name, user: { token: c.token } }],
      contexts: [{ name, context: { cluster: name, user: name, namespace: c.namespace } }],
      "current-context": name,
    },
    null,
    2,
  );
}

/** Credentials of the submitter for {@link KubeHttp}. */
export function submitterAuth(c: SubmitterCredentials): KubeAuth {
  return { server: c.server, ca: Buffer.from(c.caData, "base64"), token: c.token, namespace: c.namespace };
}

/** A token of a ServiceAccount, from the TokenRequest API (as `kubectl create token` gets one), valid for an hour. */
export async function serviceAccountToken(
  admin: KubeHttp,
  namespace: string,
  name: string,
): Promise<{ token: string; caData: string }> {
  const tr = await admin.create<{ status: { token: string } }>(
    `/api/v1/namespaces/${namespace}/serviceaccounts/${name}/token`,
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds: 3600 },
    },
  );
  return { token: tr.status.token, caData: admin.auth.ca?.toString("base64") ?? "" };
}

/** REST collection path of a manifest. */
function collectionPath(o: { apiVersion: string; kind: string; metadata: { namespace?: string } }): string {
  const plural: Record<string, string> = {
    Namespace: "namespaces",
    ServiceAccount: "serviceaccounts",
    Role: "roles",
    RoleBinding: "rolebindings",
    ResourceQuota: "resourcequotas",
    LimitRange: "limitranges",
    NetworkPolicy: "networkpolicies",
  };
  const base = o.apiVersion === "v1" ? "/api/v1" : `/apis/${o.apiVersion}`;
  return `${base}${o.metadata.namespace ? `/namespaces/${o.metadata.namespace}` : ""}/${plural[o.kind]}`;
}

/**
 * Applies the StepNamespace objects for `spec` (Pod Security labels and NetworkPolicies included) as
 * the admin, plus a submitter ServiceAccount
 * `submitter` (which `spec.submitters` should bind), and returns the objects applied and the
 * submitter's credentials.
 */
export async function provisionSubmitter(
  admin: KubeHttp,
  spec: StepNamespaceSpecInput,
  submitter = "submitter",
): Promise<{ objects: StepNamespaceObjects; credentials: SubmitterCredentials }> {
  const objects = stepNamespaceObjects(spec);
  const ordered = [
    objects.namespace,
    objects.stepServiceAccount,
    objects.submitterRole,
    objects.submitterRoleBinding,
    objects.resourceQuota,
    objects.limitRange,
    ...objects.networkPolicies,
  ];
  for (const o of ordered) if (o) await admin.create(collectionPath(o), o);
  await admin.create(`/api/v1/namespaces/${spec.namespace}/serviceaccounts`, {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: { name: submitter },
  });
  const { token, caData } = await serviceAccountToken(admin, spec.namespace, submitter);
  const ca = caData || admin.auth.ca?.toString("base64") || "";
  return {
    objects,
    credentials: { server: admin.auth.server, caData: ca, token, namespace: spec.namespace, serviceAccount: submitter },
  };
}
