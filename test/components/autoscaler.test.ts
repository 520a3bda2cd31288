import assert from "node:assert/strict";
import {
  ClusterAutoscaler,
  clusterAutoscalerPolicy,
  CLUSTER_AUTOSCALER_CHART_VERSION,
} from "../../components/autoscaler.js";
import { dependsOnNames, inputErrors, one, resetResources, settle, setupMocks, T, valueOf } from "./mocks.js";

const ARGS = {
  clusterName: "eks1",
  region: "eu-west-1",
  oidcProviderArn: "arn:aws:iam::123456789012:oidc-provider/oidc.eks.eu-west-1.amazonaws.com/id/A",
  oidcProviderUrl: "https://oidc.eks.eu-west-1.amazonaws.com/id/A",
};

describe("components/autoscaler", () => {
  before(() => setupMocks());
  beforeEach(() => resetResources());

  it("may resize only the cluster's own groups, and discovers the rest read-only", () => {
    const p = clusterAutoscalerPolicy("eks1");
    assert.deepEqual(p.Statement[0], {
      Sid: "ResizeOwnGroups",
      Effect: "Allow",
      Action: ["autoscaling:SetDesiredCapacity", "autoscaling:TerminateInstanceInAutoScalingGroup"],
      Resource: "*",
      Condition: { StringEquals: { "aws:ResourceTag/k8s.io/cluster-autoscaler/eks1": "owned" } },
    });
    const discover = p.Statement[1].Action as string[];
    assert.ok(
      discover.includes("eks:DescribeNodegroup") && discover.every((a) => /:(Describe|Get)/.test(a)),
      "discovery is read-only",
    );
  });

  it("installs the chart with auto-discovery, in the cluster's region, with its IRSA role (trusted only by its service account)", async () => {
    const ca = new ClusterAutoscaler("ca1", ARGS);
    assert.equal(await valueOf(ca.roleArn), "arn:aws:iam::123456789012:role/ca1-role-r1");
    await settle();
    const rel = one(T.helmRelease, "ca1");
    assert.deepEqual(
      [rel.inputs.name, rel.inputs.chart, rel.inputs.version, rel.inputs.namespace],
      ["cluster-autoscaler", "cluster-autoscaler", CLUSTER_AUTOSCALER_CHART_VERSION, "kube-system"],
    );
    assert.deepEqual((rel.inputs.values as { autoDiscovery: unknown; awsRegion: string }).autoDiscovery, {
      clusterName: "eks1",
    });
    assert.equal((rel.inputs.values as { awsRegion: string }).awsRegion, "eu-west-1");
    assert.ok(dependsOnNames(rel).includes("ca1-policy"), "the release waits for the role's policy");
    const trust = JSON.parse(one(T.iamRole, "ca1").inputs.assumeRolePolicy as string);
    assert.deepEqual(trust.Statement[0].Condition.StringEquals, {
      "oidc.eks.eu-west-1.amazonaws.com/id/A:sub": "system:serviceaccount:kube-system:cluster-autoscaler",
      "oidc.eks.eu-west-1.amazonaws.com/id/A:aud": "sts.amazonaws.com",
    });
  });

  it("reports every bad argument at once", () => {
    const e = inputErrors(
      () => new ClusterAutoscaler("ca2", { ...ARGS, region: "Europe", oidcProviderArn: "x", chartVersion: "latest" }),
    );
    assert.deepEqual(Object.keys(e), ["region", "oidcProviderArn", "chartVersion"]);
  });
});
