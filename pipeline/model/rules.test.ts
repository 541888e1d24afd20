import { describe, expect, it } from "vitest";
import type { EnrichedEvent } from "../../domain/events.js";
import { RuleEngine } from "../rules/engine.js";
import { ruleRow } from "../rules/simulated.js";
import { firstWaveRules, type RuleThresholds } from "./rules.js";

const base: EnrichedEvent = {
  event_id: "00000000-0000-4000-8000-000000000000",
  event_time: 0,
  car_id: 1,
  speed: 50,
  rpm: 2400,
  gear: 3,
  expected_gear: 3,
  driver_id: 1,
  brand_name: "Kia",
  model_name: "Rio",
  color_name: "Red",
};
const t = { speedLimit: 120, rpmLimit: 6000 };
// The seeded rules, through the engine as the alert stage runs them.
const evaluateRules = (e: EnrichedEvent, th: RuleThresholds) =>
  new RuleEngine(firstWaveRules(th, 60).map((spec) => ruleRow(spec.name, spec)))
    .evaluate(e)
    .map((f) => ({ rule: f.rule, value: f.value, threshold: f.threshold }));
const rules = (e: Partial<EnrichedEvent>, th = t) => evaluateRules({ ...base, ...e }, th).map((h) => h.rule);

describe("the seeded first-wave rules", () => {
  it.each([
    [119.9, []],
    [120, []],
    [120.01, ["speeding"]],
    [180, ["speeding"]],
  ])("speed %d fires %j", (speed, expected) => {
    expect(rules({ speed, gear: 6, expected_gear: 6 })).toEqual(expected);
  });

  it.each([
    [5999, []],
    [6000, []],
    [6001, ["high_rpm"]],
  ])("rpm %d fires %j", (rpm, expected) => {
    expect(rules({ rpm })).toEqual(expected);
  });

  it.each([
    [2, ["wrong_gear"]],
    [3, []],
    [4, ["wrong_gear"]],
  ])("gear %d with 3 expected fires %j", (gear, expected) => {
    expect(rules({ gear })).toEqual(expected);
  });

  it("reports value and threshold, and honours configured thresholds", () => {
    expect(evaluateRules({ ...base, speed: 101, rpm: 6500, gear: 2, expected_gear: 5 }, { speedLimit: 100, rpmLimit: 6400 })).toEqual([
      { rule: "speeding", value: 101, threshold: 100 },
      { rule: "high_rpm", value: 6500, threshold: 6400 },
      { rule: "wrong_gear", value: 2, threshold: 5 },
    ]);
    expect(rules({ speed: 111 }, { speedLimit: 110, rpmLimit: 6000 })).toEqual(["speeding"]);
    expect(rules({ speed: 111 })).toEqual([]);
  });
});
