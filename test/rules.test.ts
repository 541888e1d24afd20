import { randomUUID } from "node:crypto";
import type { Update } from "grammy/types";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createBot } from "../bot/bot.js";
import { startDigests } from "../bot/digests.js";
import { SendQueue } from "../bot/send-queue.js";
import { silentLogger } from "../core/log.js";
import type { AlertMessage, Incident } from "../domain/events.js";
import type { BacktestAlert } from "../pipeline/rules/backtest.js";
import { ALERTS, SENSORS } from "../pipeline/transport/topics.js";
import { IncidentNotices } from "../state/incident-notices.js";
import { RuleTable } from "../state/rules.js";
import { NoticeFeed } from "../tools/feed.js";
import { CONSOLE_USER_ID } from "../tools/roles.js";
import { startConsole } from "../web/console.js";
import type { RichNode } from "../web/telegram-html.js";
import { ADMIN, type BotPipeline, botPipeline, GEN_START, OPERATOR, startConsumers, VIEWER } from "./support/bot-pipeline.js";
import { sensorMessage } from "./support/readings.js";
import { BOT_INFO, callbackUpdate, textUpdate } from "./support/telegram-updates.js";

const admin = { userId: ADMIN, chatId: ADMIN, via: "telegram" as const };

/** Rules of every kind besides the seeded three, created (confirmed) before the drive; each must fire in it. */
const EXTRA_RULES: [string, string][] = [
  ["red_fast", "speed > 110 for 8s where color = Red clear after 30s"],
  ["braking", "harsh braking > 20 km/h/s severity high"],
  ["accel", "harsh acceleration > 9 km/h/s where brand in (Kia, Mazda)"],
  ["stuck_rpm", "stuck rpm for 6 readings"],
  ["quiet", "silent for 1m clear after 2m"],
  ["drift", "baseline rpm z > 3 after 30 readings alpha 0.1 band 20 km/h"],
  ["gear_off", "wrong gear tolerance 1 severity low"],
];

let p: BotPipeline;

beforeAll(async () => {
  // A watermark of 10 s: silences and resolutions are judged behind the newest reading, live and in the backtest.
  p = await botPipeline({ WATERMARK_SECONDS: "10" });
  for (const [name, expression] of EXTRA_RULES) await p.registry.call("create_rule", { name, expression }, admin, { confirmed: true });
  await startConsumers(p);
  await p.supervisor.start("generator", {
    clock: "virtual",
    rate: 0,
    maxEvents: 20_000,
    seed: 11,
    startTime: GEN_START,
    virtualRate: 10,
    anomalies: { speeding: 0.02, highRpm: 0.01, wrongGear: 0.01, malformed: 0.01, harshBraking: 0.01, stuckSensor: 0.01, quietCar: 0.004, engineDrift: 0.01 },
  });
  await p.supervisor.waitFor("generator");
  await p.transport.whenIdle();
}, 120_000);
afterAll(() => p.close());

const ms = (v: unknown) => p.lakehouse.toMillis(v);

function liveAlerts(ruleId: string): BacktestAlert[] {
  return p.lakehouse
    .selectSync<Record<string, unknown>>(
      `SELECT event_id, event_time, car_id, rule, rule_id, rule_version, severity, value, threshold, speed, rpm, gear, color_name, model_name, incident_id
       FROM telemetry.alerts WHERE rule_id = ? ORDER BY event_time, event_id`,
      [ruleId],
    )
    .map((r) => ({ ...r, event_time: ms(r.event_time) }) as unknown as BacktestAlert);
}

function liveIncidents(ruleId: string): Incident[] {
  return p.lakehouse
    .selectSync<Record<string, unknown>>(
      `SELECT incident_id, car_id, rule, rule_id, severity, started_at, ended_at, peak_value, event_count, color_name, model_name, resolved_at
       FROM telemetry.incidents WHERE rule_id = ? ORDER BY incident_id`,
      [ruleId],
    )
    .map((r) => ({ ...r, started_at: ms(r.started_at), ended_at: ms(r.ended_at), resolved_at: r.resolved_at === null ? null : ms(r.resolved_at) }) as Incident);
}

const byTime = (a: BacktestAlert, b: BacktestAlert) => a.event_time - b.event_time || a.event_id.localeCompare(b.event_id);

