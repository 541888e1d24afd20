/**
 * The 6-speed gear model shared by the simulator (which gear a sane driver
 * picks) and the enrichment (`expected_gear`). Gear 0 is neutral, used only
 * when the car stands still.
 */

/** Upper speed bound (km/h, exclusive) of gears 1..5; gear 6 takes the rest. */
export const GEAR_UPPER_KMH = [20, 40, 60, 85, 110] as const;

/** km/h per 1000 rpm in gears 1..6: a typical compact car's ratios. */
const KMH_PER_1000_RPM = [8, 14, 21, 28, 35, 44] as const;

export const IDLE_RPM = 800;
export const TOP_GEAR = 6;

export function expectedGear(speedKmh: number): number {
  if (speedKmh <= 0) return 0;
  for (let g = 0; g < GEAR_UPPER_KMH.length; g++) if (speedKmh < GEAR_UPPER_KMH[g]!) return g + 1;
  return TOP_GEAR;
}

/** Engine speed for a road speed in a gear; idle in neutral or at a crawl. */
export function engineRpm(speedKmh: number, gear: number): number {
  if (gear <= 0) return IDLE_RPM;
  const ratio = KMH_PER_1000_RPM[Math.min(gear, TOP_GEAR) - 1]!;
  return Math.max(IDLE_RPM, Math.round((speedKmh / ratio) * 1000));
}
