/**
 * npm run bench:trino: rows/s into Iceberg through Trino (idempotent MERGE,
 * group commit) at a few batch sizes and flush intervals, against the same
 * run's ceilings on the same server: a plain INSERT of the same rows into
 * Iceberg, and into Trino's memory connector (blackhole is not on Maven
 * Central); then data files and snapshots before and after compaction. The
 * catalog is the tests' (scripts/trino/trino.sh): PostgreSQL and S3Proxy.
 */

import { TABLES } from "../domain/tables.js";
import { TrinoClient } from "../pipeline/stores/trino/client.js";
import { TrinoLakehouse } from "../pipeline/stores/trino/lakehouse.js";
import { jsonSource } from "../pipeline/stores/trino/literals.js";
import { startTrino } from "../test/support/trino.js";

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const T0 = Date.UTC(2026, 10, 28);
let seq = 0;
const rows = (n: number) =>
  Array.from({ length: n }, () => {
    const i = seq++;
    return { event_id: `bench-${i}`, event_time: T0 + i * 10, received_at: T0 + i * 10, json: `{"event_id":"bench-${i}","speed":${(i % 180) + 0.5}}` };
  });

const trino = await startTrino();
try {
  console.log(`carwatch Trino bench on ${trino.url} (single node, 2 cores shared; Iceberg JDBC catalog in PostgreSQL, data files in an S3Proxy bucket)`);
  const client = new TrinoClient({ url: trino.url, user: "carwatch", catalog: "iceberg" });
  const lake = (flushMs: number, maxRowsPerStatement: number) =>
    new TrinoLakehouse({ url: trino.url, user: "carwatch", catalog: "iceberg", queryUser: "reader", flushMs, maxRowsPerStatement, retention: "0s" });
  await lake(0, 1000).init();
  await client.run("CREATE SCHEMA IF NOT EXISTS memory.bench");
  await client.run(
    "CREATE TABLE IF NOT EXISTS memory.bench.cars_raw (event_id varchar, event_time timestamp(6) with time zone, received_at timestamp(6) with time zone, json varchar)",
  );
  await client.run(
    "CREATE TABLE IF NOT EXISTS iceberg.telemetry.cars_raw_plain (event_id varchar, event_time timestamp(6) with time zone, received_at timestamp(6) with time zone, json varchar)",
  );

  const timed = async (label: string, total: number, work: () => Promise<void>) => {
    const t = performance.now();
    await work();
    const rate = total / ((performance.now() - t) / 1000);
    return { label, rate };
  };
  const results: { label: string; rate: number; ceiling: number }[] = [];
  for (const batch of [500, 2000, 5000]) {
    const n = batch * 3;
    const ceilingMemory = await timed("memory", n, async () => {
      for (let i = 0; i < 3; i++) await client.run(`INSERT INTO memory.bench.cars_raw ${jsonSource(TABLES.cars_raw, rows(batch))}`);
    });
    const plain = await timed("insert", n, async () => {
      for (let i = 0; i < 3; i++) await client.run(`INSERT INTO iceberg.telemetry.cars_raw_plain ${jsonSource(TABLES.cars_raw, rows(batch))}`);
    });
    const l = lake(0, batch);
    const merge = await timed("merge", n, async () => {
      for (let i = 0; i < 3; i++) await l.write([{ table: "cars_raw", rows: rows(batch) }]);
    });
    console.log(
      `batch ${String(batch).padStart(5)}: MERGE ${fmt(merge.rate).padStart(6)} rows/s | plain INSERT ${fmt(plain.rate).padStart(6)} (MERGE = ${(merge.rate / plain.rate).toFixed(2)}×) | memory connector ${fmt(ceilingMemory.rate).padStart(6)} (MERGE = ${(merge.rate / ceilingMemory.rate).toFixed(2)}×)`,
    );
    results.push({ label: `batch ${batch}`, rate: merge.rate, ceiling: ceilingMemory.rate });
  }

  // Flush interval: eight writers of 250 rows each at once, as stages do; the interval decides how many commits they make.
  for (const flushMs of [0, 500]) {
    const l = lake(flushMs, 5000);
    const before = (await l.tableStats("cars_raw")).snapshots ?? 0;
    const r = await timed(`flush ${flushMs}`, 8 * 250, async () => {
      await Promise.all(Array.from({ length: 8 }, () => l.write([{ table: "cars_raw", rows: rows(250) }])));
    });
    const after = (await l.tableStats("cars_raw")).snapshots ?? 0;
    console.log(`flush ${String(flushMs).padStart(3)} ms: 8 concurrent writes of 250 rows → ${after - before} commits, ${fmt(r.rate)} rows/s`);
  }

  const l = lake(0, 5000);
  const report = await l.maintain("cars_raw");
  console.log(
    `compaction of telemetry.cars_raw (${fmt(report.after.rows)} rows): data files ${report.before.files} → ${report.after.files}, snapshots ${report.before.snapshots} → ${report.after.snapshots}, manifests ${report.before.manifests} → ${report.after.manifests} in ${(report.elapsedMs / 1000).toFixed(1)} s`,
  );
} finally {
  await trino.stop();
}
