import type { AlertScorer } from "./alert-scorer.js";

/** The enrich stage was stopped while it waited for a stopped alert stage: its round ends uncommitted, as a stop. */
export class HopStopped extends Error {
  constructor() {
    super("stopped while waiting for the alert stage of this process");
  }
}

/**
 * Enrich and alert fused in one process (Kafka): the alert stage's scorer,
 * which the enrich stage calls inside its own round, so a reading is
 * consumed once and its offsets commit only after it was scored. While the
 * alert stage is stopped, enrich waits with the round in hand (its lag on
 * sensors-sample grows) rather than commit readings nobody scored.
 */
export class FusedHop {
  private scorer: AlertScorer | null = null;
  private waiting: (() => void)[] = [];
  private assigned: readonly number[] | null = null;

  /** `produceEnriched`: samples-enriched is still produced for outside consumers, in a transaction with the round's offsets. */
  constructor(readonly produceEnriched: boolean) {}

  /** The alert stage serves: from now until `signal` aborts, enrich's rounds go through `scorer`. */
  async serve(scorer: AlertScorer, signal: AbortSignal, ready: () => void): Promise<void> {
    if (this.assigned) scorer.assign(this.assigned);
    this.scorer = scorer;
    for (const w of this.waiting.splice(0)) w();
    ready();
    await new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      else signal.addEventListener("abort", () => resolve(), { once: true });
    });
    if (this.scorer === scorer) this.scorer = null;
  }

  /** The serving scorer; waits while none serves, and gives up (HopStopped) when `signal` aborts first. */
  async next(signal: AbortSignal): Promise<AlertScorer> {
    while (!this.scorer) {
      if (signal.aborted) throw new HopStopped();
      await new Promise<void>((resolve) => {
        const wake = () => {
          signal.removeEventListener("abort", wake);
          resolve();
        };
        this.waiting.push(wake);
        signal.addEventListener("abort", wake, { once: true });
      });
    }
    return this.scorer;
  }

  /** Enrich's partitions of sensors-sample changed: they are the scorer's input partitions. */
  assign(partitions: readonly number[]): void {
    this.assigned = partitions;
    this.scorer?.assign(partitions);
  }
}
