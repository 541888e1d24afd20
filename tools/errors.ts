import { CarwatchError } from "../core/errors.js";
import type { Role } from "./roles.js";

/** The caller's role does not allow the tool; the message is safe to show. */
export class PermissionError extends CarwatchError {
  constructor(
    readonly tool: string,
    readonly needed: Role,
  ) {
    super("permission", `${tool} needs the ${needed} role`);
    this.name = "PermissionError";
  }
}

/**
 * A destructive tool was called without a confirmation; callers ask the
 * user, then call again confirmed. `preview`: what the tool says the call
 * would do (a rule change's backtest), for the question; null when it says nothing.
 */
export class ConfirmationRequired extends CarwatchError {
  constructor(
    readonly tool: string,
    readonly input: unknown,
    readonly preview: string | null = null,
  ) {
    super("tool", `${tool} changes the running system and needs a confirmation`);
    this.name = "ConfirmationRequired";
  }
}
