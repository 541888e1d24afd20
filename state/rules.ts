import { randomBytes } from "node:crypto";
import type Database from "better-sqlite3";
import { InputError } from "../core/errors.js";
import { type Rule, type RuleSpec, ruleSpecSchema } from "../domain/rule-spec.js";
import { connection } from "./connection.js";
import type { StateStore } from "./store.js";

type Row = { id: string; name: string; spec: string; enabled: number; version: number; updated_by: string; updated_at: number };
export type RuleChange = "created" | "updated" | "enabled" | "disabled" | "deleted" | "seeded";

/** A rule as it was at one version (what an alert row's rule_id and rule_version point to). */
export interface RuleVersion extends Rule {
  change: RuleChange;
}

function toRule(r: Row): Rule {
  // Parsed again on the way out: a row written by a newer carwatch with a field this one does not know fails here, loudly.
  return {
    ...ruleSpecSchema.parse({ name: r.name, ...JSON.parse(r.spec) }),
    id: r.id,
    enabled: r.enabled === 1,
    version: r.version,
    updated_by: r.updated_by,
    updated_at: r.updated_at,
  };
}

/** What a version stores besides its name (a Rule passed here keeps its bookkeeping out). */
const specJson = (s: RuleSpec) => JSON.stringify({ condition: s.condition, scope: s.scope, severity: s.severity, clear_seconds: s.clear_seconds });

/**
 * The rule table, in the state database: control-plane data shared by every
 * process of a deployment, changed in one transaction with its version
 * history, and polled by the alert stages through `revision()` (one row, one
 * integer), so a change is live everywhere within a poll.
 */
export class RuleTable {
  readonly #db: Database.Database;

  // Prepared once: every alert stage reads it before each batch.
  readonly #revision: Database.Statement;

  constructor(state: StateStore) {
    this.#db = state[connection];
    this.#revision = this.#db.prepare("SELECT revision FROM rule_meta WHERE id = 1").pluck();
  }

  /** Grows with every change; equal revisions mean equal rules. */
  revision(): number {
    return this.#revision.get() as number;
  }

  /** In the order they were created. */
  list(): Rule[] {
    return (this.#db.prepare("SELECT * FROM rules ORDER BY rowid").all() as Row[]).map(toRule);
  }

  /** By id or by name. */
  get(idOrName: string): Rule | undefined {
    const r = this.#db.prepare("SELECT * FROM rules WHERE id = ? OR name = ?").get(idOrName, idOrName) as Row | undefined;
    return r && toRule(r);
  }

  /** Every version of a rule, oldest first (kept after deletion, for the alerts it raised). */
  history(id: string): RuleVersion[] {
    const rows = this.#db.prepare("SELECT * FROM rule_versions WHERE id = ? ORDER BY version").all(id) as (Row & { change: RuleChange })[];
    return rows.map((r) => ({ ...toRule(r), change: r.change }));
  }

  /**
   * The first start's rules (the first wave's thresholds, from the
   * configuration), once per database: deleting them later does not bring them back.
   */
  seed(specs: readonly RuleSpec[], now = Date.now(), disabled: readonly RuleSpec[] = []): boolean {
    return this.#db
      .transaction(() => {
        if (this.#db.prepare("SELECT seeded FROM rule_meta WHERE id = 1").pluck().get() === 1) return false;
        // The first wave's rules keep their names as ids: rows written before rules were data carry only the name.
        for (const spec of specs) this.insert(spec.name, spec, true, 1, "seed", now, "seeded");
        for (const spec of disabled) this.insert(spec.name, spec, false, 1, "seed", now, "seeded");
        this.#db.prepare("UPDATE rule_meta SET seeded = 1, revision = revision + 1 WHERE id = 1").run();
        return true;
      })
      .immediate();
  }

  create(spec: RuleSpec, by: string, now = Date.now()): Rule {
    return this.change(() => {
      if (this.get(spec.name)) throw new InputError(`a rule named ${spec.name} exists already`);
      const id = `r${randomBytes(6).toString("hex")}`;
      this.insert(id, spec, true, 1, by, now, "created");
      return this.require(id);
    });
  }

  /** A new version with a new condition, scope, severity or clear time; the name stays. */
  update(idOrName: string, spec: Omit<RuleSpec, "name">, by: string, now = Date.now()): Rule {
    return this.change(() => {
      const cur = this.require(idOrName);
      this.next(cur, { ...spec, name: cur.name }, cur.enabled, by, now, "updated");
      return this.require(cur.id);
    });
  }

  setEnabled(idOrName: string, enabled: boolean, by: string, now = Date.now()): Rule {
    return this.change(() => {
      const cur = this.require(idOrName);
      if (cur.enabled !== enabled) this.next(cur, cur, enabled, by, now, enabled ? "enabled" : "disabled");
      return this.require(cur.id);
    });
  }

  /** Gone from the table; its versions stay in the history. */
  delete(idOrName: string, by: string, now = Date.now()): Rule {
    return this.change(() => {
      const gone = this.require(idOrName);
      this.#db.prepare("DELETE FROM rules WHERE id = ?").run(gone.id);
      this.#db
        .prepare("INSERT INTO rule_versions (id, version, name, spec, enabled, change, updated_by, updated_at) VALUES (?, ?, ?, ?, 0, 'deleted', ?, ?)")
        .run(gone.id, gone.version + 1, gone.name, specJson(gone), by, now);
      return gone;
    });
  }

  /** One change and the revision that makes every process reload, in one transaction. */
  private change(body: () => Rule): Rule {
    return this.#db
      .transaction(() => {
        const rule = body();
        this.#db.prepare("UPDATE rule_meta SET revision = revision + 1 WHERE id = 1").run();
        return rule;
      })
      .immediate();
  }

  private require(idOrName: string): Rule {
    const r = this.get(idOrName);
    if (!r) throw new InputError(`no rule ${idOrName} (list_rules shows them)`);
    return r;
  }

  private next(cur: Rule, spec: RuleSpec, enabled: boolean, by: string, now: number, change: RuleChange): void {
    const version = cur.version + 1;
    this.#db
      .prepare("UPDATE rules SET spec = ?, enabled = ?, version = ?, updated_by = ?, updated_at = ? WHERE id = ?")
      .run(specJson(spec), enabled ? 1 : 0, version, by, now, cur.id);
    this.version(cur.id, spec, enabled, version, by, now, change);
  }

  private insert(id: string, spec: RuleSpec, enabled: boolean, version: number, by: string, now: number, change: RuleChange): void {
    this.#db
      .prepare("INSERT INTO rules (id, name, spec, enabled, version, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
      .run(id, spec.name, specJson(spec), enabled ? 1 : 0, version, by, now);
    this.version(id, spec, enabled, version, by, now, change);
  }

  private version(id: string, spec: RuleSpec, enabled: boolean, version: number, by: string, now: number, change: RuleChange): void {
    this.#db
      .prepare("INSERT INTO rule_versions (id, version, name, spec, enabled, change, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
      .run(id, version, spec.name, specJson(spec), enabled ? 1 : 0, change, by, now);
  }
}
