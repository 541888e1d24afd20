import { expectedGear } from "../../pipeline/model/gear.js";

let next = 0;

/**
 * A valid message for sensors-sample, keyed by its car, with a fresh event
 * id. In the gear the gear model expects at that speed, so only speeding can
 * alert on it.
 */
export function sensorMessage(car: number, eventTime: string, speed: number): { key: string; value: string } {
  const event_id = `6f1c2a4e-9b1d-4c3e-8f00-${String(++next).padStart(12, "0")}`;
  return { key: String(car), value: JSON.stringify({ event_id, event_time: eventTime, car_id: car, speed, rpm: 2500, gear: expectedGear(speed) }) };
}
