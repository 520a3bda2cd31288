/**
 * Kubernetes names: DNS-1123 labels and subdomains (the one check of each, used by the runtime and the
 * components), label and annotation keys and values (as the apiserver checks them), and a stable sanitizer
 * that turns any text (flow names, run ids, user names) into a valid label value.
 *
 * Dependency-free (only `node:crypto`) so decorators can use it at class-definition time.
 */
import { createHash } from "node:crypto";

/** Longest label value, and longest name part of a label or annotation key. */
export const MAX_LABEL_LENGTH = 63;
/** Longest DNS subdomain (the optional prefix of a key). */
export const MAX_SUBDOMAIN_LENGTH = 253;

const NAME_PART = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const LABEL_VALUE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/;
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Short hex digest of `text`, used to keep shortened names unique and stable. */
export function shortHash(text: string, length = 8): string {
  return createHash("sha256").update(text).digest("hex").slice(0, length);
}

/** Whether `name` is a DNS-1123 subdomain (lowercase alphanumerics, `-` and `.`, <= 253 characters). */
export function isDnsSubdomain(name: string): boolean {
  return name.length > 0 && name.length <= MAX_SUBDOMAIN_LENGTH && DNS_SUBDOMAIN.test(name);
}

/** Whether `name` is a DNS-1123 label (lowercase alphanumerics and `-`, <= 63 characters). */
export function isDnsLabel(name: string): boolean {
  return name.length > 0 && name.length <= MAX_LABEL_LENGTH && DNS_LABEL.test(name);
}

/**
 * Why `key` is not a valid label key (a Kubernetes "qualified name": optional DNS-subdomain prefix and
 * `/`, then a name of <= 63 alphanumerics, `-`, `_`, `.` that starts and ends alphanumeric), or
 * undefined when it is valid. Annotation keys follow the same rule.
 */
export function labelKeyProblem(key: string): string | undefined {
  if (typeof key !== "string" || key === "") return "a key must be a non-empty string";
  const parts = key.split("/");
  if (parts.length > 2) return "a key has at most one '/' (prefix/name)";
  const name = parts.length === 2 ? parts[1]! : parts[0]!;
  if (parts.length === 2) {
    const prefix = parts[0]!;
    if (!isDnsSubdomain(prefix))
      return `the prefix before '/' must be a DNS subdomain (lowercase letters, digits, '-', '.', <= ${MAX_SUBDOMAIN_LENGTH} characters), e.g. example.com/name`;
  }
  if (name.length > MAX_LABEL_LENGTH) return `the name part must be at most ${MAX_LABEL_LENGTH} characters`;
  if (!NAME_PART.test(name))
    return "the name part must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  return undefined;
}

/** Why `value` is not a valid label value, or undefined when it is valid (the empty string is valid). */
export function labelValueProblem(value: unknown): string | undefined {
  if (typeof value !== "string") return "a label value must be a string";
  if (value.length > MAX_LABEL_LENGTH) return `a label value must be at most ${MAX_LABEL_LENGTH} characters`;
  if (!LABEL_VALUE.test(value))
    return "a label value must be empty or letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  return undefined;
}

/** Why `key` is not a valid annotation key, or undefined when valid (same rule as label keys). */
export function annotationKeyProblem(key: string): string | undefined {
  return labelKeyProblem(key);
}

/**
 * Turns any text into a valid label value, deterministically:
 * - a value that is already valid is returned unchanged;
 * - otherwise characters outside `[A-Za-z0-9-_.]` become `-`, leading/trailing non-alphanumerics are
 *   dropped, and a `-` + 8 hex digits hash of the ORIGINAL text is appended (truncating so the result
 *   is <= 63 characters). The hash keeps two different inputs that clean up to the same text apart,
 *   so selecting by the label finds exactly the objects of that value.
 */
export function sanitizeLabelValue(value: string): string {
  if (labelValueProblem(value) === undefined) return value;
  const suffix = shortHash(value);
  const trim = (s: string) => s.replace(/^[^A-Za-z0-9]+/, "").replace(/[^A-Za-z0-9]+$/, "");
  const cleaned = trim(value.replace(/[^-A-Za-z0-9_.]/g, "-"));
  const room = MAX_LABEL_LENGTH - suffix.length - 1;
  const head = trim(cleaned.slice(0, room));
  return head ? `${head}-${suffix}` : suffix;
}

/**
 * Turns text into a DNS-1123 label fragment (lowercase alphanumerics and `-`), at most `max` characters,
 * possibly empty. Used to build readable Job and volume names; callers add a hash for uniqueness.
 */
export function dnsFragment(text: string, max: number): string {
  const s = text
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+/, "");
  return s.slice(0, max).replace(/-+$/, "");
}
