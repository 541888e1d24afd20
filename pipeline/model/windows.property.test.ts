/**
 * Generated streams (fast-check, fixed seed) through the WindowClock, driven
 * the way the aggregate stage drives it: outliers ahead of the clock,
 * silences, duplicates and late readings. Every window closes once, never
 * before the wall clock has passed its end plus the allowed lateness, and
 * the stream never stalls.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { WINDOW_MS, WindowClock, windowStart } from "./windows.js";

const T0 = Date.UTC(2026, 10, 28, 12, 0, 0);
const WATERMARK = 10_000;
const SKEW = 120_000;

type Step = { gap: number; kind: "normal" | "late" | "ahead" | "again"; by: number };
const step: fc.Arbitrary<Step> = fc.record({
  // Mostly a steady trickle, sometimes a long silence.
  gap: fc.oneof({ weight: 9, arbitrary: fc.integer({ min: 0, max: 5_000 }) }, { weight: 1, arbitrary: fc.integer({ min: 30_000, max: 300_000 }) }),
  kind: fc.constantFrom("normal", "normal", "normal", "normal", "late", "ahead", "again"),
  by: fc.integer({ min: 0, max: 200_000 }),
});

function run(steps: readonly Step[]) {
  const clock = new WindowClock(WATERMARK, null);
  const stored: number[] = [];
  const closes: { start: number; at: number }[] = [];
  const onTime = new Set<number>();
  let now = T0;
  const observe = (t: number) => {
    if (!clock.isLate(t)) onTime.add(windowStart(t));
    stored.push(t);
    clock.observe(t, t, 0, 1, now);
    // As the aggregate stage: close what the watermark passed; skip ahead over windows without a reading.
    for (let start = clock.closable(now); start !== null; start = clock.closable(now)) {
      closes.push({ start, at: now });
      const later = stored.filter((s) => s >= start + WINDOW_MS);
      clock.closed(start, later.length > 0 ? windowStart(Math.min(...later)) : start + WINDOW_MS);
    }
  };
  let last = T0;
  for (const s of steps) {
    now += s.gap;
    // Event times as intake lets them through: at most SKEW ahead of the clock.
    const t = s.kind === "late" ? now - 15_000 - s.by : s.kind === "ahead" ? now + (s.by % SKEW) : s.kind === "again" ? last : now - (s.by % 3_000);
    observe(t);
    last = t;
  }
  // The fleet keeps driving: one more minute and a half of normal readings.
  for (let i = 0; i < 9; i++) {
    now += 10_000;
    observe(now);
  }
  return { closes, onTime, now };
}

const corpus = JSON.parse(readFileSync(new URL("../../test/corpus/windows/streams.json", import.meta.url), "utf8")) as { cases: { steps: Step[] }[] };

describe("windows under generated streams", () => {
  it("close every window once, never early, and never stall", () => {
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 200 }), (steps) => {
        const { closes, onTime, now } = run(steps);
        const starts = closes.map((c) => c.start);
        // Once each, in order.
        for (let i = 1; i < starts.length; i++) expect(starts[i]!).toBeGreaterThan(starts[i - 1]!);
        // Never before the wall clock passed the window's end plus the lateness: no outlier closes a window early.
        for (const c of closes) expect(c.at).toBeGreaterThanOrEqual(c.start + WINDOW_MS + WATERMARK);
        // Never stalls: every window that received a reading on time and ended before the lateness is closed.
        for (const w of onTime) if (w + WINDOW_MS + WATERMARK <= now) expect(starts).toContain(w);
      }),
      { seed: 4242, numRuns: 300, examples: corpus.cases.map((c) => [c.steps]) },
    );
  });
});
