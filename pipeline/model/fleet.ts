import { z } from "zod";
import { engineRpm, expectedGear, TOP_GEAR } from "./gear.js";
import { Random } from "./random.js";

export const anomalyRatesSchema = z.object({
  /** Chance per event that its car starts a speeding episode (up to ~180 km/h). */
  speeding: z.number().min(0).max(1).default(0.002),
  /** Chance per event that its car starts an over-revving episode (rpm above 6000). */
  highRpm: z.number().min(0).max(1).default(0.001),
  /** Chance per event that its car starts driving in the wrong gear. */
  wrongGear: z.number().min(0).max(1).default(0.001),
  /** Share of events sent malformed, to exercise the dead-letter path. */
  malformed: z.number().min(0).max(1).default(0.002),
});
export type AnomalyRates = z.output<typeof anomalyRatesSchema>;

type Mode = "parked" | "accelerating" | "cruising" | "braking";
type Anomaly = { kind: "speeding" | "high_rpm" | "wrong_gear"; left: number; gearOffset: number };

interface CarState {
  car_id: number;
  mode: Mode;
  speed: number;
  target: number;
  lastTime: number;
  anomaly: Anomaly | null;
}

const ACCEL_KMH_PER_S = 9; // about 2.5 m/s²
const BRAKE_KMH_PER_S = 15;
const ROAD_SPEEDS = [30, 50, 50, 60, 80, 90, 100, 110];
const MALFORMED_KINDS = ["malformed_json", "missing_field", "invalid_value", "out_of_range", "unknown_car"] as const;

/** What the simulator emitted: a reading, or a deliberately broken message. */
export type FleetOutput =
  | { kind: "event"; car_id: number; json: string; speed: number; rpm: number; gear: number }
  | { kind: "malformed"; car_id: number; json: string; reason: (typeof MALFORMED_KINDS)[number] };

/**
 * A fleet of cars driving: each has a driving state, speed changes smoothly,
 * gear follows speed through the gear model and rpm follows speed and gear.
 * Anomalies are episodes that last several readings of one car, so alerts
 * come as incidents, not as noise.
 */
export class Fleet {
  private readonly cars: CarState[];
  private readonly rnd: Random;
  private cursor = 0;
  private malformedCursor = 0;

  constructor(
    carIds: readonly number[],
    private readonly rates: AnomalyRates,
    seed: number,
    startTime: number,
  ) {
    if (carIds.length === 0) throw new Error("the fleet has no cars; run the seed stage first");
    this.rnd = new Random(seed);
    this.cars = carIds.map((car_id) => ({
      car_id,
      mode: this.rnd.chance(0.3) ? "parked" : "cruising",
      speed: 0,
      target: this.rnd.pick(ROAD_SPEEDS),
      lastTime: startTime,
      anomaly: null,
    }));
    for (const c of this.cars) if (c.mode === "cruising") c.speed = c.target;
  }

  /** The next reading, round-robin over the cars, at event time `now` (ms). */
  next(now: number): FleetOutput {
    const car = this.cars[this.cursor]!;
    this.cursor = (this.cursor + 1) % this.cars.length;
    this.drive(car, Math.max(0, (now - car.lastTime) / 1000));
    car.lastTime = now;
    this.maybeStartAnomaly(car);

    // Readings carry one decimal; the gear is chosen for the speed as reported.
    const speed = Math.round(car.speed * 10) / 10;
    let gear = expectedGear(speed);
    let rpm = engineRpm(speed, gear);
    const a = car.anomaly;
    if (a) {
      if (a.kind === "high_rpm") rpm = this.rnd.int(6100, 7600);
      if (a.kind === "wrong_gear") {
        gear = Math.min(TOP_GEAR, Math.max(1, gear + a.gearOffset));
        if (gear === expectedGear(speed)) gear = gear === 1 ? 2 : gear - 1;
        rpm = engineRpm(speed, gear);
      }
      if (--a.left <= 0) this.endAnomaly(car);
    }
    const event = {
      event_id: this.rnd.uuid(),
      event_time: new Date(now).toISOString(),
      car_id: car.car_id,
      speed,
      rpm,
      gear,
    };
    if (this.rates.malformed > 0 && this.rnd.chance(this.rates.malformed)) return this.malform(event);
    return { kind: "event", car_id: car.car_id, json: JSON.stringify(event), speed, rpm, gear };
  }

  private drive(car: CarState, dt: number): void {
    const r = this.rnd;
    switch (car.mode) {
      case "parked":
        car.speed = 0;
        if (r.chance(Math.min(1, 0.05 * dt))) {
          car.mode = "accelerating";
          car.target = r.pick(ROAD_SPEEDS);
        }
        break;
      case "accelerating":
        car.speed = Math.min(car.target, car.speed + ACCEL_KMH_PER_S * dt * r.between(0.7, 1.1));
        if (car.speed >= car.target) car.mode = "cruising";
        break;
      case "cruising":
        car.speed = Math.max(1, car.target + r.between(-2, 2));
        if (car.anomaly?.kind !== "speeding" && r.chance(Math.min(1, 0.03 * dt))) {
          const stop = r.chance(0.3);
          car.target = stop ? 0 : r.pick(ROAD_SPEEDS);
          car.mode = car.target < car.speed ? "braking" : "accelerating";
        }
        break;
      case "braking":
        car.speed = Math.max(car.target, car.speed - BRAKE_KMH_PER_S * dt * r.between(0.6, 1.2));
        if (car.speed <= car.target) car.mode = car.target === 0 ? "parked" : "cruising";
        break;
    }
  }

  private maybeStartAnomaly(car: CarState): void {
    if (car.anomaly || car.speed < 5) return;
    const r = this.rnd;
    if (r.chance(this.rates.speeding)) {
      car.anomaly = { kind: "speeding", left: r.int(6, 20), gearOffset: 0 };
      car.target = r.between(130, 180);
      car.mode = "accelerating";
    } else if (r.chance(this.rates.highRpm)) {
      car.anomaly = { kind: "high_rpm", left: r.int(2, 6), gearOffset: 0 };
    } else if (r.chance(this.rates.wrongGear)) {
      car.anomaly = { kind: "wrong_gear", left: r.int(2, 6), gearOffset: r.chance(0.5) ? -1 : -2 };
    }
  }

  private endAnomaly(car: CarState): void {
    if (car.anomaly?.kind === "speeding") {
      car.target = this.rnd.pick(ROAD_SPEEDS);
      car.mode = "braking";
    }
    car.anomaly = null;
  }

  private malform(event: Record<string, unknown>): FleetOutput {
    const reason = MALFORMED_KINDS[this.malformedCursor++ % MALFORMED_KINDS.length]!;
    const e = { ...event };
    let json: string;
    switch (reason) {
      case "malformed_json":
        json = JSON.stringify(e).slice(0, 25);
        break;
      case "missing_field":
        delete e.car_id;
        json = JSON.stringify(e);
        break;
      case "invalid_value":
        json = JSON.stringify({ ...e, speed: "fast" });
        break;
      case "out_of_range":
        json = JSON.stringify({ ...e, rpm: 99999 });
        break;
      case "unknown_car":
        json = JSON.stringify({ ...e, car_id: 999999 });
        break;
    }
    return { kind: "malformed", car_id: Number(event.car_id), json, reason };
  }
}
