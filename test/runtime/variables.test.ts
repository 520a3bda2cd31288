/** The registry of KUBESTEP_* variables (runtime/variables.ts): the README's table is generated from it, and every variable the code or the docs name is registered. */
import { strict as assert } from "node:assert";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  isKubestepVariable,
  KUBERNETES_OPTION_PREFIX,
  KUBESTEP_VARIABLES,
  parseVariable,
  readVariable,
  VariableError,
  variablesTable,
} from "../../runtime/variables.js";
import { KUBERNETES_ENV_VARS } from "../../runtime/kubernetes/config.js";
import { isKubestepError } from "../../runtime/errors.js";
import { ROOT } from "../helpers/cli.js";

const OPTIONS = Object.keys(KUBERNETES_ENV_VARS);
const NAME = /KUBESTEP_[A-Z0-9_]*[A-Z0-9]/g;

function files(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p, ext) : p.endsWith(ext) ? [p] : [];
  });
}

/** Prefixes the code and the docs write for families (`KUBESTEP_KUBERNETES_<OPTION>`), and the registry's own name. */
const NOT_VARIABLES = new Set([
  "KUBESTEP_KUBERNETES",
  "KUBESTEP_DATASTORE_SYSROOT",
  "KUBESTEP_PARALLEL",
  "KUBESTEP_VARIABLES",
]);

/** The variable names in `text`. */
function namesIn(text: string): string[] {
  return [...text.matchAll(NAME)].map((m) => m[0]).filter((n) => !NOT_VARIABLES.has(n));
}

describe("KUBESTEP_* variables: one registry", () => {
  it("the README's table of variables is the registry's (regenerate with variablesTable())", () => {
    const readme = readFileSync(join(ROOT, "README.md"), "utf8");
    const m = /<!-- kubestep-variables:begin -->\n([\s\S]*?)\n<!-- kubestep-variables:end -->/.exec(readme);
    assert.ok(m, "README.md has the kubestep-variables table");
    assert.equal(m[1], variablesTable());
  });

  it("every KUBESTEP_* variable the README and docs/ name is registered", () => {
    const docs = [join(ROOT, "README.md"), ...files(join(ROOT, "docs"), ".md")];
    for (const f of docs)
      for (const n of namesIn(readFileSync(f, "utf8")))
        assert.ok(
          isKubestepVariable(n, OPTIONS),
          `${n} (named in ${f.slice(ROOT.length + 1)}) is not in runtime/variables.ts`,
        );
  });

  it("every KUBESTEP_* variable the runtime's code names is registered", () => {
    for (const f of files(join(ROOT, "runtime"), ".ts")) {
      const text = readFileSync(f, "utf8");
      for (const n of namesIn(text))
        assert.ok(
          isKubestepVariable(n, OPTIONS),
          `${n} (in ${f.slice(ROOT.length + 1)}) is not in runtime/variables.ts`,
        );
    }
  });

  it("the @kubernetes option variables do not collide with the registered ones", () => {
    for (const suffix of OPTIONS)
      assert.equal(Object.hasOwn(KUBESTEP_VARIABLES, KUBERNETES_OPTION_PREFIX + suffix), false, suffix);
  });

  it("reads at the edge: blank is unset, durations parse, a malformed value names the variable and the forms", () => {
    assert.equal(readVariable("KUBESTEP_USER", { KUBESTEP_USER: "  " }), undefined);
    assert.equal(readVariable("KUBESTEP_USER", { KUBESTEP_USER: " ann " }), "ann");
    assert.equal(parseVariable("KUBESTEP_KUBERNETES_PENDING_TIMEOUT", {}), undefined);
    assert.equal(
      parseVariable("KUBESTEP_KUBERNETES_PENDING_TIMEOUT", { KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "15m" }),
      900,
    );
    assert.equal(
      parseVariable("KUBESTEP_KUBERNETES_PENDING_TIMEOUT", { KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "Never" }),
      null,
    );
    assert.equal(
      parseVariable("KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE", { KUBESTEP_KUBERNETES_IMAGE_PULL_GRACE: "90" }),
      90,
    );
    assert.equal(
      parseVariable("KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT", { KUBESTEP_HOSTNAME_RESOLUTION_TIMEOUT: "30" }),
      30,
    );
    assert.throws(
      () => parseVariable("KUBESTEP_KUBERNETES_PENDING_TIMEOUT", { KUBESTEP_KUBERNETES_PENDING_TIMEOUT: "soon" }),
      (e: unknown) =>
        e instanceof VariableError &&
        isKubestepError(e) &&
        e.message ===
          'KUBESTEP_KUBERNETES_PENDING_TIMEOUT="soon" is invalid; use seconds (e.g. 900), a duration with s/m/h (e.g. 15m), or "never"',
    );
  });
});
