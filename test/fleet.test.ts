import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { DimsCache } from "../pipeline/stages/dims-cache.js";
import type { MemoryTransport } from "../pipeline/transport/memory.js";
import { SENSORS } from "../pipeline/transport/topics.js";
import { parseFleet } from "../tools/fleet.js";
import { CONSOLE_USER_ID } from "../tools/roles.js";
import { appForTests } from "./support/app.js";

const ADMIN = "admin-token-for-the-fleet-tests";
const operator = { userId: CONSOLE_USER_ID, chatId: null, via: "console" as const };
const t = appForTests({ CARWATCH_ROLES: "bot,http,enrich,alert,aggregate", CARWATCH_ADMIN_TOKEN: ADMIN });

const CSV = [
  "car_id,brand,model,color,driver_id,name,plate",
  "1001,Ford,Transit,White,501,Van 1,AB-123",
  "1002,Ford,Transit,Orange,502,,",
  "1003,Kia,Rio,Red,503,Rio 3,",
].join("\n");
const BAD = [CSV, "x,Ford,Transit,White,1", "1004,Ford,,White,5", "1005,Ford,Transit,White"].join("\n");
const count = async (sql: string) => Number((await t.app.deps.lakehouse.select<{ n: number }>(sql))[0]!.n);
const send = async (car: number) => {
  const value = JSON.stringify({ event_id: randomUUID(), event_time: new Date(Date.now() - 1000).toISOString(), car_id: car, speed: 50, rpm: 2381, gear: 3 });
  await t.app.deps.transport.publish(SENSORS, [{ key: String(car), value }]);
  await (t.app.deps.transport as MemoryTransport).whenIdle();
};