describe("replay equivalence", () => {
  it("the backtest of each rule over the drive returns exactly the alerts and incidents the live pipeline stored for it", async () => {
    const rules = new RuleTable(p.state).list();
    // The seeded rules first (the first wave's and whatever the seed adds), then ours.
    expect(rules.slice(0, 3).map((r) => r.name)).toEqual(["speeding", "high_rpm", "wrong_gear"]);
    expect(rules.slice(-EXTRA_RULES.length).map((r) => r.name)).toEqual(EXTRA_RULES.map(([n]) => n));
    const counts: Record<string, [number, number]> = {};
    for (const rule of rules) {
      const r = await p.lakehouse.backtest({
        rules: [rule],
        fromMs: GEN_START,
        toMs: GEN_START + 86_400_000,
        watermarkMs: p.deps.settings.watermarkMs,
        full: true,
      });
      const live = liveAlerts(rule.id);
      expect(r.readings).toBe(p.count("telemetry.cars_enriched"));
      // Soft: every rule's differences are listed, not only the first rule's.
      expect.soft([...r.all!.alerts].sort(byTime), rule.name).toEqual(live);
      expect
        .soft(
          [...r.all!.incidents].sort((a, b) => a.incident_id.localeCompare(b.incident_id)),
          rule.name,
        )
        .toEqual(liveIncidents(rule.id));
      expect(r.alerts).toBe(live.length);
      counts[rule.name] = [r.alerts, r.incidents];
    }
    // Each rule of ours (and the first wave's) fired in the drive, so the comparisons above compared something.
    for (const name of ["speeding", "high_rpm", "wrong_gear", ...EXTRA_RULES.map(([n]) => n)]) {
      const [alerts, incidents] = counts[name]!;
      expect(alerts, name).toBeGreaterThan(0);
      expect(incidents, name).toBeGreaterThan(0);
    }
  }, 120_000);
});

interface ApiCall {
  method: string;
  payload: Record<string, unknown>;
  messageId?: number;
}

/** A bot on pipeline `q` whose Bot API calls are recorded and answered here (as in test/bot-handlers.test.ts). */
function recordingBot(q: BotPipeline, calls: ApiCall[]) {
  let messageId = 100;
  const { bot } = createBot({
    token: "1:test",
    registry: q.registry,
    log: silentLogger,
    botInfo: BOT_INFO,
    clock: () => q.now,
    flood: { limit: 100, timeFrameMs: 60_000 },
  });
  bot.api.config.use(async (_prev, method, payload) => {
    const call: ApiCall = { method, payload: payload as Record<string, unknown> };
    calls.push(call);
    const chat = { id: Number((payload as { chat_id?: number }).chat_id ?? 0), type: "private" };
    if (method !== "sendMessage") return { ok: true, result: true } as never;
    call.messageId = ++messageId;
    return { ok: true, result: { message_id: call.messageId, date: 0, chat, text: (payload as { text?: string }).text } } as never;
  });
  return bot;
}
const buttons = (c: ApiCall | undefined): string[] =>
  ((c?.payload.reply_markup as { inline_keyboard?: { callback_data: string }[][] })?.inline_keyboard ?? []).flat().map((b) => b.callback_data);

