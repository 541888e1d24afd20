import type { ColumnType, TableSpec } from "../../../domain/tables.js";

export const TRINO_TYPES: Record<ColumnType, string> = {
  int: "integer",
  bigint: "bigint",
  double: "double",
  string: "varchar",
  bool: "boolean",
  timestamp: "timestamp(6) with time zone",
  json: "varchar",
};

/** Iceberg v2 Parquet tables; facts partitioned by day of their time column. */
export function createTableSql(catalog: string, t: TableSpec): string {
  const cols = t.columns.map((c) => `${c.name} ${TRINO_TYPES[c.type]}${c.nullable ? "" : " NOT NULL"}`).join(", ");
  const partitioning = t.timeColumn ? `, partitioning = ARRAY['day(${t.timeColumn})']` : "";
  return `CREATE TABLE IF NOT EXISTS ${catalog}.${t.schema}.${t.name} (${cols}) WITH (format = 'PARQUET', format_version = 2${partitioning})`;
}
