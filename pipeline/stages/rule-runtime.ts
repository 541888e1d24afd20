import type { EnrichedEvent } from "../../domain/events.js";
import type { Rule } from "../../domain/rule-spec.js";
import { RuleTable } from "../../state/rules.js";
import { detectorExamples, firstWaveRules } from "../model/rules.js";
import { RuleEngine, type RuleStateRow } from "../rules/engine.js";
import type { StageDeps } from "../stage.js";

/** The deployment's rule table, seeded on its first start with the first wave's rules from the configured thresholds, and the detector examples disabled. */
export function seededRuleTable(deps: Pick<StageDeps, "state" | "settings">): RuleTable {
  const table = new RuleTable(deps.state);
  const clear = deps.settings.incidentGapMs / 1000;
  table.seed(firstWaveRules(deps.settings.thresholds, clear), Date.now(), detectorExamples(clear));
  return table;
}

const ENRICHED_COLUMNS = "event_id, event_time, car_id, speed, rpm, gear, driver_id, brand_name, model_name, color_name, expected_gear";

/**
 * The alert stage's rules: the rule table's rows, reloaded when the table's
 * revision moves (checked before every batch: one indexed read, so a change
 * is live at the next batch in every process), for the stage's rule engines
 * (one per input partition); and a car's engine state restored from
 * telemetry.rule_state and the stored readings when an engine meets the car
 * (after a restart, or a partition that moved here).
 */
export class RuleRuntime {
  private readonly table: RuleTable;
  private revision = -1;
  private byId = new Map<string, Rule>();
  /** The table's rules as last read, enabled or not. */
  list: readonly Rule[] = [];

  constructor(private readonly deps: StageDeps) {
    this.table = seededRuleTable(deps);
    this.refresh();
  }

  /** Reloads the rules if they changed; true when they did. */
  refresh(): boolean {
    const revision = this.table.revision();
    if (revision === this.revision) return false;
    this.revision = revision;
    this.list = this.table.list();
    this.byId = new Map(this.list.map((r) => [r.id, r]));
    return true;
  }

  newEngine(): RuleEngine {
    return new RuleEngine(this.list);
  }

  /** A rule's clear time; a rule deleted since keeps the first wave's. */
  clearMs(ruleId: string): number {
    const r = this.byId.get(ruleId);
    return r ? r.clear_seconds * 1000 : this.deps.settings.incidentGapMs;
  }

  /**
   * Before their readings, for cars the engine has not met: their saved
   * state back, then their stored readings since it was saved replayed (their
   * firings were alerted on when they were stored; each rule skips what its
   * state already holds).
   */
  async restoreCars(engine: RuleEngine, cars: readonly number[]): Promise<void> {
    if (!engine.hasStateful || cars.length === 0) return;
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
    if (saved.length === 0) return;
    engine.restore(saved);
    const since = Math.min(...saved.map((r) => r.as_of));
    const stored = await lakehouse.select<Record<string, unknown>>(
      `SELECT ${ENRICHED_COLUMNS} FROM telemetry.cars_enriched WHERE car_id IN (${marks}) AND event_time >= ? ORDER BY event_time, event_id`,
      [...cars, new Date(since)],
    );
    for (const r of stored) engine.evaluate({ ...(r as unknown as EnrichedEvent), event_time: lakehouse.toMillis(r.event_time) });
  }

  /** State rows for telemetry.rule_state (written with the readings): of the cars changed since their last save, or only of those never saved. */
  stateRows(engine: RuleEngine, which: "dirty" | "unsaved"): object[] {
    if (!engine.hasStateful) return [];
    return engine.snapshot(which).map((r) => ({ rule_id: r.rule_id, rule_version: r.version, car_id: r.car_id, as_of: r.as_of, state: r.state }));
  }
}
