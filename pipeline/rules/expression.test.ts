import { describe, expect, it } from "vitest";
import { InputError } from "../../core/errors.js";
import { formatRuleExpression, parseRuleExpression } from "./expression.js";

const defaults = { scope: {}, severity: "medium", clear_seconds: 60 };

describe("parseRuleExpression", () => {
  // [input, condition, normalised form]
  const kinds: [string, object, string][] = [
    ["speed > 140", { kind: "threshold", field: "speed", op: ">", value: 140 }, "speed > 140"],
    ["SPEED above 140 km/h for 10 sec", { kind: "threshold", field: "speed", op: ">", value: 140, for_seconds: 10 }, "speed > 140 for 10s"],
    ["rpm>=6500 for 5 minutes", { kind: "threshold", field: "rpm", op: ">=", value: 6500, for_seconds: 300 }, "rpm >= 6500 for 5m"],
    ["gear < 2 for 1h", { kind: "threshold", field: "gear", op: "<", value: 2, for_seconds: 3600 }, "gear < 2 for 1h"],
    ["gear at most -1.5 for 90 seconds", { kind: "threshold", field: "gear", op: "<=", value: -1.5, for_seconds: 90 }, "gear <= -1.5 for 90s"],
    ["wrong gear", { kind: "wrong_gear", tolerance: 0 }, "wrong gear"],
    ["Wrong_Gear tolerance 1", { kind: "wrong_gear", tolerance: 1 }, "wrong gear tolerance 1"],
    ["wrong gear tolerance 0", { kind: "wrong_gear", tolerance: 0 }, "wrong gear"],
    ["harsh braking > 25 km/h/s", { kind: "harsh_braking", kmh_per_s: 25 }, "harsh braking > 25 km/h/s"],
    ["hard brake 30", { kind: "harsh_braking", kmh_per_s: 30 }, "harsh braking > 30 km/h/s"],
    ["harsh acceleration > 15", { kind: "harsh_acceleration", kmh_per_s: 15 }, "harsh acceleration > 15 km/h/s"],
    ["harsh accel over 12.5 kmh/s", { kind: "harsh_acceleration", kmh_per_s: 12.5 }, "harsh acceleration > 12.5 km/h/s"],
    ["stuck rpm for 20 readings", { kind: "stuck_sensor", field: "rpm", readings: 20 }, "stuck rpm for 20 readings"],
    ["stuck speed sensor for 30 readings", { kind: "stuck_sensor", field: "speed", readings: 30 }, "stuck speed for 30 readings"],
    ["silent for 5m", { kind: "silence", minutes: 5 }, "silent for 5m"],
    ["silence for 5 minutes", { kind: "silence", minutes: 5 }, "silent for 5m"],
    ["no data for 2 hours", { kind: "silence", minutes: 120 }, "silent for 2h"],
    ["silent for 90s", { kind: "silence", minutes: 1.5 }, "silent for 90s"],
    [
      "baseline rpm z > 4",
      { kind: "baseline", field: "rpm", k: 4, warmup: 100, alpha: 0.05, band_kmh: 10 },
      "baseline rpm z > 4 after 100 readings alpha 0.05 band 10 km/h",
    ],
    [
      "baseline rpm |z| > 3.5 band 20 km/h alpha 0.02 after 200 readings",
      { kind: "baseline", field: "rpm", k: 3.5, warmup: 200, alpha: 0.02, band_kmh: 20 },
      "baseline rpm z > 3.5 after 200 readings alpha 0.02 band 20 km/h",
    ],
  ];
  it.each(kinds)("%s", (input, condition, normalised) => {
    const spec = parseRuleExpression(input);
    expect(spec).toEqual({ condition, ...defaults });
    expect(formatRuleExpression(spec)).toBe(normalised);
  });

  it("reads the issue's example and prints it back the same", () => {
    const text = "speed > 140 for 10s where color = Red severity high clear after 2m";
    const spec = parseRuleExpression(text);
    expect(spec).toEqual({
      condition: { kind: "threshold", field: "speed", op: ">", value: 140, for_seconds: 10 },
      scope: { colors: ["Red"] },
      severity: "high",
      clear_seconds: 120,
    });
    expect(formatRuleExpression(spec)).toBe(text);
  });

  it("reads every scope key, in any order and case, and prints them brand, model, color, car", () => {
    const spec = parseRuleExpression('rpm > 6000 WHERE car in (1,2, 3) and Colour IS red and model = "Mazda 3" and brands in (Kia, Mazda)');
    expect(spec.scope).toEqual({ car_ids: [1, 2, 3], colors: ["red"], models: ["Mazda 3"], brands: ["Kia", "Mazda"] });
    expect(formatRuleExpression(spec)).toBe('rpm > 6000 where brand in (Kia, Mazda) and model = "Mazda 3" and color = red and car in (1, 2, 3)');
  });

  it("keeps values as written, bare words with digits, dots and dashes unquoted, and quotes escaped", () => {
    const spec = parseRuleExpression('wrong gear where model in (i20, 3, "Rio \\"X\\" \\\\ 2", Model-S.1)');
    expect(spec.scope.models).toEqual(["i20", "3", 'Rio "X" \\ 2', "Model-S.1"]);
    expect(formatRuleExpression(spec)).toBe('wrong gear where model in (i20, 3, "Rio \\"X\\" \\\\ 2", Model-S.1)');
  });

  it("takes options in any order, with synonyms, and leaves the defaults out of the normal form", () => {
    const spec = parseRuleExpression("  speed > 120  clears 0.5 min severity high where car = 7  ");
    expect(spec).toEqual({
      condition: { kind: "threshold", field: "speed", op: ">", value: 120 },
      scope: { car_ids: [7] },
      severity: "high",
      clear_seconds: 30,
    });
    expect(formatRuleExpression(spec)).toBe("speed > 120 where car = 7 severity high clear after 30s");
    expect(formatRuleExpression(parseRuleExpression("speed > 120 severity medium clear after 1m"))).toBe("speed > 120");
    expect(formatRuleExpression(parseRuleExpression("speed > 120 severity low clear after 0.1h"))).toBe("speed > 120 severity low clear after 6m");
  });
});

