import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startCarwatch } from "./support/carwatch-process.js";

const dir = mkdtempSync(join(tmpdir(), "carwatch-shutdown-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const RUNAWAY = "/query WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";

/** Pids of the query processes (pipeline/stores/query/process.ts) whose parent is `ppid`. */
function queryProcesses(ppid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === ppid && readFileSync(`/proc/${name}/cmdline`, "utf8").includes("query/process")) out.push(Number(name));
    } catch {
      // Gone meanwhile.
    }
  }
  return out;
}

describe.skipIf(process.platform !== "linux")("shutdown with runaway queries", () => {
  it("SIGTERM exits 0 while never-ending queries run beside an unthrottled pipeline, and leaves no query process", async () => {
    const { child, url } = await startCarwatch({ DATA_DIR: dir, GENERATOR_RATE: "0" });
    for (let i = 0; i < 3; i++) {
      const r = await fetch(`${url}/console/send`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: url },
        body: JSON.stringify({ text: RUNAWAY }),
      });
      expect(r.status).toBe(202);
    }
    // The chat handles one update at a time: the first query runs, the others wait behind it.
    let pids: number[] = [];
    while ((pids = queryProcesses(child.proc.pid!)).length === 0) await new Promise((r) => setTimeout(r, 50));
    child.proc.kill("SIGTERM");
    expect(await child.exited).toBe(0);
    expect(child.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/);
  });
});
