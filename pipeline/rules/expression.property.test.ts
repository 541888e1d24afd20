import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InputError } from "../../core/errors.js";
import { COMPARATORS, RULE_FIELDS, ruleSpecSchema, SEVERITIES } from "../../domain/rule-spec.js";
import { formatRuleExpression, parseRuleExpression, type RuleExpressionSpec } from "./expression.js";

// Durations are whole seconds: the language refuses fractions (the schema would allow them).
const seconds = fc.integer({ min: 1, max: 86_400 });
const double = (min: number, max: number) => fc.double({ min, max, noNaN: true, minExcluded: min === 0, maxExcluded: max === 1 });

const condition = fc.oneof(
  fc.record(
    {
      kind: fc.constant("threshold" as const),
      field: fc.constantFrom(...RULE_FIELDS),
      op: fc.constantFrom(...COMPARATORS),
      value: fc.double({ noNaN: true, noDefaultInfinity: true }),
      for_seconds: seconds,
    },
    { requiredKeys: ["kind", "field", "op", "value"] },
  ),
  fc.record({ kind: fc.constant("wrong_gear" as const), tolerance: fc.integer({ min: 0, max: 5 }) }),
  fc.record({ kind: fc.constantFrom("harsh_braking" as const, "harsh_acceleration" as const), kmh_per_s: double(0, 200) }),
  fc.record({
    kind: fc.constant("stuck_sensor" as const),
    field: fc.constantFrom("speed" as const, "rpm" as const),
    readings: fc.integer({ min: 2, max: 10_000 }),
  }),
  fc.record({ kind: fc.constant("silence" as const), minutes: seconds.map((s) => s / 60) }),
  fc.record({
    kind: fc.constant("baseline" as const),
    field: fc.constant("rpm" as const),
    k: double(0, 100),
    warmup: fc.integer({ min: 2, max: 100_000 }),
    alpha: double(0, 1),
    band_kmh: double(0, 400),
  }),
);

// Fleet-like names, and any text at all (quotes, backslashes, spaces, other scripts).
const name = fc.oneof(
  fc.constantFrom("Red", "Mazda", "3", "i20", "Corolla", "Model-S.1", "and", "where"),
  fc.string({ minLength: 1 }),
  fc.string({ minLength: 1, unit: "grapheme" }),
);
const values = fc.array(name, { minLength: 1, maxLength: 3 });
const scope = fc.record(
  { brands: values, models: values, colors: values, car_ids: fc.array(fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), { minLength: 1, maxLength: 3 }) },
  { requiredKeys: [] },
);
const spec: fc.Arbitrary<RuleExpressionSpec> = fc.record({ condition, scope, severity: fc.constantFrom(...SEVERITIES), clear_seconds: seconds });

describe("formatRuleExpression", () => {
  it("prints every valid spec so that it parses back equal, and printing is idempotent", () => {
    fc.assert(
      fc.property(spec, (x) => {
        expect(ruleSpecSchema.parse({ name: "x", ...x })).toEqual({ name: "x", ...x });
        const text = formatRuleExpression(x);
        const back = parseRuleExpression(text);
        expect(back).toEqual(x);
        expect(formatRuleExpression(back)).toBe(text);
      }),
      { seed: 42, numRuns: 500 },
    );
  });
});

describe("parseRuleExpression on arbitrary text", () => {
  const words = [
    "speed",
    "rpm",
    "gear",
    ">",
    ">=",
    "<",
    "<=",
    "=",
    "140",
    "1.5",
    "-3",
    "0",
    "9",
    "1e400",
    "for",
    "10s",
    "5 min",
    "1h",
    "2d",
    "wrong",
    "gear",
    "wrong_gear",
    "tolerance",
    "harsh",
    "braking",
    "acceleration",
    "km/h/s",
    "km/h",
    "stuck",
    "sensor",
    "readings",
    "silent",
    "no",
    "data",
    "baseline",
    "z",
    "after",
    "alpha",
    "band",
    "where",
    "color",
    "brand",
    "model",
    "car",
    "in",
    "(",
    ")",
    ",",
    "and",
    '"Mazda 3"',
    '"',
    "Red",
    "severity",
    "high",
    "low",
    "clear",
    "after",
    "junk",
  ];
  // A valid expression with one token dropped, replaced or inserted (or left alone), and word soup.
  const edit = fc.record({ at: fc.nat(), op: fc.constantFrom("keep", "drop", "replace", "insert"), word: fc.constantFrom(...words) });
  const mutated = fc.tuple(spec, edit).map(([x, { at, op, word }]) => {
    const tokens = formatRuleExpression(x).split(" ");
    const i = at % tokens.length;
    if (op === "drop") tokens.splice(i, 1);
    else if (op === "replace") tokens[i] = word;
    else if (op === "insert") tokens.splice(i, 0, word);
    return tokens.join(" ");
  });
  const soup = fc.array(fc.constantFrom(...words), { minLength: 1, maxLength: 14 }).map((w) => w.join(" "));
  const anyText = fc.oneof(mutated, soup, fc.string(), fc.string({ unit: "grapheme" }), fc.string({ unit: "binary" }));

  it("either returns a schema-valid spec whose normal form is stable, or throws an InputError with a column and a caret", () => {
    let parsed = 0;
    fc.assert(
      fc.property(anyText, (text) => {
        let result: RuleExpressionSpec;
        try {
          result = parseRuleExpression(text);
        } catch (err) {
          expect(err).toBeInstanceOf(InputError);
          expect((err as InputError).message).toMatch(/^column \d+: .+\n.*\n *\^$/);
          return;
        }
        parsed++;
        expect(ruleSpecSchema.parse({ name: "x", ...result })).toEqual({ name: "x", ...result });
        const normal = formatRuleExpression(result);
        expect(parseRuleExpression(normal)).toEqual(result);
        expect(formatRuleExpression(parseRuleExpression(normal))).toBe(normal);
      }),
      { seed: 42, numRuns: 2000 },
    );
    // The generator must reach valid expressions too, not only errors.
    expect(parsed).toBeGreaterThan(100);
  });
});
