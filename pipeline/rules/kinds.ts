import { z } from "zod";
import type { EnrichedEvent } from "../../domain/events.js";
import type { Rule } from "../../domain/rule-spec.js";
import { type Firings, fire } from "./firing.js";

/**
 * The rule kinds' evaluators (semantics: the top comment of engine.ts). Each
 * rule is compiled once to a record of its parameters; a kind's `run` judges a
 * reading against all of a car's rules of that kind in one loop. So a reading
 * costs one call per kind, whatever the number of rules, and each loop's code
 * sees one object shape (a closure per rule, its call site megamorphic over
 * the kinds, was measured at about twice the cost per rule). Stateful kinds
 * fold the reading into the car's state of each rule in place: nothing is
 * allocated per reading unless a rule fires.
 */

/** What a kind sees of a car: its rules' states by slot, and whether any changed since the last snapshot. */
export interface CarStates {
  readonly car_id: number;
  states: unknown[];
  dirty: boolean;
}

/** How a stateful kind's state of one car is saved (`t`, the last reading folded in, travels as the row's as_of). */
export interface StateCodec {
  save(state: unknown): unknown;
  /** The state a saved one stands for, or null when it is not one of this kind's (then the rule starts cold). */
  load(saved: unknown, asOf: number): unknown;
}

export interface Kind<R extends CompiledRule = CompiledRule> {
  /** Judges `e` on each of `rules` (all of this kind), appending firings to `out`. */
  run(rules: readonly R[], e: EnrichedEvent, car: CarStates, out: Firings): Firings;
  /** Stateful kinds only. */
  codec: StateCodec | null;
}

/** A compiled rule: the stored rule, its kind, and the kind's parameters (fields of its own record type). */
export interface CompiledRule {
  rule: Rule;
  /** Index among the engine's enabled rules: orders firings. */
  index: number;
  /** Where the rule keeps its state in each car's `states`; −1 for a stateless rule. */
  slot: number;
  kind: Kind;
}

/** Harsh acceleration and braking judge consecutive readings at most this far apart: over a longer gap the rate means nothing. */
export const HARSH_MAX_GAP_MS = 10_000;

const FIELDS = { speed: 0, rpm: 1, gear: 2 } as const;
const OPS = { ">": 0, ">=": 1, "<": 2, "<=": 3 } as const;

function read(field: number, e: EnrichedEvent): number {
  return field === 0 ? e.speed : field === 1 ? e.rpm : e.gear;
}

function holds(op: number, x: number, v: number): boolean {
  switch (op) {
    case 0:
      return x > v;
    case 1:
      return x >= v;
    case 2:
      return x < v;
    default:
      return x <= v;
  }
}

function codec<S extends { t: number }, J>(schema: z.ZodType<J>, save: (s: S) => J, build: (saved: J, t: number) => S): StateCodec {
  return {
    save: (s) => save(s as S),
    load(saved, asOf) {
      const r = schema.safeParse(saved);
      return r.success ? build(r.data, asOf) : null;
    },
  };
}

interface Threshold extends CompiledRule {
  field: number;
  op: number;
  value: number;
}
const thresholds: Kind<Threshold> = {
  run(rules, e, _car, out) {
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      const x = read(r.field, e);
      if (holds(r.op, x, r.value)) out = fire(out, r.rule, x, r.value, e.event_id, e.event_time, e.car_id);
    }
    return out;
  },
  codec: null,
};

interface Sustained {
  t: number;
  /** Event time of the first reading of the current run in which the condition holds; null while it does not. */
  since: number | null;
}
const sustainedCodec = codec(
  z.object({ since: z.number().nullable() }),
  (s: Sustained) => ({ since: s.since }),
  (j, t): Sustained => ({ t, since: j.since }),
);

interface SustainedRule extends Threshold {
  forMs: number;
}
const sustained: Kind<SustainedRule> = {
  run(rules, e, car, out) {
    const states = car.states;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      let st = states[r.slot] as Sustained | undefined;
      if (st === undefined) st = states[r.slot] = { t: e.event_time, since: null };
      else if (e.event_time <= st.t) continue;
      st.t = e.event_time;
      car.dirty = true;
      const x = read(r.field, e);
      if (!holds(r.op, x, r.value)) st.since = null;
      else if (st.since === null) st.since = e.event_time;
      else if (e.event_time - st.since >= r.forMs) out = fire(out, r.rule, x, r.value, e.event_id, e.event_time, e.car_id);
    }
    return out;
  },
  codec: sustainedCodec,
};

interface WrongGear extends CompiledRule {
  tolerance: number;
}
const wrongGear: Kind<WrongGear> = {
  run(rules, e, _car, out) {
    const off = Math.abs(e.gear - e.expected_gear);
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      if (off > r.tolerance) out = fire(out, r.rule, e.gear, e.expected_gear, e.event_id, e.event_time, e.car_id);
    }
    return out;
  },
  codec: null,
};

