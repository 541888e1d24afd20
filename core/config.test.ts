import { describe, expect, it } from "vitest";
import { loadConfig, redactedConfig } from "./config.js";
import { ConfigError } from "./errors.js";

const load = (env: Record<string, string>) => loadConfig(env, "/nonexistent/.env");

describe("loadConfig", () => {
  it("needs no configuration at all", () => {
    const c = load({});
    expect(c.STORE).toBe("sqlite");
    expect(c.HTTP_HOST).toBe("127.0.0.1");
    expect(c.HTTP_PORT).toBe(8080);
    expect(c.CARWATCH_ROLES).toEqual(["bot", "scheduler", "http", "generator", "enrich", "alert", "aggregate"]);
    expect(c.TELEGRAM_ADMINS).toEqual([]);
  });

  it("parses id lists, brokers and roles", () => {
    const c = load({
      TELEGRAM_ADMINS: "1, 2",
      DIGEST_CHATS: "-1001234",
      KAFKA_BROKERS: "127.0.0.1:9092,b:9093",
      CARWATCH_ROLES: "enrich,alert",
    });
    expect(c.TELEGRAM_ADMINS).toEqual([1, 2]);
    expect(c.DIGEST_CHATS).toEqual([-1001234]);
    expect(c.KAFKA_BROKERS).toEqual(["127.0.0.1:9092", "b:9093"]);
    expect(c.CARWATCH_ROLES).toEqual(["enrich", "alert"]);
  });

  it.each([
    ["HTTP_PORT", "eighty", "HTTP_PORT"],
    ["HTTP_PORT", "70000", "HTTP_PORT"],
    ["STORE", "postgres", "STORE"],
    ["TELEGRAM_ADMINS", "12,abc", "TELEGRAM_ADMINS"],
    ["KAFKA_BROKERS", "nohost", "KAFKA_BROKERS"],
    ["CARWATCH_ROLES", "enrich,cook", "CARWATCH_ROLES"],
    ["MALFORMED_RATE", "2", "MALFORMED_RATE"],
    ["TELEGRAM_BOT_TOKEN", "not a token", "TELEGRAM_BOT_TOKEN"],
    ["COMPACTION_SCHEDULE", "every night", "COMPACTION_SCHEDULE"],
    ["WATCHDOG_SCHEDULE", "61 * * * *", "WATCHDOG_SCHEDULE"],
    ["SCHEDULE_TIMEZONE", "Mars/Olympus", "SCHEDULE_TIMEZONE"],
    ["RETENTION_DAYS", "0", "RETENTION_DAYS"],
    ["KAFKA_SSL", "yes", "KAFKA_SSL"],
    ["KAFKA_SSL_CA_FILE", "/nonexistent/ca.pem", "KAFKA_SSL_CA_FILE"],
    ["KAFKA_SASL_MECHANISM", "gssapi", "KAFKA_SASL_MECHANISM"],
  ])("a bad %s=%s stops start-up naming the variable", (name, value, variable) => {
    let err: unknown;
    try {
      load({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).variable).toBe(variable);
    expect((err as Error).message.startsWith(`${variable}: `)).toBe(true);
  });

  it("requires the SASL username and password with a mechanism, and a mechanism with either", () => {
    expect(() => load({ KAFKA_SASL_MECHANISM: "plain", KAFKA_SASL_USERNAME: "u" })).toThrow(/^KAFKA_SASL_PASSWORD: required with KAFKA_SASL_MECHANISM=plain$/);
    expect(() => load({ KAFKA_SASL_MECHANISM: "scram-sha-256", KAFKA_SASL_PASSWORD: "p" })).toThrow(/^KAFKA_SASL_USERNAME: required/);
    expect(() => load({ KAFKA_SASL_PASSWORD: "p" })).toThrow(
      /^KAFKA_SASL_MECHANISM: plain, scram-sha-256 or scram-sha-512: required with KAFKA_SASL_PASSWORD$/,
    );
    expect(load({ KAFKA_SASL_MECHANISM: "scram-sha-512", KAFKA_SASL_USERNAME: "u", KAFKA_SASL_PASSWORD: "p", KAFKA_SSL: "true" })).toMatchObject({
      KAFKA_SSL: true,
      KAFKA_SASL_MECHANISM: "scram-sha-512",
    });
  });

  it("requires TRINO_URL with STORE=trino", () => {
    expect(() => load({ STORE: "trino" })).toThrow(/^TRINO_URL: required/);
  });

  it("never repeats a secret value in an error or in the redacted config", () => {
    const secret = "123:very-secret-token";
    const c = load({ TELEGRAM_BOT_TOKEN: secret, OPENAI_API_KEY: "sk-secret" });
    expect(JSON.stringify(redactedConfig(c))).not.toContain("secret");
    try {
      load({ TELEGRAM_BOT_TOKEN: "bad secret value" });
    } catch (e) {
      expect((e as Error).message).not.toContain("bad secret value");
    }
  });
});
