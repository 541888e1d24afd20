import type { Api } from "grammy";
import type { Subscription } from "../state/ops-state.js";
import type { FeedListener, NoticeFeed } from "../tools/feed.js";
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
 * Formats the feed's digests and incident notices and puts them in the send
 * queue, so a slow or unreachable Telegram never holds the pipeline back.
 */
export function startDigests(o: {
  feed: NoticeFeed;
  api: Api;
  queue: SendQueue;
  accept?: FeedListener["accept"];
  /** Consumer group names (the console uses its own, so both bots see every window). */
  groups?: FeedListener["groups"];
}): Promise<Digests> {
  const send = (s: Subscription, text: string, extra: Parameters<Api["sendMessage"]>[2] = {}) =>
    o.queue.push(s.chatId, () => o.api.sendMessage(s.chatId, text, { parse_mode: "HTML", ...(s.threadId ? { message_thread_id: s.threadId } : {}), ...extra }));
  return o.feed.listen({
    groups: o.groups ?? { digests: DIGEST_GROUP, incidents: INCIDENT_GROUP },
    accept: o.accept ?? (() => true),
    deliver: (n) => {
      if (n.kind === "digest") send(n.to, digestView(n.window));
      else send(n.to, newIncidentView(n.event, n.hit, n.severity), { reply_markup: incidentMenu(n.hit.incident_id) });
    },
  });
}
