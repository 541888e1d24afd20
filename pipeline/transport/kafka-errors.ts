import kafkajs from "kafkajs";
import { CarwatchError, errorMessage } from "../../core/errors.js";

// kafkajs is CommonJS and builds its exports by spreading, so Node sees its error classes only on the default export.
const { KafkaJSError } = kafkajs;

export class TransportError extends CarwatchError {
  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super("transport", message, options);
    this.name = "TransportError";
  }
}

/**
 * Whether trying again may help, as kafkajs judges it: its own `retriable`
 * flag, and retries that ran out (kafkajs restarts a crashed consumer on those
 * too: the cluster may be back later). What kafkajs did not raise (an encoder
 * that threw) is not retriable.
 */
export function isRetriable(err: unknown): boolean {
  return err instanceof KafkaJSError && (err.retriable || err.name === "KafkaJSNumberOfRetriesExceeded");
}

/** A kafkajs failure in carwatch's taxonomy: origin transport, retriable as kafkajs says. */
export function kafkaFailure(what: string, err: unknown): TransportError {
  return new TransportError(`${what}: ${errorMessage(err)}`, { retriable: isRetriable(err), cause: err });
}

/** Errors kafkajs raises when a group rebalanced under a consumer: the new owner redelivers, nothing to do. */
export function isRebalance(err: unknown): boolean {
  const type = (err as { type?: string }).type ?? "";
  return ["REBALANCE_IN_PROGRESS", "ILLEGAL_GENERATION", "UNKNOWN_MEMBER_ID", "NOT_COORDINATOR", "FENCED_INSTANCE_ID"].includes(type);
}
