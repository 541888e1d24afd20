/**
 * docker-compose.yml without a Docker engine: valid against the Compose Specification's JSON schema, every
 * variable it sets for carwatch is one carwatch reads, and the stack's Kafka settings, Trino catalog and
 * catalog schema are the files the test servers start with.
 *
 * compose-spec.schema.json beside this file is the Compose Specification's schema (compose-spec/compose-spec,
 * Apache-2.0) as vendored by the npm package dclint@3.1.0 (schemas/compose.schema.json), reformatted by Biome.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv } from "ajv";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { CONFIG_VARIABLES } from "../../core/config.js";

const root = join(import.meta.dirname, "../..");
const read = (path: string) => readFileSync(join(root, path), "utf8");
const source = read("docker-compose.yml");

interface Service {
  build?: unknown;
  image?: string;
  profiles?: string[];
  environment?: Record<string, unknown>;
  volumes?: string[];
  ports?: string[];
  deploy?: { replicas?: number };
}
const compose = parse(source, { merge: true }) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
const carwatch = services.filter(([, s]) => s.build !== undefined);

const ajv = new Ajv({ strict: false, allErrors: true });
// The schema names draft-07 by its https address; Ajv has it under the http one.
const draft07 = ajv.getSchema("http://json-schema.org/draft-07/schema")!.schema as object;
ajv.addMetaSchema({ ...draft07, $id: "https://json-schema.org/draft-07/schema" });
const validate = ajv.compile(JSON.parse(readFileSync(join(import.meta.dirname, "compose-spec.schema.json"), "utf8")));

/** The ${ENV:NAME} references of a Trino properties file. */
const envRefs = (path: string) => [...read(path).matchAll(/\$\{ENV:(\w+)\}/g)].map((m) => m[1]!);

describe("docker-compose.yml", () => {
  it("is valid under the Compose Specification's schema, which refuses a broken copy", () => {
    expect(validate(compose), JSON.stringify(validate.errors)).toBe(true);
    const broken = structuredClone(compose) as { services: Record<string, Record<string, unknown>> };
    broken.services.carwatch!.restart = { always: true };
    broken.services.kafka!.porst = ["9092:9092"];
    expect(validate(broken)).toBe(false);
    expect(validate.errors?.map((e) => e.instancePath).sort()).toEqual(["/services/carwatch/restart", "/services/kafka"]);
  });

  it("sets carwatch only variables its configuration schema has", () => {
    expect(carwatch.map(([name]) => name)).toEqual(["carwatch", "carwatch-main", "carwatch-worker"]);
    const known = new Set<string>(CONFIG_VARIABLES);
    for (const [name, s] of carwatch)
      expect(
        Object.keys(s.environment ?? {}).filter((k) => !known.has(k)),
        name,
      ).toEqual([]);
  });

  it("brings the embedded process alone by default and the scaled-out stack with --profile full", () => {
    expect(services.filter(([, s]) => !s.profiles).map(([n]) => n)).toEqual(["carwatch"]);
    expect(services.filter(([, s]) => s.profiles?.includes("full")).map(([n]) => n)).toEqual([
      "carwatch-main",
      "carwatch-worker",
      "kafka",
      "postgres",
      "s3",
      "trino",
      "superset",
    ]);
    const env = (name: string) => compose.services[name]!.environment!;
    expect(env("carwatch").CARWATCH_ROLES).toBeUndefined();
    expect(env("carwatch").STORE).toBeUndefined();
    expect(env("carwatch-main").CARWATCH_ROLES).toBe("bot,scheduler,http,generator");
    expect(env("carwatch-worker").CARWATCH_ROLES).toBe("enrich,alert,aggregate");
    expect(compose.services["carwatch-worker"]!.deploy?.replicas).toBe(2);
    for (const name of ["carwatch-main", "carwatch-worker"]) {
      expect(env(name)).toMatchObject({ KAFKA_BROKERS: "kafka:9092", STORE: "trino", TRINO_URL: "http://trino:8080" });
      // Processes that share their stages' state share one state.db.
      expect(compose.services[name]!.volumes).toEqual(["carwatch-full-data:/data"]);
    }
    // Plain `docker compose up` needs one variable from .env, the console's token; and nothing listens beyond loopback.
    expect([...source.matchAll(/\$\{(\w+):\?/g)].map((m) => m[1])).toEqual(["CONSOLE_TOKEN"]);
    expect(services.flatMap(([, s]) => s.ports ?? []).filter((p) => !p.startsWith("127.0.0.1:"))).toEqual([]);
  });

  it("starts Kafka, Trino and the catalog's PostgreSQL from the files the tests use", () => {
    const mounts = (name: string) => compose.services[name]!.volumes!.map((v) => v.split(":").slice(0, 2).join(":"));
    expect(mounts("kafka")).toContain("./deploy/kafka:/mnt/shared/config");
    expect(read("scripts/kafka/kafka.sh")).toContain('cat "$KAFKA_SETTINGS" >> "$wd/server.properties"');
    expect(read("scripts/kafka/kafka.sh")).toContain("deploy/kafka/server.properties");
    expect(read("deploy/kafka/server.properties")).toMatch(/^offsets\.topic\.replication\.factor=1$/m);

    expect(mounts("postgres")).toContain("./deploy/postgres/iceberg-catalog.sql:/docker-entrypoint-initdb.d/10-iceberg-catalog.sql");
    expect(read("scripts/postgres/postgres.sh")).toContain("deploy/postgres/iceberg-catalog.sql");

    expect(mounts("trino")).toEqual([
      "./deploy/trino/catalog:/etc/trino/catalog",
      "./deploy/trino/access-control.properties:/etc/trino/access-control.properties",
      "./deploy/trino/rules.json:/etc/trino/rules.json",
    ]);
    const trinoSh = read("scripts/trino/trino.sh");
    expect(trinoSh).toContain('DEPLOY="$(cd "$HERE/../../deploy/trino" && pwd)"');
    expect(trinoSh).not.toMatch(/TESTING_FILE_METASTORE|iceberg\.catalog\.type/);
    expect(read("deploy/trino/catalog/iceberg.properties")).toMatch(/^iceberg\.catalog\.type=jdbc$/m);
    // Every ${ENV:…} the catalog and access control read is set by both starters.
    const refs = [...envRefs("deploy/trino/catalog/iceberg.properties"), ...envRefs("deploy/trino/access-control.properties")];
    expect(refs.sort()).toEqual([
      "ICEBERG_JDBC_PASSWORD",
      "ICEBERG_JDBC_URL",
      "ICEBERG_JDBC_USER",
      "ICEBERG_WAREHOUSE",
      "S3_ACCESS_KEY",
      "S3_ENDPOINT",
      "S3_SECRET_KEY",
      "TRINO_RULES_FILE",
    ]);
    expect(Object.keys(compose.services.trino!.environment!).sort()).toEqual(refs);
    for (const name of refs) expect(trinoSh, name).toMatch(new RegExp(`export (?:[A-Z0-9_]+=\\S+ )*${name}=`));
    for (const mount of [...mounts("trino"), ...mounts("kafka"), ...mounts("postgres"), ...mounts("superset")].filter((m) => m.startsWith("./")))
      expect(existsSync(join(root, mount.split(":")[0]!)), mount).toBe(true);
  });
});
