import kafkajs from "kafkajs";
import { describe, expect, it } from "vitest";
import { CarwatchError } from "../../core/errors.js";
import { isRebalance, kafkaFailure, TransportError } from "./kafka-errors.js";

const { KafkaJSConnectionError, KafkaJSNonRetriableError, KafkaJSNumberOfRetriesExceeded, KafkaJSProtocolError } = kafkajs;

/** A broker's error response as kafkajs raises it (the fields of kafkajs' protocol error table). */
const protocolError = (type: string, code: number, retriable: boolean) => new KafkaJSProtocolError({ message: type, type, code, retriable } as never);

describe("kafkaFailure", () => {
  it("takes retriable from kafkajs' error, in the transport's place in the taxonomy", () => {
    const tooLarge = new KafkaJSNonRetriableError(protocolError("MESSAGE_TOO_LARGE", 10, false));
    const refused = kafkaFailure("publish to t.alert-data failed", tooLarge);
    expect(refused).toBeInstanceOf(TransportError);
    expect(refused).toBeInstanceOf(CarwatchError);
    expect(refused).toMatchObject({ origin: "transport", retriable: false, cause: tooLarge, message: "publish to t.alert-data failed: MESSAGE_TOO_LARGE" });
    expect(kafkaFailure("publish", new KafkaJSConnectionError("Connection timeout")).retriable).toBe(true);
    expect(kafkaFailure("publish", protocolError("LEADER_NOT_AVAILABLE", 5, true)).retriable).toBe(true);
  });

  it("counts kafkajs' retries that ran out as retriable, and what kafkajs did not raise as not", () => {
    const exhausted = new KafkaJSNumberOfRetriesExceeded(new KafkaJSConnectionError("Connection refused"), { retryCount: 12, retryTime: 5000 });
    expect(exhausted.retriable).toBe(false);
    expect(kafkaFailure("cannot consume", exhausted).retriable).toBe(true);
    expect(kafkaFailure("publish", new TypeError("Converting circular structure to JSON")).retriable).toBe(false);
  });
});

describe("isRebalance", () => {
  it("knows the refusals a group gives a member after a rebalance, and nothing else", () => {
    expect(isRebalance(protocolError("REBALANCE_IN_PROGRESS", 27, false))).toBe(true);
    expect(isRebalance(protocolError("ILLEGAL_GENERATION", 22, false))).toBe(true);
    expect(isRebalance(protocolError("UNKNOWN_MEMBER_ID", 25, false))).toBe(true);
    expect(isRebalance(protocolError("OFFSET_METADATA_TOO_LARGE", 12, false))).toBe(false);
    expect(isRebalance(new Error("boom"))).toBe(false);
  });
});
