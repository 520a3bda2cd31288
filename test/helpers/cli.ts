/** Runs the real `kubestep` CLI (bin/kubestep.mjs over the built runtime) in a scratch datastore. */
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));
export const BIN = join(ROOT, "bin", "kubestep.mjs");
export const FLOWS = join(ROOT, "test", "fixtures", "flows");

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A fresh scratch directory used as cwd and local datastore root. */
export function scratch(): string {
  return mkdtempSync(join(tmpdir(), "kubestep-test-"));
}

/** Runs `kubestep <args>` and collects its output. */
export function kubestep(
  args: string[],
  opts: {
    cwd: string;
    env?: Record<string, string>;
    unset?: string[];
    /** Called with everything printed so far (stdout then stderr) each time the CLI prints. */
    onOutput?: (printed: string) => void;
  },
): Promise<CliResult> {
  // `unset`: variables removed from the inherited environment (really unset, not empty).
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([k]) => !opts.unset?.includes(k)));
  return new Promise((res, rej) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: { ...inherited, KUBESTEP_DATASTORE_SYSROOT_LOCAL: join(opts.cwd, ".kubestep"), ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (c) => {
      stdout += c;
      opts.onOutput?.(stdout + stderr);
    });
    child.stderr.on("data", (c) => {
      stderr += c;
      opts.onOutput?.(stdout + stderr);
    });
    child.on("error", rej);
    child.on("close", (code, signal) => res({ code, signal, stdout, stderr }));
  });
}

/** The run id printed by `kubestep run`. */
export function runIdOf(r: CliResult): string {
  const m = /run (\S+) \(datastore/.exec(r.stderr);
  if (!m) throw new Error(`no run id in output:\n${r.stderr}`);
  return m[1]!;
}
