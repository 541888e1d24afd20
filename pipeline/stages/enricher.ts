import { type DeadLetter, type DeadLetterReason, type EnrichedEvent, type SensorEvent, storedPayload } from "../../domain/events.js";
import { expectedGear } from "../model/gear.js";
import { parseSensorMessage } from "../model/parse.js";
import { readingKey, readingsWhere } from "../model/reading-key.js";
import type { StageDeps } from "../stage.js";
import type { Envelope, OutMessage } from "../transport/transport.js";
import { type CarInfo, DimsCache } from "./dims-cache.js";

/** What became of one message: stored now, stored before (the same values), or refused with a dead-letter reason. */
export type Outcome = { kind: "accepted" } | { kind: "duplicate" } | { kind: "rejected"; reason: DeadLetterReason; detail: string };

export interface EnrichedBatch {
  /** Every valid reading to forward, also one stored before: a redelivery must still reach the alert stage. With the partition it was read from. */
  out: (OutMessage<EnrichedEvent> & { partition?: number })[];
  /** One per message of the batch, in its order. */
  outcomes: Outcome[];
}

// Field by field, not by spreading: one object shape for every reading, which keeps this hot path fast.
export function join(e: Omit<EnrichedEvent, keyof CarInfo | "expected_gear">, car: CarInfo): EnrichedEvent {
  return {
    event_id: e.event_id,
    event_time: e.event_time,
    car_id: e.car_id,
    speed: e.speed,
    rpm: e.rpm,
    gear: e.gear,
    driver_id: car.driver_id,
    brand_name: car.brand_name,
    model_name: car.model_name,
    color_name: car.color_name,
    expected_gear: expectedGear(e.speed),
  };
}

/** The same reading sent again: every value equal (the JSON text may differ). */
const sameReading = (a: SensorEvent, b: SensorEvent) => a.car_id === b.car_id && a.speed === b.speed && a.rpm === b.rpm && a.gear === b.gear;

const conflict = (kept: SensorEvent) =>
  `event_id ${kept.event_id} at ${new Date(kept.event_time).toISOString()} was accepted already with other values (car ${kept.car_id}, speed ${kept.speed}, rpm ${kept.rpm}, gear ${kept.gear}); the first is kept`;

/**
 * The one reading intake, wherever readings enter: the enrich stage's
 * batches and the ingestion API. Parses each message (bounded to the
 * server's clock), joins its car, keeps the first reading of an event_id,
 * and commits the raw copies with the batch's dead letters before it returns:
 * what it calls accepted can no longer be lost.
 */
export class Enricher {
  readonly dims: DimsCache;

  constructor(
    private readonly deps: StageDeps,
    private readonly stage: string,
  ) {
    this.dims = new DimsCache(deps.lakehouse);
  }

  /**
   * Parses, joins and checks a batch without storing anything: rejected
   * messages get their dead letter, a repeated reading within the batch its
   * outcome, and the first of each reading key waits in `first`.
   * `allowedCars`: refuse readings of other cars (an ingest token limited to some).
   */
  async classify(batch: readonly Envelope<string>[], now: number, allowedCars?: ReadonlySet<number>): Promise<Classified> {
    const parsed = batch.map((m) => parseSensorMessage(m.value, this.deps.settings.eventTime, now));
    await this.dims.refreshIfNeeded(parsed.some((p) => p.ok && !this.dims.get(p.event.car_id)));
    const c: Classified = { batch, now, outcomes: new Array(batch.length), dead: [], first: new Map() };
    // The first reading of a key in the batch is the one that counts; a later one is a duplicate
    // (the same values: resent) or a conflict (other values under a used key), never a second row.
    parsed.forEach((p, i) => {
      if (!p.ok) return this.reject(c, i, p.reason, p.detail);
      const car = this.dims.get(p.event.car_id);
      if (!car) return this.reject(c, i, "unknown_car", `car ${p.event.car_id} is not in dims.cars`);
      if (allowedCars && !allowedCars.has(p.event.car_id))
        return this.reject(c, i, "car_not_allowed", `this token may not send readings of car ${p.event.car_id}`);
      const key = readingKey(p.event);
      const seen = c.first.get(key);
      if (!seen) c.first.set(key, { i, event: p.event, car });
      else if (sameReading(seen.event, p.event)) c.outcomes[i] = { kind: "duplicate" };
      else this.reject(c, i, "conflicting_duplicate", conflict(seen.event));
    });
    return c;
  }

