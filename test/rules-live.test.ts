import { afterEach, describe, expect, it } from "vitest";
import type { AlertMessage } from "../domain/events.js";
import { incidentId } from "../domain/incident-id.js";
import type { RuleSpec } from "../domain/rule-spec.js";
import { ALERTS, SENSORS } from "../pipeline/transport/topics.js";
import { OpsState } from "../state/ops-state.js";
import { RuleTable } from "../state/rules.js";
import { createPipeline, type TestPipeline } from "./support/pipeline.js";
import { sensorMessage } from "./support/readings.js";

let p: TestPipeline;
afterEach(async () => p?.close());

const at = (s: number) => new Date(Date.UTC(2026, 10, 28, 12, 0, 0) + s * 1000).toISOString();
const spec = (name: string, condition: RuleSpec["condition"], more: Partial<RuleSpec> = {}): RuleSpec => ({
  name,
  condition,
  scope: {},
  severity: "medium",
  clear_seconds: 60,
  ...more,
});

async function pipeline() {
  p = await createPipeline();
  await p.supervisor.start("seed");
  await p.supervisor.waitFor("seed");
  for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
  return { rules: new RuleTable(p.state) };
}

/** Readings of one car, [second, speed], sent as one batch and processed. */
async function drive(car: number, readings: [number, number][]) {
  await p.transport.publish(
    SENSORS,
    readings.map(([s, speed]) => sensorMessage(car, at(s), speed)),
  );
  await p.transport.whenIdle();
}

const alertsOf = (rule: string) =>
  p.lakehouse.selectSync<{ value: number; rule_version: number; event_time: string }>(
    "SELECT value, rule_version, event_time FROM telemetry.alerts WHERE rule = ? ORDER BY event_time",
    [rule],
  );

