import { createHash } from "node:crypto";
import { z } from "zod";

/**
 * The one incident id: 16 hex characters (64 bits) of SHA-256 over the first
 * alert's event id and the rule's id, so a replay gives the same id and a
 * million incidents collide with odds of about 3 in 100 million. The first
 * wave's ids (8 hex characters of the event id and a rule letter, 32 bits,
 * colliding within weeks at a fleet's rate) are converted at start.
 */
export function incidentId(eventId: string, ruleId: string): string {
  return createHash("sha256").update(`${eventId}|${ruleId}`).digest("hex").slice(0, 16);
}

export const INCIDENT_ID_PATTERN = /^[0-9a-f]{16}$/;
export const incidentIdSchema = z.string().regex(INCIDENT_ID_PATTERN, "an incident id: 16 hex characters, e.g. 3f9a0c12d4e5b678");

/** The first wave's form, only for the conversion at start. */
export const LEGACY_INCIDENT_ID = /^[0-9a-f]{8}[srg]$/;
