import { createRequire } from "node:module";
import type { Parser, parser as peggyParser } from "peggy";
import { InputError } from "../../core/errors.js";
import { type Comparator, type RuleCondition, type RuleField, type RuleScope, type RuleSpec, ruleSpecSchema, type Severity } from "../../domain/rule-spec.js";
import { RULE_GRAMMAR } from "./expression-grammar.js";

/**
 * The one-line rule expression (`speed > 140 for 10s where color = Red`):
 * parsed by a peggy grammar into the structured RuleSpec, and printed back
 * in one normal form. Errors point at the column, with the text and a caret.
 */

export type RuleExpressionSpec = Omit<RuleSpec, "name">;

/** What `baseline rpm z > k` means when it leaves out the rest (the schema requires all four). */
export const BASELINE_DEFAULTS = { warmup: 100, alpha: 0.05, band_kmh: 10 } as const;

// The schema's own defaults: the printer leaves out what parsing would fill in.
const DEFAULTS = ruleSpecSchema.pick({ severity: true, clear_seconds: true }).parse({});

type ScopeKey = keyof RuleScope;
// Printing order, and the word each key is written as.
const SCOPE_WORDS: [ScopeKey, string][] = [
  ["brands", "brand"],
  ["models", "model"],
  ["colors", "color"],
  ["car_ids", "car"],
];

const SCOPE_WORD = Object.fromEntries(SCOPE_WORDS) as Record<ScopeKey, string>;
const TAIL_WORDS = { scope: "where", severity: "severity", clear: "clear after" } as const;
const BASELINE_WORDS = { warmup: "after", alpha: "alpha", band_kmh: "band" } as const;

// ---- the syntax tree the grammar yields (numbers, durations and values keep their offsets)

interface Located<T> {
  value: T;
  at: number;
}
interface DurationNode {
  amount: number;
  unit: number;
  at: number;
}
type BaselineKey = keyof typeof BASELINE_DEFAULTS;
type ConditionNode =
  | { kind: "threshold"; field: RuleField; op: Comparator; value: Located<number>; for_seconds: DurationNode | null; unit: number | null }
  | { kind: "wrong_gear"; tolerance: Located<number> | null }
  | { kind: "harsh_braking" | "harsh_acceleration"; kmh_per_s: Located<number> }
  | { kind: "stuck_sensor"; field: "speed" | "rpm"; readings: Located<number> }
  | { kind: "silence"; minutes: DurationNode }
  | { kind: "baseline"; field: "rpm"; k: Located<number>; options: { key: BaselineKey; at: number; value: Located<number> }[] };
type TailNode =
  | { type: "scope"; at: number; predicates: { key: ScopeKey; at: number; values: Located<string | number>[] }[] }
  | { type: "severity"; at: number; level: Severity }
  | { type: "clear"; at: number; duration: DurationNode };
interface ExpressionNode {
  condition: ConditionNode;
  tail: TailNode[];
}

// Loaded and generated on first use (about 50 ms to load peggy, 100 ms to generate):
// start-up does not pay for a parser only rule writing needs.
let parser: Parser | undefined;
function ruleParser(): Parser {
  parser ??= (createRequire(import.meta.url)("peggy") as typeof import("peggy")).generate(RULE_GRAMMAR);
  return parser;
}

export function parseRuleExpression(text: string): RuleExpressionSpec {
  const rules = ruleParser();
  let tree: ExpressionNode;
  try {
    tree = rules.parse(text) as ExpressionNode;
  } catch (err) {
    if (err instanceof rules.SyntaxError) throw refuse(text, err.location.start.offset, syntaxMessage(text, err));
    throw err;
  }
  return new Builder(text).spec(tree);
}

/** Offsets of the parts, by schema path (`condition.tolerance`), so a schema error can name its column. */
class Builder {
  private readonly at = new Map<string, number>();
  constructor(private readonly text: string) {}

  spec(tree: ExpressionNode): RuleExpressionSpec {
    const draft: Record<string, unknown> = { condition: this.condition(tree.condition) };
    const seen = new Set<string>();
    for (const part of tree.tail) {
      this.once(seen, part.type, TAIL_WORDS[part.type], part.at);
      if (part.type === "scope") draft.scope = this.scope(part.predicates);
      else if (part.type === "severity") draft.severity = part.level;
      else draft.clear_seconds = this.seconds("clear_seconds", part.duration);
    }
    const checked = ruleSpecSchema.safeParse({ name: "x", ...draft });
    if (!checked.success) throw this.schemaError(checked.error.issues[0]!);
    const { name: _, ...spec } = checked.data;
    return spec;
  }

