import type { Config } from "../../core/config.js";
import type { Logger } from "../../core/log.js";
import type { Lakehouse } from "./lakehouse.js";
import { SqliteLakehouse } from "./sqlite/lakehouse.js";

/** The lakehouse the configuration asks for, with its schemas and tables created if missing. */
export async function createLakehouse(config: Config, log: Logger): Promise<Lakehouse> {
  const lakehouse: Lakehouse =
    config.STORE === "trino"
      ? new (await import("./trino/lakehouse.js")).TrinoLakehouse({
          url: config.TRINO_URL!,
          user: config.TRINO_USER,
          password: config.TRINO_PASSWORD,
          catalog: config.TRINO_CATALOG,
          queryUser: config.TRINO_QUERY_USER ?? config.TRINO_USER,
          flushMs: config.TRINO_FLUSH_MS,
          maxRowsPerStatement: config.TRINO_MAX_ROWS_PER_STATEMENT,
          retention: config.ICEBERG_RETENTION,
        })
      : new SqliteLakehouse(config.DATA_DIR);
  await lakehouse.init();
  if (lakehouse instanceof SqliteLakehouse && lakehouse.rebuilt.length > 0) log.warn({ tables: lakehouse.rebuilt }, "rebuilt tables made with an older key");
  if (config.STORE === "trino") log.info({ url: config.TRINO_URL, catalog: config.TRINO_CATALOG }, "Iceberg lakehouse through Trino ready");
  return lakehouse;
}
