import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, startApp } from "../app.js";
import { loadConfig } from "../core/config.js";
import { silentLogger } from "../core/log.js";
import type { MemoryTransport } from "../pipeline/transport/memory.js";
import { SENSORS } from "../pipeline/transport/topics.js";

const dir = mkdtempSync(join(tmpdir(), "carwatch-http-"));
let app: App;

beforeAll(async () => {
  const config = loadConfig(
    { DATA_DIR: dir, HTTP_PORT: "0", CARWATCH_ROLES: "http,enrich,alert,aggregate", LOG_LEVEL: "silent", EVENT_MAX_AGE_DAYS: "3650" },
    "/nonexistent",
  );
  app = await startApp(config, silentLogger);
  await app.supervisor.start("seed");
  await app.supervisor.waitFor("seed");
});
afterAll(async () => {
  await app?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const reading = (i: number, o: Record<string, unknown>) =>
  JSON.stringify({
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    event_time: new Date(Date.UTC(2026, 10, 28, 12, 0, i)).toISOString(),
    car_id: 1,
    speed: 50,
    rpm: 2381,
    gear: 3,
    ...o,
  });

describe("HTTP: /metrics and /healthz", () => {
  it("exposes the counters a known run produced", async () => {
    const messages = [
      reading(1, {}),
      reading(2, { speed: 150, gear: 6, rpm: 3409 }), // speeding
      reading(3, { speed: 151, gear: 6, rpm: 3432 }), // same incident
      reading(4, { rpm: 6500 }), // high_rpm
      reading(5, { gear: 1, rpm: 6250 }), // wrong_gear, and high_rpm again: the same high_rpm incident grows
      "{broken",
      reading(6, { car_id: 999 }),
    ];
    await (app.deps.transport as MemoryTransport).publish(
      SENSORS,
      messages.map((value) => ({ key: "1", value })),
    );
    await (app.deps.transport as MemoryTransport).whenIdle();
    const text = await (await fetch(`${app.url}/metrics`)).text();
    expect(text).toContain('carwatch_stage_events_in_total{stage="enrich"} 7');
    expect(text).toContain('carwatch_stage_events_out_total{stage="enrich"} 5');
    expect(text).toContain('carwatch_stage_dead_letters_total{stage="enrich"} 2');
    expect(text).toContain('carwatch_stage_events_in_total{stage="alert"} 5');
    expect(text).toContain('carwatch_alerts_total{rule="speeding"} 2');
    expect(text).toContain('carwatch_alerts_total{rule="high_rpm"} 2');
    expect(text).toContain('carwatch_alerts_total{rule="wrong_gear"} 1');
    expect(text).toContain('carwatch_incidents_total{rule="speeding"} 1');
    expect(text).toContain('carwatch_incidents_total{rule="high_rpm"} 1');
    expect(text).toContain('carwatch_stage_queue_depth{stage="alert"} 0');
    expect(text).toMatch(/carwatch_stage_batch_seconds_count\{stage="alert"\} [1-9]/);
    expect(text).toContain("process_resident_memory_bytes");
  });

  it("answers 200 while the stages run and 503 naming the part that is down", async () => {
    const ok = await fetch(`${app.url}/healthz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toMatchObject({ status: "ok", parts: { store: { ok: true }, "stage:enrich": { ok: true, detail: "running" } } });
    await app.supervisor.stop("enrich");
    const down = await fetch(`${app.url}/healthz`);
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: "down", parts: { "stage:enrich": { ok: false, detail: "stopped" }, "stage:alert": { ok: true } } });
  });
});
