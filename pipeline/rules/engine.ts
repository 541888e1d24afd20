import type { EnrichedEvent } from "../../domain/events.js";
import { inScope, type Rule } from "../../domain/rule-spec.js";
import type { Firings, RuleFiring } from "./firing.js";
import { type CarStates, type CompiledRule, compileRule, due, isSilence, isStateful, type Kind, type SilenceRule } from "./kinds.js";

export type { RuleFiring } from "./firing.js";

/**
 * The rule engine: rules as data (domain/rule-spec.ts), evaluated per reading
 * with per-car state. Pure (no I/O, no clock: event time only) and cheap: each
 * rule is compiled once (kinds.ts); each car keeps its enabled rules whose
 * scope it is in, grouped by kind (rebuilt only when the rules or the car's
 * brand, model or color change), so a reading visits only rules that can apply
 * to it, with one call per kind; nothing is allocated for a reading that fires
 * nothing. A reading's firings come in the order of the rules.
 *
 * Firings (value, threshold) per kind:
 * - threshold: (the field's value, the rule's value), fires when `field op
 *   value`. With for_seconds (sustained), every reading fires once the
 *   condition has held without a break for ≥ for_seconds of event time: the
 *   one that completes the duration and each after it while it holds, so an
 *   incident forms. Between two readings the condition is taken to hold as
 *   the readings say (the engine has nothing else to judge by).
 * - wrong_gear: (gear, expected_gear) when |gear − expected_gear| > tolerance;
 *   tolerance 0 is today's `gear !== expected_gear`.
 * - harsh_acceleration / harsh_braking: (|Δspeed/Δt| in km/h per s, X) when
 *   the speed rose (fell) faster than X since the car's previous reading,
 *   judged only when 0 < Δt ≤ 10 s (over a longer gap the rate means nothing).
 * - stuck_sensor: (consecutive count, N) when the field has had the same value
 *   for N consecutive readings, this one included, all moving (speed > 0); the
 *   count restarts when the value changes or the car stops. Each further equal
 *   reading fires again.
 * - silence: (N, N): silent N minutes at its event time, only from advance(): a car
 *   whose last reading had speed > 0 and whose last event time + N minutes ≤
 *   the watermark fires once per episode, with event_time = last + N minutes
 *   and the last reading's event_id; it fires again only after a new reading.
 *   A silence that ended before the watermark got there (the car's next
 *   reading came more than N minutes later but was evaluated first: the
 *   watermark lags behind the newest readings, and a replay may call advance
 *   once at the end) is kept and fires when the watermark reaches it: which
 *   silences fire, and their values, depend on the readings only, not on
 *   when advance() is called.
 * - baseline: (|z|, k). Per car and speed band (floor(speed / band_kmh)) an
 *   exponentially weighted mean and variance of rpm (diff = x − mean; incr =
 *   alpha·diff; mean += incr; var = (1 − alpha)·(var + diff·incr); the first
 *   reading of a band sets mean = x, var = 0). z = (x − mean)/√var is taken
 *   before x is folded in; it fires when the band has folded ≥ warmup readings,
 *   var > 0 and |z| > k. A firing reading is NOT folded in: a spike then leaves
 *   the baseline as it was, and an engine that slowly drifts, once it is k
 *   standard deviations out (its drift outran what alpha follows), keeps
 *   firing instead of being learnt as the new normal. Drift slower than that is
 *   absorbed, as an EWMA must. A real change of normal is accepted by editing
 *   the rule (a new version starts cold).
 *
 * Order: each car's readings are taken in arrival order. A reading whose event
 * time is ≤ the last one a stateful kind (sustained threshold, harsh, stuck,
 * silence, baseline) folded in for that car (out of order, late, or a replayed
 * one) is skipped by that kind: it neither fires nor changes its state.
 * Stateless kinds (plain threshold, wrong gear) judge every reading. So live
 * evaluation and a replay in event-time order agree for in-order streams, and
 * replaying readings already folded in changes nothing.
 *
 * State and persistence: one state per (stateful rule, car), in the car's
 * `states` by the rule's slot, created at the car's first reading in scope.
 * snapshot() saves each as a JSON-able row whose as_of is the event time of
 * the last reading folded in; restore() brings rows back exactly (a row of an
 * unknown rule id or version, or of another shape, is ignored: that rule
 * starts cold for that car). After a crash or a partition move the caller
 * restores a car's rows before its first reading (hasState() says whether it
 * must) and replays its stored readings since the earliest as_of of its rows
 * (each rule skips those its state already holds, see Order); the firings of
 * replayed readings, stored and alerted on before, are the caller's to discard.
 * A car whose partition moved away keeps its state here, and its silence would
 * fire: on a rebalance, the caller rebuilds the engine (a new one, restored
 * with the cars it still owns). setRules() keeps the states of rules whose id
 * and version are unchanged and drops the others'.
 *
 * Scope: inScope() of domain/rule-spec.ts (exact string match).
 */

