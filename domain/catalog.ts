/** What the lakehouse tells about its tables, answers and upkeep: shown by every front end, whatever the engine. */

export interface ColumnInfo {
  name: string;
  type: string;
  doc?: string;
}
export interface TableInfo {
  schema: string;
  name: string;
  doc?: string;
  columns: ColumnInfo[];
}

export interface QueryResult {
  columns: string[];
  rows: unknown[][];
  /** True when more rows existed than maxRows. */
  truncated: boolean;
  elapsedMs: number;
}

export interface TableStats {
  table: string;
  rows: number;
  bytes: number;
  /** Iceberg only. */
  files?: number;
  snapshots?: number;
  manifests?: number;
}

export interface MaintenanceReport {
  table: string;
  before: TableStats;
  after: TableStats;
  steps: string[];
  elapsedMs: number;
}
