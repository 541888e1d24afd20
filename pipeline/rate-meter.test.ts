import { describe, expect, it } from "vitest";
import { RateMeter } from "./rate-meter.js";

describe("RateMeter", () => {
  it("gives the increase per second since the oldest reading of the last 10 s", () => {
    const m = new RateMeter();
    expect(m.rate(100, 0)).toBe(0);
    expect(m.rate(150, 5000)).toBe(10);
    expect(m.rate(200, 10_000)).toBe(10);
    // At 16 s the window starts at 6 s: the reading at 5 s is the newest before it, so it is the base, and the one at 0 s is gone.
    expect(m.rate(480, 16_000)).toBe(30);
  });

  it("still gives a rate when read less often than the window", () => {
    const m = new RateMeter();
    m.rate(0, 0);
    expect(m.rate(300, 30_000)).toBe(10);
    expect(m.rate(300, 60_000)).toBe(0);
  });

  it("counts at least one second, so a burst read at once is not a huge rate", () => {
    const m = new RateMeter();
    m.rate(0, 0);
    expect(m.rate(50, 300)).toBe(50);
  });
});