export interface RuleStateRow {
  rule_id: string;
  version: number;
  car_id: number;
  /** Event time of the last reading folded in. */
  as_of: number;
  state: unknown;
}

/** A car's rules of one kind. */
interface Group {
  kind: Kind;
  rules: CompiledRule[];
}

class CarRecord implements CarStates {
  states: unknown[];
  dirty = false;
  /** In a snapshot at least once (or restored from one). */
  saved = false;
  /** What `groups` was built for: the engine's rule generation and the car's attributes. */
  generation = -1;
  brand = "";
  model = "";
  color = "";
  groups: Group[] = [];
  constructor(
    readonly car_id: number,
    slots: number,
  ) {
    this.states = new Array(slots).fill(undefined);
  }
}

const NONE: RuleFiring[] = Object.freeze([]) as unknown as RuleFiring[];

const stateKey = (id: string, version: number) => `${id}@${version}`;

export class RuleEngine {
  private all: readonly Rule[] = [];
  private compiled: CompiledRule[] = [];
  private statefulRules: CompiledRule[] = [];
  private silences: SilenceRule[] = [];
  /** Rule id → index among the enabled rules, to order firings. */
  private order = new Map<string, number>();
  private generation = 0;
  private watermark = Number.NEGATIVE_INFINITY;
  private readonly cars = new Map<number, CarRecord>();

  /** Only the enabled rules are evaluated. */
  constructor(rules: readonly Rule[]) {
    this.setRules(rules);
  }

  /** The rules as last given, enabled or not. */
  get rules(): readonly Rule[] {
    return this.all;
  }

  /** True when some enabled rule keeps per-car state (to restore after a crash or a partition move). */
  get hasStateful(): boolean {
    return this.statefulRules.length > 0;
  }

  /** True when some enabled rule fires from the watermark alone (silence). */
  get watchesSilence(): boolean {
    return this.silences.length > 0;
  }

  /** A live change: states of rules with the same id and version are kept, the others' dropped; new rules start cold. */
  setRules(rules: readonly Rule[]): void {
    const kept = new Map(this.statefulRules.map((r) => [stateKey(r.rule.id, r.rule.version), r.slot]));
    let slots = 0;
    const compiled = rules.filter((r) => r.enabled).map((rule, index) => compileRule(rule, index, isStateful(rule.condition) ? slots++ : -1));
    const stateful = compiled.filter((r) => r.slot >= 0);
    const from = stateful.map((r) => kept.get(stateKey(r.rule.id, r.rule.version)) ?? -1);
    for (const car of this.cars.values()) {
      const old = car.states;
      car.states = from.map((i) => (i >= 0 ? old[i] : undefined));
    }
    this.all = rules;
    this.compiled = compiled;
    this.statefulRules = stateful;
    this.silences = compiled.filter(isSilence);
    this.order = new Map(compiled.map((r) => [r.rule.id, r.index]));
    this.generation++;
  }

