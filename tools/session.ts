import { z } from "zod";
import { InputError } from "../core/errors.js";
import { SEVERITIES } from "../state/ops-state.js";
import { defineTool } from "./registry.js";

export const whoami = defineTool({
  name: "whoami",
  description: "The caller's user id, chat, role and the tools that role may use.",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: ({ caller, ctx, available }) => ({
    userId: caller.userId,
    chatId: caller.chatId,
    role: caller.role,
    tools: available(),
    subscription: caller.chatId === null ? null : ctx.ops.subscription(caller.chatId, caller.threadId ?? null),
  }),
});

export const auditLog = defineTool({
  name: "audit_log",
  description: "The newest audit entries: who called which tool with which arguments, the outcome and duration. Admins only.",
  input: z.object({ limit: z.coerce.number().int().min(1).max(100).default(20), userId: z.coerce.number().int().optional() }),
  role: "admin",
  destructive: false,
  run: ({ input, ctx }) => ctx.ops.recentAudit(input.limit, input.userId),
});

export const subscribe = defineTool({
  name: "subscribe",
  description:
    "Subscribes the current chat (and forum topic) to minute digests and, optionally, to new incidents at or above a severity (low, medium, high). includeEmpty also sends windows without alerts.",
  input: z.object({
    digests: z.boolean().default(true),
    includeEmpty: z.boolean().default(false),
    incidents: z.enum([...SEVERITIES, "off"]).default("off"),
  }),
  role: "viewer",
  destructive: false,
  run: ({ input, ctx, caller }) => {
    if (caller.chatId === null) throw new InputError("subscriptions belong to a chat; call this from one");
    const sub = {
      chatId: caller.chatId,
      threadId: caller.threadId ?? null,
      digests: input.digests,
      includeEmpty: input.includeEmpty,
      incidentsMin: input.incidents === "off" ? null : input.incidents,
    };
    ctx.ops.subscribe(sub, ctx.clock());
    return sub;
  },
});

export const unsubscribe = defineTool({
  name: "unsubscribe",
  description: "Stops digests and incident notifications for the current chat (and forum topic).",
  input: z.object({}),
  role: "viewer",
  destructive: false,
  run: ({ ctx, caller }) => {
    if (caller.chatId === null) throw new InputError("subscriptions belong to a chat; call this from one");
    return { removed: ctx.ops.unsubscribe(caller.chatId, caller.threadId ?? null) };
  },
});

export const SESSION_TOOLS = [whoami, auditLog, subscribe, unsubscribe] as const;
