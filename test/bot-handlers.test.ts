import type { Update } from "grammy/types";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createBot } from "../bot/bot.js";
import { silentLogger } from "../core/log.js";
import { ADMIN, type BotPipeline, botPipeline, generate, OPERATOR, STRANGER, startConsumers, VIEWER } from "./support/bot-pipeline.js";
import { BOT_INFO, callbackUpdate, textUpdate } from "./support/telegram-updates.js";

interface ApiCall {
  method: string;
  payload: Record<string, unknown>;
}

let p: BotPipeline;
let calls: ApiCall[];
/** Bot API methods the recording transformer answers with an error. */
const failing = new Set<string>();
let now: number;
let bot: ReturnType<typeof createBot>["bot"];
let messageId = 100;

beforeAll(async () => {
  p = await botPipeline();
  await startConsumers(p);
  await generate(p, 3000);
  now = Date.now();
  ({ bot } = createBot({
    token: "1:test",
    registry: p.registry,
    log: silentLogger,
    botInfo: BOT_INFO,
    clock: () => now,
    flood: { limit: 100, timeFrameMs: 60_000 },
  }));
  // The recording transformer: every API call is kept and answered locally, nothing reaches the network.
  bot.api.config.use(async (_prev, method, payload) => {
    calls.push({ method, payload: payload as Record<string, unknown> });
    if (failing.has(method)) return { ok: false, error_code: 400, description: `Bad Request: ${method} refused by the test` } as never;
    const chat = { id: Number((payload as { chat_id?: number }).chat_id ?? 0), type: "private" };
    const result =
      method === "sendMessage" || method === "sendDocument" ? { message_id: ++messageId, date: 0, chat, text: (payload as { text?: string }).text } : true;
    return { ok: true, result } as never;
  });
});
afterAll(() => p.close());
beforeEach(() => {
  calls = [];
  failing.clear();
});

const send = async (...updates: Update[]) => {
  for (const u of updates) await bot.handleUpdate(u);
};
const texts = () => calls.filter((c) => c.method === "sendMessage" || c.method === "editMessageText").map((c) => String(c.payload.text));
const answers = () => calls.filter((c) => c.method === "answerCallbackQuery");
const buttons = (c: ApiCall | undefined): string[] =>
  ((c?.payload.reply_markup as { inline_keyboard?: { callback_data: string }[][] })?.inline_keyboard ?? []).flat().map((b) => b.callback_data);

describe("strangers", () => {
  it("get one polite refusal showing their id, and nothing else", async () => {
    await send(textUpdate(STRANGER, "/stages"));
    expect(calls.map((c) => c.method)).toEqual(["sendMessage"]);
    expect(texts()[0]).toBe(`Sorry, this bot is private. Your Telegram user id is <code>${STRANGER}</code>; an admin can add it.`);
  });

  it("are ignored in groups unless they send a command, and their buttons are refused", async () => {
    await send(textUpdate(STRANGER, "hello", { id: -100, type: "supergroup" }));
    expect(calls).toEqual([]);
    await send(callbackUpdate(STRANGER, "stop:enrich"));
    expect(calls.map((c) => c.method)).toEqual(["answerCallbackQuery"]);
    expect(calls[0]!.payload).toMatchObject({ show_alert: true, text: `Sorry, this bot is private. Your user id is ${STRANGER}.` });
    expect(p.supervisor.status("enrich").state).toBe("running");
  });
});

