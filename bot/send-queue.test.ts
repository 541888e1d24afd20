import { GrammyError } from "grammy";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../core/log.js";
import { SendQueue } from "./send-queue.js";

describe("SendQueue", () => {
  it("keeps order per chat, retries failures and drops nothing", async () => {
    const q = new SendQueue(silentLogger, { privateGapMs: 0, groupGapMs: 0, retryMs: 1 });
    const delivered: string[] = [];
    let failures = 2;
    q.push(1, async () => {
      if (failures-- > 0) throw new Error("network down");
      delivered.push("1a");
    });
    q.push(1, async () => void delivered.push("1b"));
    q.push(2, async () => void delivered.push("2a"));
    await q.idle();
    expect(delivered.filter((d) => d.startsWith("1"))).toEqual(["1a", "1b"]);
    expect(delivered).toHaveLength(3);
    expect(q.pending()).toBe(0);
  });

  it("skips a message Telegram refuses for good (bot removed from the chat)", async () => {
    const q = new SendQueue(silentLogger, { privateGapMs: 0, groupGapMs: 0, retryMs: 1 });
    const delivered: string[] = [];
    q.push(-5, async () => {
      throw new GrammyError("Forbidden", { ok: false, error_code: 403, description: "Forbidden: bot was kicked" }, "sendMessage", {});
    });
    q.push(-5, async () => void delivered.push("next"));
    await q.idle();
    expect(delivered).toEqual(["next"]);
  });

  it("spaces messages to one group by the group gap", async () => {
    const q = new SendQueue(silentLogger, { privateGapMs: 0, groupGapMs: 40, retryMs: 1 });
    const at: number[] = [];
    for (let i = 0; i < 3; i++) q.push(-7, async () => void at.push(performance.now()));
    await q.idle();
    expect(at).toHaveLength(3);
    expect(at[1]! - at[0]!).toBeGreaterThanOrEqual(38);
    expect(at[2]! - at[1]!).toBeGreaterThanOrEqual(38);
  });
});
