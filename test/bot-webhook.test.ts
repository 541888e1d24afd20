import { type ServerType, serve } from "@hono/node-server";
import type { Update } from "grammy/types";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningBot, type StartBotOptions, startBot } from "../bot/start.js";
import { createLogger, silentLogger } from "../core/log.js";
import { ADMIN, type BotPipeline, botPipeline, OPERATOR, STRANGER, startConsumers, VIEWER } from "./support/bot-pipeline.js";
import { type RecordedCall, TelegramServer } from "./support/telegram-server.js";
import { callbackUpdate, textUpdate } from "./support/telegram-updates.js";

const SECRET = "webhook-secret-0123456789";

/** One carwatch process in webhook mode: its bot, behind its own HTTP server, as app.ts mounts it. */
interface Process {
  bot: RunningBot;
  /** POSTs an update to /telegram/webhook as Telegram does. */
  post(update: Update, secret?: string): Promise<Response>;
  stop(): Promise<void>;
}

let server: TelegramServer;
/** Two carwatch processes on one DATA_DIR: their own registry, supervisor and state.db connection each. */
let a: BotPipeline;
let b: BotPipeline;
const running: Process[] = [];

async function startProcess(p: BotPipeline, options: Partial<StartBotOptions> = {}): Promise<Process> {
  const from = server.calls.length;
  const bot = await startBot({
    config: {
      TELEGRAM_BOT_TOKEN: "123:test-token",
      TELEGRAM_API_ROOT: server.url,
      DIGEST_CHATS: [],
      TELEGRAM_ADMINS: [],
      TELEGRAM_WEBHOOK_URL: "https://carwatch.example/telegram/webhook",
      TELEGRAM_WEBHOOK_SECRET: SECRET,
    },
    log: silentLogger,
    registry: p.registry,
    ops: p.ops,
    state: p.state,
    feed: p.feed,
    pace: { privateGapMs: 0, groupGapMs: 0, retryMs: 10 },
    flood: { limit: 100, timeFrameMs: 60_000 },
    ...options,
  });
  // Updates are taken once the bot is connected; setWebhook comes right after.
  await server.waitFor((c) => c.method === "setWebhook", from);
  const app = new Hono().post("/telegram/webhook", (c) => bot.webhook!(c.req.raw));
  let http!: ServerType;
  const url = await new Promise<string>((resolve) => {
    http = serve({ fetch: app.fetch, hostname: "127.0.0.1", port: 0 }, (info) => resolve(`http://127.0.0.1:${info.port}/telegram/webhook`));
  });
  let stopped: Promise<void> | undefined;
  const proc: Process = {
    bot,
    post: (update, secret = SECRET) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
        body: JSON.stringify(update),
      }),
    stop() {
      stopped ??= (async () => {
        await bot.stop();
        await new Promise((r) => http.close(r));
      })();
      return stopped;
    },
  };
  running.push(proc);
  return proc;
}

beforeAll(async () => {
  server = new TelegramServer();
  await server.start();
  a = await botPipeline();
  b = await botPipeline({}, a.dir);
});
afterAll(async () => {
  for (const p of running) await p.stop();
  await server.close();
  await b.close();
  await a.close();
});

const sendsTo = (chatId: number, from: number): RecordedCall[] =>
  server.calls.slice(from).filter((c) => c.method === "sendMessage" && c.payload.chat_id === chatId);
const buttons = (c: RecordedCall): string[] =>
  ((c.payload.reply_markup as { inline_keyboard?: { callback_data: string }[][] })?.inline_keyboard ?? []).flat().map((b) => b.callback_data);

