import { setTimeout as sleep } from "node:timers/promises";
import { type RunnerHandle, run } from "@grammyjs/runner";
import type { ChatAgent } from "../agent/agent.js";
import type { Config } from "../core/config.js";
import { ConfigError, errorMessage } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { Metrics } from "../core/metrics.js";
import type { OpsState } from "../state/ops-state.js";
import { SeenUpdates } from "../state/seen-updates.js";
import type { StateStore } from "../state/store.js";
import type { ChartStore } from "../tools/chart-store.js";
import type { NoticeFeed } from "../tools/feed.js";
import type { Registry } from "../tools/index.js";
import { CONSOLE_USER_ID } from "../tools/roles.js";
import { createBot } from "./bot.js";
import { COMMANDS } from "./commands.js";
import { StateConfirmationStorage } from "./confirmation-storage.js";
import { startDigests } from "./digests.js";
import { esc } from "./format.js";
import { SendQueue, type SendQueueOptions, TELEGRAM_PACE } from "./send-queue.js";
import { UpdateQueue } from "./update-queue.js";
import { WebhookIntake } from "./webhook.js";

export interface StartBotOptions {
  /** The LLM agent, when a model is configured. */
  agent?: ChatAgent | null;
  config: Pick<Config, "TELEGRAM_BOT_TOKEN" | "TELEGRAM_API_ROOT" | "DIGEST_CHATS" | "TELEGRAM_ADMINS"> &
    Partial<Pick<Config, "TELEGRAM_WEBHOOK_URL" | "TELEGRAM_WEBHOOK_SECRET">>;
  metrics?: Metrics;
  log: Logger;
  registry: Registry;
  ops: OpsState;
  /** state.db: pending confirmations and the webhook's seen update ids, shared with every process on the same DATA_DIR. */
  state: StateStore;
  /** Digests and incident notices to deliver. */
  feed: NoticeFeed;
  /** Overrides for tests; Telegram's limits otherwise. */
  pace?: SendQueueOptions;
  /** Per-user flood limit (default 10 updates per 10 s). */
  flood?: { limit: number; timeFrameMs: number };
  /** Where render_chart leaves pictures for /chart and the agent (the registry's store). */
  charts?: ChartStore;
  /** First wait before trying Telegram again at start-up; doubles up to a minute. */
  retryMs?: number;
  /** Webhook mode: updates in hand at most (default 100); more are refused for Telegram to deliver again. */
  webhookQueue?: number;
  /** Webhook mode: how long stop() waits for the updates in hand (default 5 s, within main.ts's 10 s guard). */
  drainMs?: number;
}

export interface RunningBot {
  /** Resolves when the updates in hand (webhook mode) are handled and the send queue is empty. */
  idle(): Promise<void>;
  /** Queues a notice to every admin's private chat (watchdog, failures). */
  notifyAdmins(text: string): Promise<void>;
  /** In webhook mode: the handler for Telegram's POSTs (checks the secret token, acknowledges at once, runs each update_id once). */
  webhook: ((request: Request) => Promise<Response>) | null;
  stop(): Promise<void>;
}

/**
 * Starts the Telegram bot: digests at once, then (in the background, with
 * backoff while Telegram is unreachable) getMe, the command list and long
 * polling through grammY's runner, or with TELEGRAM_WEBHOOK_URL setWebhook
 * and updates taken from Telegram's POSTs (webhook.ts). Never waits on
 * Telegram, so start-up and the pipeline go on whatever Telegram does.
 */
