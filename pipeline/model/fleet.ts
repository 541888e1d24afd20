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
  // The detectors' anomalies (harsh braking, stuck sensor, silence, baseline drift): off unless asked for, so
  // a drive with the default rates is the same reading for reading as before they existed.
  /** Chance per event that its car brakes hard: 30–40 km/h per second for 2–4 readings, down to a stop. */
  harshBraking: z.number().min(0).max(1).default(0),
  /** Chance per event that its car's rpm sensor freezes at its value for 20–40 readings. */
  stuckSensor: z.number().min(0).max(1).default(0),
  /** Chance per event that its (moving) car stops sending for 3–8 minutes, then resumes. */
  quietCar: z.number().min(0).max(1).default(0),
  /** Chance per event that its car's engine starts drifting: rpm × (1 + 1–3 % per minute) for 5–15 minutes. */
  engineDrift: z.number().min(0).max(1).default(0),
});
export type AnomalyRates = z.output<typeof anomalyRatesSchema>;

type Mode = "parked" | "accelerating" | "cruising" | "braking";
type Anomaly =
  | { kind: "speeding" | "high_rpm"; left: number }
  | { kind: "wrong_gear"; left: number; gearOffset: number }
  | { kind: "harsh_braking"; left: number; kmhPerS: number }
  | { kind: "stuck_sensor"; left: number; rpm: number | null }
  // `until`, `since`: event times (ms); a quiet car sends nothing until then.
  | { kind: "quiet"; until: number }
  | { kind: "engine_drift"; since: number; until: number; perMinute: number };

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
 * come as incidents, not as noise; a quiet car is passed over in the
 * round-robin, so it really sends nothing until its silence ends.
 */
export class Fleet {
  private readonly cars: CarState[];
  private readonly rnd: Random;
  private readonly rates: AnomalyRates;
  private cursor = 0;
  private malformedCursor = 0;

  /** `rates`: a rate left out takes its default (callers that predate the detectors' anomalies name only theirs). */
  constructor(carIds: readonly number[], rates: z.input<typeof anomalyRatesSchema>, seed: number, startTime: number) {
    if (carIds.length === 0) throw new Error("the fleet has no cars; run the seed stage first");
    this.rates = anomalyRatesSchema.parse(rates);
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
    const car = this.nextCar(now);
    this.drive(car, Math.max(0, (now - car.lastTime) / 1000));
    car.lastTime = now;
    this.maybeStartAnomaly(car, now);

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
      if (a.kind === "stuck_sensor") {
        a.rpm ??= rpm;
        rpm = a.rpm;
      }
      if (a.kind === "engine_drift") rpm = Math.round(rpm * (1 + (a.perMinute * (now - a.since)) / 60_000));
      if ("left" in a ? --a.left <= 0 : now >= a.until) this.endAnomaly(car);
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

  /** The next car round-robin, passing over quiet ones until their silence is over. */
  private nextCar(now: number): CarState {
    for (let i = 0; i < this.cars.length; i++) {
      const car = this.cars[this.cursor]!;
      this.cursor = (this.cursor + 1) % this.cars.length;
      if (car.anomaly?.kind !== "quiet") return car;
      if (now >= car.anomaly.until) {
        car.anomaly = null;
        return car;
      }
    }
    // Every car is quiet: the next one speaks up early rather than the fleet going silent.
    const car = this.cars[this.cursor]!;
    this.cursor = (this.cursor + 1) % this.cars.length;
    car.anomaly = null;
    return car;
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
        car.speed = Math.max(
          car.target,
          car.speed - (car.anomaly?.kind === "harsh_braking" ? car.anomaly.kmhPerS * dt : BRAKE_KMH_PER_S * dt * r.between(0.6, 1.2)),
        );
        if (car.speed <= car.target) car.mode = car.target === 0 ? "parked" : "cruising";
        break;
    }
  }

  private maybeStartAnomaly(car: CarState, now: number): void {
    if (car.anomaly || car.speed < 5) return;
    const r = this.rnd;
    // A zero rate draws nothing: the detectors' anomalies, off by default, leave the random sequence as it was.
    const starts = (rate: number) => rate > 0 && r.chance(rate);
    if (r.chance(this.rates.speeding)) {
      car.anomaly = { kind: "speeding", left: r.int(6, 20) };
      car.target = r.between(130, 180);
      car.mode = "accelerating";
    } else if (r.chance(this.rates.highRpm)) {
      car.anomaly = { kind: "high_rpm", left: r.int(2, 6) };
    } else if (r.chance(this.rates.wrongGear)) {
      car.anomaly = { kind: "wrong_gear", left: r.int(2, 6), gearOffset: r.chance(0.5) ? -1 : -2 };
    } else if (starts(this.rates.harshBraking)) {
      // This reading is the last at speed; `left` counts it, so 2–4 readings follow braking hard.
      car.anomaly = { kind: "harsh_braking", left: r.int(3, 5), kmhPerS: r.between(30, 40) };
      car.target = 0;
      car.mode = "braking";
    } else if (starts(this.rates.stuckSensor)) {
      car.anomaly = { kind: "stuck_sensor", left: r.int(20, 40), rpm: null };
    } else if (starts(this.rates.quietCar)) {
      // This reading, at speed, is the last before the silence.
      car.anomaly = { kind: "quiet", until: now + r.between(3, 8) * 60_000 };
    } else if (starts(this.rates.engineDrift)) {
      car.anomaly = { kind: "engine_drift", since: now, until: now + r.between(5, 15) * 60_000, perMinute: r.between(0.01, 0.03) };
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
