import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { ENRICHED, SENSORS } from "../pipeline/transport/topics.js";
import { RuleTable } from "../state/rules.js";
import type { Child } from "./support/child.js";
import { expectExactRows, expectedRows } from "./support/expected.js";
import { type Broker, describeKafka, randomPrefix, startBroker } from "./support/kafka.js";
import { createKafkaPipeline, groupsSettled, type KafkaPipeline, spawnWorker } from "./support/kafka-pipeline.js";
import { sensorMessage } from "./support/readings.js";

const START = Date.UTC(2026, 10, 28, 12, 0, 0);
const STAGES = ["enrich", "alert", "aggregate"];
/** The consumer groups with members: fused, the alert stage reads no topic of its own. */
const groups = (p: KafkaPipeline) => (p.fused ? ["enrich", "aggregate"] : STAGES);
const CARS = 20;

describeKafka("scale-out: carwatch worker processes sharing Kafka partitions", () => {
  let broker: Broker;
  let dir: string;
  let p: KafkaPipeline | undefined;
  const children: Child[] = [];
  beforeAll(async () => {
    broker = await startBroker();
  }, 600_000);
  afterEach(async () => {
    for (const c of children.splice(0)) if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
    await p?.close();
    p = undefined;
    rmSync(dir, { recursive: true, force: true });
  });
  afterAll(async () => broker?.destroy());

  /** The test process seeds and generates; the stages run in worker processes on the same DATA_DIR. */
  async function setup(layout: { fused?: boolean; produceEnriched?: boolean } = {}) {
    dir = mkdtempSync(join(tmpdir(), "carwatch-scaleout-"));
    p = await createKafkaPipeline({ bootstrap: broker.bootstrap, prefix: randomPrefix(), dir, ...layout });
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    return p;
  }

  function worker(p: KafkaPipeline, name: string): Child {
    const c = spawnWorker(p, name, STAGES);
    children.push(c);
    return c;
  }

  /** Two workers running every stage, each with its share of the partitions. */
  async function twoWorkers(p: KafkaPipeline): Promise<[Child, Child]> {
    const w1 = worker(p, "worker-1");
    const w2 = worker(p, "worker-2");
    await Promise.all([w1.line((l) => l === "ready"), w2.line((l) => l === "ready")]);
    await groupsSettled(p.transport, groups(p), 2);
    return [w1, w2];
  }

  async function stop(c: Child): Promise<Record<string, { in: number; out: number; deadLetters: number }>> {
    c.proc.kill("SIGTERM");
    const final = await c.line((l) => l.startsWith("final "));
    expect(await c.exited).toBe(0);
    return JSON.parse(final.slice(6));
  }

  /**
   * An outside reader of samples-enriched (read committed, kafkajs' default). Fused, each round's readings and
   * offsets commit in one transaction, so a killed or revoked worker's uncommitted round is never seen; split, a
   * redelivered batch is produced again (at least once).
   */
  async function outsideReader(p: KafkaPipeline) {
    const seen: string[] = [];
    const tap = await p.transport.subscribe(ENRICHED, "outside", (batch) => void seen.push(...batch.map((m) => m.value.event_id)));
    return {
      async expectEach(valid: number) {
        await p.transport.whenCaughtUp([[ENRICHED, "outside"]]);
        await tap.stop();
        if (p.fused && !p.produceEnriched) return expect(seen).toHaveLength(0);
        expect(new Set(seen).size).toBe(valid);
        if (p.fused) expect(seen).toHaveLength(valid);
        else expect(seen.length).toBeGreaterThanOrEqual(valid);
      },
    };
  }

  function expectExact(p: KafkaPipeline, want: ReturnType<typeof expectedRows>) {
    expectExactRows(p.lakehouse, want);
    expect(p.lakehouse.integrityCheck()).toEqual(["dims: ok", "telemetry: ok"]);
  }

  it("two workers share the partitions and together process every event exactly once", async () => {
    const p = await setup();
    const drive = { n: 12_000, rate: 20, seed: 42, start: START };
    const want = expectedRows(drive);
    const [w1, w2] = await twoWorkers(p);

    await p.supervisor.start("generator", { rate: 0, clock: "virtual", startTime: START, virtualRate: drive.rate, seed: drive.seed, maxEvents: drive.n });
    await p.supervisor.waitFor("generator");
    await p.drained();
    const [t1, t2] = await Promise.all([stop(w1), stop(w2)]);

    expectExact(p, want);
    // Each worker took a share, and no reading was handled twice (no rebalance happened mid-stream).
    expect(t1.enrich!.in).toBeGreaterThan(0);
    expect(t2.enrich!.in).toBeGreaterThan(0);
    expect(t1.enrich!.in + t2.enrich!.in).toBe(drive.n);
    expect(t1.enrich!.deadLetters + t2.enrich!.deadLetters).toBe(drive.n - want.valid);
    expect(t1.alert!.in + t2.alert!.in).toBe(want.valid);
    // Windows were closed by whichever worker owned the progress marks' partition: one row each.
    expect(p.count("telemetry.alert_windows")).toBe(want.windows.size);
  });

  it("counts every late alert once, whichever worker wrote it and whichever closes the windows", async () => {
    const p = await setup();
    const [w1, w2] = await twoWorkers(p);
    // Every car, so every partition reports progress.
    const allCars = async (at: string, speed: number) => {
      const readings = Array.from({ length: 20 }, (_, i) => sensorMessage(i + 1, `2026-11-28T${at}Z`, speed));
      await p.transport.publish(SENSORS, readings);
      await p.drained();
    };
    await allCars("12:00:05.000", 80);
    await allCars("12:01:30.000", 80); // the watermark (10 s) passes 12:01: the 12:00 window closes
    expect(p.count("telemetry.alert_windows")).toBe(1);
    await allCars("12:00:30.000", 150); // 20 speeding readings for the closed window, spread over both workers
    await allCars("12:02:30.000", 80); // closes 12:01
    expect(p.count("telemetry.alerts", "rule = 'speeding'")).toBe(20);
    expect(p.lakehouse.selectSync("SELECT window_start, events, late_events FROM telemetry.alert_windows ORDER BY window_start")).toEqual([
      { window_start: "2026-11-28 12:00:00.000", events: 20, late_events: 0 },
      { window_start: "2026-11-28 12:01:00.000", events: 20, late_events: 20 },
    ]);
    const [t1, t2] = await Promise.all([stop(w1), stop(w2)]);
    expect(t1.alert!.in).toBeGreaterThan(0);
    expect(t2.alert!.in).toBeGreaterThan(0);
  });

  it.each([
    { layout: "fused", fused: true, produceEnriched: true },
    // Fused without samples-enriched, a round is no transaction: alert-data as the split alert stage sends it.
    { layout: "fused, no samples-enriched", fused: true, produceEnriched: false },
    { layout: "split", fused: false, produceEnriched: true },
  ])("kill -9 of a worker mid-stream, restart: nothing lost, nothing doubled, samples-enriched once ($layout)", async ({ fused, produceEnriched }) => {
    const p = await setup({ fused, produceEnriched });
    const drive = { n: 40_000, rate: 50, seed: 7, start: START };
    const want = expectedRows(drive);
    const [w1, w2] = await twoWorkers(p);
    const outside = await outsideReader(p);
    // Throttled, so readings keep arriving while the worker dies and its partitions move.
    await p.supervisor.start("generator", { rate: 5000, clock: "virtual", startTime: START, virtualRate: drive.rate, seed: drive.seed, maxEvents: drive.n });
    await w1.line((l) => l.startsWith("progress ") && Number(l.split(" ")[1]) >= 4000);
    w1.proc.kill("SIGKILL");
    await w1.exited;
    const w3 = worker(p, "worker-1b");
    await w3.line((l) => l === "ready");
    await p.supervisor.waitFor("generator");
    expect(p.supervisor.status("generator").counters.out).toBe(drive.n);
    await p.drained(120_000);
    const [t2, t3] = await Promise.all([stop(w2), stop(w3)]);
    expect(t2.enrich!.in + t3.enrich!.in).toBeGreaterThan(0);
    expectExact(p, want);
    await outside.expectEach(want.valid);
  });

  it.each([
    { layout: "fused", fused: true },
    { layout: "split", fused: false },
  ])("a rebalance mid-stream (a worker joins, then the first leaves): nothing lost, nothing doubled, samples-enriched once ($layout)", async ({ fused }) => {
    const p = await setup({ fused });
    const drive = { n: 40_000, rate: 50, seed: 11, start: START };
    const want = expectedRows(drive);
    const w1 = worker(p, "worker-1");
    await w1.line((l) => l === "ready");
    await groupsSettled(p.transport, groups(p), 1);
    const outside = await outsideReader(p);

    // Slower than the kill test's: the stream must outlast a worker's start and two rebalances.
    await p.supervisor.start("generator", { rate: 2500, clock: "virtual", startTime: START, virtualRate: drive.rate, seed: drive.seed, maxEvents: drive.n });
    await w1.line((l) => l.startsWith("progress ") && Number(l.split(" ")[1]) >= 4000);
    // Partitions move to the newcomer while worker-1 has rounds in hand; then back when worker-1 leaves.
    const w2 = worker(p, "worker-2");
    await w2.line((l) => l === "ready");
    await groupsSettled(p.transport, groups(p), 2);
    await w2.line((l) => l.startsWith("progress ") && Number(l.split(" ")[1]) >= 1000);
    // worker-1 leaves while the generator still sends: worker-2 takes its partitions mid-stream.
    expect(p.supervisor.status("generator").counters.out).toBeLessThan(drive.n);
    const t1 = await stop(w1);
    await p.supervisor.waitFor("generator");
    await p.drained(120_000);
    const t2 = await stop(w2);
    // A graceful handover commits what was handled: a reading may be read twice only within a round that had not.
    expect(t1.enrich!.in + t2.enrich!.in).toBeGreaterThanOrEqual(drive.n);
    expectExact(p, want);
    await outside.expectEach(want.valid);
  });

  it("a sustained rule keeps its run when a worker dies (kill -9) and its cars' partitions move to the other", async () => {
    const p = await setup();
    const rules = new RuleTable(p.state);
    const rule = rules.create(
      {
        name: "held_fast",
        condition: { kind: "threshold", field: "speed", op: ">", value: 100, for_seconds: 10 },
        scope: {},
        severity: "high",
        clear_seconds: 60,
      },
      "test",
    );
    const w1 = worker(p, "worker-1");
    const w2 = worker(p, "worker-2");
    await Promise.all([w1.line((l) => l === "ready"), w2.line((l) => l === "ready")]);
    await groupsSettled(p.transport, groups(p), 2);
    // Every car over the limit at 0 s and 5 s: each run is 5 s old when worker-1 dies.
    const cars = async (second: number, speed: number) => {
      const at = new Date(Date.UTC(2026, 10, 28, 12, 0, second)).toISOString();
      await p.transport.publish(
        SENSORS,
        Array.from({ length: CARS }, (_, i) => sensorMessage(i + 1, at, speed)),
      );
      await p.drained();
    };
    await cars(0, 105);
    await cars(5, 106);
    w1.proc.kill("SIGKILL");
    await w1.exited;
    await groupsSettled(p.transport, groups(p), 1);
    // Held for 10 s at 10 s: every car fires, whichever worker held its run before; and again at 12 s.
    await cars(10, 107);
    await cars(12, 108);
    const fired = p.lakehouse.selectSync<{ car_id: number; first: string; n: number }>(
      "SELECT car_id, min(event_time) AS first, count(*) AS n FROM telemetry.alerts WHERE rule_id = ? GROUP BY car_id ORDER BY car_id",
      [rule.id],
    );
    expect(fired).toEqual(Array.from({ length: CARS }, (_, i) => ({ car_id: i + 1, first: "2026-11-28 12:00:10.000", n: 2 })));
    // One incident per car, open (not clear for a minute yet).
    expect(p.count("telemetry.incidents", `rule_id = '${rule.id}' AND resolved_at IS NULL`)).toBe(CARS);
  });
});
