import { describe, expect, it } from "vitest";
import { mentions, mentionsBytes, numbersIn, proposes, says } from "./score.js";

const answer = (text: string) => ({ reply: { kind: "answer" as const, text }, ran: [], after: null as never });

describe("eval scoring", () => {
  it("reads numbers with thousands separators and decimals, not dates' dashes as signs", () => {
    expect(numbersIn("1,974 rows; 62.5 km/h on 2025-01-01, 3, 4")).toEqual([
      { value: 1974, decimals: 0 },
      { value: 62.5, decimals: 1 },
      { value: 2025, decimals: 0 },
      { value: 1, decimals: 0 },
      { value: 1, decimals: 0 },
      { value: 3, decimals: 0 },
      { value: 4, decimals: 0 },
    ]);
  });

  it("takes an integer only exactly and a fraction as written rounded", () => {
    expect(mentions("There are 1,974 rows.", 1974)).toBe(true);
    expect(mentions("There are 1975 rows.", 1974)).toBe(false);
    expect(mentions("about 62.5 km/h", 62.547)).toBe(true);
    expect(mentions("about 63 km/h", 62.547)).toBe(true);
    expect(mentions("about 62.6 km/h", 62.547)).toBe(false);
    expect(mentions("about 62.55 km/h", 62.547)).toBe(true);
  });

  it("matches names as words, underscores as spaces, any case", () => {
    expect(mentions("High RPM: 64 alerts", "high_rpm")).toBe(true);
    expect(mentions("malformed_json 6", "malformed_json")).toBe(true);
    expect(mentions("alert_windows", "alerts")).toBe(false);
    expect(mentions("the Rio", "rio")).toBe(true);
    expect(mentions("Corollas", "corolla")).toBe(false);
  });

  it("takes a size in bytes or in units rounded as written", () => {
    expect(mentionsBytes("634,880 bytes", 634_880)).toBe(true);
    expect(mentionsBytes("620 KiB", 634_880)).toBe(true);
    expect(mentionsBytes("0.6 MB", 634_880)).toBe(true);
    expect(mentionsBytes("0.7 MB", 634_880)).toBe(false);
    expect(mentionsBytes("1974 rows", 634_880)).toBe(false);
  });

  it("says what is missing, and that a confirmation is not an answer", () => {
    const check = says((t: { k: string; n: number }[]) => t.flatMap((r) => [r.k, r.n]));
    const truth = [
      { k: "speeding", n: 273 },
      { k: "wrong_gear", n: 53 },
    ];
    expect(check(answer("speeding 273, wrong gear 53"), truth)).toBeNull();
    expect(check(answer("speeding 273, wrong gear 35"), truth)).toBe("missing 53");
    expect(check({ ...answer(""), reply: { kind: "confirm", actions: [] } }, truth)).toBe("confirm reply, not an answer");
  });

  it("wants a confirmation of the tool with matching arguments", () => {
    const check = proposes("stop_stage", (a) => a.stage === "enrich");
    const confirm = (args: unknown) => ({ ...answer(""), reply: { kind: "confirm" as const, actions: [{ tool: "stop_stage", args }] } });
    expect(check(confirm({ stage: "enrich" }), null)).toBeNull();
    expect(check(confirm({ stage: "alert" }), null)).toBe('proposed [{"tool":"stop_stage","args":{"stage":"alert"}}]');
    expect(check(answer("stopped"), null)).toBe("answer reply, not a confirmation of stop_stage");
  });
});