describe("/rules", () => {
  let calls: ApiCall[];
  let bot: ReturnType<typeof recordingBot>;
  const send = async (...updates: Update[]) => {
    for (const u of updates) await bot.handleUpdate(u);
  };
  beforeAll(() => {
    calls = [];
    bot = recordingBot(p, calls);
  });
  beforeEach(() => {
    calls.length = 0;
  });

  it("lists every rule; an admin gets an Enable or Disable button per rule, a viewer none", async () => {
    const rules = new RuleTable(p.state).list();
    await send(textUpdate(ADMIN, "/rules"));
    const [list] = calls;
    expect(String(list!.payload.text).split("\n")[0]).toBe(`<b>Rules</b> (${rules.filter((r) => r.enabled).length} of ${rules.length} enabled)`);
    expect(String(list!.payload.text)).toContain("🟢 <b>red_fast</b> v1 medium: <code>speed &gt; 110 for 8s where color = Red clear after 30s</code>");
    expect(buttons(list)).toEqual(rules.map((r) => `${r.enabled ? "rule_off" : "rule_on"}:${r.name}`));
    calls.length = 0;
    await send(textUpdate(VIEWER, "/rules"));
    expect(calls.map((c) => [c.method, c.payload.reply_markup])).toEqual([["sendMessage", undefined]]);
  });

  it("a Disable press asks through the registry, with the rule's backtest of the last hour, and the Yes button disables it", async () => {
    const id = new RuleTable(p.state).get("red_fast")!.id;
    const [live] = p.lakehouse.selectSync<{ alerts: number; incidents: number; cars: number }>(
      "SELECT count(*) AS alerts, count(DISTINCT incident_id) AS incidents, count(DISTINCT car_id) AS cars FROM telemetry.alerts WHERE rule_id = ? AND event_time < ?",
      [id, new Date(p.now).toISOString().replace("T", " ").slice(0, 23)],
    );
    const readings = p.lakehouse.selectSync<{ n: number }>("SELECT count(*) AS n FROM telemetry.cars_enriched WHERE event_time < ?", [
      new Date(p.now).toISOString().replace("T", " ").slice(0, 23),
    ])[0]!.n;
    await send(callbackUpdate(ADMIN, "rule_off:red_fast"));
    expect(calls.map((c) => c.method)).toEqual(["answerCallbackQuery", "sendMessage"]);
    const ask = calls[1]!;
    expect(String(ask.payload.text)).toBe(
      "Disable rule <b>red_fast</b>?\nred_fast: speed &gt; 110 for 8s where color = Red clear after 30s\n" +
        `Backtest, last hour: ${live!.alerts} alerts, ${live!.incidents} incidents, ${live!.cars} cars (${readings.toLocaleString("en-US")} readings)\n` +
        "<i>This button expires in 60 s.</i>",
    );
    expect(live!.alerts).toBeGreaterThan(0);
    const [yes] = buttons(ask);
    expect(new RuleTable(p.state).get("red_fast")!.enabled).toBe(true);
    calls.length = 0;
    await send(callbackUpdate(ADMIN, yes!, ask.messageId));
    expect(calls.map((c) => c.method)).toEqual(["answerCallbackQuery", "editMessageText", "editMessageText"]);
    expect(calls[2]!.payload.text).toBe(
      `✅ ⚪️ <b>red_fast</b> v2 medium: <code>speed &gt; 110 for 8s where color = Red clear after 30s</code>\nChanged by telegram:${ADMIN}; live at the alert stages' next batch.`,
    );
    expect(new RuleTable(p.state).get("red_fast")).toMatchObject({ enabled: false, version: 2, updated_by: `telegram:${ADMIN}` });
  });

  it("refuses a viewer's press and stale button data", async () => {
    await send(callbackUpdate(VIEWER, "rule_on:red_fast"), callbackUpdate(ADMIN, "rule_on:Red-Fast"));
    expect(calls.map((c) => [c.method, c.payload.text])).toEqual([
      ["answerCallbackQuery", undefined],
      ["sendMessage", "⛔ Not allowed: enable_rule needs the admin role."],
      ["answerCallbackQuery", "This button is no longer valid. Please send /rules again."],
    ]);
    expect(new RuleTable(p.state).get("red_fast")!.enabled).toBe(false);
  });
});