describe("webhook mode", () => {
  let one: Process;
  let two: Process;
  beforeAll(async () => {
    one = await startProcess(a);
    two = await startProcess(b);
  });
  // One bot per pipeline at a time: the bot's digest groups are the pipeline's.
  afterAll(async () => {
    await one.stop();
    await two.stop();
  });

  it("registers the webhook with its secret instead of polling, and takes only Telegram's posts", async () => {
    const set = server.calls.find((c) => c.method === "setWebhook")!;
    expect(set.payload).toMatchObject({ url: "https://carwatch.example/telegram/webhook", secret_token: SECRET });
    const from = server.calls.length;
    expect((await one.post(textUpdate(ADMIN, "/whoami"), "wrong-secret-000000000")).status).toBe(401);
    await one.bot.idle();
    expect(sendsTo(ADMIN, from)).toEqual([]);
    expect((await one.post(textUpdate(ADMIN, "/whoami"))).status).toBe(200);
    const reply = await server.waitFor((c) => c.method === "sendMessage", from);
    expect(String(reply.payload.text)).toContain(`You are <code>${ADMIN}</code>, role <b>admin</b>`);
    expect(server.polls).toBe(0);
  });

  it("acknowledges a handler that outlasts any webhook timeout at once, and runs it once though Telegram delivers it again while it runs and after", async () => {
    const from = server.calls.length;
    const update = textUpdate(OPERATOR, "/whoami");
    // The handler's reply waits on Telegram until released: it runs as long as the test wants.
    const held = server.hold((c) => c.method === "sendMessage" && c.payload.chat_id === OPERATOR);
    const first = one.post(update);
    await held.reached;
    // Answered while the handler still waits: grammY's webhookCallback would answer only when it ended (or 500 after 10 s).
    expect((await first).status).toBe(200);
    expect((await one.post(update)).status).toBe(200);
    held.release();
    await one.bot.idle();
    expect((await one.post(update)).status).toBe(200);
    await one.bot.idle();
    expect(sendsTo(OPERATOR, from).map((c) => c.payload.text)).toEqual([expect.stringContaining(`You are <code>${OPERATOR}</code>, role <b>operator</b>`)]);
  });

  it("does not run an update again when it is delivered to another process on the same state.db (or to this one after a restart)", async () => {
    const from = server.calls.length;
    const update = textUpdate(OPERATOR, "/whoami");
    expect((await one.post(update)).status).toBe(200);
    await one.bot.idle();
    expect((await two.post(update)).status).toBe(200);
    await two.bot.idle();
    expect(sendsTo(OPERATOR, from)).toHaveLength(1);
    // A new update on the other process does run there.
    expect((await two.post(textUpdate(OPERATOR, "/whoami"))).status).toBe(200);
    await two.bot.idle();
    expect(sendsTo(OPERATOR, from)).toHaveLength(2);
  });

  it("accepts a confirmation asked for on one process when its button is pressed on another, once", async () => {
    // The second process runs enrich; the first only asks.
    await startConsumers(b);
    expect(b.supervisor.status("enrich").state).toBe("running");
    let from = server.calls.length;
    expect((await one.post(textUpdate(ADMIN, "/stop enrich"))).status).toBe(200);
    const ask = await server.waitFor((c) => c.method === "sendMessage" && /^Stop <b>enrich<\/b>\?/.test(String(c.payload.text)), from);
    const [yes] = buttons(ask);
    expect(yes).toMatch(/^yes:/);

    from = server.calls.length;
    expect((await two.post(callbackUpdate(ADMIN, yes!, ask.messageId))).status).toBe(200);
    const answer = await server.waitFor((c) => c.method === "answerCallbackQuery", from);
    expect(answer.payload.text).toBe("Working…");
    const done = await server.waitFor(
      (c) => c.method === "editMessageText" && c.payload.message_id === ask.messageId && /^✅/.test(String(c.payload.text)),
      from,
    );
    expect(done.payload.text).toBe("✅ Done: enrich is stopped.");
    expect(b.supervisor.status("enrich").state).toBe("stopped");

    // Pressed again, on the process that asked: it was used.
    from = server.calls.length;
    expect((await one.post(callbackUpdate(ADMIN, yes!, ask.messageId))).status).toBe(200);
    const again = await server.waitFor((c) => c.method === "answerCallbackQuery", from);
    expect(again.payload.text).toBe("This confirmation is no longer valid; ask again.");
  });
});

describe("webhook queue bounds and shutdown", () => {
  it("refuses a new update with 503 when the queue is full; Telegram's next delivery of it runs, and a redelivery is still acknowledged", async () => {
    const small = await startProcess(a, { webhookQueue: 1 });
    const from = server.calls.length;
    const slow = textUpdate(VIEWER, "/whoami");
    const next = textUpdate(VIEWER, "/help");
    const held = server.hold((c) => c.method === "sendMessage" && c.payload.chat_id === VIEWER);
    expect((await small.post(slow)).status).toBe(200);
    await held.reached;
    expect((await small.post(next)).status).toBe(503);
    expect((await small.post(slow)).status).toBe(200);
    held.release();
    await small.bot.idle();
    expect((await small.post(next)).status).toBe(200);
    await small.bot.idle();
    const texts = sendsTo(VIEWER, from).map((c) => String(c.payload.text));
    expect(texts).toHaveLength(2);
    expect(texts[0]).toContain(`You are <code>${VIEWER}</code>, role <b>viewer</b>`);
    expect(texts[1]).not.toContain("You are");
    await small.stop();
  });

  it("drains on shutdown: an update in hand finishes before stop() resolves, and updates posted meanwhile get 503", async () => {
    const logged: { msg: string }[] = [];
    const log = createLogger("info", { write: (line: string) => void logged.push(JSON.parse(line)) });
    const proc = await startProcess(a, { log, drainMs: 30_000 });
    const from = server.calls.length;
    const held = server.hold((c) => c.method === "sendMessage" && c.payload.chat_id === STRANGER);
    expect((await proc.post(textUpdate(STRANGER, "/stages"))).status).toBe(200);
    await held.reached;
    let stopped = false;
    const stopping = proc.stop().then(() => {
      stopped = true;
    });
    expect((await proc.post(textUpdate(STRANGER, "/stages"))).status).toBe(503);
    expect(stopped).toBe(false);
    held.release();
    await stopping;
    expect(sendsTo(STRANGER, from)).toHaveLength(1);
    // Its reply was answered, not aborted by the shutdown: nothing failed, nothing was cut short.
    expect(logged.filter((l) => /failed|cut short/.test(l.msg))).toEqual([]);
  });

  it("stops within drainMs when an update in hand does not finish", async () => {
    const logged: { msg: string; updates?: number }[] = [];
    const log = createLogger("info", { write: (line: string) => void logged.push(JSON.parse(line)) });
    const proc = await startProcess(a, { log, drainMs: 100 });
    const held = server.hold((c) => c.method === "sendMessage" && c.payload.chat_id === STRANGER);
    expect((await proc.post(textUpdate(STRANGER, "/stages"))).status).toBe(200);
    await held.reached;
    await proc.stop();
    held.release();
    expect(logged.filter((l) => l.msg.includes("cut short")).map((l) => l.updates)).toEqual([1]);
  });
});
