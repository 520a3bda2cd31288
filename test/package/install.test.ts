/**
 * The package as a user gets it: `npm pack`, then `npm install` of the tarball into a fresh project.
 *
 * 1. With no optional peer: node_modules stays small, a local flow runs with `npx kubestep run`, and every
 *    command that needs a missing peer (S3 / GCS / Azure SDK, the Kubernetes client) exits 2 before
 *    anything runs, naming the `npm install` to type.
 * 2. After running that `npm install` for S3: a flow runs against a real S3 server, and the self-contained
 *    code package pods run bundles the installed SDK.
 * 3. In a Pulumi project (the @pulumi/* peers installed): a program importing `kubestep/components`
 *    typechecks and runs under Pulumi's mocks.
 *
 * The package is built from a copy of the sources in a temporary directory (this tree's dist/ is left alone),
 * installs use this machine's npm cache (`--prefer-offline`), and every temporary directory is removed.
 */
import { strict as assert } from "node:assert";
import { execFile } from "node:child_process";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../helpers/cli.js";
import { startS3Server, type RunningServer } from "../tooling/servers/servers.js";
import { parseMegabytes } from "../../runtime/contract/units.js";

interface PackageJson {
  version: string;
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
}
const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as PackageJson;
const range = (name: string): string => {
  const r = pkg.peerDependencies[name] ?? pkg.devDependencies[name];
  assert.ok(r, `package.json has no range for ${name}`);
  return r;
};
const install = (names: readonly string[]): string => `npm install ${names.map((n) => `${n}@${range(n)}`).join(" ")}`;
const S3_PEERS = ["@aws-sdk/client-s3", "@aws-sdk/lib-storage", "@aws-sdk/s3-request-presigner"];
const PULUMI_PEERS = Object.keys(pkg.peerDependencies).filter((n) => n.startsWith("@pulumi/"));
const RUNTIME_PEERS = Object.keys(pkg.peerDependencies).filter((n) => !n.startsWith("@pulumi/"));

/** The most node_modules may take for a local-flow install. */
const MAX_LEAN_BYTES = 30 * 1000 * 1000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The environment of child commands: none of npm's own (`npm_config_local_prefix` would install into this repo) nor kubestep/cloud settings of the caller. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/^(npm_|INIT_CWD$|KUBESTEP_|AWS_|AZURE_|GOOGLE_|KUBECONFIG$)/i.test(k)) continue;
    env[k] = v;
  }
  return { ...env, npm_config_update_notifier: "false", npm_config_fund: "false", npm_config_audit: "false", ...extra };
}

/** Runs a command with a time limit; never rejects on a non-zero exit (the result has the code). */
function run(
  cmd: string,
  args: string[],
  opts: { cwd: string; env?: Record<string, string>; timeoutMs: number },
): Promise<Result> {
  return new Promise((resolve, reject) => {
    execFile(
      cmd,
      args,
      {
        cwd: opts.cwd,
        env: cleanEnv(opts.env),
        timeout: opts.timeoutMs,
        killSignal: "SIGKILL",
        maxBuffer: 64 * 1024 * 1024,
        encoding: "utf8",
      },
      (err, stdout, stderr) => {
        const e = err as { code?: unknown; killed?: boolean } | null;
        if (e && e.killed)
          return reject(
            new Error(
              `${cmd} ${args.join(" ")} did not finish within ${opts.timeoutMs / 1000} s:\n${stdout}\n${stderr}`,
            ),
          );
        if (e && typeof e.code !== "number") return reject(err);
        // npm's own warnings about the machine's npm configuration are not the command's output.
        resolve({ code: e ? (e.code as number) : 0, stdout, stderr: stderr.replace(/^npm warn .*\n?/gm, "") });
      },
    );
  });
}

async function ok(r: Promise<Result>, what: string): Promise<Result> {
  const res = await r;
  assert.equal(res.code, 0, `${what} exited ${res.code}:\n${res.stdout}\n${res.stderr}`);
  return res;
}

