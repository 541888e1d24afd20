import { incidentId, LEGACY_INCIDENT_ID } from "../../domain/incident-id.js";
import { OpsState } from "../../state/ops-state.js";
import type { StageDeps } from "../stage.js";

/**
 * Converts the first wave's incident ids (8 hex characters and a rule
 * letter) to the one id schema (domain/incident-id.ts), in the incidents,
 * their alerts and their acknowledgements: each new id derives from the
 * incident's first alert and its rule (the first wave's rules have their
 * names as ids), as a live incident's does. Idempotent: nothing is left to
 * convert the second time. Returns how many incidents it converted.
 */
export async function convertLegacyIncidentIds(deps: Pick<StageDeps, "lakehouse" | "state" | "log">): Promise<number> {
  const { lakehouse } = deps;
  const legacy = (await lakehouse.select<{ incident_id: string }>("SELECT incident_id FROM telemetry.incidents WHERE length(incident_id) = 9"))
    .map((r) => r.incident_id)
    .filter((id) => LEGACY_INCIDENT_ID.test(id));
  if (legacy.length === 0) return 0;
  const mapping = new Map<string, string>();
  for (let i = 0; i < legacy.length; i += 500) {
    const chunk = legacy.slice(i, i + 500);
    const firsts = await lakehouse.select<{ incident_id: string; rule: string; event_id: string; event_time: unknown }>(
      `SELECT incident_id, rule, event_id, event_time FROM telemetry.alerts WHERE incident_id IN (${chunk.map(() => "?").join(",")})`,
      chunk,
    );
    const first = new Map<string, { rule: string; event_id: string; t: number }>();
    for (const a of firsts) {
      const t = lakehouse.toMillis(a.event_time);
      const cur = first.get(a.incident_id);
      if (!cur || t < cur.t || (t === cur.t && a.event_id < cur.event_id)) first.set(a.incident_id, { rule: a.rule, event_id: a.event_id, t });
    }
    for (const [old, a] of first) mapping.set(old, incidentId(a.event_id, a.rule));
  }
  const incidents = await lakehouse.replaceValues("incidents", "incident_id", mapping);
  const alerts = await lakehouse.replaceValues("alerts", "incident_id", mapping);
  const acks = new OpsState(deps.state).renameIncidents(mapping);
  deps.log.info({ incidents, alerts, acks }, "incident ids converted to the 64-bit form");
  return mapping.size;
}