describe("menus", () => {
  it("/start shows the reply-keyboard main menu", async () => {
    await send(textUpdate(VIEWER, "/start"));
    const kb = calls[0]!.payload.reply_markup as { keyboard: { text: string }[][] };
    expect(kb.keyboard.flat().map((b) => b.text)).toEqual(["📊 Stages", "🚨 Alerts", "🗄 Data", "🧰 Maintenance", "👤 Who am I", "❓ Help"]);
  });

  it("stage menu: a viewer sees no start/stop buttons, an operator does", async () => {
    await send(callbackUpdate(VIEWER, "stage:enrich"));
    expect(buttons(calls.find((c) => c.method === "editMessageText"))).toEqual(["status:enrich", "runs:enrich", "menu:stages"]);
    calls = [];
    await send(callbackUpdate(OPERATOR, "stage:enrich"));
    expect(buttons(calls.find((c) => c.method === "editMessageText"))).toEqual(["start:enrich", "stop:enrich", "status:enrich", "runs:enrich", "menu:stages"]);
    expect(answers()).toHaveLength(1);
  });

  it("schema → tables → count / describe / preview", async () => {
    await send(textUpdate(VIEWER, "/schemas"));
    expect(buttons(calls[0])).toEqual(["schema:dims", "schema:telemetry"]);
    await send(callbackUpdate(VIEWER, "schema:dims"));
    expect(buttons(calls.at(-1))).toEqual(["table:dims.car_models", "table:dims.car_colors", "table:dims.cars", "menu:schemas"]);
    await send(callbackUpdate(VIEWER, "table:dims.cars"));
    expect(buttons(calls.at(-1))).toEqual(["count:dims.cars", "describe:dims.cars", "preview:dims.cars", "stats:dims.cars", "schema:dims"]);
    calls = [];
    await send(
      callbackUpdate(VIEWER, "count:dims.cars"),
      callbackUpdate(VIEWER, "describe:dims.car_colors"),
      callbackUpdate(VIEWER, "preview:dims.car_colors"),
    );
    expect(answers()).toHaveLength(3);
    const [count, describe, preview] = texts();
    expect(count).toBe("<code>dims.cars</code>: 50 rows");
    expect(describe).toContain("<b>dims.car_colors</b> — Car colors");
    expect(preview).toMatch(/^5 rows <i>\(\d+ ms\)<\/i>\n<pre>color_id color_name/);
  });

  it("every callback keeps within 64 bytes", async () => {
    await send(textUpdate(ADMIN, "/stages"));
    for (const data of buttons(calls[0])) expect(Buffer.byteLength(data)).toBeLessThanOrEqual(64);
  });
});

describe("the error boundary", () => {
  it("tells the user when a handler throws (here Telegram refusing the file), instead of leaving them in silence", async () => {
    failing.add("sendDocument");
    await send(textUpdate(VIEWER, "/query SELECT event_id, car_id, speed, rpm FROM telemetry.cars_enriched"));
    expect(calls.map((c) => c.method)).toEqual(["sendChatAction", "sendMessage", "editMessageText", "sendDocument", "sendMessage"]);
    expect(texts().at(-1)).toBe("💥 Something went wrong; it has been logged.");
  });
});

describe("stale and forged buttons", () => {
  it.each([["stop:../../etc"], ["drop:dims.cars"], ["x".repeat(65)], ["yes:short"], ["ack:'; DROP"], ["menu:admin"]])(
    "%s gets a polite answer and does nothing",
    async (data) => {
      await send(callbackUpdate(ADMIN, data));
      expect(calls.map((c) => c.method)).toEqual(["answerCallbackQuery"]);
      expect(calls[0]!.payload.text).toBe("This button is no longer valid. Please open the menu again.");
    },
  );

  it("an unknown confirmation token is refused", async () => {
    await send(callbackUpdate(ADMIN, "yes:AAAAAAAAAAAA"));
    expect(calls.map((c) => c.method)).toEqual(["answerCallbackQuery"]);
    expect(calls[0]!.payload.text).toBe("This confirmation is no longer valid; ask again.");
  });
});

