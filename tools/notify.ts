import type { AlertWindow, RuleHit } from "../domain/events.js";
import type { OpsState, Severity, Subscription } from "../state/ops-state.js";
import type { RuleTable } from "../state/rules.js";
import { atLeast, severity } from "./severity.js";

/**
 * Who hears about what: the subscriptions, silences and severity rules
 * behind digests and incident notices, kept beside the tools that change
 * them so the bot only formats and sends.
 */
export class Notifier {
  constructor(
    private readonly ops: OpsState,
    private readonly rules: Pick<RuleTable, "get">,
    private readonly clock: () => number = Date.now,
  ) {}

  /** DIGEST_CHATS: subscribed at start, keeping any choices a chat made since. */
  subscribeAtStart(chatIds: readonly number[]): number {
    return chatIds.filter((id) => this.ops.subscribeIfAbsent(id, this.clock())).length;
  }

  /** Chats that get this window's digest: windows without alerts only where asked for. */
  digestTargets(w: AlertWindow): Subscription[] {
    return this.ops.subscriptions().filter((s) => s.digests && (w.alert_events > 0 || s.includeEmpty));
  }

  /** Chats that get a new incident at once, or none when its car or rule is silenced. */
  incidentTargets(carId: number, hit: RuleHit): { severity: Severity; targets: Subscription[] } {
    const sev = severity(hit.severity, this.rules.get(hit.rule_id), hit.value);
    if (!hit.opened || this.ops.isSilenced(carId, hit.rule, this.clock())) return { severity: sev, targets: [] };
    return { severity: sev, targets: this.ops.subscriptions().filter((s) => s.incidentsMin !== null && atLeast(sev, s.incidentsMin)) };
  }
}
