import { describe, expect, it } from "vitest";
import { engineRpm, expectedGear } from "./gear.js";

describe("gear model", () => {
  it.each([
    [0, 0],
    [0.1, 1],
    [19.9, 1],
    [20, 2],
    [39.9, 2],
    [40, 3],
    [60, 4],
    [84.9, 4],
    [85, 5],
    [109.9, 5],
    [110, 6],
    [180, 6],
  ])("%d km/h expects gear %d", (speed, gear) => {
    expect(expectedGear(speed)).toBe(gear);
  });

  it("keeps rpm under 4200 at every speed up to 180 km/h in the expected gear", () => {
    for (let v = 0; v <= 180; v += 0.5) {
      const rpm = engineRpm(v, expectedGear(v));
      expect(rpm).toBeGreaterThanOrEqual(800);
      expect(rpm).toBeLessThan(4200);
    }
  });

  it("revs high in too low a gear", () => {
    expect(engineRpm(60, 1)).toBe(7500);
    expect(engineRpm(100, 5)).toBe(2857);
    expect(engineRpm(50, 0)).toBe(800);
  });
});
