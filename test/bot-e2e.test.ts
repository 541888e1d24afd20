import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBot, startBot } from "../bot/start.js";
import { silentLogger } from "../core/log.js";
import { ADMIN, type BotPipeline, botPipeline, generate, STRANGER, startConsumers } from "./support/bot-pipeline.js";
import { type RecordedCall, TelegramServer } from "./support/telegram-server.js";
import { callbackUpdate, documentUpdate, textUpdate } from "./support/telegram-updates.js";

let p: BotPipeline;
let server: TelegramServer;
let bot: RunningBot;

beforeAll(async () => {
  p = await botPipeline();
  await startConsumers(p);
  server = new TelegramServer();
  const url = await server.start();
  bot = await startBot({
    config: { TELEGRAM_BOT_TOKEN: "123:test-token", TELEGRAM_API_ROOT: url, DIGEST_CHATS: [], TELEGRAM_ADMINS: [] },
    log: silentLogger,
    registry: p.registry,
    ops: p.ops,
    state: p.state,
    feed: p.feed,
    pace: { privateGapMs: 0, groupGapMs: 0, retryMs: 10 },
    flood: { limit: 100, timeFrameMs: 60_000 },
  });
});
afterAll(async () => {
  await bot.stop();
  await server.close();
  await p.close();
});

const buttons = (c: RecordedCall): string[] =>
  ((c.payload.reply_markup as { inline_keyboard?: { callback_data: string }[][] })?.inline_keyboard ?? []).flat().map((b) => b.callback_data);

/** Sends an update as the user and resolves with the bot's first call that matches, after it. */
async function say(update: Parameters<TelegramServer["push"]>[0], match: (c: RecordedCall) => boolean): Promise<RecordedCall> {
  const from = server.calls.length;
  server.push(update);
  return server.waitFor(match, from);
}
const message = (re: RegExp) => (c: RecordedCall) => (c.method === "sendMessage" || c.method === "editMessageText") && re.test(String(c.payload.text));

describe("a conversation over a real pipeline run, through a local Bot API server", () => {
  it("connects and registers its commands", async () => {
    await server.waitFor((c) => c.method === "getMe");
    const set = await server.waitFor((c) => c.method === "setMyCommands");
    expect((set.payload.commands as { command: string }[]).map((c) => c.command)).toContain("incidents");
  });

  it("refuses a stranger with their id only", async () => {
    const r = await say(textUpdate(STRANGER, "/stages"), (c) => c.method === "sendMessage");
    expect(r.payload).toMatchObject({
      chat_id: STRANGER,
      text: `Sorry, this bot is private. Your Telegram user id is <code>${STRANGER}</code>; an admin can add it.`,
    });
  });

  it("/start, the stage menu, and stop with confirmation", async () => {
    const start = await say(textUpdate(ADMIN, "/start"), (c) => c.method === "sendMessage");
    expect(JSON.stringify(start.payload.reply_markup)).toContain("📊 Stages");
    const list = await say(textUpdate(ADMIN, "📊 Stages"), message(/^<b>Stages<\/b>/));
    expect(buttons(list)).toEqual(["stage:seed", "stage:generator", "stage:enrich", "stage:alert", "stage:aggregate"]);
    const menu = await say(callbackUpdate(ADMIN, "stage:enrich", list.messageId), message(/enrich<\/b> — running/));
    expect(buttons(menu)).toContain("stop:enrich");
    const ask = await say(callbackUpdate(ADMIN, "stop:enrich", list.messageId), message(/^Stop <b>enrich<\/b>\?/));
    const [yes] = buttons(ask);
    await say(callbackUpdate(ADMIN, yes!, ask.messageId), message(/^✅ Done: enrich is stopped\.$/));
    expect(p.supervisor.status("enrich").state).toBe("stopped");
    await say(textUpdate(ADMIN, "/run enrich"), message(/^▶️ enrich is running/));
    const answered = server.calls.filter((c) => c.method === "answerCallbackQuery").length;
    expect(answered).toBe(3);
  });

  it("answers a query with a progress message edited into the result", async () => {
    const progress = await say(textUpdate(ADMIN, "/query SELECT count(*) AS cars FROM dims.cars"), message(/^⏳ Running the query…$/));
    const result = await server.waitFor((c) => c.method === "editMessageText" && c.payload.message_id === progress.messageId);
    expect(result.payload.text).toMatch(/^1 row <i>\(\d+ ms\)<\/i>\n<pre>cars\n────\n {2}50<\/pre>$/);
  });

  it("subscribes, gets digests as windows close, and acknowledges a new incident", async () => {
    const sub = await say(textUpdate(ADMIN, "/subscribe incidents=high"), message(/^Subscribed/));
    expect(sub.payload.text).toBe("Subscribed: minute digests; new incidents of high severity and above.");
    const from = server.calls.length;
    await generate(p, 3000);
    await bot.idle();
    const sent = server.calls.slice(from).filter((c) => c.method === "sendMessage");
    const digests = sent.filter((c) => String(c.payload.text).startsWith("<b>🕐"));
    const [windows] = await p.lakehouse.select<{ n: number }>("SELECT count(*) AS n FROM telemetry.alert_windows WHERE alert_events > 0");
    expect(digests).toHaveLength(Number(windows!.n));
    expect(digests.length).toBeGreaterThanOrEqual(3);
    expect(digests[0]!.payload.text).toMatch(/readings, <b>\d+ with alerts<\/b>/);
    const notices = sent.filter((c) => String(c.payload.text).includes("<b>New incident</b>"));
    expect(notices.length).toBeGreaterThan(0);
    for (const n of notices) expect(String(n.payload.text).startsWith("🔴")).toBe(true);
    const [ack, mute] = buttons(notices[0]!);
    expect(mute).toMatch(/^mute:/);
    const incidentId = ack!.slice("ack:".length);
    const done = await say(callbackUpdate(ADMIN, ack!, notices[0]!.messageId), message(/acknowledged by/));
    expect(done.payload.text).toContain(`<code>${incidentId}</code>`);
    expect(p.ops.acks([incidentId]).get(incidentId)?.userId).toBe(ADMIN);
    const audit = p.ops.recentAudit(50, ADMIN).find((e) => e.tool === "ack_incident");
    expect(audit).toMatchObject({ outcome: "ok", args: { incidentId }, via: "telegram" });
  });

  it("imports a fleet from a CSV file sent with /fleet import: getFile, the preview with the bad row's line, then Confirm", async () => {
    const csv = Buffer.from(["car_id,brand,model,color,driver_id", "7001,Volvo,FH16,Blue,71", "7002,Volvo,FH16,Blue,x"].join("\n"));
    server.addFile("fleet-csv-1", csv);
    const prompt = await say(documentUpdate(ADMIN, "fleet-csv-1", "fleet.csv", "/fleet import", csv.length), message(/Apply the 1 good rows\?/));
    expect(String(prompt.payload.text)).toContain("line 3: driver_id:");
    expect(server.calls.some((c) => c.method === "getFile" && c.payload.file_id === "fleet-csv-1")).toBe(true);
    const yes = buttons(prompt).find((b) => b.startsWith("yes:"))!;
    await say(callbackUpdate(ADMIN, yes, prompt.messageId), message(/^Imported\./));
    expect(p.lakehouse.selectSync("SELECT car_id, origin FROM dims.cars WHERE car_id >= 7000")).toEqual([{ car_id: 7001, origin: "fleet" }]);
  });
});
