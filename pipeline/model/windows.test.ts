import { describe, expect, it } from "vitest";
import { WINDOW_MS, WindowClock, windowStart } from "./windows.js";

const T = Date.UTC(2026, 10, 28, 12, 0, 0);
/** The wall clock an hour after the drive: the events are all in its past. */
const W = T + 3_600_000;

describe("windows", () => {
  it("assigns an event to the minute it falls in, start inclusive and end exclusive", () => {
    expect(windowStart(T)).toBe(T);
    expect(windowStart(T + 59_999)).toBe(T);
    expect(windowStart(T + 60_000)).toBe(T + WINDOW_MS);
    expect(windowStart(T - 1)).toBe(T - WINDOW_MS);
  });

  it("closes a window only when the watermark (max event time - 10 s) reaches its end", () => {
    const c = new WindowClock(10_000, null);
    expect(c.closable()).toBeNull();
    c.observe(T + 5_000, T + 65_000);
    expect(c.nextStart).toBe(T);
    expect(c.closable()).toBeNull(); // watermark T+55s
    c.observe(T + 69_999, T + 69_999);
    expect(c.closable()).toBeNull(); // watermark T+59.999s
    c.observe(T + 70_000, T + 70_000);
    expect(c.closable()).toBe(T); // watermark T+60s
  });

  it("counts events for closed windows as late, not those within the watermark", () => {
    const c = new WindowClock(10_000, null);
    c.observe(T, T + 70_000);
    c.closed(T, T + WINDOW_MS);
    expect(c.isLate(T + 59_999)).toBe(true);
    expect(c.isLate(T + 60_000)).toBe(false);
    // Within the watermark: arrives out of order, still on time.
    expect(c.isLate(T + 61_000)).toBe(false);
  });

  it("follows the slowest partition, and stops waiting for one that stays silent", () => {
    const c = new WindowClock(10_000, null, 30_000, W);
    c.observe(T, T + 120_000, 0, 3, W + 1000);
    c.observe(T, T + 90_000, 1, 3, W + 1000);
    expect(c.closable(W + 1000)).toBeNull(); // partition 2 has not reported yet
    c.observe(T, T + 65_000, 2, 3, W + 2000);
    expect(c.watermark(W + 2000)).toBe(T + 55_000);
    expect(c.closable(W + 2000)).toBeNull();
    c.observe(T + 65_000, T + 75_000, 2, 3, W + 3000);
    expect(c.closable(W + 3000)).toBe(T); // slowest: T+75s - 10s
    c.closed(T, T + WINDOW_MS);
    // Partition 2 falls silent; after 30 s of wall time it no longer holds the others back.
    c.observe(T, T + 150_000, 0, 3, W + 20_000);
    c.observe(T, T + 150_000, 1, 3, W + 20_000);
    expect(c.closable(W + 20_000)).toBeNull();
    expect(c.closable(W + 34_000)).toBe(T + WINDOW_MS);
  });

  it("never lets progress run ahead of the wall clock: one reading from a wrong clock closes nothing early", () => {
    const now = T + 30_000; // the window [T, T+60s) is being filled
    const c = new WindowClock(10_000, null);
    c.observe(T, T + 30_000, 0, 1, now);
    c.observe(T + 86_400_000, T + 86_400_000, 0, 1, now); // a car dated a day ahead
    expect(c.watermark(now)).toBe(T + 20_000);
    expect(c.closable(now)).toBeNull();
    // The others keep filling the window; it closes when their time (and the clock) has passed its end.
    c.observe(T + 70_000, T + 70_000, 0, 1, T + 70_000);
    expect(c.closable(T + 70_000)).toBe(T);
    c.closed(T, T + WINDOW_MS);
    expect(c.isLate(T + 59_000)).toBe(true);
    expect(c.isLate(T + 61_000)).toBe(false);
  });

  it("skips ahead over empty windows", () => {
    const c = new WindowClock(0, T);
    c.observe(T, T + 10 * WINDOW_MS);
    c.closed(T, T + 5 * WINDOW_MS);
    expect(c.closable()).toBe(T + 5 * WINDOW_MS);
  });
});
