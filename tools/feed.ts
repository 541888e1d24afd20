import type { Logger } from "../core/log.js";
import type { AlertWindow, Incident, RuleHit, ScoredEvent } from "../domain/events.js";
import { ALERTS, WINDOWS } from "../pipeline/transport/topics.js";
import type { Transport, Subscription as TransportSubscription } from "../pipeline/transport/transport.js";
import type { IncidentNotices, NoticeTarget } from "../state/incident-notices.js";
import type { OpsState, Severity, Subscription } from "../state/ops-state.js";
import type { RuleTable } from "../state/rules.js";
import { Notifier } from "./notify.js";
import type { RoleBook } from "./roles.js";

/** One message a chat is owed: a closed window's digest, a new incident, or the end of one it was told of. */
export type Notice =
  | { kind: "digest"; to: Subscription; window: AlertWindow }
  | {
      kind: "incident";
      to: Subscription;
      event: ScoredEvent;
      hit: RuleHit;
      severity: Severity;
      /** Call with the sent message's id: the resolved notice replies to it. */
      sent(messageId: number): void;
    }
  | {
      kind: "resolved";
      to: NoticeTarget;
      incident: Incident;
      /** The opening notice's message id, read when the reply goes out (it may have been sent just before); null if it never was. */
      replyTo(): number | null;
    };

export interface FeedListener {
  /** Consumer groups of the listener's own, so that every listener sees every window. */
  groups: { digests: string; incidents: string };
  /** Which subscribed chats this listener delivers to (the Telegram bot and the local console share the subscriptions). */
  accept: (s: Subscription) => boolean;
  /** Must not block: the pipeline's topics are read in the same loop. */
  deliver: (n: Notice) => void;
}

/**
 * Digests and incident notices, owned by the tools: the pipeline's windows
 * and alerts, matched to the subscriptions, silences and severities
 * (Notifier), with each chat's right to them checked again at every
 * delivery: a private chat is its user's, who must still have a role (a user
 * removed from TELEGRAM_VIEWERS hears nothing more); a group chat was
 * subscribed by an operator. The bot and the console only format and send.
 */
export class NoticeFeed {
  private readonly notifier: Notifier;

  constructor(
    /** `roles`: the RoleBook, or the registry (which answers from it). */
    private readonly o: {
      transport: Transport;
      ops: OpsState;
      rules: Pick<RuleTable, "get">;
      roles: Pick<RoleBook, "roleOf">;
      log: Logger;
      clock?: () => number;
      /** Where opening notices went, for the resolved ones (without it, none are sent). */
      notices?: IncidentNotices;
    },
  ) {
    this.notifier = new Notifier(o.ops, o.rules, o.clock);
  }

  /** DIGEST_CHATS: subscribed at start, keeping any choices a chat made since. */
  subscribeAtStart(chatIds: readonly number[]): number {
    return this.notifier.subscribeAtStart(chatIds);
  }

  private entitled(s: NoticeTarget): boolean {
    return s.chatId < 0 || this.o.roles.roleOf(s.chatId) !== null;
  }

  async listen(l: FeedListener): Promise<{ stop(): Promise<void> }> {
    const to = (targets: Subscription[]) => targets.filter((s) => l.accept(s) && this.entitled(s));
    // A listener starting for the first time on a Kafka topic with history hears only what happens from now on.
    const FROM_NOW = { from: "latest" as const };
    const subs: TransportSubscription[] = [
      await this.o.transport.subscribe(
        WINDOWS,
        l.groups.digests,
        (batch) => {
          for (const { value: window } of batch) for (const s of to(this.notifier.digestTargets(window))) l.deliver({ kind: "digest", to: s, window });
        },
        FROM_NOW,
      ),
      await this.o.transport.subscribe(
        ALERTS,
        l.groups.incidents,
        (batch) => {
          const notices = this.o.notices;
          // The listener's own group names it: the Telegram bot's is shared by its processes, each console has its own.
          const listener = l.groups.incidents;
          const now = this.o.clock?.() ?? Date.now();
          for (const { value: m } of batch) {
            if (m.kind === "resolved" && notices) {
              const id = m.incident.incident_id;
              for (const t of notices.resolve(listener, id)) {
                if (this.entitled(t)) l.deliver({ kind: "resolved", to: t, incident: m.incident, replyTo: () => notices.messageId(listener, id, t) });
              }
            }
            if (m.kind !== "alert") continue;
            for (const hit of m.hits) {
              const { severity, targets } = this.notifier.incidentTargets(m.event.car_id, hit);
              for (const s of to(targets)) {
                notices?.owed(listener, hit.incident_id, s, now);
                l.deliver({
                  kind: "incident",
                  to: s,
                  event: m.event,
                  hit,
                  severity,
                  sent: (messageId) => notices?.sent(listener, hit.incident_id, s, messageId),
                });
              }
            }
          }
        },
        FROM_NOW,
      ),
    ];
    for (const s of subs) s.done.catch((err: unknown) => this.o.log.error({ err }, "notice feed consumer stopped"));
    return {
      async stop() {
        for (const s of subs) await s.stop();
      },
    };
  }
}