interface Previous {
  t: number;
  speed: number;
}
const previousCodec = codec(
  z.object({ speed: z.number() }),
  (s: Previous) => ({ speed: s.speed }),
  (j, t): Previous => ({ t, speed: j.speed }),
);

interface Harsh extends CompiledRule {
  /** +1: acceleration, −1: braking. */
  sign: number;
  kmhPerS: number;
}
const harsh: Kind<Harsh> = {
  run(rules, e, car, out) {
    const states = car.states;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      const st = states[r.slot] as Previous | undefined;
      if (st === undefined) {
        states[r.slot] = { t: e.event_time, speed: e.speed };
        car.dirty = true;
        continue;
      }
      const dt = e.event_time - st.t;
      if (dt <= 0) continue;
      const dv = e.speed - st.speed;
      st.t = e.event_time;
      st.speed = e.speed;
      car.dirty = true;
      if (dt > HARSH_MAX_GAP_MS) continue;
      const rate = (r.sign * dv * 1000) / dt;
      if (rate > r.kmhPerS) out = fire(out, r.rule, rate, r.kmhPerS, e.event_id, e.event_time, e.car_id);
    }
    return out;
  },
  codec: previousCodec,
};

interface Stuck {
  t: number;
  value: number;
  moving: boolean;
  /** Consecutive readings, this one included, with this value while moving. */
  count: number;
}
const stuckCodec = codec(
  z.object({ value: z.number(), moving: z.boolean(), count: z.number().int().nonnegative() }),
  (s: Stuck) => ({ value: s.value, moving: s.moving, count: s.count }),
  (j, t): Stuck => ({ t, value: j.value, moving: j.moving, count: j.count }),
);

interface StuckRule extends CompiledRule {
  field: number;
  readings: number;
}
const stuck: Kind<StuckRule> = {
  run(rules, e, car, out) {
    const states = car.states;
    const moving = e.speed > 0;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      const x = read(r.field, e);
      const st = states[r.slot] as Stuck | undefined;
      if (st === undefined) {
        states[r.slot] = { t: e.event_time, value: x, moving, count: moving ? 1 : 0 };
        car.dirty = true;
        continue;
      }
      if (e.event_time <= st.t) continue;
      st.count = moving && st.moving && x === st.value ? st.count + 1 : moving ? 1 : 0;
      st.t = e.event_time;
      st.value = x;
      st.moving = moving;
      car.dirty = true;
      if (st.count >= r.readings) out = fire(out, r.rule, st.count, r.readings, e.event_id, e.event_time, e.car_id);
    }
    return out;
  },
  codec: stuckCodec,
};

/** A silence that ended (the car sent again) before the watermark reached its end: it fires when the watermark does. */
interface Gap {
  t: number;
  event_id: string;
  resumed: number;
}
interface Silence {
  t: number;
  /** The last reading's: was the car moving, its event_id, and has its silence fired. */
  moving: boolean;
  event_id: string;
  fired: boolean;
  gaps: Gap[];
}
const silenceCodec = codec(
  z.object({
    moving: z.boolean(),
    event_id: z.string(),
    fired: z.boolean(),
    gaps: z.array(z.tuple([z.number(), z.string(), z.number()])),
  }),
  (s: Silence) => ({
    moving: s.moving,
    event_id: s.event_id,
    fired: s.fired,
    gaps: s.gaps.map((g) => [g.t, g.event_id, g.resumed] as [number, string, number]),
  }),
  (j, t): Silence => ({ t, moving: j.moving, event_id: j.event_id, fired: j.fired, gaps: j.gaps.map(([t, event_id, resumed]) => ({ t, event_id, resumed })) }),
);

export interface SilenceRule extends CompiledRule {
  minutes: number;
  ms: number;
}
/** A reading only moves a silence's state on: silences fire from `due`, on the watermark. */
const silence: Kind<SilenceRule> = {
  run(rules, e, car, out) {
    const states = car.states;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      const st = states[r.slot] as Silence | undefined;
      if (st === undefined) {
        states[r.slot] = { t: e.event_time, moving: e.speed > 0, event_id: e.event_id, fired: false, gaps: [] };
        car.dirty = true;
        continue;
      }
      if (e.event_time <= st.t) continue;
      // Strictly longer: a reading exactly `minutes` later is in before the watermark reaches last + minutes.
      if (st.moving && !st.fired && e.event_time - st.t > r.ms) st.gaps.push({ t: st.t, event_id: st.event_id, resumed: e.event_time });
      st.t = e.event_time;
      st.moving = e.speed > 0;
      st.event_id = e.event_id;
      st.fired = false;
      car.dirty = true;
    }
    return out;
  },
  codec: silenceCodec,
};