describe("the fleet registry", () => {
  it("names each bad row by its line and keeps the good ones", () => {
    const { rows, errors } = parseFleet(BAD, "csv");
    expect(rows.map((r) => r.car_id)).toEqual([1001, 1002, 1003]);
    expect(errors).toEqual([
      { line: 5, reason: "car_id: Invalid input: expected number, received NaN" },
      { line: 6, reason: "model: Invalid input: expected string, received undefined" },
      { line: 7, reason: "driver_id: Invalid input: expected number, received NaN" },
    ]);
  });

  it("previews, refuses a file with bad rows unless told to apply the good ones, creates models and colors, and enriches a car added a moment ago", async () => {
    const preview = await t.app.registry.call("preview_fleet_import", { content: BAD }, operator);
    expect({ ...preview, errors: preview.errors.map((e) => e.line) }).toEqual({
      rows: 3,
      newCars: 3,
      changedCars: 0,
      unchangedCars: 0,
      newModels: ["Ford Transit"],
      newColors: ["Orange"],
      errors: [5, 6, 7],
    });
    await expect(t.app.registry.call("import_fleet", { content: BAD }, operator, { confirmed: true })).rejects.toThrow(
      "3 rows have errors (first: line 5, car_id: Invalid input: expected number, received NaN); nothing was applied. Fix them, or apply the 3 good rows (applyGoodRows).",
    );
    expect(await count("SELECT count(*) AS n FROM dims.cars WHERE origin = 'fleet'")).toBe(0);
    // Another process's cache, which hears no in-process notice: it sees the import through the fleet's version.
    const elsewhere = new DimsCache(t.app.deps.lakehouse);
    await elsewhere.load();
    await send(1001);
    expect(await count("SELECT count(*) AS n FROM telemetry.dead_letters WHERE reason = 'unknown_car'")).toBe(1);
    await t.app.registry.call("import_fleet", { content: BAD, applyGoodRows: true }, operator, { confirmed: true });
    await send(1001);
    expect(await count("SELECT count(*) AS n FROM telemetry.cars_enriched WHERE car_id = 1001 AND model_name = 'Transit' AND brand_name = 'Ford'")).toBe(1);
    expect(await t.app.registry.call("get_car", { carId: 1002 }, operator)).toMatchObject({
      car_id: 1002,
      brand: "Ford",
      model: "Transit",
      color: "Orange",
      driver_id: 502,
      name: null,
      origin: "fleet",
      retired_at: null,
    });
    await elsewhere.refreshIfNeeded(true);
    expect(elsewhere.get(1003)).toEqual({ driver_id: 503, brand_name: "Kia", model_name: "Rio", color_name: "Red" });
    // The same file again changes nothing; the seed stage adds no invented car once a fleet is imported.
    expect(await t.app.registry.call("preview_fleet_import", { content: CSV }, operator)).toMatchObject({ newCars: 0, changedCars: 0, unchangedCars: 3 });
    const before = await count("SELECT count(*) AS n FROM dims.cars");
    await t.app.supervisor.start("seed", { cars: 80 });
    await t.app.supervisor.waitFor("seed");
    expect(await count("SELECT count(*) AS n FROM dims.cars")).toBe(before);
  });

  it("retires a car after a confirmation: its readings are refused from then on", async () => {
    await t.app.registry.call("upsert_cars", { cars: [{ car_id: 1010, brand: "Kia", model: "Rio", color: "Red", driver_id: 9 }] }, operator);
    await expect(t.app.registry.call("retire_car", { carId: 1010 }, operator)).rejects.toThrow(
      "retire_car changes the running system and needs a confirmation",
    );
    await t.app.registry.call("retire_car", { carId: 1010 }, operator, { confirmed: true });
    const dead = await count("SELECT count(*) AS n FROM telemetry.dead_letters WHERE reason = 'unknown_car'");
    await send(1010);
    expect(await count("SELECT count(*) AS n FROM telemetry.dead_letters WHERE reason = 'unknown_car'")).toBe(dead + 1);
    expect((await t.app.registry.call("list_cars", { status: "retired" }, operator)).map((c) => c.car_id)).toEqual([1010]);
  });

  it("imports over HTTP with PUT /api/v1/fleet (422 with the bad rows) and lists with GET", async () => {
    const put = (body: string, query = "") =>
      fetch(`${t.app.url}/api/v1/fleet${query}`, { method: "PUT", headers: { authorization: `Bearer ${ADMIN}`, "content-type": "text/csv" }, body });
    const bad = await put(`${CSV}\n2001,Ford,Transit,White,x`);
    expect(bad.status).toBe(422);
    expect(((await bad.json()) as { preview: { errors: unknown[] } }).preview.errors).toEqual([
      { line: 5, reason: "driver_id: Invalid input: expected number, received NaN" },
    ]);
    const good = await put(`${CSV}\n2001,Ford,Transit,White,7`);
    expect(((await good.json()) as { result: { newCars: number } }).result.newCars).toBe(1);
    const list = (await (await fetch(`${t.app.url}/api/v1/fleet`, { headers: { authorization: `Bearer ${ADMIN}` } })).json()) as {
      result: { car_id: number }[];
    };
    expect(list.result.map((c) => c.car_id)).toContain(2001);
  });

  it("imports from chat: /fleet import with the CSV below it shows the preview, the Confirm button applies it", async () => {
    const chat = t.app.console!;
    await chat.say(`/fleet import\n${["car_id,brand,model,color,driver_id", "3001,Mazda,3,Black,1", "3002,Mazda,3,Black,2"].join("\n")}`);
    await chat.idle();
    const prompt = chat.chat.snapshot().messages.at(-1)!;
    const text = JSON.stringify(prompt.nodes);
    expect(text).toContain("2 cars");
    expect(text).toContain("2 new, 0 changed, 0 unchanged");
    const yes = prompt.buttons.flat().find((b) => /confirm|yes/i.test(b.text))!;
    await chat.press(prompt.id, yes.data!);
    await chat.idle();
    expect(JSON.stringify(chat.chat.snapshot().messages.at(-1)!.nodes)).toContain("Imported.");
    expect(await count("SELECT count(*) AS n FROM dims.cars WHERE car_id IN (3001, 3002) AND origin = 'fleet'")).toBe(2);
  });

  it("imports from a file sent in the console (POST /console/upload with the caption /fleet import)", async () => {
    const chat = t.app.console!;
    const csv = ["car_id,brand,model,color,driver_id", "4001,Scania,R500,Gray,41"].join("\n");
    const r = await fetch(`${t.app.url}/console/upload`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ name: "fleet.csv", mime: "text/csv", caption: "/fleet import", content: Buffer.from(csv).toString("base64") }),
    });
    expect(r.status).toBe(202);
    await chat.idle();
    const [upload, prompt] = chat.chat.snapshot().messages.slice(-2);
    expect(upload).toMatchObject({ from: "user", document: { name: "fleet.csv", size: csv.length } });
    expect(JSON.stringify(prompt!.nodes)).toContain("1 new, 0 changed, 0 unchanged");
    await chat.press(prompt!.id, prompt!.buttons.flat().find((b) => /confirm|yes/i.test(b.text))!.data!);
    await chat.idle();
    expect(await count("SELECT count(*) AS n FROM dims.cars WHERE car_id = 4001 AND origin = 'fleet'")).toBe(1);
  });
});