export async function startBot(o: StartBotOptions): Promise<RunningBot> {
  const token = o.config.TELEGRAM_BOT_TOKEN;
  if (!token) throw new Error("startBot needs TELEGRAM_BOT_TOKEN");
  const secret = o.config.TELEGRAM_WEBHOOK_SECRET;
  if (o.config.TELEGRAM_WEBHOOK_URL && !secret)
    throw new ConfigError("TELEGRAM_WEBHOOK_SECRET", "required with TELEGRAM_WEBHOOK_URL, so that only Telegram can post updates");
  const log = o.log.child({ part: "bot" });
  const { bot } = createBot({
    token,
    registry: o.registry,
    agent: o.agent,
    log,
    apiRoot: o.config.TELEGRAM_API_ROOT,
    flood: o.flood,
    metrics: o.metrics,
    charts: o.charts,
    confirmationStorage: new StateConfirmationStorage(o.state),
  });
  const queue = new SendQueue(log, o.pace ?? TELEGRAM_PACE, o.metrics);
  const added = o.feed.subscribeAtStart(o.config.DIGEST_CHATS);
  if (added > 0) log.info({ chats: added }, "DIGEST_CHATS subscribed to digests");
  // The console's chat shares the subscriptions table; the console delivers to it (web/console.ts).
  const digests = await startDigests({ feed: o.feed, api: bot.api, queue, accept: (s) => s.chatId !== CONSOLE_USER_ID });

  // On an unreachable Telegram a Bot API call outlasts the 10 s shutdown guard: a request times
  // out after 500 s, init() retries getMe forever (waits up to 20 min) and auto-retry retries
  // network errors forever (waits up to an hour). Stopping aborts them all: every call gets this
  // signal through a transformer installed after auto-retry, so it wraps it (auto-retry stops
  // waiting when its signal aborts), and init() gets it for its own retries. The one call with a
  // signal of its own, the runner's long poll, is stopped by the runner.
  const stopping = new AbortController();
  const stopped = stopping.signal;
  // grammY types signals with the abort-controller shim's AbortSignal; any AbortSignal works.
  const apiSignal = stopped as unknown as NonNullable<Parameters<typeof bot.init>[0]>;
  bot.api.config.use((prev, method, payload, signal) => prev(method, payload, signal ?? apiSignal));

  const webhookUrl = o.config.TELEGRAM_WEBHOOK_URL;
  const intake = webhookUrl
    ? new WebhookIntake({
        secret: secret!,
        seen: new SeenUpdates(o.state),
        queue: new UpdateQueue(
          (u) => bot.handleUpdate(u),
          (err, u) => log.error({ err, update: u.update_id }, "update failed"),
          o.webhookQueue ?? 100,
        ),
        log,
      })
    : null;
  let runner: RunnerHandle | undefined;
  const connecting = (async () => {
    for (let delay = o.retryMs ?? 1000; !stopped.aborted; delay = Math.min(60_000, delay * 2)) {
      try {
        await bot.init(apiSignal);
        break;
      } catch (err) {
        if (stopped.aborted) return;
        log.warn({ err: errorMessage(err), retryInMs: delay }, "Telegram unreachable; will try again");
        await sleep(delay, undefined, { signal: stopped }).catch(() => undefined);
      }
    }
    if (stopped.aborted) return;
    log.info({ username: bot.botInfo.username }, "Telegram bot connected");
    bot.api.setMyCommands(COMMANDS.map((c) => ({ ...c }))).catch((err: unknown) => log.warn({ err: errorMessage(err) }, "setMyCommands failed (ignored)"));
    if (webhookUrl && intake) {
      intake.open(bot.botInfo.id);
      // Several processes may run the bot role behind one URL; only one process may long-poll.
      await bot.api.setWebhook(webhookUrl, { secret_token: secret, allowed_updates: ["message", "callback_query"] });
      log.info({ url: webhookUrl }, "Telegram webhook set");
      return;
    }
    // auto-retry already backs off (abortably) on network errors and 5xx; the runner's own pause
    // after a failed poll cannot be aborted and stop() waits it out, so it stays short.
    runner = run(bot, { runner: { fetch: { allowed_updates: ["message", "callback_query"] }, retryInterval: 1000, maxRetryTime: Number.POSITIVE_INFINITY } });
  })().catch((err: unknown) => {
    // A call cut short by stop() is no failure; anything else (setWebhook refused) is reported, not thrown.
    if (!stopped.aborted) log.error({ err: errorMessage(err) }, "Telegram bot could not start");
  });

  return {
    async idle() {
      await intake?.idle();
      await queue.idle();
    },
    webhook: intake?.handle ?? null,
    async notifyAdmins(text) {
      for (const id of o.config.TELEGRAM_ADMINS) queue.push(id, () => bot.api.sendMessage(id, esc(text), { parse_mode: "HTML" }));
    },
    async stop() {
      // The runner first, so it ends its long poll as a stop rather than as a failed fetch to retry.
      const polling = runner?.stop();
      // Webhook mode: what Telegram was told is taken gets handled while Bot API calls still work.
      await intake?.close(o.drainMs ?? 5000);
      stopping.abort();
      await connecting;
      await polling;
      await digests.stop();
      queue.stop();
    },
  };
}
