import kafkajs, { type Offsets } from "kafkajs";
import { afterEach, describe, expect, it, vi } from "vitest";
import { silentLogger } from "../../core/log.js";
import { type PartitionBatch, plainSink, Rounds, type RoundsOptions } from "./kafka-rounds.js";
import type { Envelope } from "./transport.js";

const { KafkaJSProtocolError, KafkaJSError } = kafkajs;
const TOPIC = "t.samples-enriched";

/**
 * Rounds over batches whose eachBatch controls record what the rounds did
 * with them, in one shared log, the way kafkajs would see it.
 */
function rig(options: Partial<RoundsOptions<number>> & { hold?: (call: number) => Promise<void> | undefined } = {}) {
  const log: string[] = [];
  const failures: unknown[] = [];
  let heartbeats = 0;
  let calls = 0;
  const rounds = new Rounds<number>({
    topic: TOPIC,
    handler: async (batch) => {
      log.push(`handle ${batch.map((e) => e.value).join(",")}`);
      await options.hold?.(++calls);
    },
    deadLetters: async () => undefined,
    begin: () => plainSink(async () => undefined),
    onFailure: (err) => void failures.push(err),
    heartbeatMs: 1000,
    log: silentLogger,
    ...options,
  });
  /** Partition `partition`'s messages at offsets `from`..`from + n - 1`; the value of each is its offset plus 100 × partition. */
  const batch = (partition: number, from: number, n: number, more: { dead?: number[]; commit?: (offsets: Offsets) => Promise<void> } = {}) => {
    const state = { stale: false };
    const offsets = Array.from({ length: n }, (_, i) => from + i);
    const dead = new Set(more.dead ?? []);
    const envelopes: Envelope<number>[] = offsets
      .filter((o) => !dead.has(o))
      .map((o) => ({ id: `${TOPIC}-${partition}-${o}`, key: String(partition), value: partition * 100 + o, partition }));
    const b: PartitionBatch<number> = {
      partition,
      envelopes,
      dead: [...dead].map((o) => ({
        message: { offset: String(o), key: null, value: Buffer.from("{not json"), timestamp: "0", attributes: 0, headers: {} },
        err: new Error("bad"),
      })),
      last: String(from + n - 1),
      control: {
        isStale: () => state.stale,
        resolveOffset: (offset) => void log.push(`resolve ${partition}@${offset}`),
        heartbeat: async () => void heartbeats++,
        commitOffsetsIfNecessary: async (offsets) => {
          if (more.commit) return more.commit(offsets!);
          log.push(`commit ${offsets!.topics.map((t) => `${t.topic}:${t.partitions.map((p) => `${p.partition}@${p.offset}`).join(",")}`).join(" ")}`);
        },
      },
    };
    return { batch: b, state };
  };
  return { rounds, log, failures, batch, heartbeats: () => heartbeats };
}

/** A promise and the function that resolves it: what a test awaits instead of sleeping. */
function gate() {
  let open!: () => void;
  const opened = new Promise<void>((r) => (open = r));
  return { opened, open };
}

