import type Database from "better-sqlite3";

/**
 * The state database's schema, one migration per version: a file at
 * `PRAGMA user_version` N gets migrations N+1.. in order. Append only; never
 * edit a migration a release has applied. The first seven are the
 * CREATE ... IF NOT EXISTS statements each module ran at start-up before
 * versions existed, in the same order, so a file from then (version 0 with
 * its tables) passes through them unchanged.
 */
export type Migration =
  | { readonly name: string; readonly sql: string }
  /**
   * Columns added to a table that lacks them. SQLite has no ADD COLUMN IF
   * NOT EXISTS, and a file from before versions may have them or not: its
   * tables are as the carwatch that made them left them.
   */
  | { readonly name: string; readonly table: string; readonly addColumns: readonly string[] };

export const MIGRATIONS: readonly Migration[] = [
  {
    name: "stage runs",
    sql: `CREATE TABLE IF NOT EXISTS stage_runs (
            run_id INTEGER PRIMARY KEY AUTOINCREMENT,
            stage TEXT NOT NULL,
            params TEXT NOT NULL,
            trigger TEXT NOT NULL,
            state TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            ended_at INTEGER,
            events_in INTEGER NOT NULL DEFAULT 0,
            events_out INTEGER NOT NULL DEFAULT 0,
            errors INTEGER NOT NULL DEFAULT 0,
            dead_letters INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            host TEXT NOT NULL DEFAULT '',
            pid INTEGER NOT NULL DEFAULT 0);
          CREATE INDEX IF NOT EXISTS stage_runs_stage ON stage_runs (stage, run_id);`,
  },
  {
    name: "job runs",
    sql: `CREATE TABLE IF NOT EXISTS job_runs (
            run_id INTEGER PRIMARY KEY AUTOINCREMENT,
            job TEXT NOT NULL,
            trigger TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            ended_at INTEGER,
            outcome TEXT NOT NULL,
            details TEXT);
          CREATE INDEX IF NOT EXISTS job_runs_job ON job_runs (job, run_id);`,
  },
  {
    name: "audit, acknowledgements, silences, subscriptions",
    sql: `CREATE TABLE IF NOT EXISTS audit_log (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            chat_id INTEGER,
            via TEXT NOT NULL,
            tool TEXT NOT NULL,
            args TEXT NOT NULL,
            outcome TEXT NOT NULL,
            message TEXT,
            duration_ms INTEGER NOT NULL);
          CREATE INDEX IF NOT EXISTS audit_log_user ON audit_log (user_id, id);
          CREATE TABLE IF NOT EXISTS incident_acks (
            incident_id TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL,
            at INTEGER NOT NULL);
          CREATE TABLE IF NOT EXISTS silences (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            until INTEGER NOT NULL,
            user_id INTEGER NOT NULL,
            created_at INTEGER NOT NULL);
          CREATE TABLE IF NOT EXISTS chat_subscriptions (
            chat_id INTEGER NOT NULL,
            thread_id INTEGER NOT NULL DEFAULT 0,
            digests INTEGER NOT NULL,
            include_empty INTEGER NOT NULL,
            incidents_min TEXT,
            created_at INTEGER NOT NULL,
            PRIMARY KEY (chat_id, thread_id));`,
  },
  {
    name: "api tokens",
    sql: `CREATE TABLE IF NOT EXISTS api_tokens (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            car_ids TEXT,
            hash TEXT NOT NULL UNIQUE,
            created_by INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            revoked_at INTEGER,
            last_used_at INTEGER);`,
  },
  {
    name: "bot confirmations",
    sql: `CREATE TABLE IF NOT EXISTS bot_confirmations (
            token TEXT PRIMARY KEY,
            pending TEXT NOT NULL,
            expires_at INTEGER NOT NULL);
          CREATE INDEX IF NOT EXISTS bot_confirmations_expiry ON bot_confirmations (expires_at);`,
  },
  {
    name: "telegram updates seen",
    sql: `CREATE TABLE IF NOT EXISTS telegram_updates_seen (
            bot_id INTEGER NOT NULL,
            update_id INTEGER NOT NULL,
            PRIMARY KEY (bot_id, update_id));`,
  },
  {
    name: "stage board",
    sql: `CREATE TABLE IF NOT EXISTS stage_processes (
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            roles TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            heartbeat_at INTEGER NOT NULL,
            heartbeat_ms INTEGER NOT NULL,
            PRIMARY KEY (host, pid));
          CREATE TABLE IF NOT EXISTS stage_status (
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            stage TEXT NOT NULL,
            status TEXT NOT NULL,
            PRIMARY KEY (host, pid, stage));
          CREATE TABLE IF NOT EXISTS stage_commands (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            host TEXT NOT NULL,
            pid INTEGER NOT NULL,
            action TEXT NOT NULL,
            stage TEXT,
            params TEXT NOT NULL,
            state TEXT NOT NULL,
            requested_at INTEGER NOT NULL,
            answer TEXT);
          CREATE INDEX IF NOT EXISTS stage_commands_target ON stage_commands (host, pid, state);`,
  },
  {
    // Which process runs a job, so that start-up closes only the runs of dead processes, as for stages.
    name: "job runs' host and pid",
    table: "job_runs",
    addColumns: ["host TEXT NOT NULL DEFAULT ''", "pid INTEGER NOT NULL DEFAULT 0"],
  },
  {
    // A file made before stage runs had a host and pid kept its table through the first migration's CREATE ... IF NOT EXISTS.
    name: "stage runs' host and pid on files from before them",
    table: "stage_runs",
    addColumns: ["host TEXT NOT NULL DEFAULT ''", "pid INTEGER NOT NULL DEFAULT 0"],
  },
  {
    // Rules as data: control-plane rows every process polls (rule_meta.revision moves with each change), with
    // each version kept so an alert's (rule_id, rule_version) always says what fired it.
    name: "rules",
    sql: `CREATE TABLE IF NOT EXISTS rules (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            spec TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            version INTEGER NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at INTEGER NOT NULL);
          CREATE TABLE IF NOT EXISTS rule_versions (
            id TEXT NOT NULL,
            version INTEGER NOT NULL,
            name TEXT NOT NULL,
            spec TEXT NOT NULL,
            enabled INTEGER NOT NULL,
            change TEXT NOT NULL,
            updated_by TEXT NOT NULL,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (id, version));
          CREATE TABLE IF NOT EXISTS rule_meta (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            revision INTEGER NOT NULL,
            seeded INTEGER NOT NULL);
          INSERT OR IGNORE INTO rule_meta (id, revision, seeded) VALUES (1, 0, 0);`,
  },
  {
    // Which chats got an incident's opening notice, per listener (the Telegram bot, each console) and with the
    // message's id once sent: the resolved notice goes to those chats only, as a reply to it.
    name: "incident notices",
    sql: `CREATE TABLE IF NOT EXISTS incident_notices (
            listener TEXT NOT NULL,
            incident_id TEXT NOT NULL,
            chat_id INTEGER NOT NULL,
            thread_id INTEGER NOT NULL,
            message_id INTEGER,
            noticed_at INTEGER NOT NULL,
            resolved INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (listener, incident_id, chat_id, thread_id));
          CREATE INDEX IF NOT EXISTS incident_notices_age ON incident_notices (noticed_at);`,
  },
];

/** Runs one migration on the file (the caller holds the transaction and sets the version). */
export function applyMigration(db: Database.Database, m: Migration): void {
  if ("sql" in m) {
    db.exec(m.sql);
    return;
  }
  const has = new Set(db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(m.table));
  for (const column of m.addColumns) if (!has.has(column.split(" ")[0])) db.exec(`ALTER TABLE ${m.table} ADD COLUMN ${column}`);
}