/** Disk usage of trees as `du` counts it (allocated blocks, hard links once), and the sum of file sizes. */
function treeSize(...dirs: string[]): { disk: number; apparent: number } {
  const seen = new Set<string>();
  let disk = 0;
  let apparent = 0;
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      const id = `${st.dev}:${st.ino}`;
      if (seen.has(id)) continue;
      seen.add(id);
      disk += st.blocks * 512;
      apparent += st.size;
      if (st.isDirectory()) walk(p);
    }
  };
  for (const dir of dirs) if (existsSync(dir)) walk(dir);
  return { disk, apparent };
}

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;

const HELLO = readFileSync(join(ROOT, "examples", "hello.ts"), "utf8");
const K8S_FLOW = `import { FlowSpec, step, kubernetes } from "kubestep";

export class TrainFlow extends FlowSpec {
  @step start() { this.next(this.train); }
  @kubernetes({ cpu: 1, memory: 512 })
  @step train() { this.next(this.end); }
  @step end() {}
}
`;

describe("package: npm install kubestep as a user gets it", function () {
  this.timeout(120_000);
  let work: string;
  let proj: string;
  let tarball: string;
  const npx = (args: string[], env: Record<string, string> = {}, timeoutMs = 90_000) =>
    run("npx", ["--no", "kubestep", ...args], { cwd: proj, env, timeoutMs });

  before(async function () {
    this.timeout(600_000);
    work = mkdtempSync(join(tmpdir(), "ks-install-"));
    // Build and pack a copy of the sources, so this tree's dist/ is not rewritten under other tests.
    const src = join(work, "src");
    mkdirSync(src);
    for (const f of [
      "package.json",
      "README.md",
      "tsconfig.json",
      "tsconfig.build.json",
      "bin",
      "runtime",
      "components",
    ])
      cpSync(join(ROOT, f), join(src, f), { recursive: true });
    symlinkSync(join(ROOT, "node_modules"), join(src, "node_modules"), "dir");
    await ok(
      run(process.execPath, [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.build.json"], {
        cwd: src,
        timeoutMs: 180_000,
      }),
      "tsc (build)",
    );
    const packed = await ok(
      run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", work], { cwd: src, timeoutMs: 120_000 }),
      "npm pack",
    );
    const [info] = JSON.parse(packed.stdout) as Array<{ filename: string; files: Array<{ path: string }> }>;
    tarball = join(work, info!.filename);
    assert.ok(
      info!.files.some((f) => f.path === "dist/runtime/cli/main.js"),
      "the tarball has no built runtime",
    );
    assert.ok(
      info!.files.some((f) => f.path === "dist/components/index.d.ts"),
      "the tarball has no built components",
    );
    proj = join(work, "project");
    mkdirSync(proj);
    writeFileSync(
      join(proj, "package.json"),
      JSON.stringify({ name: "lean-user-project", version: "1.0.0", private: true, type: "module" }, null, 2),
    );
    await ok(
      run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", tarball], {
        cwd: proj,
        timeoutMs: 300_000,
      }),
      "npm install <tarball>",
    );
    writeFileSync(join(proj, "hello.ts"), HELLO);
    writeFileSync(join(proj, "train.ts"), K8S_FLOW);
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("installs no optional peer, and node_modules is at most 30 MB", () => {
    for (const name of [...RUNTIME_PEERS, ...PULUMI_PEERS])
      assert.equal(existsSync(join(proj, "node_modules", name)), false, `${name} was installed with kubestep`);
    assert.ok(existsSync(join(proj, "node_modules", "kubestep", "dist", "runtime", "cli", "main.js")));
    const { disk, apparent } = treeSize(join(proj, "node_modules"));
    // esbuild's binary may be hard-linked into both packages: one walk counts it once.
    const esbuild = treeSize(join(proj, "node_modules", "esbuild"), join(proj, "node_modules", "@esbuild")).apparent;
    const kubestep = treeSize(join(proj, "node_modules", "kubestep")).apparent;
    console.log(
      `      node_modules of \`npm install kubestep\`: ${mb(disk)} on disk (${mb(apparent)} of files: esbuild ${mb(esbuild)}, kubestep ${mb(kubestep)}), limit ${mb(MAX_LEAN_BYTES)}`,
    );
    assert.ok(disk <= MAX_LEAN_BYTES, `node_modules takes ${mb(disk)} on disk, more than ${mb(MAX_LEAN_BYTES)}`);
    assert.ok(
      apparent <= MAX_LEAN_BYTES,
      `node_modules holds ${mb(apparent)} of files, more than ${mb(MAX_LEAN_BYTES)}`,
    );
  });

  it("runs a local flow with npx kubestep run", async () => {
    const r = await ok(npx(["run", "hello.ts", "--n", "4"]), "kubestep run hello.ts");
    assert.match(r.stdout, /total = 14\b/);
    assert.match(r.stderr, /run HelloFlow\/\S+ succeeded/);
    const runs = await ok(npx(["runs", "HelloFlow"]), "kubestep runs");
    assert.match(runs.stdout, /succeeded/);
  });

  it("a flow typechecks against kubestep's types with no optional peer installed (skipLibCheck off)", async function () {
    this.timeout(300_000);
    const tools = ["typescript", "@types/node"].map((n) => `${n}@${pkg.devDependencies[n]}`);
    await ok(
      run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--save-dev", ...tools], {
        cwd: proj,
        timeoutMs: 240_000,
      }),
      "npm install typescript",
    );
    writeFileSync(
      join(proj, "tsconfig.flow.json"),
      JSON.stringify(
        {
          compilerOptions: {
            target: "ES2022",
            module: "NodeNext",
            moduleResolution: "NodeNext",
            strict: true,
            skipLibCheck: false,
            noEmit: true,
            types: ["node"],
          },
          files: ["hello.ts", "train.ts"],
        },
        null,
        2,
      ),
    );
    await ok(
      run(process.execPath, [join(proj, "node_modules", "typescript", "bin", "tsc"), "-p", "tsconfig.flow.json"], {
        cwd: proj,
        timeoutMs: 240_000,
      }),
      "tsc on the flows",
    );
  });

  const datastores: Array<{ kind: string; sysroot: Record<string, string>; lines: string[] }> = [
    {
      kind: "s3",
      sysroot: { KUBESTEP_DATASTORE_SYSROOT_S3: "s3://bucket/ks" },
      lines: [`--datastore s3 needs ${S3_PEERS.slice(0, -1).join(", ")} and ${S3_PEERS.at(-1)}: ${install(S3_PEERS)}`],
    },
    {
      kind: "gs",
      sysroot: { KUBESTEP_DATASTORE_SYSROOT_GS: "gs://bucket/ks" },
      lines: [`--datastore gs needs @google-cloud/storage: ${install(["@google-cloud/storage"])}`],
    },
    {
      kind: "azure",
      sysroot: { KUBESTEP_DATASTORE_SYSROOT_AZURE: "azure://account/container/ks", AZURE_STORAGE_KEY: "a2V5" },
      lines: [`--datastore azure needs @azure/storage-blob: ${install(["@azure/storage-blob"])}`],
    },
    {
      kind: "azure",
      sysroot: { KUBESTEP_DATASTORE_SYSROOT_AZURE: "azure://account/container/ks" },
      lines: [
        `--datastore azure needs @azure/storage-blob: ${install(["@azure/storage-blob"])}`,
        `--datastore azure without AZURE_STORAGE_CONNECTION_STRING or AZURE_STORAGE_KEY (Microsoft Entra ID credentials) needs @azure/identity: ${install(["@azure/identity"])}`,
        `install them all with: ${install(["@azure/storage-blob", "@azure/identity"])}`,
      ],
    },
  ];
  for (const d of datastores) {
    it(`--datastore ${d.kind}${d.lines.length > 1 ? " (no account key)" : ""} without its SDK: exit 2 before anything runs, with the npm install to type`, async () => {
      const r = await npx(["run", "hello.ts", "--datastore", d.kind], d.sysroot);
      assert.equal(r.code, 2, `exit ${r.code}:\n${r.stderr}`);
      assert.equal(
        r.stderr.trimEnd().split("\n").slice(-d.lines.length).join("\n"),
        `kubestep run: ${d.lines.join("\n")}`,
        r.stderr,
      );
      assert.doesNotMatch(r.stderr, /running HelloFlow|\[\S+\/start\/\d+\]/);
      assert.equal(r.stdout, "");
    });
  }

  it("KUBESTEP_DEFAULT_DATASTORE and the commands that read runs name the missing SDK too", async () => {
    const r = await npx(["run", "hello.ts"], {
      KUBESTEP_DEFAULT_DATASTORE: "gs",
      KUBESTEP_DATASTORE_SYSROOT_GS: "gs://bucket/ks",
    });
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(
        `^kubestep run: KUBESTEP_DEFAULT_DATASTORE=gs needs @google-cloud/storage: ${escape(install(["@google-cloud/storage"]))}$`,
        "m",
      ),
    );
    for (const cmd of [
      ["runs", "HelloFlow"],
      ["logs", "HelloFlow/1/start"],
      ["dump", "HelloFlow/1/start/1"],
    ]) {
      const c = await npx([...cmd, "--datastore", "s3"], { KUBESTEP_DATASTORE_SYSROOT_S3: "s3://bucket/ks" });
      assert.equal(c.code, 2, `${cmd[0]}: ${c.stderr}`);
      assert.match(
        c.stderr,
        new RegExp(`^kubestep ${cmd[0]}: --datastore s3 needs .*: ${escape(install(S3_PEERS))}$`, "m"),
      );
    }
  });

  it("a step decorated @kubernetes without @kubernetes/client-node: exit 2 naming every missing peer; so do kubernetes list/kill", async () => {
    const r = await npx(["run", "train.ts", "--datastore", "s3"], { KUBESTEP_DATASTORE_SYSROOT_S3: "s3://bucket/ks" });
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(r.stderr.trimEnd().split("\n").slice(-3), [
      `kubestep run: step train (@kubernetes) needs @kubernetes/client-node: ${install(["@kubernetes/client-node"])}`,
      `--datastore s3 needs ${S3_PEERS.slice(0, -1).join(", ")} and ${S3_PEERS.at(-1)}: ${install(S3_PEERS)}`,
      `install them all with: ${install(["@kubernetes/client-node", ...S3_PEERS])}`,
    ]);
    const w = await npx(["run", "hello.ts", "--with", "kubernetes", "--datastore", "s3"], {
      KUBESTEP_DATASTORE_SYSROOT_S3: "s3://bucket/ks",
    });
    assert.equal(w.code, 2, w.stderr);
    assert.match(
      w.stderr,
      new RegExp(
        `^kubestep run: --with kubernetes needs @kubernetes/client-node: ${escape(install(["@kubernetes/client-node"]))}$`,
        "m",
      ),
    );
    for (const args of [["list"], ["kill", "--run-id", "r1"]]) {
      const k = await npx(["kubernetes", ...args]);
      assert.equal(k.code, 2, k.stderr);
      assert.equal(
        k.stderr.trim(),
        `kubestep kubernetes: kubestep kubernetes ${args[0]} needs @kubernetes/client-node: ${install(["@kubernetes/client-node"])}`,
      );
    }
  });

  describe("with the S3 peer installed by the command the message named", function () {
    let server: RunningServer | undefined;

    before(async function () {
      this.timeout(900_000);
      const r = await npx(["run", "hello.ts", "--datastore", "s3"], {
        KUBESTEP_DATASTORE_SYSROOT_S3: "s3://bucket/ks",
      });
      const command = /: (npm install .*)$/m.exec(r.stderr)?.[1];
      assert.ok(command, `no npm install in:\n${r.stderr}`);
      const [npmCmd, ...args] = command.split(" ");
      const before = treeSize(join(proj, "node_modules")).disk;
      await ok(
        run(npmCmd!, [...args, "--prefer-offline", "--no-audit", "--no-fund"], { cwd: proj, timeoutMs: 300_000 }),
        command,
      );
      console.log(
        `      the S3 peer adds ${mb(treeSize(join(proj, "node_modules")).disk - before)} on disk to node_modules`,
      );
      // A cold build of the S3 test server takes minutes; it is cached afterwards.
      server = await startS3Server();
    });

    after(async () => {
      await server?.stop();
    });

    it("runs a flow against a real S3 server; runs and logs read it back", async () => {
      const env = server!.env;
      const r = await ok(npx(["run", "hello.ts", "--n", "3", "--datastore", "s3"], env), "kubestep run --datastore s3");
      assert.match(r.stdout, /total = 5\b/);
      const id = /run (\S+) \(datastore s3:\/\//.exec(r.stderr)?.[1];
      assert.ok(id, r.stderr);
      const runs = await ok(npx(["runs", "HelloFlow", "--datastore", "s3"], env), "kubestep runs --datastore s3");
      assert.match(runs.stdout, new RegExp(`${id}\\s+succeeded`));
      const logs = await ok(
        npx(["logs", `HelloFlow/${id}/end`, "--datastore", "s3"], env),
        "kubestep logs --datastore s3",
      );
      assert.match(logs.stdout, /total = 5\b/);
    });

    it("a @kubernetes step now names only @kubernetes/client-node", async () => {
      const r = await npx(["run", "train.ts", "--datastore", "s3"], server!.env);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(
        r.stderr.trim(),
        `kubestep run: step train (@kubernetes) needs @kubernetes/client-node: ${install(["@kubernetes/client-node"])}`,
      );
    });

    it("the pods' self-contained code package bundles the installed S3 SDK and loads with no node_modules", async () => {
      writeFileSync(
        join(proj, "bundle.mjs"),
        `const { buildCodePackage } = await import(new URL("./node_modules/kubestep/dist/runtime/code/package.js", import.meta.url));
const p = await buildCodePackage("train.ts", { selfContained: true });
const text = Buffer.from(p.bytes).toString("utf8");
const imports = [...text.matchAll(/\\bimport\\(\\s*"([^"]+)"\\s*\\)/g)].map((m) => m[1]);
const statics = [...text.matchAll(/^import .* from "([^"]+)";?$/gm)].map((m) => m[1]);
const map = JSON.parse(Buffer.from(text.slice(text.lastIndexOf("base64,") + 7).trim(), "base64").toString("utf8"));
const pkgOf = (src) => { const i = src.lastIndexOf("node_modules/"); if (i < 0) return undefined; const [a, b] = src.slice(i + "node_modules/".length).split("/"); return a.startsWith("@") ? a + "/" + b : a; };
const bundled = [...new Set(map.sources.map(pkgOf).filter(Boolean))];
console.log(JSON.stringify({ path: p.path, bytes: p.bytes.byteLength, imports, statics, bundled }));
`,
      );
      const r = await ok(
        run(process.execPath, ["bundle.mjs"], { cwd: proj, timeoutMs: 120_000 }),
        "buildCodePackage selfContained",
      );
      const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
        path: string;
        bytes: number;
        imports: string[];
        statics: string[];
        bundled: string[];
      };
      console.log(`      self-contained code package with the S3 peer: ${mb(out.bytes)}`);
      for (const name of S3_PEERS)
        assert.ok(out.bundled.includes(name), `${name} is not bundled; bundled packages: ${out.bundled}`);
      for (const name of RUNTIME_PEERS.filter((n) => !S3_PEERS.includes(n)))
        assert.ok(!out.bundled.includes(name), `${name} is bundled but not installed?`);
      for (const name of S3_PEERS)
        assert.ok(
          !out.imports.includes(name) && !out.statics.includes(name),
          `${name} left as an import: ${out.imports}`,
        );
      for (const name of ["@google-cloud/storage", "@azure/storage-blob"])
        assert.ok(out.imports.includes(name), `the missing ${name} is not left as a lazy import: ${out.imports}`);
      assert.deepEqual(
        out.statics.filter((s) => !s.startsWith("node:")),
        [],
        "the package imports a package at load time",
      );
      // A pod has only node: the package loads (and finds its flow) from a directory with no node_modules.
      const pod = mkdtempSync(join(tmpdir(), "ks-pod-"));
      try {
        cpSync(out.path, join(pod, "package.mjs"));
        writeFileSync(
          join(pod, "load.mjs"),
          `const m = await import("./package.mjs"); const f = await m.loadFlowModule(); console.log(Object.keys(f).join(","));\n`,
        );
        const l = await ok(
          run(process.execPath, ["load.mjs"], { cwd: pod, timeoutMs: 60_000 }),
          "loading the code package in isolation",
        );
        assert.equal(l.stdout.trim(), "TrainFlow");
      } finally {
        rmSync(pod, { recursive: true, force: true });
      }
    });
  });

  describe("in a Pulumi project (the @pulumi/* peers installed)", function () {
    before(async function () {
      this.timeout(600_000);
      const tools = ["typescript", "@types/node"].map((n) => `${n}@${pkg.devDependencies[n]}`);
      // --ignore-scripts: the providers' plugin downloads are not needed under mocks.
      await ok(
        run(
          "npm",
          [
            "install",
            "--prefer-offline",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            ...PULUMI_PEERS.map((n) => `${n}@${range(n)}`),
            ...tools,
          ],
          { cwd: proj, timeoutMs: 540_000 },
        ),
        "npm install @pulumi/*",
      );
    });

    it("a program importing kubestep/components (and kubestep) typechecks (tsc) and runs under pulumi.runtime.setMocks", async function () {
      this.timeout(300_000);
      writeFileSync(
        join(proj, "tsconfig.json"),
        JSON.stringify(
          {
            compilerOptions: {
              target: "ES2022",
              module: "NodeNext",
              moduleResolution: "NodeNext",
              strict: true,
              skipLibCheck: true,
              types: ["node"],
              outDir: "out",
            },
            files: ["program.ts"],
          },
          null,
          2,
        ),
      );
      writeFileSync(
        join(proj, "program.ts"),
        `import * as pulumi from "@pulumi/pulumi";
import type { KubestepEnvironment, EnvironmentArgs } from "kubestep/components";
import { parseMegabytes } from "kubestep";

const registered: string[] = [];
await pulumi.runtime.setMocks(
  {
    newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
      registered.push(args.type);
      return { id: \`\${args.name}-id\`, state: args.inputs as Record<string, unknown> };
    },
    call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
      return args.inputs as Record<string, unknown>;
    },
  },
  "lean-project",
  "test",
  false,
);
const { Environment } = await import("kubestep/components");
const args: EnvironmentArgs = {
  cloud: "existing",
  namespace: "ml",
  image: "node:20-slim",
  submitters: { groups: ["ml"] },
  datastore: { kind: "s3", root: "s3://bucket/ks", endpoint: "http://10.0.0.1:9000" },
};
const env = new Environment("lean", args);
const contract = await new Promise<KubestepEnvironment>((resolve) => env.kubestep.apply(resolve));
const deadline = Date.now() + 20_000;
while (!registered.includes("kubernetes:core/v1:Namespace") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
console.log(JSON.stringify({ contract, registered, memory: parseMegabytes("16GB") }));
`,
      );
      await ok(
        run(process.execPath, [join(proj, "node_modules", "typescript", "bin", "tsc"), "-p", "."], {
          cwd: proj,
          timeoutMs: 240_000,
        }),
        "tsc in the Pulumi project",
      );
      const r = await ok(
        run(process.execPath, [join("out", "program.js")], { cwd: proj, timeoutMs: 60_000 }),
        "the mock program",
      );
      const out = JSON.parse(r.stdout.trim().split("\n").pop()!) as {
        contract: KubestepContract;
        registered: string[];
        memory: number;
      };
      assert.equal(out.memory, parseMegabytes("16GB"), "the runtime entry (kubestep) works in the Pulumi program too");
      assert.equal(out.contract.namespace, "ml");
      assert.equal(out.contract.image, "node:20-slim");
      assert.deepEqual(out.contract.datastore, {
        kind: "s3",
        root: "s3://bucket/ks",
        endpoint: "http://10.0.0.1:9000",
      });
      assert.ok(out.registered.includes("kubestep:index:Environment"), `registered: ${out.registered}`);
      assert.ok(out.registered.includes("kubernetes:core/v1:Namespace"), `registered: ${out.registered}`);
    });
  });
});

interface KubestepContract {
  namespace: string;
  image: string;
  datastore: Record<string, string>;
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
