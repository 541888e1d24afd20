/**
 * The error taxonomy. Every error carwatch raises on purpose is a
 * CarwatchError with fields a program can read: where it came from (`origin`)
 * and whether trying again may help (`retriable`), in the manner of grammY's
 * GrammyError/HttpError and KafkaJS's `retriable`.
 */
export type ErrorOrigin = "config" | "input" | "permission" | "store" | "transport" | "stage" | "tool" | "telegram" | "llm";

export class CarwatchError extends Error {
  readonly origin: ErrorOrigin;
  readonly retriable: boolean;
  constructor(origin: ErrorOrigin, message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = "CarwatchError";
    this.origin = origin;
    this.retriable = options.retriable ?? false;
  }
}

/** A bad configuration value; names the variable and what it expects. */
export class ConfigError extends CarwatchError {
  constructor(
    readonly variable: string,
    expected: string,
  ) {
    super("config", `${variable}: ${expected}`);
    this.name = "ConfigError";
  }
}

/** Input a user or a peer sent that we refuse; the message is safe to show. */
export class InputError extends CarwatchError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super("input", message, options);
    this.name = "InputError";
  }
}

export class StoreError extends CarwatchError {
  constructor(message: string, options: { retriable?: boolean; cause?: unknown } = {}) {
    super("store", message, options);
    this.name = "StoreError";
  }
}

export class StageError extends CarwatchError {
  constructor(
    readonly stage: string,
    message: string,
    options: { retriable?: boolean; cause?: unknown } = {},
  ) {
    super("stage", `${stage}: ${message}`, options);
    this.name = "StageError";
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
