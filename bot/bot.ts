import { autoRetry } from "@grammyjs/auto-retry";
import { sequentialize } from "@grammyjs/runner";
import { Bot } from "grammy";
import type { UserFromGetMe } from "grammy/types";
import type { ChatAgent } from "../agent/agent.js";
import type { Logger } from "../core/log.js";
import type { Metrics } from "../core/metrics.js";
import type { ChartStore } from "../tools/chart-store.js";
import type { Registry } from "../tools/index.js";
import { accessControl } from "./access.js";
import { assistant } from "./assistant.js";
import { callbacks } from "./callbacks.js";
import { charts } from "./charts.js";
import { commands } from "./commands.js";
import { MemoryConfirmationStorage } from "./confirmation-storage.js";
import { Confirmations, type PendingStorage } from "./confirmations.js";
import type { BotEnv, CarwatchContext } from "./context.js";
import { fleet } from "./fleet.js";
import { type FloodLimit, floodLimit } from "./flood.js";
import { maintenance } from "./maintenance.js";
import { rules } from "./rules.js";
import { tokens } from "./tokens.js";

export interface BotOptions {
  token: string;
  registry: Registry;
  log: Logger;
  /** The LLM agent; without one, free text gets a short pointer to what works. */
  agent?: ChatAgent | null;
  /** TELEGRAM_API_ROOT: a self-hosted Bot API server. */
  apiRoot?: string;
  /** Preset identity (tests); otherwise fetched with getMe on start. */
  botInfo?: UserFromGetMe;
  /** How long a confirmation button stays valid. */
  confirmTtlMs?: number;
  /** Where pending confirmations live (default: this process's memory). */
  confirmationStorage?: PendingStorage;
  /** Per-user flood limit (default 10 updates per 10 s). */
  flood?: FloodLimit;
  /** Observes how long each update takes. */
  metrics?: Metrics;
  clock?: () => number;
  /** Where render_chart leaves its pictures: /chart and the agent's turns send them from here. */
  charts?: ChartStore;
  /** How files users send are fetched (default: the Bot API's file URL). */
  download?: (filePath: string) => Promise<Buffer>;
}

export interface CarwatchBot {
  bot: Bot<CarwatchContext>;
}

/** The bot's middleware, without any way of receiving updates (see start.ts), so tests can feed it updates directly. */
const FAILED = "💥 Something went wrong; it has been logged.";

export function createBot(o: BotOptions): CarwatchBot {
  const bot = new Bot<CarwatchContext>(o.token, { botInfo: o.botInfo, client: o.apiRoot ? { apiRoot: o.apiRoot } : undefined });
  // 429 (retry_after), 5xx and network errors are retried, a few times, with the wait Telegram asks for.
  bot.api.config.use(autoRetry({ maxRetryAttempts: 5, maxDelaySeconds: 60, rethrowHttpErrors: false }));
  const env: BotEnv = {
    registry: o.registry,
    agent: o.agent ?? null,
    log: o.log,
    confirmations: new Confirmations(o.confirmationStorage ?? new MemoryConfirmationStorage(), o.confirmTtlMs ?? 60_000, o.clock),
    clock: o.clock ?? Date.now,
    charts: o.charts ?? null,
    // Bot API files are served at <root>/file/bot<token>/<file_path>.
    download:
      o.download ??
      (async (filePath) => {
        const r = await fetch(`${o.apiRoot ?? "https://api.telegram.org"}/file/bot${o.token}/${filePath}`);
        if (!r.ok) throw new Error(`the file could not be fetched from Telegram (HTTP ${r.status})`);
        return Buffer.from(await r.arrayBuffer());
      }),
  };

  // The context flavor: every handler reads this bot's pieces from ctx.carwatch.
  bot.use((ctx, next) => {
    ctx.carwatch = env;
    return next();
  });
  const timing = o.metrics?.botUpdateSeconds;
  if (timing) {
    bot.use(async (_ctx, next) => {
      const end = timing.startTimer();
      try {
        await next();
      } finally {
        end();
      }
    });
  }
  // Updates of one chat are handled in order (the runner is concurrent across chats).
  bot.use(sequentialize((ctx: CarwatchContext) => ctx.chat?.id.toString()));
  bot.use(floodLimit(o.flood ?? { limit: 10, timeFrameMs: 10_000 }, env.clock));
  bot.use(accessControl(o.registry));
  // Every feature behind one error boundary: a handler that throws is logged and its user told, never left in silence.
  const features = bot.errorBoundary(async (err) => {
    o.log.error({ err: err.error, update: err.ctx.update.update_id }, "bot handler failed");
    const ctx = err.ctx;
    const told = ctx.callbackQuery ? ctx.answerCallbackQuery({ text: FAILED }) : ctx.chat ? ctx.reply(FAILED) : Promise.resolve();
    await told.catch((e: unknown) => o.log.warn({ err: e }, "could not tell the user about a failure"));
  });
  // Chart and rule buttons (and /chart, /dashboards, /rules) first: the generic button handler leaves "chart:" and "rule_…:" to them.
  // The assistant last: it takes the text no command or menu button took.
  features.use(charts, rules, callbacks, commands, maintenance, tokens, fleet, assistant);
  bot.catch((err) => o.log.error({ err: err.error, update: err.ctx.update.update_id }, "bot handler failed"));
  return { bot };
}
