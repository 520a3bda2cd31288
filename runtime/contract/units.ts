/**
 * Units: the sizes users write (`memory: "16GB"`, `tmpfsSize: 512`, `cpu: "500m"`) and the quantities
 * Kubernetes writes (`64Mi`, `1.5Gi`, `500m`), parsed in one place. The two grammars differ on purpose:
 * a user size is case-insensitive and `m`/`MB` means megabytes, a Kubernetes quantity is case-sensitive and
 * `m` means milli (`500m` = 0.5). Sizes are stored as numbers in MB (memory, disk) or MiB (tmpfs, shared
 * memory); {@link MB} and {@link MIB} convert between them.
 *
 * Dependency-free: runs when a flow class is defined.
 */

const BYTES_PER_UNIT: Record<string, number> = {
  b: 1,
  k: 1e3,
  kb: 1e3,
  m: 1e6,
  mb: 1e6,
  g: 1e9,
  gb: 1e9,
  t: 1e12,
  tb: 1e12,
  p: 1e15,
  pb: 1e15,
  ki: 2 ** 10,
  kib: 2 ** 10,
  mi: 2 ** 20,
  mib: 2 ** 20,
  gi: 2 ** 30,
  gib: 2 ** 30,
  ti: 2 ** 40,
  tib: 2 ** 40,
  pi: 2 ** 50,
  pib: 2 ** 50,
};

/** Units a size string may carry (case-insensitive). */
export const SIZE_UNITS_HELP =
  'a number, or a string with a unit: KB, MB, GB, TB (powers of 1000) or KiB/Ki, MiB/Mi, GiB/Gi, TiB/Ti (powers of 1024), e.g. "16GB", "512Mi"';

/** One MiB in bytes. */
export const MIB = 2 ** 20;
/** One MB in bytes. */
export const MB = 1e6;

/**
 * Parses a size to bytes: a number (or numeric string) is in `plainUnit` bytes; a string may carry a unit
 * (see {@link SIZE_UNITS_HELP}). Returns undefined when the text does not parse or the unit is unknown.
 */
export function parseSizeBytes(value: number | string, plainUnit: number): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value * plainUnit : undefined;
  if (typeof value !== "string") return undefined;
  const m = /^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e([+-]?[0-9]+))?\s*([A-Za-z]*)\s*$/.exec(value);
  if (!m) return undefined;
  const n = Number(m[1]) * (m[2] ? 10 ** Number(m[2]) : 1);
  const unit = m[3]!.toLowerCase();
  if (unit === "") return n * plainUnit;
  const factor = BYTES_PER_UNIT[unit];
  return factor === undefined ? undefined : n * factor;
}

/** Parses a memory/disk size to MB (plain numbers are MB). Undefined when it does not parse. */
export function parseMegabytes(value: number | string): number | undefined {
  const b = parseSizeBytes(value, MB);
  return b === undefined ? undefined : b / MB;
}

/** Parses a tmpfs/shared-memory size to MiB (plain numbers are MiB). Undefined when it does not parse. */
export function parseMebibytes(value: number | string): number | undefined {
  const b = parseSizeBytes(value, MIB);
  return b === undefined ? undefined : b / MIB;
}

/**
 * Parses a CPU amount to cores: a number, a numeric string, or millicores ("500m").
 * Undefined when it does not parse.
 */
export function parseCpu(value: number | string): number | undefined {
  if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
  if (typeof value !== "string") return undefined;
  const m = /^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*(m?)\s*$/.exec(value);
  if (!m) return undefined;
  return m[2] ? Number(m[1]) / 1000 : Number(m[1]);
}

const QUANTITY_SUFFIX: Record<string, number> = {
  "": 1,
  m: 1e-3,
  k: 1e3,
  K: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

/** The value of a Kubernetes quantity (`64Mi`, `4096M`, `1.5Gi`, `500m`, `1e9`), or undefined if malformed. */
export function parseQuantity(q: string | number | undefined): number | undefined {
  if (q === undefined) return undefined;
  if (typeof q === "number") return q;
  const m = /^([+-]?[0-9.]+)(?:([eE][+-]?[0-9]+)|(Ki|Mi|Gi|Ti|Pi|Ei|m|k|K|M|G|T|P|E)?)$/.exec(q.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  if (!Number.isFinite(n)) return undefined;
  if (m[2]) return n * 10 ** Number(m[2].slice(1));
  return n * QUANTITY_SUFFIX[m[3] ?? ""]!;
}

/** The forms {@link parseDurationSeconds} accepts, for messages. */
export const DURATION_HELP = 'use seconds (e.g. 900), a duration with s/m/h (e.g. 15m), or "never"';

/**
 * Parses a duration: seconds (`900`), or with a unit s/m/h (`15m`, `1.5h`), or `never`.
 * @returns seconds, null for never, undefined when the text does not parse (or is not > 0).
 */
export function parseDurationSeconds(text: string): number | null | undefined {
  const t = text.trim().toLowerCase();
  if (t === "never") return null;
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h)?$/.exec(t);
  if (!m || !(Number(m[1]) > 0)) return undefined;
  return Number(m[1]) * { s: 1, m: 60, h: 3600 }[(m[2] ?? "s") as "s" | "m" | "h"];
}