describe("permissions and confirmations", () => {
  it("a viewer cannot stop a stage by command, by button or by crafted callback data", async () => {
    await send(textUpdate(VIEWER, "/stop enrich"), textUpdate(VIEWER, "/kill enrich"), callbackUpdate(VIEWER, "stop:enrich"), textUpdate(VIEWER, "/stop all"));
    expect(texts()).toEqual([
      "⛔ Not allowed: stop_stage needs the operator role.",
      "⛔ Not allowed: stop_stage needs the operator role.",
      "⛔ Not allowed: stop_stage needs the operator role.",
      "⛔ Not allowed: stop_all needs the operator role.",
    ]);
    expect(answers()).toHaveLength(1);
    expect(p.supervisor.status("enrich").state).toBe("running");
  });

  it("a viewer cannot press an operator's confirmation button", async () => {
    await send(textUpdate(OPERATOR, "/stop enrich"));
    const [yes] = buttons(calls[0]);
    calls = [];
    await send(callbackUpdate(VIEWER, yes!, 1, OPERATOR));
    expect(calls.map((c) => c.method)).toEqual(["answerCallbackQuery"]);
    expect(calls[0]!.payload.text).toBe("Only the person who asked can confirm this.");
    expect(p.supervisor.status("enrich").state).toBe("running");
  });

  it("an operator stops a stage after confirming; the button works once", async () => {
    await send(textUpdate(OPERATOR, "/stop aggregate"));
    expect(texts()[0]).toBe("Stop <b>aggregate</b>?\n<i>This button expires in 60 s.</i>");
    const [yes, no] = buttons(calls[0]);
    expect(no).toMatch(/^no:/);
    expect(p.supervisor.status("aggregate").state).toBe("running");
    calls = [];
    await send(callbackUpdate(OPERATOR, yes!));
    expect(texts()).toEqual(["⏳ stop_stage…", "✅ Done: aggregate is stopped."]);
    expect(p.supervisor.status("aggregate").state).toBe("stopped");
    calls = [];
    await send(callbackUpdate(OPERATOR, yes!));
    expect(answers()[0]!.payload.text).toBe("This confirmation is no longer valid; ask again.");
    await send(textUpdate(OPERATOR, "/run aggregate"));
    expect(texts().at(-1)).toMatch(/^▶️ aggregate is running \(run #\d+\)\.$/);
  });

  it("an expired confirmation does nothing", async () => {
    await send(textUpdate(OPERATOR, "/stop alert"));
    const [yes] = buttons(calls[0]);
    now += 61_000;
    calls = [];
    await send(callbackUpdate(OPERATOR, yes!));
    expect(answers()[0]!.payload.text).toBe("This confirmation expired; ask again.");
    expect(texts()).toEqual(["⌛ Confirmation expired; nothing was done."]);
    expect(p.supervisor.status("alert").state).toBe("running");
  });

  it("cancel leaves the stage running", async () => {
    await send(textUpdate(OPERATOR, "/stop alert"));
    const [, no] = buttons(calls[0]);
    calls = [];
    await send(callbackUpdate(OPERATOR, no!));
    expect(texts()).toEqual(["✖️ Cancelled; nothing was done."]);
    expect(p.supervisor.status("alert").state).toBe("running");
  });

  it("/audit is for admins, and shows the refusals", async () => {
    await send(textUpdate(OPERATOR, "/audit"));
    expect(texts()).toEqual(["⛔ Not allowed: audit_log needs the admin role."]);
    calls = [];
    await send(textUpdate(ADMIN, "/audit 50"));
    expect(texts()[0]).toContain("denied");
  });
});

describe("queries", () => {
  it("shows typing, a progress message, then edits it into the result", async () => {
    await send(textUpdate(VIEWER, "/query SELECT color_name FROM dims.car_colors ORDER BY color_id LIMIT 2"));
    expect(calls.map((c) => c.method)).toEqual(["sendChatAction", "sendMessage", "editMessageText"]);
    expect(texts()[1]).toMatch(/^2 rows <i>\(\d+ ms\)<\/i>\n<pre>color_name\n─+\nBlack\nRed<\/pre>$/);
  });

  it("refuses a write with the guard's message, in the progress message", async () => {
    await send(textUpdate(ADMIN, "/query DELETE FROM dims.cars"));
    // One message: the progress note becomes the refusal.
    expect(calls.map((c) => c.method)).toEqual(["sendChatAction", "sendMessage", "editMessageText"]);
    expect(texts()[1]).toBe("⚠️ refused: DELETE statement. Only one SELECT, WITH, SHOW, DESCRIBE or EXPLAIN statement is allowed.");
    expect((await p.registry.call("count_rows", { table: "dims.cars" }, { userId: ADMIN, chatId: null, via: "console" })).rows).toBe(50);
  });

  it("sends a long result as a file", async () => {
    await send(textUpdate(VIEWER, "/query SELECT event_id, car_id, speed, rpm FROM telemetry.cars_enriched"));
    expect(calls.map((c) => c.method)).toEqual(["sendChatAction", "sendMessage", "editMessageText", "sendDocument"]);
    expect(texts()[1]).toBe("100 rows (truncated): sent as a file.");
  });
});

describe("flood limit", () => {
  it("answers every message of a burst: handled up to the limit, then when to try again", async () => {
    const { bot: limited } = createBot({
      token: "1:test",
      registry: p.registry,
      log: silentLogger,
      botInfo: BOT_INFO,
      clock: () => now,
      flood: { limit: 3, timeFrameMs: 60_000 },
    });
    const sent: string[] = [];
    limited.api.config.use(async (_prev, method, payload) => {
      sent.push(`${method}:${(payload as { text?: string }).text ?? ""}`);
      return { ok: true, result: { message_id: 1, date: 0, chat: { id: VIEWER, type: "private" } } } as never;
    });
    for (let i = 0; i < 6; i++) await limited.handleUpdate(textUpdate(VIEWER, "/whoami"));
    expect(sent).toHaveLength(6);
    expect(sent.slice(3)).toEqual(Array(3).fill("sendMessage:⏳ Too many messages: this one was not handled. Try again in 60 s."));
  });
});

describe("maintenance", () => {
  it("/tablestats answers a viewer; /compact asks first, and only an operator gets the button", async () => {
    await send(textUpdate(VIEWER, "/tablestats telemetry.cars_raw"));
    const rows = p.lakehouse.selectSync<{ n: number }>("SELECT count(*) AS n FROM telemetry.cars_raw")[0]!.n;
    expect(texts()[0]).toMatch(new RegExp(`^<b>telemetry\\.cars_raw</b>: ${rows} rows, \\d+\\.\\d MiB$`));
    calls = [];
    await send(textUpdate(VIEWER, "/compact telemetry.cars_raw"));
    expect(texts()).toEqual(["⛔ Not allowed: compact_table needs the operator role."]);
    calls = [];
    await send(textUpdate(OPERATOR, "/compact sqlite_master"));
    expect(texts()[0]).toContain("⚠️ table: unknown table &quot;sqlite_master&quot;; tables: dims.car_models");
    calls = [];
    await send(textUpdate(OPERATOR, "/compact telemetry.cars_raw"));
    const [yes] = buttons(calls.at(-1));
    expect(texts()[0]).toContain("Compact <b>telemetry.cars_raw</b> now?");
    calls = [];
    await send(callbackUpdate(OPERATOR, yes!));
    expect(texts().at(-1)).toMatch(/^🧹 <b>telemetry\.cars_raw<\/b> compacted in \d+ ms: /);
    expect(p.lakehouse.selectSync<{ n: number }>("SELECT count(*) AS n FROM telemetry.cars_raw")[0]!.n).toBe(rows);
  });

  it("/jobs says when no scheduler runs in this process", async () => {
    await send(textUpdate(VIEWER, "/jobs"));
    expect(texts()).toEqual(["⚠️ this process runs no scheduler (CARWATCH_ROLES has no 'scheduler')"]);
  });
});