  /** One reading, in arrival order for its car. */
  evaluate(e: EnrichedEvent): RuleFiring[] {
    const car = this.car(e.car_id);
    if (car.generation !== this.generation || car.color !== e.color_name || car.model !== e.model_name || car.brand !== e.brand_name) this.bind(car, e);
    const groups = car.groups;
    let out: Firings = null;
    for (let i = 0; i < groups.length; i++) {
      const g = groups[i]!;
      out = g.kind.run(g.rules, e, car, out);
    }
    if (out === null) return NONE;
    if (out.length > 1) out.sort((a, b) => this.order.get(a.rule_id)! - this.order.get(b.rule_id)!);
    return out;
  }

  /** The stream's watermark (event time) moved: the silences it has reached, in event-time order, then by car and rule. */
  advance(watermark: number): RuleFiring[] {
    if (this.silences.length === 0) return NONE;
    this.watermark = Math.max(this.watermark, watermark);
    let out: Firings = null;
    for (const car of this.cars.values()) for (const r of this.silences) out = due(r, car, this.watermark, out);
    if (out === null) return NONE;
    return out.sort((a, b) => a.event_time - b.event_time || a.car_id - b.car_id || this.order.get(a.rule_id)! - this.order.get(b.rule_id)!);
  }

  /**
   * Rows of every (stateful rule, car) state; "dirty": of the cars changed
   * since they were last in a snapshot; "unsaved": of those never in one yet
   * (a caller saving every few seconds still saves a new car at once, so a
   * restore always finds a state to replay the stored readings from).
   */
  snapshot(which: "all" | "dirty" | "unsaved" = "all"): RuleStateRow[] {
    const rows: RuleStateRow[] = [];
    for (const car of this.cars.values()) {
      if ((which === "dirty" && !car.dirty) || (which === "unsaved" && (car.saved || !car.dirty))) continue;
      car.dirty = false;
      car.saved = true;
      for (const r of this.statefulRules) {
        const state = car.states[r.slot] as { t: number } | undefined;
        if (state === undefined) continue;
        rows.push({ rule_id: r.rule.id, version: r.rule.version, car_id: car.car_id, as_of: state.t, state: r.kind.codec!.save(state) });
      }
    }
    return rows;
  }

  /** Before any reading of those cars. Rows of rules (id and version) not enabled here, or not of their kind's shape, are ignored. */
  restore(rows: readonly RuleStateRow[]): void {
    const byKey = new Map(this.statefulRules.map((r) => [stateKey(r.rule.id, r.rule.version), r]));
    for (const row of rows) {
      const r = byKey.get(stateKey(row.rule_id, row.version));
      if (!r) continue;
      const state = r.kind.codec!.load(row.state, row.as_of);
      if (state === null) continue;
      const car = this.car(row.car_id);
      car.states[r.slot] = state;
      car.saved = true;
    }
  }

  /** False for a car this engine has neither seen nor restored. */
  hasState(carId: number): boolean {
    return this.cars.has(carId);
  }

  private car(carId: number): CarRecord {
    let car = this.cars.get(carId);
    if (car === undefined) {
      car = new CarRecord(carId, this.statefulRules.length);
      this.cars.set(carId, car);
    }
    return car;
  }

  private bind(car: CarRecord, e: EnrichedEvent): void {
    car.generation = this.generation;
    car.brand = e.brand_name;
    car.model = e.model_name;
    car.color = e.color_name;
    const groups = new Map<Kind, CompiledRule[]>();
    for (const r of this.compiled) {
      if (!inScope(r.rule.scope, e)) continue;
      const list = groups.get(r.kind);
      if (list) list.push(r);
      else groups.set(r.kind, [r]);
    }
    car.groups = [...groups].map(([kind, rules]) => ({ kind, rules }));
  }
}