describe("the resolved notice", () => {
  it("reaches exactly the chats that got the opening notice, as a reply to it, once, with duration and peak", async () => {
    const q = await botPipeline();
    try {
      const admin = { userId: ADMIN, chatId: ADMIN, via: "telegram" as const };
      await q.registry.call("create_rule", { name: "quick", expression: "speed > 100 clear after 20s" }, admin, { confirmed: true });
      const now = q.now;
      // Two chats take medium incidents, one only high ones, one digests only.
      q.ops.subscribe({ chatId: ADMIN, threadId: null, digests: false, includeEmpty: false, incidentsMin: "medium" }, now);
      q.ops.subscribe({ chatId: -100, threadId: 7, digests: false, includeEmpty: false, incidentsMin: "low" }, now);
      q.ops.subscribe({ chatId: OPERATOR, threadId: null, digests: false, includeEmpty: false, incidentsMin: "high" }, now);
      q.ops.subscribe({ chatId: VIEWER, threadId: null, digests: true, includeEmpty: false, incidentsMin: null }, now);
      const feed = new NoticeFeed({
        transport: q.transport,
        ops: q.ops,
        rules: new RuleTable(q.state),
        roles: q.registry,
        log: silentLogger,
        clock: () => q.now,
        notices: new IncidentNotices(q.state),
      });
      const calls: ApiCall[] = [];
      const bot = recordingBot(q, calls);
      const queue = new SendQueue(silentLogger, { privateGapMs: 0, groupGapMs: 0, retryMs: 10 });
      const groups = { digests: `d-${randomUUID()}`, incidents: `i-${randomUUID()}` };
      // The Telegram bot leaves the console's chat to the console, as in app.ts.
      const digests = await startDigests({ feed, api: bot.api, queue, groups, accept: (sub) => sub.chatId !== CONSOLE_USER_ID });
      q.ops.subscribe({ chatId: CONSOLE_USER_ID, threadId: null, digests: false, includeEmpty: false, incidentsMin: "medium" }, now);
      const con = await startConsole({
        registry: q.registry,
        ops: q.ops,
        feed,
        log: silentLogger,
        subscribe: false,
        instance: randomUUID(),
        clock: () => q.now,
      });
      await startConsumers(q);
      const at = (s: number) => new Date(Date.UTC(2026, 10, 28, 12, 0, 0) + s * 1000).toISOString();
      const drive = async (readings: [number, number][]) => {
        await q.transport.publish(
          SENSORS,
          readings.map(([s, speed]) => sensorMessage(3, at(s), speed)),
        );
        await q.transport.whenIdle();
        await queue.idle();
        await con.idle();
      };
      await drive([
        [0, 110],
        [5, 112],
        [10, 50],
      ]);
      const opening = calls.filter((c) => String(c.payload.text).includes("<b>New incident</b>"));
      // Subscriptions in chat id order.
      expect(opening.map((c) => [c.payload.chat_id, c.payload.message_thread_id])).toEqual([
        [-100, 7],
        [ADMIN, undefined],
      ]);
      calls.length = 0;
      // Clear for 20 s after the last alert (5 s): resolved once the readings reach 25 s.
      await drive([
        [20, 50],
        [30, 40],
      ]);
      const [incident] = q.lakehouse.selectSync<{ incident_id: string; resolved_at: string; model_name: string; color_name: string }>(
        "SELECT incident_id, resolved_at, model_name, color_name FROM telemetry.incidents WHERE rule = 'quick'",
      );
      expect(incident!.resolved_at).toBe("2026-11-28 12:00:25.000");
      const text = [
        `✅ <b>Resolved</b> <code>${incident!.incident_id}</code>: quick, car 3 (${incident!.model_name}, ${incident!.color_name})`,
        "open 25s, 2 alerts, peak 112; clear since 12:00:05 UTC",
      ].join("\n");
      expect(calls.map((c) => [c.method, c.payload])).toEqual([
        [
          "sendMessage",
          {
            chat_id: -100,
            text,
            parse_mode: "HTML",
            message_thread_id: 7,
            reply_parameters: { message_id: opening[0]!.messageId, allow_sending_without_reply: true },
          },
        ],
        [
          "sendMessage",
          { chat_id: ADMIN, text, parse_mode: "HTML", reply_parameters: { message_id: opening[1]!.messageId, allow_sending_without_reply: true } },
        ],
      ]);
      // The console shows it too, as a reply to its own opening notice.
      const shown = con.chat.snapshot().messages.map((m) => ({ id: m.id, text: m.nodes.map(textOf).join(""), replyTo: m.replyTo }));
      const openedHere = shown.find((m) => m.text.includes("New incident"))!;
      expect(shown.filter((m) => m.text.includes("Resolved"))).toEqual([
        { id: openedHere.id + 1, text: expect.stringContaining(`Resolved ${incident!.incident_id}: quick, car 3`), replyTo: openedHere.id },
      ]);
      // The same resolution heard again (a redelivery) is not told twice.
      calls.length = 0;
      const resolved = (await q.lakehouse.select<Record<string, unknown>>("SELECT * FROM telemetry.incidents WHERE rule = 'quick'"))[0]!;
      await q.transport.publish(ALERTS, [
        {
          key: "3",
          value: {
            kind: "resolved",
            incident: {
              ...(resolved as unknown as Incident),
              started_at: q.lakehouse.toMillis(resolved.started_at),
              ended_at: q.lakehouse.toMillis(resolved.ended_at),
              resolved_at: q.lakehouse.toMillis(resolved.resolved_at),
            },
          } satisfies AlertMessage,
        },
      ]);
      await q.transport.whenIdle();
      await queue.idle();
      expect(calls).toEqual([]);
      expect(con.chat.snapshot().messages.filter((m) => m.nodes.map(textOf).join("").includes("Resolved"))).toHaveLength(1);
      await con.stop();
      await digests.stop();
      queue.stop();
    } finally {
      await q.close();
    }
  }, 60_000);
});

/** A console message's plain text. */
function textOf(n: RichNode): string {
  return typeof n === "string" ? n : n.children.map(textOf).join("");
}
