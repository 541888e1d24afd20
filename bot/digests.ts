import type { Api } from "grammy";
import type { Logger } from "../core/log.js";
import { ALERTS, WINDOWS } from "../pipeline/transport/topics.js";
import type { Transport, Subscription as TransportSubscription } from "../pipeline/transport/transport.js";
import type { Notifier } from "../tools/notify.js";
import type { Subscription } from "../tools/ops-state.js";
import { incidentMenu } from "./keyboards.js";
import type { SendQueue } from "./send-queue.js";
import { digestView, newIncidentView } from "./views.js";

/** Consumer groups of the bot's own: the digests never take messages from a stage. */
export const DIGEST_GROUP = "bot-digests";
export const INCIDENT_GROUP = "bot-incidents";

export interface Digests {
  stop(): Promise<void>;
}

/**
 * Turns closed windows into digests and opened incidents into notices. The
 * handlers only put messages in the send queue, so a slow or unreachable
 * Telegram never holds the pipeline back.
 */
export async function startDigests(o: {
  transport: Transport;
  api: Api;
  queue: SendQueue;
  notifier: Notifier;
  log: Logger;
  /** Which subscribed chats this bot delivers to (the Telegram bot and the local console share the subscriptions table). */
  accept?: (s: Subscription) => boolean;
  /** Consumer group names (the console uses its own, so both bots see every window). */
  groups?: { digests: string; incidents: string };
}): Promise<Digests> {
  const accept = o.accept ?? (() => true);
  const send = (s: Subscription, text: string, extra: Parameters<Api["sendMessage"]>[2] = {}) =>
    o.queue.push(s.chatId, () => o.api.sendMessage(s.chatId, text, { parse_mode: "HTML", ...(s.threadId ? { message_thread_id: s.threadId } : {}), ...extra }));

  // A bot starting for the first time on a Kafka topic with history sends only what happens from now on.
  const FROM_NOW = { from: "latest" as const };
  const subs: TransportSubscription[] = [];
  subs.push(
    await o.transport.subscribe(
      WINDOWS,
      o.groups?.digests ?? DIGEST_GROUP,
      (batch) => {
        for (const { value: w } of batch) {
          const targets = o.notifier.digestTargets(w).filter(accept);
          if (targets.length === 0) continue;
          const text = digestView(w);
          for (const s of targets) send(s, text);
        }
      },
      FROM_NOW,
    ),
  );
  subs.push(
    await o.transport.subscribe(
      ALERTS,
      o.groups?.incidents ?? INCIDENT_GROUP,
      (batch) => {
        for (const { value: m } of batch) {
          if (m.kind !== "alert") continue;
          for (const hit of m.hits) {
            const { severity, targets: all } = o.notifier.incidentTargets(m.event.car_id, hit);
            const targets = all.filter(accept);
            if (targets.length === 0) continue;
            const text = newIncidentView(m.event, hit, severity);
            for (const s of targets) send(s, text, { reply_markup: incidentMenu(hit.incident_id) });
          }
        }
      },
      FROM_NOW,
    ),
  );
  for (const s of subs) s.done.catch((err: unknown) => o.log.error({ err }, "digest consumer stopped"));
  return {
    async stop() {
      for (const s of subs) await s.stop();
    },
  };
}
