/**
 * The datastore a reading command (`kubestep ui`, `kubestep card`) opens, chosen the way `kubestep run` chooses
 * it: `--datastore` / `KUBESTEP_DEFAULT_DATASTORE` win; otherwise the environment's (`--stack`, `--environment`,
 * `KUBESTEP_ENVIRONMENT`) datastore, with its endpoint and region; otherwise local.
 */
import { resolve } from "node:path";
import { UsageError } from "./args.js";
import { datastoreFromEnv, openStorage } from "../datastore/open.js";
import { loadEnvironment } from "../environment-source.js";
import { requirePeers, type PeerNeed } from "../peers.js";
import type { DatastoreKind, KubestepEnvironment } from "../environment.js";
import type { Storage } from "../datastore/storage.js";

/** What chose the datastore. */
export interface DatastoreRequest {
  /** `--datastore` value. */
  datastore?: string;
  /** `--stack` value: the environment is `pulumi stack output kubestep --stack <name>`. */
  stack?: string;
  /** `--environment` value: a JSON file. */
  environment?: string;
}

/** The chosen datastore (not yet opened) and, for messages, how it was chosen. */
export interface ChosenDatastore {
  kind: DatastoreKind;
  root: string;
  /** `--datastore s3`, `KUBESTEP_DEFAULT_DATASTORE=gs`, `the environment's azure datastore (...)`. */
  reason: string;
}

/** Chooses the datastore like `kubestep run` does (see the module comment); sets the environment's endpoint and region variables. */
export function chooseDatastore(
  flag: string | undefined,
  environment: KubestepEnvironment | undefined,
  env: NodeJS.ProcessEnv = process.env,
): ChosenDatastore {
  if (environment && !flag && !env.KUBESTEP_DEFAULT_DATASTORE && environment.datastore.kind !== "local") {
    const d = environment.datastore;
    if (d.endpoint && d.kind === "s3") env.KUBESTEP_S3_ENDPOINT_URL ??= d.endpoint;
    if (d.endpoint && d.kind === "gs" && !env.KUBESTEP_GCS_ENDPOINT_URL) env.KUBESTEP_GCS_ENDPOINT_URL = d.endpoint;
    if (d.region) env.AWS_REGION ??= d.region;
    return { kind: d.kind, root: d.root, reason: `the environment's ${d.kind} datastore (${d.root})` };
  }
  let choice;
  try {
    choice = datastoreFromEnv(env, flag);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const reason =
    choice.kindSource === "default"
      ? `the ${choice.kind} datastore`
      : choice.kindSource === "--datastore"
        ? `--datastore ${choice.kind}`
        : `${choice.kindSource}=${choice.kind}`;
  return { kind: choice.kind, root: choice.kind === "local" ? resolve(choice.root) : choice.root, reason };
}

/** The optional peers a datastore needs (none for local). */
export function datastoreNeeds(d: ChosenDatastore, env: NodeJS.ProcessEnv = process.env): PeerNeed[] {
  if (d.kind === "local") return [];
  const needs: PeerNeed[] = [{ feature: d.kind, reason: d.reason }];
  if (d.kind === "azure" && !env.AZURE_STORAGE_CONNECTION_STRING && !env.AZURE_STORAGE_KEY)
    needs.push({
      feature: "azure-identity",
      reason: `${d.reason} without AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY (Microsoft Entra ID credentials)`,
    });
  return needs;
}

/** Loads the environment (when asked for), chooses the datastore, checks its SDK is installed, and opens it. */
export async function openChosenDatastore(
  req: DatastoreRequest,
): Promise<{ storage: Storage; chosen: ChosenDatastore }> {
  const environment = await loadEnvironment({
    ...(req.stack !== undefined ? { stack: req.stack } : {}),
    ...(req.environment !== undefined ? { environment: req.environment } : {}),
    env: process.env,
  });
  const chosen = chooseDatastore(req.datastore, environment);
  await requirePeers(datastoreNeeds(chosen));
  return { storage: await openStorage(chosen.kind, chosen.root), chosen };
}