  private condition(node: ConditionNode): Record<string, unknown> {
    this.at.set("condition", this.text.length - this.text.trimStart().length);
    switch (node.kind) {
      case "threshold": {
        if (node.unit !== null && node.field !== "speed") throw refuse(this.text, node.unit, `km/h goes with speed, not ${node.field}`);
        const { kind, field, op } = node;
        const value = this.number("value", node.value);
        return node.for_seconds ? { kind, field, op, value, for_seconds: this.seconds("condition.for_seconds", node.for_seconds) } : { kind, field, op, value };
      }
      case "wrong_gear":
        return { kind: node.kind, tolerance: node.tolerance ? this.number("tolerance", node.tolerance) : 0 };
      case "harsh_braking":
      case "harsh_acceleration":
        return { kind: node.kind, kmh_per_s: this.number("kmh_per_s", node.kmh_per_s) };
      case "stuck_sensor":
        return { kind: node.kind, field: node.field, readings: this.number("readings", node.readings) };
      case "silence":
        return { kind: node.kind, minutes: this.seconds("condition.minutes", node.minutes) / 60 };
      case "baseline": {
        const options: Record<string, number> = { ...BASELINE_DEFAULTS };
        const seen = new Set<string>();
        for (const option of node.options) {
          this.once(seen, option.key, BASELINE_WORDS[option.key], option.at);
          options[option.key] = this.number(option.key, option.value);
        }
        return { kind: node.kind, field: node.field, k: this.number("k", node.k), ...options };
      }
    }
  }

  private scope(predicates: Extract<TailNode, { type: "scope" }>["predicates"]): Record<string, unknown> {
    const scope: Record<string, unknown> = {};
    const seen = new Set<string>();
    for (const { key, at, values } of predicates) {
      this.once(seen, key, SCOPE_WORD[key], at);
      values.forEach((v, i) => this.at.set(`scope.${key}.${i}`, v.at));
      scope[key] = values.map((v) => v.value);
    }
    return scope;
  }

  /** Each part may be given once; `word` is how the person wrote it. */
  private once(seen: Set<string>, key: string, word: string, at: number): void {
    if (seen.has(key)) throw refuse(this.text, at, `"${word}" given twice`);
    seen.add(key);
  }

  private number(key: string, node: Located<number>): number {
    this.at.set(`condition.${key}`, node.at);
    return node.value;
  }

  private seconds(path: string, node: DurationNode): number {
    this.at.set(path, node.at);
    const exact = node.amount * node.unit;
    const whole = Math.round(exact);
    // 0.1h is 360.00000000000006 in floating point: that is still whole seconds.
    if (Math.abs(exact - whole) > 1e-9 * Math.max(1, Math.abs(exact))) throw refuse(this.text, node.at, "a duration is whole seconds");
    return whole;
  }

  private schemaError(issue: SchemaIssue): InputError {
    const path = issue.path.map(String);
    let at = 0;
    for (let n = path.length; n > 0; n--) {
      const found = this.at.get(path.slice(0, n).join("."));
      if (found !== undefined) {
        at = found;
        break;
      }
    }
    const key = [...path].reverse().find((p) => PARTS[p]) ?? "";
    const part = PARTS[key] ?? { label: path.join(".") || "the rule", show: formatNumber };
    return refuse(this.text, at, `${part.label} ${schemaPhrase(issue, part.show)}`);
  }
}

interface SchemaIssue {
  code: string;
  path: PropertyKey[];
  message: string;
  origin?: string;
  expected?: string;
  received?: string;
  minimum?: unknown;
  maximum?: unknown;
  inclusive?: boolean;
}

// How a schema error names a part and shows a bound (a duration in its unit, a rate with km/h/s).
const PARTS: Record<string, { label: string; show: (n: number) => string }> = {
  value: { label: "the value", show: formatNumber },
  for_seconds: { label: "the duration", show: formatDuration },
  tolerance: { label: "tolerance", show: formatNumber },
  kmh_per_s: { label: "the rate", show: (n) => `${formatNumber(n)} km/h/s` },
  readings: { label: "readings", show: formatNumber },
  minutes: { label: "the silence", show: (m) => formatDuration(m * 60) },
  k: { label: "z", show: formatNumber },
  warmup: { label: "the warm-up", show: (n) => `${formatNumber(n)} readings` },
  alpha: { label: "alpha", show: formatNumber },
  band_kmh: { label: "the band", show: (n) => `${formatNumber(n)} km/h` },
  brands: { label: "a brand", show: formatNumber },
  models: { label: "a model", show: formatNumber },
  colors: { label: "a color", show: formatNumber },
  car_ids: { label: "a car number", show: formatNumber },
  clear_seconds: { label: "clear after", show: formatDuration },
};

