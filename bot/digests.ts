import type { Api } from "grammy";
import type { Incident } from "../domain/events.js";
import type { NoticeTarget } from "../state/incident-notices.js";
import type { FeedListener, NoticeFeed } from "../tools/feed.js";
import { html } from "./format.js";
import { incidentMenu } from "./keyboards.js";
import type { SendQueue } from "./send-queue.js";
import { digestView, newIncidentView } from "./views.js";

/** Consumer groups of the bot's own: the digests never take messages from a stage. */
export const DIGEST_GROUP = "bot-digests";
export const INCIDENT_GROUP = "bot-incidents";

export interface Digests {
  stop(): Promise<void>;
}

/** "2m 5s", "1h 3m", "40s". */
function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return s % 60 === 0 ? `${s / 60}m` : `${Math.floor(s / 60)}m ${s % 60}s`;
  const m = Math.round(s / 60);
  return m % 60 === 0 ? `${m / 60}h` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

/** The end of an incident: how long it was open (first alert to resolution) and its peak. */
export function resolvedIncidentView(i: Incident): string {
  const open = duration((i.resolved_at ?? i.ended_at) - i.started_at);
  return [
    html`✅ <b>Resolved</b> <code>${i.incident_id}</code>: ${i.rule}, car ${i.car_id} (${i.model_name}, ${i.color_name})`,
    html`open ${open}, ${i.event_count} ${i.event_count === 1 ? "alert" : "alerts"}, peak ${i.peak_value}; clear since ${new Date(i.ended_at).toISOString().slice(11, 19)} UTC`,
  ].join("\n");
}

/**
 * Formats the feed's digests and incident notices and puts them in the send
 * queue, so a slow or unreachable Telegram never holds the pipeline back. An
 * opening notice's message id goes back to the feed once sent; the resolved
 * notice, queued behind it in the same chat's lane, replies to it.
 */
export function startDigests(o: {
  feed: NoticeFeed;
  api: Api;
  queue: SendQueue;
  accept?: FeedListener["accept"];
  /** Consumer group names (the console uses its own, so both bots see every window). */
  groups?: FeedListener["groups"];
}): Promise<Digests> {
  const send = (s: NoticeTarget, text: string, extra: () => Parameters<Api["sendMessage"]>[2] = () => ({}), sent?: (messageId: number) => void) =>
    o.queue.push(s.chatId, async () => {
      const m = await o.api.sendMessage(s.chatId, text, { parse_mode: "HTML", ...(s.threadId ? { message_thread_id: s.threadId } : {}), ...extra() });
      sent?.(m.message_id);
    });
  return o.feed.listen({
    groups: o.groups ?? { digests: DIGEST_GROUP, incidents: INCIDENT_GROUP },
    accept: o.accept ?? (() => true),
    deliver: (n) => {
      if (n.kind === "digest") send(n.to, digestView(n.window));
      else if (n.kind === "incident")
        send(n.to, newIncidentView(n.event, n.hit, n.severity), () => ({ reply_markup: incidentMenu(n.hit.incident_id) }), n.sent);
      else
        send(n.to, resolvedIncidentView(n.incident), () => {
          const replyTo = n.replyTo();
          // Sent even if the opening message was deleted since.
          return replyTo === null ? {} : { reply_parameters: { message_id: replyTo, allow_sending_without_reply: true } };
        });
    },
  });
}
