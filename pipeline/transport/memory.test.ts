import { describe, expect, it } from "vitest";
import { MemoryTransport } from "./memory.js";
import type { Topic } from "./transport.js";

const topic: Topic<number> = { name: "numbers", encode: String, decode: Number };
const msgs = (from: number, n: number) => Array.from({ length: n }, (_, i) => ({ key: "k", value: from + i }));

describe("MemoryTransport", () => {
  it("delivers every message once per group, in order, in batches", async () => {
    const t = new MemoryTransport();
    const a: number[] = [];
    const b: number[] = [];
    const sa = await t.subscribe(topic, "a", (batch) => void a.push(...batch.map((m) => m.value)), { maxBatch: 7 });
    const sb = await t.subscribe(topic, "b", (batch) => void b.push(...batch.map((m) => m.value)));
    await t.publish(topic, msgs(0, 50));
    await t.whenIdle();
    expect(a).toEqual(msgs(0, 50).map((m) => m.value));
    expect(b).toEqual(a);
    await Promise.all([sa.stop(), sb.stop()]);
  });

  it("redelivers a batch whose handler threw, to the group's next subscriber", async () => {
    const t = new MemoryTransport();
    const first = await t.subscribe(topic, "g", () => {
      throw new Error("boom");
    });
    await t.publish(topic, msgs(0, 3));
    await expect(first.done).rejects.toThrow("boom");
    const got: number[] = [];
    const second = await t.subscribe(topic, "g", (batch) => void got.push(...batch.map((m) => m.value)));
    await t.whenIdle();
    expect(got).toEqual([0, 1, 2]);
    await second.stop();
  });

  it("keeps a stopped group's messages and makes publishers wait at capacity", async () => {
    const t = new MemoryTransport(10);
    const s = await t.subscribe(topic, "g", () => undefined);
    await s.stop();
    await t.publish(topic, msgs(0, 10));
    expect(t.lag(topic, "g")).toBe(10);
    let published = false;
    const pending = t.publish(topic, msgs(10, 1)).then(() => (published = true));
    await new Promise((r) => setImmediate(r));
    expect(published).toBe(false);
    const got: number[] = [];
    const again = await t.subscribe(topic, "g", (batch) => void got.push(...batch.map((m) => m.value)));
    await pending;
    await t.whenIdle();
    expect(got).toEqual(msgs(0, 11).map((m) => m.value));
    await again.stop();
  });

  it("drops messages nobody subscribed to", async () => {
    const t = new MemoryTransport(1);
    await t.publish(topic, msgs(0, 5));
    expect(t.lag(topic, "none")).toBe(0);
  });
});