describe("parseRuleExpression errors", () => {
  // [input, message]: the message names the column, then the text and a caret under it.
  const bad: [string, string][] = [
    ["speed > fast", 'column 9: expected a number after ">"'],
    ["temp > 90", "column 1: expected a rule kind (speed, rpm, gear, wrong gear, harsh braking, harsh acceleration, stuck, silent, baseline)"],
    ["", "column 1: expected a rule kind (speed, rpm, gear, wrong gear, harsh braking, harsh acceleration, stuck, silent, baseline)"],
    ["speed = 140", 'column 7: expected a comparison (>, >=, <, <=) after "speed"'],
    ["harsh turning > 5", 'column 7: expected braking or acceleration after "harsh"'],
    ["stuck gear for 3 readings", 'column 7: expected "speed" or "rpm" after "stuck"'],
    ["baseline speed z > 4", 'column 10: expected "rpm" after "baseline"'],
    ["speed > 1 where color = Red and colour = Blue", 'column 33: "color" given twice'],
    ["speed > 1 where color in (Red, Blue", 'column 36: expected "," or ")" after "Blue"'],
    ["speed > 140 for 10s please", 'column 21: expected "where", "severity", "clear" or the end after "10s"'],
    ["wrong gear tolerance 9", "column 22: tolerance must be at most 5"],
    ["wrong gear tolerance 1.5", "column 22: tolerance must be a whole number"],
    ["speed > 140 for 1.5s", "column 17: a duration is whole seconds"],
    ["silent for 2d", 'column 13: expected a time unit (s, min, h) after "2"'],
    ["gear < 2 for 25h", "column 14: the duration must be at most 24h"],
    ["baseline rpm z > 4 alpha 1", "column 26: alpha must be less than 1"],
    ["speed > 1 where car = 0", "column 23: a car number must be more than 0"],
    ['speed > 1 where color = ""', "column 25: a color must not be empty"],
    ["rpm > 6500 km/h", "column 12: km/h goes with speed, not rpm"],
    ["speed > 1 severity high severity low", 'column 25: "severity" given twice'],
    ["speed > 1 where color = Red where brand = Kia", 'column 29: "where" given twice'],
    ["baseline rpm z > 4 after 5 readings after 6 readings", 'column 37: "after" given twice'],
    ["speed > 1 where", 'column 16: expected a scope key (brand, model, color, car) after "where"'],
    ["speed > 1 severity loud", 'column 20: expected a severity (low, medium, high) after "severity"'],
    ["speed > 1 clear after 0s", "column 23: clear after must be more than 0s"],
  ];
  it.each(bad)("%s", (input, message) => {
    const column = Number(/^column (\d+)/.exec(message)![1]);
    const thrown = (() => {
      try {
        parseRuleExpression(input);
      } catch (err) {
        return err;
      }
      throw new Error("parsed");
    })();
    expect(thrown).toBeInstanceOf(InputError);
    expect((thrown as InputError).message).toBe(`${message}\n${input}\n${" ".repeat(column - 1)}^`);
  });

  it("aligns the caret on a line with newlines and tabs", () => {
    expect(() => parseRuleExpression("speed >\n\tfast")).toThrow('column 10: expected a number after ">"\nspeed >  fast\n         ^');
  });
});