export const isSilence = (r: CompiledRule): r is SilenceRule => r.kind === silence;

/** A silence rule's firings due at a watermark for one car, marked fired. */
export function due(r: SilenceRule, car: CarStates, watermark: number, out: Firings): Firings {
  const st = car.states[r.slot] as Silence | undefined;
  if (st === undefined) return out;
  while (st.gaps.length > 0 && st.gaps[0]!.t + r.ms <= watermark) {
    const g = st.gaps.shift()!;
    out = fire(out, r.rule, r.minutes, r.minutes, g.event_id, g.t + r.ms, car.car_id);
    car.dirty = true;
  }
  if (st.moving && !st.fired && st.t + r.ms <= watermark) {
    st.fired = true;
    out = fire(out, r.rule, r.minutes, r.minutes, st.event_id, st.t + r.ms, car.car_id);
    car.dirty = true;
  }
  return out;
}

interface Band {
  n: number;
  mean: number;
  v: number;
}
interface Baseline {
  t: number;
  /** By band number (floor(speed / band_kmh)); a band not yet seen is a hole. */
  bands: (Band | undefined)[];
}
const baselineCodec = codec(
  z.object({ bands: z.array(z.tuple([z.number().int().nonnegative(), z.number().int().positive(), z.number(), z.number().nonnegative()])) }),
  (s: Baseline) => ({ bands: s.bands.flatMap((b, i) => (b ? [[i, b.n, b.mean, b.v] as [number, number, number, number]] : [])) }),
  (j, t): Baseline => {
    const bands: (Band | undefined)[] = [];
    for (const [i, n, mean, v] of j.bands) bands[i] = { n, mean, v };
    return { t, bands };
  },
);

interface BaselineRule extends CompiledRule {
  k: number;
  warmup: number;
  alpha: number;
  bandKmh: number;
}
const baseline: Kind<BaselineRule> = {
  run(rules, e, car, out) {
    const states = car.states;
    const x = e.rpm;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i]!;
      let st = states[r.slot] as Baseline | undefined;
      if (st === undefined) st = states[r.slot] = { t: e.event_time, bands: [] };
      else if (e.event_time <= st.t) continue;
      st.t = e.event_time;
      car.dirty = true;
      const band = Math.floor(e.speed / r.bandKmh);
      const b = st.bands[band];
      if (b === undefined) {
        st.bands[band] = { n: 1, mean: x, v: 0 };
        continue;
      }
      if (b.n >= r.warmup && b.v > 0) {
        const score = Math.abs(x - b.mean) / Math.sqrt(b.v);
        // An anomalous reading is no evidence of normal: it is not folded in (engine.ts says why).
        if (score > r.k) {
          out = fire(out, r.rule, score, r.k, e.event_id, e.event_time, e.car_id);
          continue;
        }
      }
      const diff = x - b.mean;
      const incr = r.alpha * diff;
      b.mean += incr;
      b.v = (1 - r.alpha) * (b.v + diff * incr);
      b.n++;
    }
    return out;
  },
  codec: baselineCodec,
};

/** `slot`: the next free state slot, used only if the rule is stateful (isStateful). */
export function compileRule(rule: Rule, index: number, slot: number): CompiledRule {
  const c = rule.condition;
  switch (c.kind) {
    case "threshold": {
      const t: Threshold = { rule, index, slot: -1, kind: thresholds as Kind, field: FIELDS[c.field], op: OPS[c.op], value: c.value };
      return c.for_seconds === undefined ? t : ({ ...t, slot, kind: sustained as Kind, forMs: c.for_seconds * 1000 } as SustainedRule);
    }
    case "wrong_gear":
      return { rule, index, slot: -1, kind: wrongGear as Kind, tolerance: c.tolerance } as WrongGear;
    case "harsh_acceleration":
    case "harsh_braking":
      return { rule, index, slot, kind: harsh as Kind, sign: c.kind === "harsh_braking" ? -1 : 1, kmhPerS: c.kmh_per_s } as Harsh;
    case "stuck_sensor":
      return { rule, index, slot, kind: stuck as Kind, field: FIELDS[c.field], readings: c.readings } as StuckRule;
    case "silence":
      return { rule, index, slot, kind: silence as Kind, minutes: c.minutes, ms: c.minutes * 60_000 } as SilenceRule;
    case "baseline":
      return { rule, index, slot, kind: baseline as Kind, k: c.k, warmup: c.warmup, alpha: c.alpha, bandKmh: c.band_kmh } as BaselineRule;
  }
}

export const isStateful = (c: Rule["condition"]) => !(c.kind === "wrong_gear" || (c.kind === "threshold" && c.for_seconds === undefined));
