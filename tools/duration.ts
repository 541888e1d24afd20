import { z } from "zod";

const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** A period like "15m", "1h" or "7d" (at most 90 days), parsed to milliseconds. */
export const durationSchema = z
  .string()
  .trim()
  .toLowerCase()
  .regex(/^\d{1,4}[mhd]$/, 'a period like "15m", "1h" or "7d"')
  .transform((s) => Number(s.slice(0, -1)) * UNIT_MS[s.at(-1) as keyof typeof UNIT_MS])
  .refine((ms) => ms > 0 && ms <= 90 * UNIT_MS.d, "between 1 minute and 90 days");
