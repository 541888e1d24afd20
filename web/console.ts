import { hostname, userInfo } from "node:os";
import type { Bot } from "grammy";
import type { UserFromGetMe } from "grammy/types";
import type { ChatAgent } from "../agent/agent.js";
import { createBot } from "../bot/bot.js";
import { COMMANDS } from "../bot/commands.js";
import type { CarwatchContext } from "../bot/context.js";
import { type Digests, startDigests } from "../bot/digests.js";
import { esc } from "../bot/format.js";
import { SendQueue } from "../bot/send-queue.js";
import type { Logger } from "../core/log.js";
import type { Metrics } from "../core/metrics.js";
import type { OpsState } from "../state/ops-state.js";
import type { ChartStore } from "../tools/chart-store.js";
import type { NoticeFeed } from "../tools/feed.js";
import type { Registry } from "../tools/index.js";
import { CONSOLE_USER_ID } from "../tools/roles.js";
import { ConsoleChat } from "./console-chat.js";

/**
 * The console's consumer groups: apart from the Telegram bot's, so both see
 * every window and incident, and one pair per process, since each process
 * that runs a console shows every digest on its own page. A new pair starts
 * at the newest message; Kafka drops a pair left by a stopped process after
 * its offsets' retention.
 */
export function consoleGroups(instance: string): { digests: string; incidents: string } {
  return { digests: `console-digests-${instance}`, incidents: `console-incidents-${instance}` };
}

/** The console bot's identity: preset, so it never calls getMe anywhere. */
export const CONSOLE_BOT_INFO: UserFromGetMe = {
  id: 1,
  is_bot: true,
  first_name: "carwatch",
  username: "carwatch_console_bot",
  can_join_groups: false,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
  has_topics_enabled: false,
  allows_users_to_create_topics: false,
  can_manage_bots: false,
  supports_join_request_queries: false,
};

export interface ConsoleOptions {
  registry: Registry;
  ops: OpsState;
  /** Digests and incident notices (the console's chat gets its own). */
  feed: NoticeFeed;
  log: Logger;
  agent?: ChatAgent | null;
  metrics?: Metrics;
  charts?: ChartStore;
  /** Subscribes the console's chat to minute digests at start (kept if the operator unsubscribes later). */
  subscribe?: boolean;
  /** Names this console's consumer groups, unique per process on a cluster; default `<host name>-<process id>`. */
  instance?: string;
  clock?: () => number;
}

export interface RunningConsole {
  chat: ConsoleChat;
  bot: Bot<CarwatchContext>;
  /** The operator sends `text`; resolves when the bot has handled it. */
  say(text: string): Promise<void>;
  /** The operator sends a file with a caption (a command such as /fleet import). */
  upload(name: string, mime: string, bytes: Buffer, caption: string): Promise<void>;
  /** The operator presses a button: resolves when handled; null (nothing sent) when the message has no such button. */
  press(messageId: number, data: string): Promise<void> | null;
  /** Resolves when every update in hand is handled and every queued digest is shown. */
  idle(): Promise<void>;
  /** An admin notice (watchdog, failures) shown in the console. */
  notify(text: string): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The local web console's bot: the very same bot as on Telegram (createBot:
 * handlers, commands, menus, confirmations, agent), a second instance whose
 * Bot API calls a grammY transformer answers locally (ConsoleChat), and whose
 * updates the page sends. Digests reach it through its own consumer groups.
 */
export async function startConsole(o: ConsoleOptions): Promise<RunningConsole> {
  const log = o.log.child({ part: "console" });
  const chat = new ConsoleChat({ id: CONSOLE_USER_ID, name: localName() }, CONSOLE_BOT_INFO, undefined, o.clock);
  const { bot } = createBot({
    token: "console:local",
    registry: o.registry,
    agent: o.agent,
    log,
    botInfo: CONSOLE_BOT_INFO,
    charts: o.charts,
    clock: o.clock,
    // One person at a keyboard: a generous flood limit.
    flood: { limit: 30, timeFrameMs: 10_000 },
    download: async (filePath) => {
      const f = chat.file(filePath);
      if (!f) throw new Error("the file is no longer in the console");
      return f.bytes;
    },
  });
  // Installed last, so it wraps auto-retry: no call ever leaves the process.
  bot.api.config.use((_prev, method, payload) => chat.api(method, payload as Record<string, unknown>) as never);
  await bot.api.setMyCommands(COMMANDS.map((c) => ({ ...c })));

  const queue = new SendQueue(log, { privateGapMs: 0, groupGapMs: 0, retryMs: 1000 }, o.metrics);
  if (o.subscribe !== false) o.feed.subscribeAtStart([chat.chatId]);
  const digests: Digests = await startDigests({
    feed: o.feed,
    api: bot.api,
    queue,
    accept: (s) => s.chatId === chat.chatId,
    groups: consoleGroups(o.instance ?? `${hostname()}-${process.pid}`),
  });

  const inFlight = new Set<Promise<void>>();
  const handle = (update: Parameters<Bot["handleUpdate"]>[0]) => {
    const p = bot.handleUpdate(update).catch((err: unknown) => log.error({ err }, "console update failed"));
    inFlight.add(p);
    void p.finally(() => inFlight.delete(p));
    return p;
  };
  return {
    chat,
    bot,
    say: (text) => handle(chat.userMessage(text)),
    upload: (name, mime, bytes, caption) => handle(chat.userDocument(name, mime, bytes, caption)),
    press(messageId, data) {
      const update = chat.press(messageId, data);
      return update ? handle(update) : null;
    },
    async idle() {
      while (inFlight.size > 0) await Promise.all([...inFlight]);
      await queue.idle();
    },
    async notify(text) {
      queue.push(chat.chatId, () => bot.api.sendMessage(chat.chatId, `🛎 ${esc(text)}`, { parse_mode: "HTML" }));
    },
    async stop() {
      await digests.stop();
      await Promise.all([...inFlight]);
      queue.stop();
    },
  };
}

function localName(): string {
  try {
    return userInfo().username || "operator";
  } catch {
    return "operator";
  }
}
