import { afterAll, beforeAll, expect, it } from "vitest";
import { type RunningBot, startBot } from "../bot/start.js";
import { silentLogger } from "../core/log.js";
import { ADMIN, type BotPipeline, botPipeline } from "./support/bot-pipeline.js";
import { TelegramServer } from "./support/telegram-server.js";
import { textUpdate } from "./support/telegram-updates.js";

const SECRET = "webhook-secret-0123456789";
let p: BotPipeline;
let server: TelegramServer;
let bot: RunningBot;

beforeAll(async () => {
  p = await botPipeline();
  server = new TelegramServer();
  const url = await server.start();
  bot = await startBot({
    config: {
      TELEGRAM_BOT_TOKEN: "123:test-token",
      TELEGRAM_API_ROOT: url,
      DIGEST_CHATS: [],
      TELEGRAM_ADMINS: [],
      TELEGRAM_WEBHOOK_URL: "https://carwatch.example/telegram/webhook",
      TELEGRAM_WEBHOOK_SECRET: SECRET,
    },
    log: silentLogger,
    registry: p.registry,
    ops: p.ops,
    transport: p.transport,
    pace: { privateGapMs: 0, groupGapMs: 0, retryMs: 10 },
  });
});
afterAll(async () => {
  await bot.stop();
  await server.close();
  await p.close();
});

const post = (secret: string) =>
  bot.webhook!(
    new Request("http://127.0.0.1/telegram/webhook", {
      method: "POST",
      headers: { "content-type": "application/json", "x-telegram-bot-api-secret-token": secret },
      body: JSON.stringify(textUpdate(ADMIN, "/whoami")),
    }),
  );

it("webhook mode: registers the webhook with its secret instead of polling, and takes only Telegram's posts", async () => {
  const set = await server.waitFor((c) => c.method === "setWebhook");
  expect(set.payload).toMatchObject({ url: "https://carwatch.example/telegram/webhook", secret_token: SECRET });
  expect((await post("wrong-secret-000000000")).status).toBe(401);
  expect(server.calls.some((c) => c.method === "sendMessage")).toBe(false);
  const from = server.calls.length;
  expect((await post(SECRET)).status).toBe(200);
  const reply = await server.waitFor((c) => c.method === "sendMessage", from);
  expect(String(reply.payload.text)).toContain(`You are <code>${ADMIN}</code>, role <b>admin</b>`);
  expect(server.polls).toBe(0);
});