describe("rules as data in the live pipeline", () => {
  it("seeds the first wave's rules, which fire as the fixed ones did, with id and version on every alert", async () => {
    const { rules } = await pipeline();
    expect(rules.list().map((r) => [r.id, r.name, r.enabled, r.severity, r.clear_seconds])).toEqual([
      ["speeding", "speeding", true, "medium", 60],
      ["high_rpm", "high_rpm", true, "medium", 60],
      ["wrong_gear", "wrong_gear", true, "low", 60],
      // The detectors beyond thresholds, for an operator to turn on.
      ["harsh_braking", "harsh_braking", false, "medium", 60],
      ["stuck_sensor", "stuck_sensor", false, "low", 60],
      ["went_quiet", "went_quiet", false, "medium", 60],
      ["rpm_baseline", "rpm_baseline", false, "low", 60],
    ]);
    await drive(3, [
      [0, 120],
      [1, 120.5],
    ]);
    expect(p.lakehouse.selectSync("SELECT rule, rule_id, rule_version, severity, value, threshold FROM telemetry.alerts")).toEqual([
      { rule: "speeding", rule_id: "speeding", rule_version: 1, severity: "medium", value: 120.5, threshold: 120 },
    ]);
  });

  it("takes a rule changed mid-stream at the next batch: exact alerts before and after, each with the version that fired it", async () => {
    const { rules } = await pipeline();
    rules.create(spec("fast", { kind: "threshold", field: "speed", op: ">", value: 100 }), "test");
    await drive(3, [
      [0, 90],
      [1, 105],
      [2, 110],
      [3, 95],
    ]);
    rules.update("fast", spec("fast", { kind: "threshold", field: "speed", op: ">=", value: 109 }), "test");
    await drive(3, [
      [4, 105],
      [5, 109],
      [6, 112],
    ]);
    rules.setEnabled("fast", false, "test");
    await drive(3, [[7, 115]]);
    expect(alertsOf("fast").map((a) => [a.value, a.rule_version])).toEqual([
      [105, 1],
      [110, 1],
      [109, 2],
      [112, 2],
    ]);
  });

  it("fires a sustained rule once the condition held for its duration, skips an out-of-order reading, and keeps its state across a restart", async () => {
    const { rules } = await pipeline();
    rules.create(spec("sustained", { kind: "threshold", field: "speed", op: ">", value: 100, for_seconds: 10 }), "test");
    await drive(4, [
      [0, 101],
      [5, 102],
    ]);
    // The alert stage restarts: the state (held since 0 s) comes back from telemetry.rule_state.
    await p.supervisor.stop("alert");
    await p.supervisor.start("alert");
    await drive(4, [
      [10, 103],
      // Out of order: older than what the rule has folded in, so it neither fires nor breaks the run.
      [7, 50],
      [12, 104],
      // Broken: the next one starts a new run.
      [13, 90],
      [14, 105],
    ]);
    expect(alertsOf("sustained").map((a) => a.value)).toEqual([103, 104]);
    expect(p.lakehouse.selectSync("SELECT rule_id, car_id FROM telemetry.rule_state")).toEqual([{ rule_id: rules.get("sustained")!.id, car_id: 4 }]);
  });

  it("resolves an incident once its rule has been clear for the clear time on the watermark, and says so on alert-data", async () => {
    const { rules } = await pipeline();
    rules.create(spec("quick", { kind: "threshold", field: "speed", op: ">", value: 100 }, { clear_seconds: 20 }), "test");
    const seen: AlertMessage[] = [];
    const sub = await p.transport.subscribe(ALERTS, `t-${Math.random()}`, (batch) => void seen.push(...batch.map((m) => m.value)), { from: "latest" });
    await drive(5, [
      [0, 110],
      [10, 130],
    ]);
    // The watermark (newest − 10 s) reaches 10 + 20 s only with a reading at 40 s.
    await drive(5, [[39, 80]]);
    const open = p.lakehouse.selectSync<{ resolved_at: string | null }>("SELECT resolved_at FROM telemetry.incidents WHERE rule = 'quick'");
    expect(open).toEqual([{ resolved_at: null }]);
    await drive(5, [[40, 80]]);
    await sub.stop();
    const [row] = p.lakehouse.selectSync(
      "SELECT incident_id, started_at, ended_at, peak_value, event_count, resolved_at, severity FROM telemetry.incidents WHERE rule = 'quick'",
    );
    expect(row).toMatchObject({
      started_at: "2026-11-28 12:00:00.000",
      ended_at: "2026-11-28 12:00:10.000",
      peak_value: 130,
      event_count: 2,
      resolved_at: "2026-11-28 12:00:30.000",
      severity: "medium",
    });
    const resolved = seen.filter((m) => m.kind === "resolved");
    expect(resolved).toHaveLength(1);
    expect(resolved[0]).toMatchObject({
      incident: { incident_id: (row as { incident_id: string }).incident_id, resolved_at: Date.parse(at(30)), event_count: 2 },
    });
    // After it resolved, a new firing opens a new incident.
    await drive(5, [[41, 111]]);
    expect(p.count("telemetry.incidents", "rule = 'quick'")).toBe(2);
  });

  it("fires harsh braking and silence from the live stream", async () => {
    const { rules } = await pipeline();
    rules.create(spec("brake", { kind: "harsh_braking", kmh_per_s: 15 }), "test");
    rules.create(spec("quiet", { kind: "silence", minutes: 1 }), "test");
    // 80 → 60 km/h in 1 s is 20 km/h/s; 60 → 50 in 1 s is not harsh.
    await drive(6, [
      [0, 80],
      [1, 60],
      [2, 50],
    ]);
    // Car 7 keeps the watermark moving; car 6 last moved at 2 s, silent for a minute at 62 s: watermark (newest − 10 s) reaches it at 72 s.
    await drive(7, [[71, 40]]);
    expect(alertsOf("quiet")).toEqual([]);
    await drive(7, [[72, 40]]);
    expect(alertsOf("brake").map((a) => [a.value, a.event_time])).toEqual([[20, "2026-11-28 12:00:01.000"]]);
    expect(p.lakehouse.selectSync("SELECT car_id, value, threshold, event_time FROM telemetry.alerts WHERE rule = 'quiet'")).toEqual([
      { car_id: 6, value: 1, threshold: 1, event_time: "2026-11-28 12:01:02.000" },
    ]);
  });

  it("converts the first wave's incident ids at start, in incidents, alerts and acknowledgements", async () => {
    p = await createPipeline();
    const event = "6f1c2a4e-9b1d-4c3e-8f00-000000000001";
    const later = "6f1c2a4e-9b1d-4c3e-8f00-000000000002";
    const t0 = Date.UTC(2026, 10, 28, 12, 0, 0);
    await p.lakehouse.write([
      {
        table: "incidents",
        rows: [
          {
            incident_id: "6f1c2a4es",
            car_id: 3,
            rule: "speeding",
            started_at: t0,
            ended_at: t0 + 1000,
            peak_value: 130,
            event_count: 2,
            color_name: "Red",
            model_name: "Rio",
          },
        ],
      },
      {
        table: "alerts",
        rows: [event, later].map((id, i) => ({
          event_id: id,
          rule: "speeding",
          event_time: t0 + i * 1000,
          car_id: 3,
          color_name: "Red",
          model_name: "Rio",
          value: 130,
          threshold: 120,
          speed: 130,
          rpm: 2500,
          gear: 5,
          incident_id: "6f1c2a4es",
        })),
      },
    ]);
    const ops = new OpsState(p.state);
    ops.ack("6f1c2a4es", 7, t0);
    await p.supervisor.start("alert");
    const want = incidentId(event, "speeding");
    expect(p.lakehouse.selectSync("SELECT incident_id FROM telemetry.incidents")).toEqual([{ incident_id: want }]);
    expect(p.lakehouse.selectSync("SELECT DISTINCT incident_id FROM telemetry.alerts")).toEqual([{ incident_id: want }]);
    expect([...ops.acks([want]).keys()]).toEqual([want]);
    // A second start finds nothing to convert.
    await p.supervisor.stop("alert");
    await p.supervisor.start("alert");
    expect(p.lakehouse.selectSync("SELECT incident_id FROM telemetry.incidents")).toEqual([{ incident_id: want }]);
  });
});
