/**
 * The Cluster Autoscaler for EKS pools. EKS managed node groups have no autoscaler of their own: a
 * pod that asks for a GPU pends until something raises the group's desired size. The Cluster
 * Autoscaler finds the groups by the tags EKS puts on their Auto Scaling groups (auto-discovery:
 * `k8s.io/cluster-autoscaler/enabled`, `k8s.io/cluster-autoscaler/<cluster>`) and, for an empty group,
 * builds the node it would get from the group's node-template tags (labels, taints), which
 * {@link GpuNodePool} sets — so tainted GPU pools scale from zero. It runs with its own IRSA role,
 * allowed to resize only the cluster's groups.
 *
 * Installed from the autoscaler project's official Helm chart (its RBAC and Deployment are the
 * maintainers'); the chart version is pinned and configurable (pick the one whose app version matches
 * the cluster's Kubernetes minor).
 */
import * as pulumi from "@pulumi/pulumi";
import * as iam from "@pulumi/aws/iam/index.js";
import * as helm from "@pulumi/kubernetes/helm/v3/index.js";
import { irsaTrustPolicy, type PolicyDocument } from "./datastore.js";
import { requireDnsLabel, requireString, resolveSpec, shown, validateAll } from "./validate.js";

/** Helm repository of the Cluster Autoscaler chart. */
export const CLUSTER_AUTOSCALER_REPO = "https://kubernetes.github.io/autoscaler";
/** Default chart version (Cluster Autoscaler 1.32). */
export const CLUSTER_AUTOSCALER_CHART_VERSION = "9.46.6";

/**
 * IAM policy of the autoscaler: describe groups, instance types, templates and node groups anywhere;
 * resize or terminate only in Auto Scaling groups tagged `k8s.io/cluster-autoscaler/<cluster>=owned`
 * (the tag EKS puts on the groups of the cluster's managed node groups).
 */
export function clusterAutoscalerPolicy(clusterName: string): PolicyDocument {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "ResizeOwnGroups",
        Effect: "Allow",
        Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
        Resource: "*",
        Condition: { StringEquals: { [`aws:ResourceTag/k8s.io/cluster-autoscaler/${clusterName}`]: "owned" } },
      },
      {
        Sid: "Discover",
        Effect: "Allow",
        Action: [
          "autoscaling:DescribeAutoScalingGroups",
          "autoscaling:DescribeAutoScalingInstances",
          "autoscaling:DescribeLaunchConfigurations",
          "autoscaling:DescribeScalingActivities",
          "autoscaling:DescribeTags",
          "ec2:DescribeImages",
          "ec2:DescribeInstanceTypes",
          "ec2:DescribeLaunchTemplateVersions",
          "ec2:GetInstanceTypesFromInstanceRequirements",
          "eks:DescribeNodegroup",
        ],
        Resource: "*",
      },
    ],
  };
}

/** Resolved arguments of {@link ClusterAutoscaler}. */
export interface ClusterAutoscalerSpecInput {
  /** EKS cluster name. */
  clusterName: string;
  /** Region of the cluster. */
  region: string;
  /** ARN of the cluster's IAM OIDC provider. */
  oidcProviderArn: string;
  /** Issuer URL of the cluster's OIDC provider. */
  oidcProviderUrl: string;
  /** Namespace of the autoscaler; default `kube-system`. */
  namespace?: string;
  /** Its service account; default `cluster-autoscaler`. */
  serviceAccount?: string;
  /** Chart version; default {@link CLUSTER_AUTOSCALER_CHART_VERSION}. */
  chartVersion?: string;
}

/** Helm values of the chart: AWS auto-discovery of the cluster's groups, IRSA on the chart's service account. */
export function clusterAutoscalerValues(a: {
  clusterName: string;
  region: string;
  serviceAccount: string;
  roleArn: string;
}): Record<string, unknown> {
  return {
    cloudProvider: "aws",
    awsRegion: a.region,
    autoDiscovery: { clusterName: a.clusterName },
    rbac: {
      serviceAccount: {
        create: true,
        name: a.serviceAccount,
        annotations: { "eks.amazonaws.com/role-arn": a.roleArn },
      },
    },
    extraArgs: { "balance-similar-node-groups": true, "skip-nodes-with-system-pods": false, expander: "least-waste" },
  };
}

