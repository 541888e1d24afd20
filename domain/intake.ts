import { StoreError } from "../core/errors.js";
import type { DeadLetterReason } from "./events.js";

export interface IntakeAnswer {
  accepted: number;
  duplicates: number;
  rejected: { index: number; reason: DeadLetterReason; detail: string }[];
}

/** The pipeline is behind: try again after `retryAfterSeconds`. Answered 503 with Retry-After. */
export class IntakeBusy extends StoreError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
  ) {
    super(message, { retriable: true });
    this.name = "IntakeBusy";
  }
}

/** Where readings from outside go (the pipeline's intake): answered once they cannot be lost. */
export interface ReadingSink {
  accept(values: readonly string[], allowedCars?: ReadonlySet<number>): Promise<IntakeAnswer>;
}
