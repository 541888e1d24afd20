import { Partitioners } from "kafkajs";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { StoreError } from "../core/errors.js";
import { silentLogger } from "../core/log.js";
import type { AlertWindow, EnrichedEvent } from "../domain/events.js";
import { KafkaTransport } from "../pipeline/transport/kafka.js";
import { ALERTS, DEAD_LETTERS, type DeadLetterMessage, ENRICHED, WINDOWS } from "../pipeline/transport/topics.js";
import type { Envelope, Subscription } from "../pipeline/transport/transport.js";
import { RuleTable } from "../state/rules.js";
import { NoticeFeed } from "../tools/feed.js";
import { consoleGroups, type RunningConsole, startConsole } from "../web/console.js";
import { botPipeline } from "./support/bot-pipeline.js";
import { expectExactRows, expectedRows } from "./support/expected.js";
import { type Broker, describeKafka, randomPrefix, startBroker } from "./support/kafka.js";
import { createKafkaPipeline, groupsSettled, type KafkaPipeline } from "./support/kafka-pipeline.js";

const START = Date.UTC(2026, 10, 28, 12, 0, 0);

describeKafka("Kafka transport and pipeline on a real broker", () => {
  let broker: Broker;
  const open: { close(): Promise<void> }[] = [];
  beforeAll(async () => {
    broker = await startBroker();
  }, 600_000);
  afterEach(async () => {
    for (const o of open.splice(0).reverse()) await o.close();
  });
  afterAll(async () => broker?.destroy());

  async function transport(prefix = randomPrefix(), partitions = 3): Promise<KafkaTransport> {
    const t = new KafkaTransport({ brokers: [broker.bootstrap], log: silentLogger, topicPrefix: prefix, partitions, clientId: "carwatch-test" });
    await t.connect();
    open.push(t);
    return t;
  }

  /** Collects what a group receives until `n` messages arrived. */
  function collector<T>() {
    const got: Envelope<T>[] = [];
    let want = Number.POSITIVE_INFINITY;
    let wake: (() => void) | null = null;
    return {
      got,
      handler: (batch: Envelope<T>[]) => {
        got.push(...batch);
        if (got.length >= want) wake?.();
      },
      until(n: number): Promise<Envelope<T>[]> {
        want = n;
        return got.length >= n ? Promise.resolve(got) : new Promise((r) => (wake = () => r(got)));
      },
    };
  }

  const reading = (i: number, car = (i % 7) + 1): EnrichedEvent => ({
    event_id: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    event_time: START + i,
    car_id: car,
    speed: 50,
    rpm: 2000,
    gear: 3,
    driver_id: car,
    brand_name: "Kia",
    model_name: "Rio",
    color_name: "Gray",
    expected_gear: 3,
  });

  it("delivers keyed messages once per group, one partition per key, with ids stable across redelivery", async () => {
    const t = await transport();
    expect(t.partitions(ENRICHED)).toBe(3);
    const msgs = Array.from({ length: 300 }, (_, i) => ({ key: String(reading(i).car_id), value: reading(i) }));
    await t.publish(ENRICHED, msgs);
    const a = collector<EnrichedEvent>();
    const sa = await t.subscribe(ENRICHED, "a", a.handler, { maxBatch: 50 });
    const got = await a.until(300);
    await sa.stop();
    expect(got.map((m) => m.value.event_id).sort()).toEqual(msgs.map((m) => m.value.event_id).sort());
    const partitionOf = new Map<string, number>();
    for (const m of got) {
      expect(m.id).toBe(`${t.topicName(ENRICHED)}-${m.partition}-${m.id.split("-").pop()}`);
      expect(partitionOf.get(m.key) ?? m.partition).toBe(m.partition);
      partitionOf.set(m.key, m.partition!);
    }
    expect(new Set(partitionOf.values()).size).toBeGreaterThan(1);
    expect(await t.groupLag(ENRICHED, "a")).toBe(0);

    // A handler that throws ends the subscription uncommitted: the group's next consumer gets the same messages, same ids.
    await t.publish(ENRICHED, [{ key: "1", value: reading(1000, 1) }]);
    let first!: Subscription;
    const threw = new Promise<string>((resolve) => {
      void t
        .subscribe(ENRICHED, "a", (batch) => {
          resolve(batch[0]!.id);
          throw new Error("boom");
        })
        .then((s) => (first = s));
    });
    const failedId = await threw;
    await expect(first.done).rejects.toThrow("boom");
    const again = collector<EnrichedEvent>();
    const second = await t.subscribe(ENRICHED, "a", again.handler);
    expect((await again.until(1)).map((m) => [m.id, m.value.event_id])).toEqual([[failedId, reading(1000, 1).event_id]]);
    await second.stop();
    expect(await t.groupLag(ENRICHED, "a")).toBe(0);
  });

  it("sends undecodable messages to the dead-letter topic with the reason, counts them, and never blocks the partition", async () => {
    const t = await transport();
    const producer = t.client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    const good = (i: number) => ENRICHED.encode(reading(i, 3));
    const bad: [string, string][] = [
      ["{not json", "malformed_json"],
      [JSON.stringify({ v: 2, data: reading(2, 3) }), "schema_version"],
      [JSON.stringify({ v: 1, data: { ...reading(3, 3), car_id: "three" } }), "invalid_message"],
      [JSON.stringify({ v: 1, data: { ...reading(4, 3), speed: 9999 } }), "invalid_message"],
    ];
    // All on one key, so on one partition, bad ones between good ones.
    await producer.send({
      topic: t.topicName(ENRICHED),
      messages: [good(0), ...bad.map(([v]) => v), good(1)].map((value) => ({ key: "3", value })),
    });
    await producer.disconnect();

    let deadCount = 0;
    const c = collector<EnrichedEvent>();
    const sub = await t.subscribe(ENRICHED, "alert", c.handler, { onDeadLetters: (letters) => void (deadCount += letters.length) });
    const dlq = collector<DeadLetterMessage>();
    const dsub = await t.subscribe(DEAD_LETTERS, "inspect", dlq.handler);
    expect((await c.until(2)).map((m) => m.value.event_id)).toEqual([reading(0).event_id, reading(1).event_id]);
    const letters = (await dlq.until(bad.length)).map((m) => m.value);
    expect(letters.map((l) => [l.payload, l.reason])).toEqual(bad);
    expect(letters[2]!.detail).toContain("car_id");
    expect(letters.every((l) => l.topic === t.topicName(ENRICHED) && l.group === t.groupId("alert") && l.key === "3")).toBe(true);
    expect(letters.map((l) => Number(l.offset))).toEqual([1, 2, 3, 4]);
    await sub.stop();
    await dsub.stop();
    expect(deadCount).toBe(bad.length);
    expect(await t.groupLag(ENRICHED, "alert")).toBe(0);
  });

  it("shares the partitions between two consumers of one group, each message handled once", async () => {
    const t = await transport(randomPrefix(), 6);
    const seen = new Map<string, string>();
    const both = collector<EnrichedEvent>();
    const member = (name: string) => (batch: Envelope<EnrichedEvent>[]) => {
      for (const m of batch) seen.set(m.value.event_id, name);
      both.handler(batch);
    };
    const s1 = await t.subscribe(ENRICHED, "shared", member("one"));
    const s2 = await t.subscribe(ENRICHED, "shared", member("two"));
    // Both members must own partitions before anything is sent.
    await groupsSettled(t, ["shared"], 2);
    const msgs = Array.from({ length: 600 }, (_, i) => ({ key: String((i % 40) + 1), value: reading(i, (i % 40) + 1) }));
    await t.publish(ENRICHED, msgs);
    await both.until(600);
    await Promise.all([s1.stop(), s2.stop()]);
    expect(both.got).toHaveLength(600);
    expect(seen.size).toBe(600);
    const perMember: Record<string, number> = {};
    for (const n of seen.values()) perMember[n] = (perMember[n] ?? 0) + 1;
    expect(Object.keys(perMember).sort()).toEqual(["one", "two"]);
  });

  it("gives each process's console its own consumer groups: two consoles both show every digest", async () => {
    const t = await transport();
    const bp = await botPipeline();
    open.push(bp);
    const consoles: RunningConsole[] = [];
    for (const instance of ["host-a-101", "host-b-202"]) {
      const feed = new NoticeFeed({ transport: t, ops: bp.ops, rules: new RuleTable(bp.state), roles: bp.registry, log: silentLogger, clock: () => bp.now });
      const c = await startConsole({ registry: bp.registry, ops: bp.ops, feed, log: silentLogger, clock: () => bp.now, instance });
      open.push({ close: () => c.stop() });
      consoles.push(c);
    }
    // Each console consumes from the newest message: both must own their partitions before the window is sent.
    await groupsSettled(
      t,
      ["host-a-101", "host-b-202"].flatMap((i) => Object.values(consoleGroups(i))),
      1,
    );
    const digest = (c: RunningConsole) =>
      new Promise<string>((resolve) =>
        c.chat.on("event", (e: { type: string; message?: { nodes: unknown } }) => {
          if (e.type === "message") resolve(JSON.stringify(e.message!.nodes));
        }),
      );
    const shown = consoles.map(digest);
    const w: AlertWindow = {
      window_start: START,
      window_end: START + 60_000,
      events: 600,
      alert_events: 3,
      new_incidents: 1,
      late_events: 0,
      distinct_cars: 2,
      max_speed: 171,
      max_gear: 5,
      max_rpm: 5200,
      rule_counts: { speeding: 3, high_rpm: 0, wrong_gear: 0 },
      color_counts: { Gray: 3 },
      top_cars: [
        { car_id: 7, alerts: 2 },
        { car_id: 9, alerts: 1 },
      ],
    };
    await t.publish(WINDOWS, [{ key: String(w.window_start), value: w }]);
    const [a, b] = await Promise.all(shown);
    expect(a).toContain("600");
    expect(b).toBe(a);
  });

  let p: KafkaPipeline | undefined;
  afterEach(async () => {
    await p?.close();
    p = undefined;
  });

  /** Every stage in this process: enrich and alert fused (the default), or talking over samples-enriched. */
  async function startPipeline(layout: { fused?: boolean; produceEnriched?: boolean } = {}) {
    p = await createKafkaPipeline({ bootstrap: broker.bootstrap, prefix: randomPrefix(), ...layout });
    await p.supervisor.start("seed");
    await p.supervisor.waitFor("seed");
    for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
    return p;
  }

  function expectExact(p: KafkaPipeline, want: ReturnType<typeof expectedRows>) {
    expect(p.count("dims.car_models")).toBe(7);
    expect(p.count("dims.car_colors")).toBe(7);
    expect(p.count("dims.cars")).toBe(20);
    expectExactRows(p.lakehouse, want);
  }

  it.each([
    { layout: "fused, producing samples-enriched", fused: true, produceEnriched: true },
    { layout: "fused, without samples-enriched", fused: true, produceEnriched: false },
    { layout: "split over samples-enriched", fused: false, produceEnriched: true },
  ])("runs the whole pipeline over Kafka with exact rows in every table: $layout", async ({ fused, produceEnriched }) => {
    const drive = { n: 6000, rate: 20, seed: 42, start: START };
    const want = expectedRows(drive);
    expect(Object.keys(want.dead)).toHaveLength(5);
    const p = await startPipeline({ fused, produceEnriched });
    // An outside consumer of samples-enriched, as the old platform's were (read committed: kafkajs' default).
    const outside: string[] = [];
    const tap = await p.transport.subscribe(ENRICHED, "outside", (batch) => void outside.push(...batch.map((m) => m.value.event_id)));
    open.push({ close: () => tap.stop() });
    await p.supervisor.start("generator", { rate: 0, clock: "virtual", startTime: START, virtualRate: drive.rate, seed: drive.seed, maxEvents: drive.n });
    await p.supervisor.waitFor("generator");
    await p.drained();
    expectExact(p, want);
    expect(p.supervisor.status("enrich").counters).toMatchObject({ in: drive.n, out: want.valid, deadLetters: drive.n - want.valid });
    expect(p.supervisor.status("alert").counters.in).toBe(want.valid);
    // Every stage ran without a crash, and the progress marks told the aggregate about all 6 partitions.
    for (const s of ["enrich", "alert", "aggregate"]) expect(p.supervisor.status(s)).toMatchObject({ state: "running", restarts: 0 });
    // samples-enriched holds each valid reading once, or (not produced) nothing.
    await p.transport.whenCaughtUp([[ENRICHED, "outside"]]);
    expect(outside).toHaveLength(produceEnriched ? want.valid : 0);
    expect(new Set(outside).size).toBe(outside.length);
  });

  it("aborts a fused round that fails after publishing samples-enriched: the restart sends each reading once, and stores each once", async () => {
    const drive = { n: 6000, rate: 20, seed: 42, start: START };
    const want = expectedRows(drive);
    const p = await startPipeline();
    // The second round's alert write fails once, after the round sent its readings on to samples-enriched.
    const insertNew = p.lakehouse.insertNew.bind(p.lakehouse);
    let enrichedWrites = 0;
    p.lakehouse.insertNew = ((table, rows, derive) => {
      if (table === "cars_enriched" && ++enrichedWrites === 2) return Promise.reject(new StoreError("disk went away for a moment"));
      return insertNew(table, rows, derive);
    }) as typeof p.lakehouse.insertNew;
    const outside: string[] = [];
    const tap = await p.transport.subscribe(ENRICHED, "outside", (batch) => void outside.push(...batch.map((m) => m.value.event_id)));
    open.push({ close: () => tap.stop() });
    await p.supervisor.start("generator", { rate: 0, clock: "virtual", startTime: START, virtualRate: drive.rate, seed: drive.seed, maxEvents: drive.n });
    await p.supervisor.waitFor("generator");
    await p.drained();
    await p.transport.whenCaughtUp([[ENRICHED, "outside"]]);
    expect(enrichedWrites).toBeGreaterThan(2);
    expect(p.supervisor.status("enrich").restarts).toBe(1);
    expectExact(p, want);
    expect(outside).toHaveLength(want.valid);
    expect(new Set(outside).size).toBe(want.valid);
  });

  it("keeps messages refused on the wire in telemetry.dead_letters as well, with the stage and the reason", async () => {
    // The alert stage reads samples-enriched only when it is not fused with enrich.
    const p = await startPipeline({ fused: false });
    const bad: [string, string][] = [
      ["{not json", "malformed_json"],
      [JSON.stringify({ v: 2, data: reading(1, 3) }), "schema_version"],
      [JSON.stringify({ v: 1, data: { ...reading(2, 3), speed: 9999 } }), "invalid_message"],
    ];
    const producer = p.transport.client.producer({ createPartitioner: Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({
      topic: p.transport.topicName(ENRICHED),
      messages: [...bad.map(([v]) => v), ENRICHED.encode(reading(3, 3))].map((value) => ({ key: "3", value })),
    });
    await producer.disconnect();
    await p.drained();
    const rows = p.lakehouse.selectSync<{ id: string; stage: string; reason: string; payload: string }>(
      "SELECT id, stage, reason, payload FROM telemetry.dead_letters ORDER BY id",
    );
    expect(rows.map((r) => [r.stage, r.reason, r.payload])).toEqual(bad.map(([payload, reason]) => ["alert", reason, payload]));
    // Keyed by their place on the wire: topic, the one partition of key 3, offsets 0 to 2.
    expect(rows.map((r) => r.id.replace(/-\d+-(\d+)$/, "-P-$1"))).toEqual([0, 1, 2].map((o) => `${p.transport.topicName(ENRICHED)}-P-${o}`));
    expect(p.count("telemetry.cars_enriched")).toBe(1);
    expect(p.supervisor.status("alert").counters).toMatchObject({ in: 1, deadLetters: 3 });
  });

  it("survives a broker restart mid-stream with nothing lost or doubled", async () => {
    const drive = { n: 30_000, rate: 100, seed: 9, start: START };
    const want = expectedRows(drive);
    const p = await startPipeline();
    // Throttled, so the stream is still flowing while the broker goes down and comes back.
    await p.supervisor.start("generator", { rate: 3000, clock: "virtual", startTime: START, virtualRate: drive.rate, seed: drive.seed, maxEvents: drive.n });
    // Wait (on the topic itself) until readings are flowing through the stages.
    let seen = 0;
    let flowing!: () => void;
    const isFlowing = new Promise<void>((r) => (flowing = r));
    const tap = await p.transport.subscribe(ALERTS, "tap", (batch) => {
      for (const m of batch) if (m.value.kind === "progress") seen = Math.max(seen, m.value.maxEventTime);
      if (seen >= START + (3000 * 1000) / drive.rate) flowing();
    });
    await isFlowing;
    await tap.stop();
    expect(p.supervisor.status("alert").counters.in).toBeGreaterThan(1000);
    expect(p.supervisor.status("generator").state).toBe("running");
    await broker.stop();
    await broker.start();
    await p.supervisor.waitFor("generator");
    expect(p.supervisor.status("generator")).toMatchObject({ state: "succeeded", restarts: 0 });
    await p.drained(120_000);
    expectExact(p, want);
  });
});