/** Validates the arguments (every problem at once) and fills defaults. */
export function clusterAutoscalerSpec(a: ClusterAutoscalerSpecInput): Required<ClusterAutoscalerSpecInput> {
  return validateAll("kubestep:autoscaler:ClusterAutoscaler", (p) => {
    p.check(() => requireString(a.clusterName, "clusterName"));
    p.ensure(
      typeof a.region === "string" && /^[a-z]{2}(-[a-z]+)+-\d$/.test(a.region),
      "region",
      `must be the cluster's AWS region such as "us-east-1" (got ${shown(a.region)})`,
    );
    p.ensure(
      typeof a.oidcProviderArn === "string" && a.oidcProviderArn.startsWith("arn:"),
      "oidcProviderArn",
      `must be the ARN of the cluster's IAM OIDC provider (got ${shown(a.oidcProviderArn)})`,
    );
    p.check(() => requireString(a.oidcProviderUrl, "oidcProviderUrl"));
    const namespace = a.namespace ?? "kube-system";
    p.check(() => requireDnsLabel(namespace, "namespace"));
    const serviceAccount = a.serviceAccount ?? "cluster-autoscaler";
    p.check(() => requireDnsLabel(serviceAccount, "serviceAccount"));
    const chartVersion = a.chartVersion ?? CLUSTER_AUTOSCALER_CHART_VERSION;
    p.ensure(
      typeof chartVersion === "string" && /^\d+\.\d+\.\d+$/.test(chartVersion),
      "chartVersion",
      `must be a chart version such as "9.46.6" (got ${shown(chartVersion)})`,
    );
    return { ...a, namespace, serviceAccount, chartVersion };
  });
}

/** Arguments of {@link ClusterAutoscaler}. */
export interface ClusterAutoscalerArgs {
  /** EKS cluster name (auto-discovery tag and the resize condition). */
  clusterName: pulumi.Input<string>;
  /** Region of the cluster. */
  region: pulumi.Input<string>;
  /** ARN of the cluster's IAM OIDC provider (IRSA). */
  oidcProviderArn: pulumi.Input<string>;
  /** Issuer URL of the cluster's OIDC provider. */
  oidcProviderUrl: pulumi.Input<string>;
  /** Namespace of the autoscaler; default `kube-system`. */
  namespace?: pulumi.Input<string>;
  /** Its service account; default `cluster-autoscaler`. */
  serviceAccount?: pulumi.Input<string>;
  /** Chart version; default {@link CLUSTER_AUTOSCALER_CHART_VERSION}. */
  chartVersion?: pulumi.Input<string>;
}

/** `kubestep:autoscaler:ClusterAutoscaler`: IRSA role + policy and the Cluster Autoscaler Helm release. */
export class ClusterAutoscaler extends pulumi.ComponentResource {
  /** ARN of the autoscaler's IAM role. */
  public readonly roleArn: pulumi.Output<string>;
  /** Name of the Helm release. */
  public readonly releaseName: pulumi.Output<string>;

  constructor(name: string, args: ClusterAutoscalerArgs, opts?: pulumi.ComponentResourceOptions) {
    super("kubestep:autoscaler:ClusterAutoscaler", name, args, opts);
    const spec = resolveSpec(args, (a) => clusterAutoscalerSpec(a as ClusterAutoscalerSpecInput));
    const role = new iam.Role(
      `${name}-role`,
      {
        assumeRolePolicy: spec.apply((s) =>
          JSON.stringify(
            irsaTrustPolicy({
              namespace: s.namespace,
              serviceAccount: s.serviceAccount,
              oidcProviderArn: s.oidcProviderArn,
              oidcProviderUrl: s.oidcProviderUrl,
            }),
          ),
        ),
        description: "kubestep: Cluster Autoscaler (IRSA)",
        tags: { "managed-by": "kubestep" },
      },
      { parent: this },
    );
    const policy = new iam.RolePolicy(
      `${name}-policy`,
      { role: role.name, policy: spec.apply((s) => JSON.stringify(clusterAutoscalerPolicy(s.clusterName))) },
      { parent: this },
    );
    const release = new helm.Release(
      `${name}-release`,
      {
        name: "cluster-autoscaler",
        chart: "cluster-autoscaler",
        version: spec.apply((s) => s.chartVersion),
        repositoryOpts: { repo: CLUSTER_AUTOSCALER_REPO },
        namespace: spec.apply((s) => s.namespace),
        values: pulumi.all([spec, role.arn]).apply(([s, roleArn]) =>
          clusterAutoscalerValues({
            clusterName: s.clusterName,
            region: s.region,
            serviceAccount: s.serviceAccount,
            roleArn,
          }),
        ),
      },
      { parent: this, dependsOn: [policy] },
    );
    this.roleArn = role.arn;
    this.releaseName = release.name;
    this.registerOutputs({ roleArn: this.roleArn, releaseName: this.releaseName });
  }
}
