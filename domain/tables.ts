/**
 * The lakehouse tables, described once as data. The SQLite and the Trino
 * stores both derive their DDL, their literals and their catalog from this,
 * so the two can never disagree about a column.
 */
export type ColumnType = "int" | "bigint" | "double" | "string" | "bool" | "timestamp" | "json";

export interface ColumnSpec {
  name: string;
  type: ColumnType;
  nullable?: boolean;
  doc: string;
}

export interface TableSpec {
  schema: "dims" | "telemetry";
  name: string;
  doc: string;
  columns: ColumnSpec[];
  /**
   * The columns that identify a row: writes are idempotent on them. Facts
   * put their time column first: a reading's time never changes, and a key
   * in time order is appended to (SQLite's primary key index) instead of
   * scattering random uuids over an index that outgrows memory; Trino's
   * MERGE then also matches on the partitioning column.
   */
  key: string[];
  /** ignore: a row seen again is left as it is; replace: the newer row wins. */
  onConflict: "ignore" | "replace";
  /** The event-time column facts are partitioned and retained by. */
  timeColumn?: string;
}

const c = (name: string, type: ColumnType, doc: string, nullable = false): ColumnSpec => ({ name, type, doc, nullable });

export const TABLES = {
  car_models: {
    schema: "dims",
    name: "car_models",
    doc: "Car models and their brands",
    columns: [c("model_id", "int", "model id"), c("brand_name", "string", "brand, e.g. Kia"), c("model_name", "string", "model, e.g. Rio")],
    key: ["model_id"],
    onConflict: "replace",
  },
  car_colors: {
    schema: "dims",
    name: "car_colors",
    doc: "Car colors",
    columns: [c("color_id", "int", "color id"), c("color_name", "string", "color, e.g. Gray")],
    key: ["color_id"],
    onConflict: "replace",
  },
  cars: {
    schema: "dims",
    name: "cars",
    doc: "The fleet: each car with its driver, model and color",
    // Columns added after the first release are nullable: older files and tables gain them at init.
    columns: [
      c("car_id", "int", "car id"),
      c("driver_id", "int", "driver id"),
      c("model_id", "int", "dims.car_models.model_id"),
      c("color_id", "int", "dims.car_colors.color_id"),
      c("name", "string", "display name, e.g. Van 12", true),
      c("plate", "string", "licence plate", true),
      c("origin", "string", "demo (seeded for the simulator) or fleet (the operator's own)", true),
      c("retired_at", "timestamp", "when the car was retired (its readings are refused since); empty while active", true),
      c("updated_at", "timestamp", "when the row last changed", true),
    ],
    key: ["car_id"],
    onConflict: "replace",
  },
  cars_raw: {
    schema: "telemetry",
    name: "cars_raw",
    doc: "Every accepted sensor message exactly as received",
    columns: [
      c("event_id", "string", "event uuid"),
      c("event_time", "timestamp", "when the reading was taken (UTC)"),
      c("received_at", "timestamp", "when carwatch accepted it (UTC)"),
      c("json", "string", "the message as received"),
    ],
    key: ["event_time", "event_id"],
    onConflict: "ignore",
    timeColumn: "event_time",
  },
  cars_enriched: {
    schema: "telemetry",
    name: "cars_enriched",
    doc: "Every accepted reading joined with its car, driver, model and color, with the alert rules that fired",
    columns: [
      c("event_id", "string", "event uuid"),
      c("event_time", "timestamp", "when the reading was taken (UTC)"),
      c("car_id", "int", "car id"),
      c("driver_id", "int", "driver id"),
      c("brand_name", "string", "brand"),
      c("model_name", "string", "model"),
      c("color_name", "string", "color"),
      c("speed", "double", "speed, km/h"),
      c("rpm", "int", "engine speed, rpm"),
      c("gear", "int", "gear engaged (0 = neutral)"),
      c("expected_gear", "int", "gear the gear model expects at this speed"),
      c("is_alert", "bool", "true when any rule fired"),
      c("rules", "string", "comma-separated names of the rules that fired (speeding, high_rpm, wrong_gear), empty if none"),
    ],
    key: ["event_time", "event_id"],
    onConflict: "ignore",
    timeColumn: "event_time",
  },
  alerts: {
    schema: "telemetry",
    name: "alerts",
    doc: "One row per rule firing on a reading",
    columns: [
      c("event_id", "string", "event uuid"),
      c("rule", "string", "the rule's name: speeding, high_rpm, wrong_gear or one added since (list_rules)"),
      c("event_time", "timestamp", "when the reading was taken (UTC)"),
      c("car_id", "int", "car id"),
      c("color_name", "string", "color"),
      c("model_name", "string", "model"),
      c("value", "double", "the measured value (speed, rpm or gear)"),
      c("threshold", "double", "the limit it broke (for wrong_gear: the expected gear)"),
      c("speed", "double", "speed, km/h"),
      c("rpm", "int", "engine speed"),
      c("gear", "int", "gear"),
      c("incident_id", "string", "telemetry.incidents.incident_id"),
      c("rule_id", "string", "the rule's id in the rule table (list_rules)", true),
      c("rule_version", "int", "the rule's version that fired", true),
      c("severity", "string", "the rule's severity: low, medium or high", true),
    ],
    // The reading's key, then the rule; the id last, where Trino's insert-once looks rows up.
    key: ["event_time", "rule", "event_id"],
    onConflict: "ignore",
    timeColumn: "event_time",
  },
  incidents: {
    schema: "telemetry",
    name: "incidents",
    doc: "Alerts of one car and rule, grouped: open until the rule has been clear for its clear time, then resolved; what chats hear about",
    columns: [
      c("incident_id", "string", "incident id"),
      c("car_id", "int", "car id"),
      c("rule", "string", "rule name"),
      c("started_at", "timestamp", "first alert's event time"),
      c("ended_at", "timestamp", "last alert's event time so far"),
      c("peak_value", "double", "highest value seen (speed or rpm; for wrong_gear the gear)"),
      c("event_count", "int", "alerts in the incident"),
      c("color_name", "string", "color"),
      c("model_name", "string", "model"),
      c("rule_id", "string", "the rule's id in the rule table", true),
      c("severity", "string", "low, medium or high", true),
      c("resolved_at", "timestamp", "when the condition had been clear for the rule's clear time (event time); null while open", true),
    ],
    key: ["incident_id"],
    onConflict: "replace",
    timeColumn: "started_at",
  },
  alert_windows: {
    schema: "telemetry",
    name: "alert_windows",
    doc: "One row per closed 1-minute event-time window",
    columns: [
      c("window_start", "timestamp", "window start (UTC, inclusive)"),
      c("window_end", "timestamp", "window end (UTC, exclusive)"),
      c("events", "int", "readings in the window"),
      c("alert_events", "int", "readings with at least one alert"),
      c("new_incidents", "int", "incidents opened in the window"),
      c("late_events", "int", "alerts that arrived after their window had closed, counted when this window closed"),
      c("distinct_cars", "int", "cars with alerts"),
      c("max_speed", "double", "highest speed among alerts", true),
      c("max_gear", "int", "highest gear among alerts", true),
      c("max_rpm", "int", "highest rpm among alerts", true),
      c("rule_counts", "json", "alerts per rule, every rule present"),
      c("color_counts", "json", "alerts per color, every color present"),
      c("top_cars", "json", "cars with the most alerts"),
      c("closed_at", "timestamp", "when the window was closed (UTC)"),
    ],
    key: ["window_start"],
    onConflict: "replace",
    timeColumn: "window_start",
  },
  rule_state: {
    schema: "telemetry",
    name: "rule_state",
    doc: "Per-car state of the stateful rules (sustained, harsh, stuck, silence, baseline), saved with the readings it has folded in",
    columns: [
      c("rule_id", "string", "the rule's id"),
      c("rule_version", "int", "the rule's version the state belongs to"),
      c("car_id", "int", "car id"),
      c("as_of", "timestamp", "event time of the last reading folded in"),
      c("state", "json", "the rule kind's state"),
    ],
    key: ["rule_id", "car_id"],
    onConflict: "replace",
    timeColumn: "as_of",
  },
  dead_letters: {
    schema: "telemetry",
    name: "dead_letters",
    doc: "Messages refused by a stage, with the reason",
    columns: [
      c("id", "string", "message id (where it came from)"),
      c("received_at", "timestamp", "when it was refused (UTC)"),
      c("stage", "string", "the stage that refused it"),
      c("reason", "string", "malformed_json, missing_field, invalid_value, out_of_range, unknown_car; from Kafka also schema_version or invalid_message"),
      c("detail", "string", "what exactly was wrong"),
      c("payload", "string", "the message as received"),
    ],
    key: ["id"],
    onConflict: "ignore",
    timeColumn: "received_at",
  },
} as const satisfies Record<string, TableSpec>;

export type TableName = keyof typeof TABLES;
export const TABLE_LIST: readonly TableSpec[] = Object.values(TABLES);
export const SCHEMAS = ["dims", "telemetry"] as const;

export function qualifiedName(t: TableSpec): string {
  return `${t.schema}.${t.name}`;
}

/** Looks a "schema.table" or bare table name up in the catalog; undefined when unknown. */
export function findTable(name: string): TableSpec | undefined {
  const [a, b] = name.trim().toLowerCase().split(".", 2);
  return TABLE_LIST.find((t) => (b === undefined ? t.name === a : t.schema === a && t.name === b));
}

/** A row: column name to value; timestamps as epoch ms, json as any value. */
export type Row = object;
export interface TableRows {
  table: TableName;
  rows: readonly Row[];
}

/** The catalog as the lakehouse interface describes it, with each engine's type names. */
export function catalogOf(
  typeName: (c: ColumnSpec) => string,
): { schema: string; name: string; doc: string; columns: { name: string; type: string; doc: string }[] }[] {
  return TABLE_LIST.map((t) => ({
    schema: t.schema,
    name: t.name,
    doc: t.doc,
    columns: t.columns.map((c) => ({ name: c.name, type: typeName(c), doc: c.doc })),
  }));
}
