import type { EnrichedEvent } from "../../domain/events.js";
import type { Rule } from "../../domain/rule-spec.js";
import { RuleTable } from "../../state/rules.js";
import { firstWaveRules } from "../model/rules.js";
import { RuleEngine, type RuleStateRow } from "../rules/engine.js";
import type { StageDeps } from "../stage.js";

/** The deployment's rule table, seeded on its first start with the first wave's rules from the configured thresholds. */
export function seededRuleTable(deps: Pick<StageDeps, "state" | "settings">): RuleTable {
  const table = new RuleTable(deps.state);
  table.seed(firstWaveRules(deps.settings.thresholds, deps.settings.incidentGapMs / 1000));
  return table;
}

const ENRICHED_COLUMNS = "event_id, event_time, car_id, speed, rpm, gear, driver_id, brand_name, model_name, color_name, expected_gear";

/**
 * The alert stage's rules: the rule table's rows in a rule engine, reloaded
 * when the table's revision moves (checked before every batch: one indexed
 * read, so a change is live at the next batch in every process), and the
 * engine's per-car state restored from telemetry.rule_state and the stored
 * readings for a car this engine has not seen (after a restart, or a
 * partition that moved here).
 */
export class RuleRuntime {
  private readonly table: RuleTable;
  private revision = -1;
  private byId = new Map<string, Rule>();
  engine = new RuleEngine([]);

  constructor(private readonly deps: StageDeps) {
    this.table = seededRuleTable(deps);
    this.refresh();
  }

  /** Reloads the rules if they changed; true when they did. */
  refresh(): boolean {
    const revision = this.table.revision();
    if (revision === this.revision) return false;
    this.revision = revision;
    const rules = this.table.list();
    this.engine.setRules(rules);
    this.byId = new Map(rules.map((r) => [r.id, r]));
    return true;
  }

  /** Partitions moved: every car's state is judged again from what is stored (a car that left must not fire silence here). */
  reset(): void {
    this.engine = new RuleEngine(this.engine.rules);
  }

  /** A rule's clear time; a rule deleted since keeps the first wave's. */
  clearMs(ruleId: string): number {
    const r = this.byId.get(ruleId);
    return r ? r.clear_seconds * 1000 : this.deps.settings.incidentGapMs;
  }

  /**
   * Before the batch's readings: the cars this engine has no state for get
   * their saved state back, then their stored readings since it was saved
   * are replayed (their firings were alerted on when they were stored).
   */
  async restoreCars(batch: readonly EnrichedEvent[]): Promise<void> {
    if (!this.engine.hasStateful) return;
    const cars = [...new Set(batch.filter((e) => !this.engine.hasState(e.car_id)).map((e) => e.car_id))];
    if (cars.length === 0) return;
    const { lakehouse } = this.deps;
    const marks = cars.map(() => "?").join(",");
    const rows = await lakehouse.select<{ rule_id: string; rule_version: number; car_id: number; as_of: unknown; state: unknown }>(
      `SELECT rule_id, rule_version, car_id, as_of, state FROM telemetry.rule_state WHERE car_id IN (${marks})`,
      cars,
    );
    const saved: RuleStateRow[] = rows.map((r) => ({
      rule_id: r.rule_id,
      version: Number(r.rule_version),
      car_id: Number(r.car_id),
      as_of: lakehouse.toMillis(r.as_of),
      state: typeof r.state === "string" ? JSON.parse(r.state) : r.state,
    }));
    this.engine.restore(saved);
    if (saved.length > 0) {
      const since = Math.min(...saved.map((r) => r.as_of));
      const stored = await lakehouse.select<Record<string, unknown>>(
        `SELECT ${ENRICHED_COLUMNS} FROM telemetry.cars_enriched WHERE car_id IN (${marks}) AND event_time >= ? ORDER BY event_time, event_id`,
        [...cars, new Date(since)],
      );
      for (const r of stored) this.engine.evaluate({ ...(r as unknown as EnrichedEvent), event_time: lakehouse.toMillis(r.event_time) });
    }
    // Cars with nothing saved start cold; mark them seen so the next batch does not look again.
    for (const car of cars) if (!this.engine.hasState(car)) this.engine.touch(car);
  }

  /** State rows of the cars changed since the last call, for telemetry.rule_state (written with the readings). */
  stateRows(): object[] {
    if (!this.engine.hasStateful) return [];
    return this.engine.snapshot(true).map((r) => ({ rule_id: r.rule_id, rule_version: r.version, car_id: r.car_id, as_of: r.as_of, state: r.state }));
  }
}
