import { setTimeout as delay } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { silentLogger } from "../core/log.js";
import { KafkaTransport } from "../pipeline/transport/kafka.js";
import { SENSORS } from "../pipeline/transport/topics.js";
import { type Broker, describeKafka, randomPrefix, startBroker } from "./support/kafka.js";

/** The broker's group.min.session.timeout.ms: the shortest session a member may ask for. */
const SESSION_MS = 6000;

describeKafka("Kafka rounds and publish failures on a real broker", () => {
  let broker: Broker;
  const open: KafkaTransport[] = [];
  beforeAll(async () => {
    broker = await startBroker();
  }, 600_000);
  afterEach(async () => {
    for (const t of open.splice(0)) await t.close();
  });
  afterAll(async () => broker?.destroy());

  async function transport(options: { sessionTimeoutMs?: number } = {}): Promise<KafkaTransport> {
    const t = new KafkaTransport({
      brokers: [broker.bootstrap],
      log: silentLogger,
      topicPrefix: randomPrefix(),
      partitions: 3,
      clientId: "carwatch-test",
      ...options,
    });
    await t.connect();
    open.push(t);
    return t;
  }

  it("keeps a member whose round outlasts its session timeout in the group: every message handled once, no rebalance", async () => {
    const t = await transport({ sessionTimeoutMs: SESSION_MS });
    const sent = Array.from({ length: 60 }, (_, i) => ({ key: String((i % 20) + 1), value: `reading-${i}` }));
    await t.publish(SENSORS, sent);
    const admin = t.client.admin();
    await admin.connect();
    try {
      const handled: string[] = [];
      /** The group as its coordinator sees it, while the first round is pending. */
      const seen: string[] = [];
      let slowRoundMs = 0;
      const sub = await t.subscribe(SENSORS, "slow", async (batch) => {
        handled.push(...batch.map((m) => m.value));
        if (seen.length > 0) return;
        // A store commit that takes 1.5 session timeouts. The time is what is under test; meanwhile the group is
        // looked at twice a second: without heartbeats its coordinator drops the member after SESSION_MS.
        const started = Date.now();
        while (Date.now() - started < SESSION_MS * 1.5) {
          const [group] = (await admin.describeGroups([t.groupId("slow")])).groups;
          seen.push(`${group!.state}: ${group!.members.map((m) => m.memberId).join(", ")}`);
          await delay(500);
        }
        slowRoundMs = Date.now() - started;
      });
      await t.whenCaughtUp([[SENSORS, "slow"]]);
      await sub.stop();
      expect(slowRoundMs).toBeGreaterThanOrEqual(SESSION_MS * 1.5);
      expect(seen.length).toBeGreaterThanOrEqual(SESSION_MS / 500);
      // Each message exactly once: a member dropped mid-round would have its commit refused and get them all again.
      expect(handled.sort()).toEqual(sent.map((m) => m.value).sort());
      // One member, stable throughout: never dropped, never rejoined under a new member id.
      expect(new Set(seen).size).toBe(1);
      expect(seen[0]).toMatch(/^Stable: [^,]+$/);
      expect(await t.groupLag(SENSORS, "slow")).toBe(0);
    } finally {
      await admin.disconnect();
    }
  }, 90_000);

  it("fails a publish the broker will never accept as not retriable, and the transport publishes on", async () => {
    const t = await transport();
    const tooLarge = "x".repeat(2 * 2 ** 20); // over the broker's message.max.bytes (1 MiB)
    await expect(t.publish(SENSORS, [{ key: "1", value: tooLarge }])).rejects.toMatchObject({
      name: "TransportError",
      origin: "transport",
      retriable: false,
      message: expect.stringMatching(/^publish to t[0-9a-f]{8}\.sensors-sample failed: .*larger than the max message size/),
    });
    await t.publish(SENSORS, [{ key: "1", value: "reading-0" }]);
    const handled: string[] = [];
    let got!: () => void;
    const arrived = new Promise<void>((r) => (got = r));
    const sub = await t.subscribe(SENSORS, "after", (batch) => {
      handled.push(...batch.map((m) => m.value));
      got();
    });
    await arrived;
    await sub.stop();
    expect(handled).toEqual(["reading-0"]);
  });
});
