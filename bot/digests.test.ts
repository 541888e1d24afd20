import { Api } from "grammy";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { silentLogger } from "../core/log.js";
import type { AlertMessage, AlertWindow, ScoredEvent } from "../domain/events.js";
import { MemoryTransport } from "../pipeline/transport/memory.js";
import { ALERTS, WINDOWS } from "../pipeline/transport/topics.js";
import { OpsState } from "../state/ops-state.js";
import { RuleTable } from "../state/rules.js";
import { StateStore } from "../state/store.js";
import { NoticeFeed } from "../tools/feed.js";
import { RoleBook } from "../tools/roles.js";
import { type Digests, startDigests } from "./digests.js";
import { SendQueue } from "./send-queue.js";

const window = (start: number, alerts: number): AlertWindow => ({
  window_start: start,
  window_end: start + 60_000,
  events: 100,
  alert_events: alerts,
  new_incidents: alerts > 0 ? 1 : 0,
  late_events: 0,
  distinct_cars: alerts > 0 ? 1 : 0,
  max_speed: alerts > 0 ? 150 : null,
  max_gear: alerts > 0 ? 5 : null,
  max_rpm: alerts > 0 ? 4000 : null,
  rule_counts: { speeding: alerts, high_rpm: 0, wrong_gear: 0 },
  color_counts: { Gray: alerts },
  top_cars: alerts > 0 ? [{ car_id: 3, alerts }] : [],
});

const event: ScoredEvent = {
  event_id: "0123abcd-0000-4000-8000-000000000000",
  event_time: Date.parse("2025-01-01T00:00:30Z"),
  car_id: 3,
  speed: 160,
  rpm: 4000,
  gear: 5,
  driver_id: 9,
  brand_name: "Kia",
  model_name: "Rio",
  color_name: "Gray <&>",
  expected_gear: 5,
  is_alert: true,
  rules: ["speeding"],
};
const alert = (speed: number, opened = true): AlertMessage => ({
  kind: "alert",
  event: { ...event, speed },
  hits: [{ rule: "speeding", rule_id: "speeding", rule_version: 1, severity: "medium", value: speed, threshold: 120, incident_id: "0123456789abcdef", opened }],
});

let state: StateStore;
let ops: OpsState;
let transport: MemoryTransport;
let queue: SendQueue;
let digests: Digests;
let feed: NoticeFeed;
/** Private chats are their users': these have a role; 13 had one once and was removed. */
const roles = new RoleBook({ admins: [], operators: [11], viewers: [5, 6, 10, 12, 30] });
let sent: { chat_id: number; text: string; message_thread_id?: number; reply_markup?: unknown }[];

beforeEach(async () => {
  state = new StateStore(":memory:");
  ops = new OpsState(state);
  transport = new MemoryTransport();
  queue = new SendQueue(silentLogger, { privateGapMs: 0, groupGapMs: 0, retryMs: 1 });
  const api = new Api("1:test");
  sent = [];
  api.config.use(async (_prev, method, payload) => {
    if (method === "sendMessage") sent.push(payload as (typeof sent)[number]);
    return { ok: true, result: { message_id: sent.length, date: 0, chat: { id: 1, type: "private" } } } as never;
  });
  const rules = new RuleTable(state);
  rules.seed([{ name: "speeding", condition: { kind: "threshold", field: "speed", op: ">", value: 120 }, scope: {}, severity: "medium", clear_seconds: 60 }]);
  feed = new NoticeFeed({ transport, ops, rules, roles, log: silentLogger, clock: () => 0 });
  digests = await startDigests({ feed, api, queue });
});
afterEach(async () => {
  await digests.stop();
  queue.stop();
  state.close();
});

const settle = async () => {
  await transport.whenIdle();
  await queue.idle();
};

