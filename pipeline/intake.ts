import { createHash } from "node:crypto";
import { type IntakeAnswer, IntakeBusy, type ReadingSink } from "../domain/intake.js";
import type { StageDeps } from "./stage.js";
import { Enricher, type Outcome } from "./stages/enricher.js";
import { ENRICHED, SENSORS } from "./transport/topics.js";
import type { Envelope } from "./transport/transport.js";

export interface IntakeLimits {
  /** Requests stored at once; more are refused busy rather than queued in memory. */
  concurrent: number;
  /** Readings waiting for the alert stage (embedded) beyond which new ones are refused busy. */
  maxBacklog: number;
}

/**
 * Readings from outside (HTTP, MQTT) into the pipeline, answered only once
 * they cannot be lost. Embedded: the enrich stage's own intake (Enricher)
 * commits their raw copies here, then they go on to the alert stage; a crash
 * after the commit is healed by the enrich stage's replay of raw rows that
 * never reached cars_enriched. On Kafka: checked here (so the sender hears
 * what was refused and what was a duplicate), then produced to
 * sensors-sample and acknowledged by the cluster; the enrich workers store
 * them, idempotently, as any reading.
 */
export class ReadingIntake implements ReadingSink {
  private readonly enricher: Enricher;
  private inFlight = 0;
  private loaded: Promise<void> | null = null;

  constructor(
    private readonly deps: StageDeps,
    private readonly limits: IntakeLimits = { concurrent: 16, maxBacklog: 20_000 },
  ) {
    this.enricher = new Enricher(deps, "ingest");
    deps.events.on("dims-changed", () => this.enricher.dims.invalidate());
  }

  async accept(values: readonly string[], allowedCars?: ReadonlySet<number>): Promise<IntakeAnswer> {
    const { transport } = this.deps;
    if (this.inFlight >= this.limits.concurrent) throw new IntakeBusy(`${this.inFlight} ingestion requests are being stored; try again shortly`, 1);
    const backlog = transport.kind === "memory" ? transport.lag(ENRICHED, "alert") : 0;
    if (backlog > this.limits.maxBacklog) throw new IntakeBusy(`the pipeline is ${backlog} readings behind; try again shortly`, 2);
    this.inFlight++;
    try {
      this.loaded ??= this.enricher.dims.load();
      await this.loaded;
      // Ids from the content: a resent request (an HTTP retry, an MQTT redelivery) writes its dead letters once.
      // Hashed only when asked for, for a dead letter: most readings never need one.
      const batch: Envelope<string>[] = values.map((value) => ({
        key: "",
        value,
        get id() {
          return `ingest-${createHash("sha256").update(value).digest("hex").slice(0, 32)}`;
        },
      }));
      const now = Date.now();
      let outcomes: Outcome[];
      if (transport.kind === "memory") {
        const stored = await this.enricher.store(batch, now, allowedCars);
        await transport.publish(ENRICHED, stored.out);
        outcomes = stored.outcomes;
      } else {
        const c = await this.enricher.classify(batch, now, allowedCars);
        await this.enricher.checkStored(c, [...c.first.keys()]);
        await this.deps.lakehouse.write([{ table: "dead_letters", rows: c.dead }]);
        const send = [...c.first.values()].filter(({ i }) => c.outcomes[i] === undefined);
        await transport.publish(
          SENSORS,
          send.map(({ i, event }) => ({ key: String(event.car_id), value: batch[i]!.value })),
        );
        for (const { i } of send) c.outcomes[i] = { kind: "accepted" };
        this.enricher.countDuplicates(c.outcomes);
        outcomes = c.outcomes;
      }
      const answer: IntakeAnswer = { accepted: 0, duplicates: 0, rejected: [] };
      outcomes.forEach((o, index) => {
        if (o.kind === "accepted") answer.accepted++;
        else if (o.kind === "duplicate") answer.duplicates++;
        else answer.rejected.push({ index, reason: o.reason, detail: o.detail });
      });
      return answer;
    } finally {
      this.inFlight--;
    }
  }
}
