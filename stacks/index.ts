/** Pulumi entry point (Pulumi.yaml `main: stacks/`): exports the environment contract as output `kubestep`, and what operators need next to it. */
import { kubestepStack } from "./program.js";

const environment = kubestepStack();

/** The `KubestepEnvironment` the runtime reads with `kubestep run flow.ts --stack <stack>`. */
export const kubestep = environment.kubestep;
/** The step namespace. */
export const namespace = environment.namespace;
/** Bucket (S3, GCS) or storage account (Azure). */
export const bucketName = environment.bucketName;
/** S3 bucket ARN (aws). */
export const bucketArn = environment.bucketArn;
/** IAM role of step pods (aws). */
export const datastoreRoleArn = environment.datastoreRoleArn;
/** Managed policy to attach to whoever runs `kubestep run` (aws). */
export const submitterPolicyArn = environment.submitterPolicyArn;
/** KMS key of the bucket (aws with SSE-KMS). */
export const kmsKeyArn = environment.kmsKeyArn;
/** Google service account of step pods; submitters sign URLs as it (gcp). */
export const googleServiceAccount = environment.googleServiceAccount;
/** Client id of step pods' managed identity (azure). */
export const clientId = environment.clientId;
/** IAM role of the Cluster Autoscaler (aws with pools). */
export const autoscalerRoleArn = environment.autoscalerRoleArn;
/** The pools' provider names, node roles and node service accounts. */
export const pools = environment.pools;
/** Service account of deployed flows' orchestrator pods (with `kubestep:deployments`). */
export const orchestratorServiceAccount = environment.orchestratorServiceAccount;
/** The deployer Role, bound to whoever deploys flows (with `kubestep:deployments`). */
export const deployerRole = environment.deployerRole;