function schemaPhrase(issue: SchemaIssue, show: (n: number) => string): string {
  const bound = Number(issue.code === "too_big" ? issue.maximum : issue.minimum);
  if (issue.code === "too_small" && issue.origin === "string") return "must not be empty";
  if (issue.code === "too_big") return `must be ${issue.inclusive ? "at most" : "less than"} ${show(bound)}`;
  if (issue.code === "too_small") return `must be ${issue.inclusive ? "at least" : "more than"} ${show(bound)}`;
  if (issue.code === "invalid_type" && issue.expected === "int") return "must be a whole number";
  if (issue.code === "invalid_type" && issue.expected === "number") return "must be a finite number";
  return issue.message;
}

// ---- error text

function syntaxMessage(text: string, err: peggyParser.SyntaxError): string {
  if (!err.expected) return err.message;
  const wanted = [...new Set(err.expected.map(describeExpectation))];
  const list = wanted.length > 1 ? `${wanted.slice(0, -1).join(", ")} or ${wanted.at(-1)}` : (wanted[0] ?? "something else");
  const before = previousToken(text.slice(0, err.location.start.offset));
  return `expected ${list}${before ? ` after ${before.startsWith('"') ? before : `"${before}"`}` : ""}`;
}

function describeExpectation(e: peggyParser.Expectation): string {
  switch (e.type) {
    case "literal":
      return `"${e.text}"`;
    case "other":
      return e.description;
    case "end":
      return "the end";
    case "class":
    case "any":
      return "another character";
  }
}

/** The token just before an error, for "expected … after X" (error text only; the grammar does the parsing). */
function previousToken(prefix: string): string {
  const match = /(?:"(?:[^"\\]|\\.)*"|[\w.\-/|]+|[<>=≥≤]+|\S)$/u.exec(prefix.trimEnd());
  return match?.[0] ?? "";
}

function refuse(text: string, offset: number, message: string): InputError {
  const column = [...text.slice(0, offset)].length + 1;
  const line = text.replace(/[\r\n\t]/g, " ");
  return new InputError(`column ${column}: ${message}\n${line}\n${" ".repeat(column - 1)}^`);
}

// ---- printing

export function formatRuleExpression(spec: RuleExpressionSpec): string {
  const parts = [formatCondition(spec.condition)];
  const scope = SCOPE_WORDS.flatMap(([key, word]) => {
    const values = spec.scope[key]?.map((v) => (typeof v === "number" ? formatNumber(v) : formatValue(v)));
    if (!values) return [];
    return values.length === 1 ? [`${word} = ${values[0]}`] : [`${word} in (${values.join(", ")})`];
  });
  if (scope.length > 0) parts.push(`where ${scope.join(" and ")}`);
  if (spec.severity !== DEFAULTS.severity) parts.push(`severity ${spec.severity}`);
  if (spec.clear_seconds !== DEFAULTS.clear_seconds) parts.push(`clear after ${formatDuration(spec.clear_seconds)}`);
  return parts.join(" ");
}

function formatCondition(c: RuleCondition): string {
  switch (c.kind) {
    case "threshold":
      return `${c.field} ${c.op} ${formatNumber(c.value)}${c.for_seconds === undefined ? "" : ` for ${formatDuration(c.for_seconds)}`}`;
    case "wrong_gear":
      return c.tolerance === 0 ? "wrong gear" : `wrong gear tolerance ${formatNumber(c.tolerance)}`;
    case "harsh_braking":
      return `harsh braking > ${formatNumber(c.kmh_per_s)} km/h/s`;
    case "harsh_acceleration":
      return `harsh acceleration > ${formatNumber(c.kmh_per_s)} km/h/s`;
    case "stuck_sensor":
      return `stuck ${c.field} for ${formatNumber(c.readings)} readings`;
    case "silence": {
      // Minutes came from whole seconds divided by 60; undo that without a floating-point tail.
      const seconds = Math.round(c.minutes * 60);
      return `silent for ${formatDuration(seconds / 60 === c.minutes ? seconds : c.minutes * 60)}`;
    }
    case "baseline":
      return `baseline rpm z > ${formatNumber(c.k)} after ${formatNumber(c.warmup)} readings alpha ${formatNumber(c.alpha)} band ${formatNumber(c.band_kmh)} km/h`;
  }
}

/** The largest unit that divides exactly. A fraction of a second (the schema allows it, the language does not) prints as seconds. */
function formatDuration(seconds: number): string {
  if (Number.isInteger(seconds) && seconds !== 0) {
    if (seconds % 3600 === 0) return `${seconds / 3600}h`;
    if (seconds % 60 === 0) return `${seconds / 60}m`;
  }
  return `${formatNumber(seconds)}s`;
}

function formatNumber(n: number): string {
  return Object.is(n, -0) ? "-0" : String(n);
}

/** Bare when the grammar reads it as one word, else quoted. */
function formatValue(v: string): string {
  return /^[A-Za-z0-9_.-]+$/.test(v) ? v : `"${v.replace(/["\\]/g, "\\$&")}"`;
}
