/**
 * `KubeObject`: a Pulumi dynamic resource for one Kubernetes object (test tooling only).
 *
 * The real Kubernetes resource provider (pulumi-resource-kubernetes) cannot be built here: its Go
 * module is not served by the module proxy (test/tooling/README.md lists the refused versions). So the
 * engine tests manage their objects through this dynamic provider instead: the engine runs it like any
 * provider plugin (`pulumi-resource-pulumi-nodejs`, ./bin/), over gRPC, with check/diff/create/read/
 * update/delete, and the state it returns is what the engine records in the backend.
 *
 * Pulumi serializes the provider object below into the resource's `__provider` input and the plugin
 * process evaluates that text. The methods therefore capture nothing but the absolute URL of
 * ./kube-object-ops.ts, which they import in the plugin process (run with tsx by the wrapper) and which
 * does the cluster work with @kubernetes/client-node.
 */
import * as pulumi from "@pulumi/pulumi";
import type { KubeObjectState, Manifest } from "./kube-object-ops.js";

export type { KubeObjectState, Manifest } from "./kube-object-ops.js";

/** Absolute URL of the module that talks to the cluster (imported in the provider process). */
const OPS = new URL("./kube-object-ops.ts", import.meta.url).href;

type Ops = typeof import("./kube-object-ops.js");

/** Inputs the provider receives. */
interface Inputs {
  manifest: Manifest;
}

/** The dynamic provider (serialized by Pulumi into each resource). */
export const provider: pulumi.dynamic.ResourceProvider<Inputs, KubeObjectState> = {
  async check(_olds: Inputs, news: Inputs): Promise<pulumi.dynamic.CheckResult<Inputs>> {
    const ops = (await import(OPS)) as Ops;
    const problems = ops.validate(news.manifest);
    return problems.length
      ? { failures: problems.map((reason) => ({ property: "manifest", reason })) }
      : { inputs: news };
  },
  async diff(_id: pulumi.ID, olds: KubeObjectState, news: Inputs): Promise<pulumi.dynamic.DiffResult> {
    const ops = (await import(OPS)) as Ops;
    const d = ops.diff(olds.manifest, news.manifest);
    return { changes: d.changes, ...(d.replace ? { replaces: ["manifest"], deleteBeforeReplace: true } : {}) };
  },
  async create(inputs: Inputs): Promise<pulumi.dynamic.CreateResult<KubeObjectState>> {
    const ops = (await import(OPS)) as Ops;
    const outs = await ops.create(inputs.manifest);
    return { id: outs.uid, outs };
  },
  async read(id: pulumi.ID, props?: KubeObjectState): Promise<pulumi.dynamic.ReadResult<KubeObjectState>> {
    const ops = (await import(OPS)) as Ops;
    if (!props) throw new Error(`KubeObject ${id}: reading needs the recorded manifest`);
    const live = await ops.read(props.manifest);
    return live ? { id: live.uid, props: live } : {};
  },
  async update(
    _id: pulumi.ID,
    _olds: KubeObjectState,
    news: Inputs,
  ): Promise<pulumi.dynamic.UpdateResult<KubeObjectState>> {
    const ops = (await import(OPS)) as Ops;
    return { outs: await ops.update(news.manifest) };
  },
  async delete(_id: pulumi.ID, props: KubeObjectState): Promise<void> {
    const ops = (await import(OPS)) as Ops;
    await ops.remove(props.manifest);
  },
};

/** Arguments of {@link KubeObject}. */
export interface KubeObjectArgs {
  /** The object: apiVersion, kind, metadata.name (and namespace for namespaced kinds) and its fields. */
  manifest: pulumi.Input<Manifest>;
}

/** One Kubernetes object managed by the Pulumi engine through the dynamic provider above. */
export class KubeObject extends pulumi.dynamic.Resource {
  /** The manifest last applied. */
  declare readonly manifest: pulumi.Output<Manifest>;
  /** The object's `metadata.uid` (unchanged by an update in place). */
  declare readonly uid: pulumi.Output<string>;
  /** The object's `metadata.resourceVersion` after the last write. */
  declare readonly resourceVersion: pulumi.Output<string>;

  constructor(name: string, args: KubeObjectArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      provider,
      name,
      { manifest: args.manifest, uid: undefined, resourceVersion: undefined },
      opts,
      "kubestep-test",
      "KubeObject",
    );
  }
}
