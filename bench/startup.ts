/**
 * npm run bench (after the pipeline bench) [-- --idle-seconds 30 --full-seconds 30]: the compiled build
 * (node dist/main.js, built first when stale) as it ships, no model and no Telegram: time from start to
 * /healthz answering, RSS idle at the demo rate (fresh, then once the console and dashboards have been
 * used), and peak RSS with the generator unthrottled, each beside its target.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { spawnChild } from "../test/support/child.js";

const { values: args } = parseArgs({ options: { "idle-seconds": { type: "string", default: "30" }, "full-seconds": { type: "string", default: "30" } } });
const repo = join(import.meta.dirname, "..");
const STARTS = 3;
const TARGET = { startMs: 2000, idleMb: 200, peakMb: 300 };

execFileSync(process.execPath, [join(repo, "scripts/build/build.mjs"), "--if-stale"], { stdio: "inherit" });

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const mb = (pid: number, field: "VmRSS" | "VmHWM") => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]) / 1024;

/** carwatch compiled, in a directory of its own (no .env from here), timed from spawn to the first 200 on /healthz. */
async function start(env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "carwatch-bench-startup-"));
  const url = `http://127.0.0.1:${await freePort()}`;
  const t0 = performance.now();
  const child = spawnChild(
    [join(repo, "dist/main.js")],
    { PATH: process.env.PATH ?? "", DATA_DIR: join(dir, "data"), HTTP_PORT: new URL(url).port, LOG_LEVEL: "warn", ...env },
    dir,
  );
  for (;;) {
    if (child.proc.exitCode !== null) throw new Error(`carwatch exited (${child.proc.exitCode}) before /healthz answered`);
    const ok = await fetch(`${url}/healthz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    await sleep(10);
  }
  const startMs = performance.now() - t0;
  return {
    url,
    startMs,
    pid: child.proc.pid!,
    async stop() {
      child.proc.kill("SIGTERM");
      await child.exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const verdict = (value: number, target: number, unit: string) =>
  `${value.toFixed(0)} ${unit} (target ≤ ${target} ${unit}, ${(value / target).toFixed(2)}× target)`;

console.log(`\ncarwatch compiled (node dist/main.js), no model, no Telegram, node ${process.version}`);
const times: number[] = [];
let idle: Awaited<ReturnType<typeof start>> | null = null;
for (let i = 0; i < STARTS; i++) {
  const c = await start();
  times.push(c.startMs);
  if (i < STARTS - 1) await c.stop();
  else idle = c;
}
const median = [...times].sort((a, b) => a - b)[Math.floor(STARTS / 2)]!;
console.log(
  `start-up to /healthz 200, median of ${STARTS} on a fresh DATA_DIR: ${verdict(median, TARGET.startMs, "ms")}; runs ${times.map((t) => t.toFixed(0)).join(", ")} ms`,
);

await sleep(Number(args["idle-seconds"]) * 1000);
console.log(`RSS idle at the demo rate after ${args["idle-seconds"]} s: ${verdict(mb(idle!.pid, "VmRSS"), TARGET.idleMb, "MB")}`);
// What a first visit does: both pages, a command and a chart in the console, both dashboards' panels.
const get = (path: string) => fetch(`${idle!.url}${path}`).then((r) => r.text());
const say = (text: string) =>
  fetch(`${idle!.url}/console/send`, { method: "POST", headers: { "content-type": "application/json", origin: idle!.url }, body: JSON.stringify({ text }) });
for (const path of ["/console", "/console/app.js", "/dashboards", "/dashboards/app.js", "/dashboards/api/alerts", "/dashboards/api/pipeline"]) await get(path);
for (const text of ["/status", "/chart rule", "/chart readings"]) await say(text);
await sleep(10_000);
console.log(`RSS idle once the console and dashboards have been used: ${verdict(mb(idle!.pid, "VmRSS"), TARGET.idleMb, "MB")}`);
await idle!.stop();

const full = await start({ GENERATOR_RATE: "0" });
await sleep(Number(args["full-seconds"]) * 1000);
console.log(`peak RSS at full rate (generator unthrottled, ${args["full-seconds"]} s): ${verdict(mb(full.pid, "VmHWM"), TARGET.peakMb, "MB")}`);
await full.stop();
