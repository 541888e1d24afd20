import { z } from "zod";
import { incidentIdSchema } from "../domain/incident-id.js";
import { ruleNameSchema } from "../domain/rule-spec.js";
import { CHART_KINDS } from "../tools/charts.js";

/** Telegram's limit on callback_data, in bytes. */
export const CALLBACK_DATA_LIMIT = 64;

const name = z.string().regex(/^[a-z][a-z0-9_.-]{0,40}$/);
const token = z.string().regex(/^[A-Za-z0-9_-]{8,16}$/);
const incident = incidentIdSchema;

/**
 * Every button's payload, as "action:argument". Parsed with zod when a
 * button is pressed: anything else (stale layouts, forged data) is refused.
 */
const schemas = {
  menu: z.enum(["stages", "schemas", "alerts", "main"]),
  stage: name,
  start: name,
  stop: name,
  status: name,
  runs: name,
  schema: name,
  table: name,
  count: name,
  describe: name,
  preview: name,
  stats: name,
  job: name,
  yes: token,
  no: token,
  ack: incident,
  mute: incident,
  chart: z.enum(CHART_KINDS),
  // A rule by name (bot/rules.ts): the press asks enable_rule / disable_rule, whose confirmation shows the backtest.
  rule_on: ruleNameSchema,
  rule_off: ruleNameSchema,
} as const;

export type Action = keyof typeof schemas;
export type CallbackData = { [A in Action]: { action: A; arg: z.output<(typeof schemas)[A]> } }[Action];

export function encodeCallback(action: Action, arg: string): string {
  const data = `${action}:${arg}`;
  if (Buffer.byteLength(data) > CALLBACK_DATA_LIMIT) throw new Error(`callback data over ${CALLBACK_DATA_LIMIT} bytes: ${data}`);
  return data;
}

export function decodeCallback(data: string | undefined): CallbackData | null {
  if (!data || Buffer.byteLength(data) > CALLBACK_DATA_LIMIT) return null;
  const at = data.indexOf(":");
  if (at < 0) return null;
  const action = data.slice(0, at);
  if (!Object.hasOwn(schemas, action)) return null;
  const arg = schemas[action as Action].safeParse(data.slice(at + 1));
  return arg.success ? ({ action, arg: arg.data } as CallbackData) : null;
}