describe("digests", () => {
  it("sends each closed window once per subscribed chat, quiet windows only where asked, into forum topics", async () => {
    ops.subscribe({ chatId: 10, threadId: null, digests: true, includeEmpty: false, incidentsMin: null }, 0);
    ops.subscribe({ chatId: -20, threadId: 7, digests: true, includeEmpty: true, incidentsMin: null }, 0);
    ops.subscribe({ chatId: 30, threadId: null, digests: false, includeEmpty: false, incidentsMin: "high" }, 0);
    await transport.publish(WINDOWS, [
      { key: "a", value: window(Date.parse("2025-01-01T00:00:00Z"), 4) },
      { key: "b", value: window(Date.parse("2025-01-01T00:01:00Z"), 0) },
    ]);
    await settle();
    const to = (chat: number) => sent.filter((m) => m.chat_id === chat);
    expect(sent).toHaveLength(3);
    expect(to(10).map((m) => m.text.split("\n")[0])).toEqual(["<b>🕐 2025-01-01 00:00–00:01 UTC</b>"]);
    expect(to(10)[0]!.message_thread_id).toBeUndefined();
    expect(to(-20).map((m) => m.message_thread_id)).toEqual([7, 7]);
    expect(to(-20)[1]!.text).toBe("<b>🕐 2025-01-01 00:01–00:02 UTC</b>\n100 readings, no alerts.");
  });

  it("DIGEST_CHATS are subscribed once, keeping a chat's own choices", () => {
    ops.subscribe({ chatId: 5, threadId: null, digests: true, includeEmpty: true, incidentsMin: "low" }, 0);
    expect(feed.subscribeAtStart([5, 6])).toBe(1);
    expect(ops.subscription(5, null)).toMatchObject({ includeEmpty: true, incidentsMin: "low" });
    expect(ops.subscription(6, null)).toMatchObject({ digests: true, includeEmpty: false, incidentsMin: null });
  });
});

describe("a chat's right to them", () => {
  it("is checked at every delivery: a private chat whose user has no role any more gets neither digests nor incidents", async () => {
    for (const chatId of [10, 13, -20]) ops.subscribe({ chatId, threadId: null, digests: true, includeEmpty: true, incidentsMin: "low" }, 0);
    await transport.publish(WINDOWS, [{ key: "a", value: window(Date.parse("2025-01-01T00:00:00Z"), 1) }]);
    await transport.publish(ALERTS, [{ key: "3", value: alert(160) }]);
    await settle();
    expect(sent.map((m) => m.chat_id).sort((a, b) => a - b)).toEqual([-20, -20, 10, 10]);
  });
});

describe("incident notices", () => {
  it("go at once to chats opted in at that severity, with escaped text and Acknowledge / Silence buttons", async () => {
    ops.subscribe({ chatId: 10, threadId: null, digests: true, includeEmpty: false, incidentsMin: "high" }, 0);
    ops.subscribe({ chatId: 11, threadId: null, digests: true, includeEmpty: false, incidentsMin: "medium" }, 0);
    ops.subscribe({ chatId: 12, threadId: null, digests: true, includeEmpty: false, incidentsMin: null }, 0);
    await transport.publish(ALERTS, [
      { key: "3", value: alert(130) },
      { key: "3", value: alert(160) },
      { key: "3", value: alert(170, false) },
      { key: "p", value: { kind: "progress", minEventTime: 0, maxEventTime: 0 } },
    ]);
    await settle();
    expect(sent.map((m) => m.chat_id)).toEqual([11, 10, 11]);
    expect(sent[1]!.text).toContain("(Kia Rio, Gray &lt;&amp;&gt;)");
    expect(sent[1]!.reply_markup).toEqual({
      inline_keyboard: [
        [
          { text: "✔️ Acknowledge", callback_data: "ack:0123456789abcdef" },
          { text: "🔕 Silence 1 h", callback_data: "mute:0123456789abcdef" },
        ],
      ],
    });
  });

  it("are not sent for a silenced car", async () => {
    ops.subscribe({ chatId: 10, threadId: null, digests: true, includeEmpty: false, incidentsMin: "low" }, 0);
    ops.silence("car", "3", 3_600_000, 1, 0);
    await transport.publish(ALERTS, [{ key: "3", value: alert(160) }]);
    await settle();
    expect(sent).toEqual([]);
  });
});
