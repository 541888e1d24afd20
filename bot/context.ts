import type { Context } from "grammy";
import type { ChatAgent } from "../agent/agent.js";
import type { Logger } from "../core/log.js";
import type { ChartStore } from "../tools/chart-store.js";
import type { Registry } from "../tools/index.js";
import type { Confirmations } from "./confirmations.js";

/** What every handler needs beyond the update: one per bot, set on each update's context by createBot. */
export interface BotEnv {
  registry: Registry;
  /** The LLM agent, when a model is configured. */
  agent: ChatAgent | null;
  confirmations: Confirmations;
  log: Logger;
  clock: () => number;
  /** Pictures render_chart left for this bot to send (null: charts go unsent, e.g. in tests without a store). */
  charts: ChartStore | null;
  /** The bytes of a file the user sent, by the file_path getFile gave. */
  download(filePath: string): Promise<Buffer>;
}

/** grammY's context flavored with the bot's environment (`ctx.carwatch`), so the feature composers share one bot's pieces without passing them along. */
export type CarwatchContext = Context & { carwatch: BotEnv };