describe("Rounds", () => {
  afterEach(() => void vi.useRealTimers());

  it("hands the batches submitted in one turn to the handler as one call, in arrival order, with one commit past each batch", async () => {
    const r = rig();
    const settled = await Promise.all([r.batch(2, 10, 3), r.batch(0, 0, 2), r.batch(1, 5, 1)].map((b) => r.rounds.submit(b.batch)));
    expect(settled).toEqual([true, true, true]);
    expect(r.log).toEqual(["handle 210,211,212,0,1,105", "resolve 2@12", "resolve 0@1", "resolve 1@5", `commit ${TOPIC}:2@13,0@2,1@6`]);
  });

  it("starts the batches that arrive during a round only after that round committed: order per partition holds", async () => {
    const release = gate();
    const entered = gate();
    const r = rig({
      hold: (call) => {
        if (call > 1) return;
        entered.open();
        return release.opened;
      },
    });
    const first = r.rounds.submit(r.batch(0, 0, 2).batch);
    await entered.opened;
    const later = [r.rounds.submit(r.batch(0, 2, 2).batch), r.rounds.submit(r.batch(1, 0, 1).batch)];
    await new Promise((resolve) => setImmediate(resolve));
    expect(r.log).toEqual(["handle 0,1"]);
    release.open();
    expect(await Promise.all([first, ...later])).toEqual([true, true, true]);
    expect(r.log).toEqual(["handle 0,1", "resolve 0@1", `commit ${TOPIC}:0@2`, "handle 2,3,100", "resolve 0@3", "resolve 1@0", `commit ${TOPIC}:0@4,1@1`]);
  });

  it("fails every batch of the round when the handler throws: none committed, the failure reported once, later batches refused", async () => {
    const boom = new Error("store commit failed");
    const r = rig({
      hold: () => {
        throw boom;
      },
    });
    const settled = await Promise.all([r.batch(0, 0, 2), r.batch(1, 0, 3)].map((b) => r.rounds.submit(b.batch)));
    expect(settled).toEqual([false, false]);
    expect(r.failures).toEqual([boom]);
    expect(r.rounds.closed).toBe(true);
    expect(await r.rounds.submit(r.batch(2, 0, 1).batch)).toBe(false);
    expect(r.failures).toEqual([boom]);
    expect(r.log).toEqual(["handle 0,1,100,101,102"]);
  });

  it("leaves a stale partition uncommitted: unhandled when stale before its round, handled but not committed when it went stale during it", async () => {
    const before = rig();
    const gone = before.batch(1, 0, 2);
    gone.state.stale = true;
    expect(await Promise.all([before.batch(0, 0, 1), gone].map((b) => before.rounds.submit(b.batch)))).toEqual([true, false]);
    expect(before.log).toEqual(["handle 0", "resolve 0@0", `commit ${TOPIC}:0@1`]);

    const during = rig({
      hold: () => {
        moving.state.stale = true;
        return undefined;
      },
    });
    const moving = during.batch(1, 4, 2);
    expect(await Promise.all([during.batch(0, 0, 1), moving].map((b) => during.rounds.submit(b.batch)))).toEqual([true, false]);
    expect(during.log).toEqual(["handle 0,104,105", "resolve 0@0", `commit ${TOPIC}:0@1`]);
  });

  it("settles uncommitted when a rebalance refuses the commit, and rejects every batch when the commit fails otherwise", async () => {
    const refused = new KafkaJSProtocolError({ message: "rebalancing", type: "REBALANCE_IN_PROGRESS", code: 27, retriable: false } as never);
    const r = rig();
    const rebalanced = async () => {
      throw refused;
    };
    expect(await Promise.all([r.batch(0, 0, 1, { commit: rebalanced }), r.batch(1, 0, 1)].map((b) => r.rounds.submit(b.batch)))).toEqual([false, false]);
    expect(r.rounds.closed).toBe(false);

    const lost = new KafkaJSError("Connection closed");
    const broken = async () => {
      throw lost;
    };
    const settled = await Promise.allSettled([r.batch(0, 1, 1, { commit: broken }), r.batch(1, 1, 1)].map((b) => r.rounds.submit(b.batch)));
    expect(settled).toEqual([
      { status: "rejected", reason: lost },
      { status: "rejected", reason: lost },
    ]);
    expect(r.log).toEqual(["handle 0,100", "resolve 0@0", "resolve 1@0", "handle 1,101", "resolve 0@1", "resolve 1@1"]);
  });

  it("sends the round's dead letters before the handler, commits a batch of dead letters only, and rejects the round unhandled when they cannot be sent", async () => {
    const r = rig({
      deadLetters: async (batches) => {
        r.log.push(`dead ${batches.flatMap((b) => b.dead.map((d) => `${b.partition}@${d.message.offset}`)).join(",")}`);
      },
    });
    const settled = await Promise.all([r.batch(0, 0, 3, { dead: [1] }), r.batch(1, 0, 2, { dead: [0, 1] })].map((b) => r.rounds.submit(b.batch)));
    expect(settled).toEqual([true, true]);
    expect(r.log).toEqual(["dead 0@1,1@0,1@1", "handle 0,2", "resolve 0@2", "resolve 1@1", `commit ${TOPIC}:0@3,1@2`]);

    const down = new Error("dead-letter topic unreachable");
    const failing = rig({
      deadLetters: async () => {
        throw down;
      },
    });
    const refused = await Promise.allSettled([failing.batch(0, 0, 2, { dead: [0] }), failing.batch(1, 0, 1)].map((b) => failing.rounds.submit(b.batch)));
    expect(refused).toEqual([
      { status: "rejected", reason: down },
      { status: "rejected", reason: down },
    ]);
    expect(failing.log).toEqual([]);
    expect(failing.rounds.closed).toBe(false);
  });

  it("heartbeats every heartbeatMs while a round is pending, and stops once it settled", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const release = gate();
    const entered = gate();
    const r = rig({
      hold: () => {
        entered.open();
        return release.opened;
      },
    });
    const settled = r.rounds.submit(r.batch(0, 0, 1).batch);
    await entered.opened;
    vi.advanceTimersByTime(3500);
    expect(r.heartbeats()).toBe(3);
    release.open();
    expect(await settled).toBe(true);
    // The round's eachBatch has its answer; the drain ends on the same turn.
    await new Promise((resolve) => setImmediate(resolve));
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(10_000);
    expect(r.heartbeats()).toBe(3);
  });

  it("after close, commits the round in hand and settles the batches still waiting uncommitted", async () => {
    const release = gate();
    const entered = gate();
    const r = rig({
      hold: () => {
        entered.open();
        return release.opened;
      },
    });
    const first = r.rounds.submit(r.batch(0, 0, 1).batch);
    await entered.opened;
    const waiting = r.rounds.submit(r.batch(0, 1, 1).batch);
    r.rounds.close();
    release.open();
    expect(await Promise.all([first, waiting])).toEqual([true, false]);
    expect(r.log).toEqual(["handle 0", "resolve 0@0", `commit ${TOPIC}:0@1`]);
  });
});