  private reject(c: Classified, i: number, reason: DeadLetterReason, detail: string): void {
    c.outcomes[i] = { kind: "rejected", reason, detail };
    const m = c.batch[i]!;
    c.dead.push({ id: m.id, received_at: c.now, stage: this.stage, reason, detail, payload: storedPayload(m.value) });
  }

  /**
   * Of the waiting readings with these keys, those stored before: the same
   * values are duplicates, other values conflicts (dead letters, no longer
   * waiting). Looked up on the tables' key (time, then id). Returns the dead
   * letters this added, not yet written.
   */
  async checkStored(c: Classified, keys: readonly string[]): Promise<DeadLetter[]> {
    const waiting = keys.map((k) => c.first.get(k)!.event);
    if (waiting.length === 0) return [];
    const { where, params } = readingsWhere(waiting);
    const rows = await this.deps.lakehouse.select<{ json: string }>(`SELECT json FROM telemetry.cars_raw WHERE ${where}`, params);
    const before = c.dead.length;
    for (const r of rows) {
      const s = parseSensorMessage(r.json);
      if (!s.ok) continue; // stored, so it parsed once; a later schema change leaves it to the rows that do parse
      const key = readingKey(s.event);
      const k = c.first.get(key);
      if (!k) continue; // another id's time, or another time's id
      if (sameReading(s.event, k.event)) c.outcomes[k.i] = { kind: "duplicate" };
      else {
        c.first.delete(key);
        this.reject(c, k.i, "conflicting_duplicate", conflict(s.event));
      }
    }
    return c.dead.slice(before);
  }

  /** Classifies a batch and commits its raw copies with its dead letters: what it calls accepted can no longer be lost. */
  async store(batch: readonly Envelope<string>[], now: number, allowedCars?: ReadonlySet<number>): Promise<EnrichedBatch> {
    const { lakehouse } = this.deps;
    const c = await this.classify(batch, now, allowedCars);
    const raw = [...c.first.values()].map(({ i, event }) => ({
      event_id: event.event_id,
      event_time: event.event_time,
      received_at: now,
      json: batch[i]!.value,
    }));
    // Insert-once by (event_time, event_id): a redelivered or resent reading adds no row.
    const dead = [...c.dead];
    const fresh = new Set((await lakehouse.insertNew("cars_raw", raw, () => [{ table: "dead_letters", rows: dead }])).map(readingKey));
    const conflicts = await this.checkStored(
      c,
      [...c.first.keys()].filter((k) => !fresh.has(k)),
    );
    if (conflicts.length > 0) await lakehouse.write([{ table: "dead_letters", rows: conflicts }]);
    for (const [k, { i }] of c.first) c.outcomes[i] ??= fresh.has(k) ? { kind: "accepted" } : { kind: "duplicate" };
    this.countDuplicates(c.outcomes);
    return {
      out: [...c.first.values()].map(({ i, event, car }) => ({ key: String(event.car_id), value: join(event, car), partition: batch[i]!.partition })),
      outcomes: c.outcomes,
    };
  }

  countDuplicates(outcomes: readonly Outcome[]): void {
    const duplicates = outcomes.filter((o) => o.kind === "duplicate").length;
    if (duplicates > 0) this.deps.metrics?.duplicates.inc(duplicates);
  }
}

/** A batch read and checked, not yet stored. */
export interface Classified {
  batch: readonly Envelope<string>[];
  now: number;
  /** Filled for the messages decided so far. */
  outcomes: Outcome[];
  dead: DeadLetter[];
  /** The first reading of each reading key (event_time/event_id), still to store, by key. */
  first: Map<string, { i: number; event: SensorEvent; car: CarInfo }>;
}
