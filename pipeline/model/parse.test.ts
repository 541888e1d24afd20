import { describe, expect, it } from "vitest";
import { DEAD_LETTER_PAYLOAD_CHARS, enrichedEventSchema, storedPayload } from "../../domain/events.js";
import { parseSensorMessage } from "./parse.js";

const good = { event_id: "6f1c2a4e-9b1d-4c3e-8f00-123456789abc", event_time: "2026-11-28T12:00:00.000Z", car_id: 3, speed: 88.5, rpm: 2500, gear: 5 };
const reason = (raw: string) => {
  const r = parseSensorMessage(raw);
  return r.ok ? "ok" : r.reason;
};

describe("parseSensorMessage", () => {
  it("accepts a well-formed reading and converts its time", () => {
    const r = parseSensorMessage(JSON.stringify(good));
    expect(r).toEqual({ ok: true, event: { ...good, event_time: Date.parse(good.event_time) } });
  });

  it.each([
    ["truncated JSON", JSON.stringify(good).slice(0, 20), "malformed_json"],
    ["an array", "[1,2]", "malformed_json"],
    ["null", "null", "malformed_json"],
    ["no car_id", JSON.stringify({ ...good, car_id: undefined }), "missing_field"],
    ["no event_time", JSON.stringify({ ...good, event_time: undefined }), "missing_field"],
    ["a text speed", JSON.stringify({ ...good, speed: "fast" }), "invalid_value"],
    ["a bad uuid", JSON.stringify({ ...good, event_id: "x" }), "invalid_value"],
    ["a bad time", JSON.stringify({ ...good, event_time: "yesterday" }), "invalid_value"],
    ["rpm 99999", JSON.stringify({ ...good, rpm: 99999 }), "out_of_range"],
    ["negative speed", JSON.stringify({ ...good, speed: -1 }), "out_of_range"],
    ["gear 9", JSON.stringify({ ...good, gear: 9 }), "out_of_range"],
  ])("refuses %s as %s", (_name, raw, expected) => {
    expect(reason(raw)).toBe(expected);
  });

  const bounds = { maxFutureMs: 120_000, maxAgeMs: 7 * 86_400_000 };
  const now = Date.parse(good.event_time);
  const at = (iso: string) => parseSensorMessage(JSON.stringify({ ...good, event_time: iso }), bounds, now);

  it("bounds event times to the server's clock at intake, each side with its own reason", () => {
    expect(at("2026-11-28T12:02:00.000Z").ok).toBe(true); // exactly the allowed skew
    expect(at("2026-11-28T12:02:00.001Z")).toEqual({
      ok: false,
      reason: "event_time_future",
      detail: "event_time 2026-11-28T12:02:00.001Z is 120 s ahead of the server's clock (at most 120 s)",
    });
    expect(at("2026-11-29T12:00:00.000Z")).toMatchObject({ ok: false, reason: "event_time_future" });
    expect(at("2026-11-21T12:00:00.000Z").ok).toBe(true);
    expect(at("2026-11-21T11:59:59.999Z")).toEqual({
      ok: false,
      reason: "event_time_past",
      detail: "event_time 2026-11-21T11:59:59.999Z is older than 7 days",
    });
  });

  it.each(["0000-01-01T00:00:00Z", "1969-12-31T23:59:59Z", "9999-12-31T23:59:59Z"])(
    "refuses %s in every schema alike, bounds or not (never a raw row without its enriched one)",
    (iso) => {
      const r = parseSensorMessage(JSON.stringify({ ...good, event_time: iso }));
      expect(r).toMatchObject({ ok: false, reason: "out_of_range" });
      const ms = Date.parse(iso);
      expect(enrichedEventSchema.shape.event_time.safeParse(ms).success).toBe(false);
    },
  );

  it("keeps at most 4096 characters of a refused message, saying how long it was", () => {
    expect(storedPayload("x".repeat(DEAD_LETTER_PAYLOAD_CHARS))).toHaveLength(DEAD_LETTER_PAYLOAD_CHARS);
    expect(storedPayload("y".repeat(100_000))).toBe(`${"y".repeat(4096)}… [100000 characters in all]`);
  });
});
