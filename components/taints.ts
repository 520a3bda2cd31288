/**
 * One normalized taint type for every provider, and its spelling for each: EKS
 * (`NO_SCHEDULE`), GKE (`NO_SCHEDULE`), AKS (`key=value:NoSchedule`) and Kubernetes itself.
 */
import { TAINT_EFFECTS, tolerationFor, type TaintSpec, type Toleration } from "../runtime/contract/index.js";
import { ensure, shown } from "./validate.js";

/** A taint as kubestep normalizes it: the Kubernetes spelling (same as the contract's `TaintSpec`). */
export type Taint = TaintSpec;

/** Taint effects Kubernetes knows (the contract's list). */
export { TAINT_EFFECTS };

/** The default taint of a GPU pool: `nvidia.com/gpu=present:NoSchedule`. */
export const DEFAULT_GPU_TAINT: Taint = { key: "nvidia.com/gpu", value: "present", effect: "NoSchedule" };

const UPPER: Record<Taint["effect"], string> = {
  NoSchedule: "NO_SCHEDULE",
  PreferNoSchedule: "PREFER_NO_SCHEDULE",
  NoExecute: "NO_EXECUTE",
};

/** Checks a taint, throwing `InputPropertyError` at `path` when it is malformed. */
export function validateTaint(t: unknown, path: string): asserts t is Taint {
  const o = (typeof t === "object" && t !== null ? t : {}) as Record<string, unknown>;
  ensure(typeof t === "object" && t !== null, path, `must be { key, value?, effect } (got ${shown(t)})`);
  ensure(
    typeof o.key === "string" && /^([a-z0-9.-]+\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/.test(o.key),
    `${path}.key`,
    `must be a label key such as "nvidia.com/gpu" (got ${shown(o.key)})`,
  );
  ensure(
    o.value === undefined ||
      (typeof o.value === "string" && /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(o.value)),
    `${path}.value`,
    `must be a label value (got ${shown(o.value)})`,
  );
  ensure(
    (TAINT_EFFECTS as readonly unknown[]).includes(o.effect),
    `${path}.effect`,
    `must be one of ${TAINT_EFFECTS.join(", ")} (got ${shown(o.effect)})`,
  );
}

/** Parses the Kubernetes / AKS spelling `key=value:Effect` (or `key:Effect`). */
export function parseTaint(s: string, path = "taint"): Taint {
  const m = /^([^=:]+)(?:=([^:]*))?:([A-Za-z]+)$/.exec(s);
  ensure(
    m !== null,
    path,
    `must be "key=value:Effect" with Effect one of ${TAINT_EFFECTS.join(", ")} (got ${shown(s)})`,
  );
  const t = { key: m[1], ...(m[2] !== undefined && m[2] !== "" ? { value: m[2] } : {}), effect: m[3] };
  validateTaint(t, path);
  return t;
}

/** EKS managed node group spelling: `{ key, value, effect: "NO_SCHEDULE" }`. */
export function toEksTaint(t: Taint): { key: string; value?: string; effect: string } {
  return { key: t.key, ...(t.value !== undefined ? { value: t.value } : {}), effect: UPPER[t.effect] };
}

/** GKE node pool spelling: `{ key, value, effect: "NO_SCHEDULE" }` (value is required by GKE; empty when absent). */
export function toGkeTaint(t: Taint): { key: string; value: string; effect: string } {
  return { key: t.key, value: t.value ?? "", effect: UPPER[t.effect] };
}

/** AKS agent pool spelling: `"key=value:NoSchedule"`. */
export function toAksTaint(t: Taint): string {
  return `${t.key}${t.value !== undefined ? `=${t.value}` : ""}:${t.effect}`;
}

/** Kubernetes toleration that tolerates `t` (what the runtime adds to GPU step pods: the contract's `tolerationFor`). */
export function toleration(t: Taint): Toleration {
  return tolerationFor(t);
}
