/** Flow parameters: typed values from the command line, validated against the `@param` declarations. */
import { ParameterError, describeValue } from "../errors.js";
import type { ParamMeta } from "./meta.js";

/** The type a parameter's CLI text is parsed as. */
export function paramType(p: ParamMeta): "string" | "number" | "boolean" | "json" {
  if (p.options.type) return p.options.type;
  const d = p.options.default;
  if (typeof d === "number") return "number";
  if (typeof d === "boolean") return "boolean";
  if (d !== undefined && typeof d === "object") return "json";
  return "string";
}

function parseOne(p: ParamMeta, raw: string): unknown {
  const type = paramType(p);
  const bad = (allowed: string): never => {
    throw new ParameterError(`parameter --${p.name}: ${describeValue(raw)} is not ${allowed}`);
  };
  switch (type) {
    case "number": {
      const n = Number(raw);
      return raw.trim() === "" || !Number.isFinite(n) ? bad("a number") : n;
    }
    case "boolean":
      if (["true", "1", "yes"].includes(raw.toLowerCase())) return true;
      if (["false", "0", "no"].includes(raw.toLowerCase())) return false;
      return bad("a boolean (true/false)");
    case "json":
      try {
        return JSON.parse(raw);
      } catch (e) {
        return bad(`valid JSON (${(e as Error).message})`);
      }
    default:
      return raw;
  }
}

/**
 * Resolves parameter values: CLI text parsed by type, defaults filled, required ones enforced,
 * unknown names rejected with the list of declared parameters.
 */
export function resolveParams(
  declared: Record<string, ParamMeta>,
  givenRaw: Record<string, string>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // `--fail-node` and `--failNode` both name the field failNode.
  const given: Record<string, string> = {};
  for (const [k, v] of Object.entries(givenRaw)) {
    const camel = k.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
    given[declared[k] ? k : declared[camel] ? camel : k] = v;
  }
  for (const name of Object.keys(given)) {
    if (!declared[name]) {
      const names = Object.keys(declared);
      throw new ParameterError(
        `unknown parameter --${name}; ${names.length ? `this flow's parameters: ${names.map((n) => "--" + n).join(", ")}` : "this flow declares no parameters"}`,
      );
    }
  }
  for (const [name, p] of Object.entries(declared)) {
    if (name in given) out[name] = parseOne(p, given[name]!);
    else if (p.options.default !== undefined) out[name] = p.options.default;
    else if (p.options.required)
      throw new ParameterError(`parameter --${name} is required${p.options.help ? ` (${p.options.help})` : ""}`);
  }
  return out;
}
