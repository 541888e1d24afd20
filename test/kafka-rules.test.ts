import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { SENSORS } from "../pipeline/transport/topics.js";
import { RuleTable } from "../state/rules.js";
import type { Child } from "./support/child.js";
import { type Broker, describeKafka, randomPrefix, startBroker } from "./support/kafka.js";
import { createKafkaPipeline, groupsSettled, type KafkaPipeline, spawnWorker } from "./support/kafka-pipeline.js";
import { sensorMessage } from "./support/readings.js";

const STAGES = ["enrich", "alert", "aggregate"];
const CARS = 20;

describeKafka("rules with per-car state across Kafka partitions", () => {
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

  it("a sustained rule keeps its run when a worker dies (kill -9) and its cars' partitions move to the other", async () => {
    dir = mkdtempSync(join(tmpdir(), "carwatch-kafka-rules-"));
    p = await createKafkaPipeline({ bootstrap: broker.bootstrap, prefix: randomPrefix(), dir });
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
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
    const spawn = (name: string) => {
      const c = spawnWorker(p!, name, STAGES);
      children.push(c);
      return c;
    };
    const w1 = spawn("worker-1");
    const w2 = spawn("worker-2");
    await Promise.all([w1.line((l) => l === "ready"), w2.line((l) => l === "ready")]);
    await groupsSettled(p.transport, STAGES, 2);
    // Every car over the limit at 0 s and 5 s: each run is 5 s old when worker-1 dies.
    const allCars = async (second: number, speed: number) => {
      const at = new Date(Date.UTC(2026, 10, 28, 12, 0, second)).toISOString();
      await p!.transport.publish(
        SENSORS,
        Array.from({ length: CARS }, (_, i) => sensorMessage(i + 1, at, speed)),
      );
      await p!.drained();
    };
    await allCars(0, 105);
    await allCars(5, 106);
    w1.proc.kill("SIGKILL");
    await w1.exited;
    await groupsSettled(p.transport, STAGES, 1);
    // Held for 10 s at 10 s: every car fires, whichever worker held its run before; and again at 12 s.
    await allCars(10, 107);
    await allCars(12, 108);
    const fired = p.lakehouse.selectSync<{ car_id: number; first: string; n: number }>(
      "SELECT car_id, min(event_time) AS first, count(*) AS n FROM telemetry.alerts WHERE rule_id = ? GROUP BY car_id ORDER BY car_id",
      [rule.id],
    );
    expect(fired).toEqual(Array.from({ length: CARS }, (_, i) => ({ car_id: i + 1, first: "2026-11-28 12:00:10.000", n: 2 })));
    // One incident per car, open (not clear for a minute yet).
    expect(p.count("telemetry.incidents", `rule_id = '${rule.id}' AND resolved_at IS NULL`)).toBe(CARS);
  });
});
