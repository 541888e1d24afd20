import { afterEach, describe, expect, it } from "vitest";
import { InputError, StoreError } from "../../../core/errors.js";
import { createPipeline, type TestPipeline } from "../../../test/support/pipeline.js";
import { RESULT_LIMITS } from "./limits.js";

let p: TestPipeline;
afterEach(async () => p?.close());

const RUNAWAY = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
/** Resolves once the process is gone (the kernel reaps a SIGKILLed child right after its exit event). */
const gone = async (pid: number) => {
  while (alive(pid)) await new Promise((r) => setImmediate(r));
};

describe("users' queries in the query process", () => {
  it("refuses a huge cell where it is produced, with the limits, and keeps serving", async () => {
    p = await createPipeline();
    const heapBefore = process.memoryUsage().heapUsed;
    const err = await p.lakehouse.query("SELECT printf('%.*c', 300000000, 'x') AS big", { maxRows: 10, timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as Error).message).toMatch(
      /^result too large: the query needed more than 512 MiB\. Limits: 10000 characters per cell, 1 MiB per result, 512 MiB of memory per query/,
    );
    // Nothing of the cell reached this process.
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(32 << 20);
    const cell = await p.lakehouse
      .query(`SELECT printf('%.*c', ${RESULT_LIMITS.cellChars + 1}, 'x')`, { maxRows: 1, timeoutMs: 20_000 })
      .catch((e: unknown) => e);
    expect((cell as Error).message).toMatch(/^result too large: a cell has 10001 characters\./);
    const total = await p.lakehouse
      .query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000) SELECT printf('%.*c', 9000, 'y') FROM c", {
        maxRows: 1000,
        timeoutMs: 20_000,
      })
      .catch((e: unknown) => e);
    expect((total as Error).message).toMatch(/^result too large: more than 1048576 bytes\./);
    expect((await p.lakehouse.query("SELECT 1 + 1 AS two", { maxRows: 1, timeoutMs: 20_000 })).rows).toEqual([[2]]);
  });

  it("kills three runaway queries at their deadline beside an unthrottled pipeline, which stores every reading", async () => {
    p = await createPipeline();
    const sandbox = (p.lakehouse as unknown as { queries: { pids(): number[] } }).queries;
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
    await p.supervisor.start("generator", {
      rate: 0,
      clock: "virtual",
      startTime: Date.UTC(2026, 10, 28, 12),
      virtualRate: 1000,
      seed: 3,
      maxEvents: 30_000,
      anomalies: { malformed: 0 },
    });
    const queries = [1, 2, 3].map(() => p.lakehouse.query(RUNAWAY, { maxRows: 10, timeoutMs: 1500 }).catch((e: unknown) => e));
    await new Promise((r) => setImmediate(r));
    const pids = sandbox.pids();
    expect(pids).toHaveLength(2); // two run at once, the third waits for its turn within the same deadline
    const errors = await Promise.all(queries);
    for (const e of errors) {
      expect(e).toBeInstanceOf(StoreError);
      expect((e as Error).message).toBe("the query ran longer than 1500 ms and was stopped");
    }
    for (const pid of pids) await gone(pid);
    expect(sandbox.pids()).toEqual([]);
    await p.supervisor.waitFor("generator");
    await p.transport.whenIdle();
    expect((await p.lakehouse.query("SELECT count(*) FROM telemetry.cars_raw", { maxRows: 1, timeoutMs: 20_000 })).rows).toEqual([[30_000]]);
  });
});

describe("carwatch's own reads in the query process", () => {
  it("binds parameters (Dates as the stored time text), answers objects, and fails rather than cut or run on", async () => {
    p = await createPipeline();
    const colors = ["Black", "Red", "Gray"].map((color_name, i) => ({ color_id: i + 1, color_name }));
    await p.lakehouse.write([{ table: "car_colors", rows: colors }]);
    const rows = await p.lakehouse.aggregate("SELECT color_name AS name, ? AS at FROM dims.car_colors WHERE color_id >= ? ORDER BY color_id", [
      new Date(Date.UTC(2026, 0, 2, 3, 4, 5, 6)),
      2,
    ]);
    expect(rows).toEqual([
      { name: "Red", at: "2026-01-02 03:04:05.006" },
      { name: "Gray", at: "2026-01-02 03:04:05.006" },
    ]);
    const sandbox = (p.lakehouse as unknown as { queries: { pids(): number[] } }).queries;
    expect(sandbox.pids()).toHaveLength(1);
    const many = await p.lakehouse.aggregate("SELECT color_id FROM dims.car_colors", [], { maxRows: 2, timeoutMs: 20_000 }).catch((e: unknown) => e);
    expect(many).toBeInstanceOf(StoreError);
    expect((many as Error).message).toBe("a read of carwatch's returned more than 2 rows: SELECT color_id FROM dims.car_colors");
    const slow = await p.lakehouse.aggregate(RUNAWAY, [], { maxRows: 1, timeoutMs: 500 }).catch((e: unknown) => e);
    expect((slow as Error).message).toBe("the query ran longer than 500 ms and was stopped");
  });
});
