import type { EventEmitter } from "node:events";
import type { z } from "zod";
import { CarwatchError, errorMessage, InputError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import type { Metrics } from "../core/metrics.js";
import type { Lakehouse } from "../pipeline/stores/lakehouse.js";
import type { Supervisor } from "../pipeline/supervisor.js";
import type { JobStatus } from "../scheduler/scheduler.js";
import type { JobRun } from "../state/job-runs.js";
import type { AuditOutcome, OpsState } from "../state/ops-state.js";
import type { RuleTable } from "../state/rules.js";
import type { TokenBook } from "./api-tokens.js";
import type { ChartStore } from "./chart-store.js";
import type { DashboardsConfig } from "./dashboards.js";
import { ConfirmationRequired, PermissionError } from "./errors.js";
import { hasRole, type Role, type RoleBook } from "./roles.js";

/** Who is calling, as the entry point knows it; the role is looked up by the registry, never taken from the caller. */
export interface Caller {
  userId: number;
  chatId: number | null;
  /** Forum topic the call came from, if any. */
  threadId?: number | null;
  via: "telegram" | "console" | "agent" | "scheduler" | "api" | "mcp";
}

/** The maintenance jobs as tools see them (the Scheduler implements it). */
export interface Jobs {
  list(): JobStatus[];
  /** Runs a job now; resolves with the finished run. */
  run(name: string): Promise<JobRun>;
}

/** What tools may use. Built once per process. */
export interface ToolContext {
  supervisor: Supervisor;
  lakehouse: Lakehouse;
  ops: OpsState;
  roles: RoleBook;
  /** The rule table (state database): what the alert stages evaluate, and what digests, charts and incidents name. */
  rules: RuleTable;
  clock: () => number;
  /** The pipeline's WATERMARK_SECONDS in ms: a backtest judges silences and resolutions on it, as the alert stage does (default 10 s, the configuration's). */
  watermarkMs?: number;
  log: Logger;
  /** Counts calls by tool and outcome, when the process exports metrics. */
  metrics?: Metrics;
  /** The maintenance jobs, when this process runs the scheduler. */
  jobs?: Jobs | null;
  /** How long readings (and dead letters) and the audit log are kept, in days: RETENTION_DAYS, AUDIT_RETENTION_DAYS. */
  retention?: { readingsDays: number; auditDays: number };
  /** Where render_chart leaves its pictures for the bot to send. */
  charts?: ChartStore;
  /** In-process notifications: fleet changes emit "dims-changed" for this process's enrich stage. */
  events?: EventEmitter;
  /** API tokens (the state database's), for the token tools. */
  tokens?: TokenBook;
  /** The HTTP server's address and the optional Superset, for list_dashboards. */
  dashboards?: DashboardsConfig;
}

export interface ToolRun<I> {
  input: I;
  ctx: ToolContext;
  caller: Caller & { role: Role };
  /** The names of the tools this caller may call through its entry point. */
  available(): string[];
}

export interface ToolDef<N extends string = string, S extends z.ZodType = z.ZodType, R = unknown> {
  name: N;
  /** For people and for an LLM: what it does, when to use it, what it returns. */
  description: string;
  input: S;
  role: Role;
  /** Changes the running system: callers must obtain a confirmation first. */
  destructive: boolean;
  /** The entry points it is open to (default: all); e.g. not the agent, for a tool whose result holds a secret the model's provider must not see. */
  via?: readonly Caller["via"][];
  run(args: ToolRun<z.output<S>>): Promise<R> | R;
  /**
   * What a language model reads of a result, where the whole is mostly noise
   * to it (descriptions, process ids, timestamps in ms): a small model reads
   * the fields it needs better than three thousand characters of JSON.
   */
  brief?(result: R): unknown;
  /**
   * One short text of what a destructive call would do, shown with its
   * confirmation wherever it is asked (Telegram, console, API, the agent's
   * button): a rule change's backtest. Throwing an InputError refuses the call.
   */
  preview?(args: ToolRun<z.output<S>>): Promise<string> | string;
}

export function defineTool<const N extends string, S extends z.ZodType, R>(def: ToolDef<N, S, R>): ToolDef<N, S, R> {
  return def;
}

// `any` output: one list holds tools of every result type; call() recovers each one by name.
// biome-ignore lint/suspicious/noExplicitAny: deliberate, see above
type AnyTool = ToolDef<string, z.ZodType, any>;
export type ToolName<T extends readonly AnyTool[]> = T[number]["name"];
export type ToolOutput<T extends readonly AnyTool[], N extends string> = Awaited<ReturnType<Extract<T[number], { name: N }>["run"]>>;

export interface CallOptions {
  /** The user confirmed a destructive call. */
  confirmed?: boolean;
  /**
   * A read carwatch makes for the caller, not an action of theirs (the facts
   * of an agent's prompt, a dashboard refreshing): checked like any call and
   * counted in metrics, but not written to the audit log. Never destructive.
   */
  internal?: boolean;
}

/**
 * The one way in to every operation. `call` looks the caller's role up,
 * refuses what the role does not allow, parses the input with the tool's
 * schema, asks for a confirmation of destructive tools, runs the tool and
 * audits the outcome, whatever the entry point.
 */
export class ToolRegistry<T extends readonly AnyTool[] = readonly AnyTool[]> {
  private readonly byName: Map<string, AnyTool>;

  constructor(
    readonly tools: T,
    private readonly ctx: ToolContext,
  ) {
    this.byName = new Map(tools.map((t) => [t.name, t]));
  }

  roleOf(userId: number): Role | null {
    return this.ctx.roles.roleOf(userId);
  }

  /** The tools this user may call (what menus and the agent offer). */
  allowedFor(userId: number, via?: Caller["via"]): AnyTool[] {
    const role = this.roleOf(userId);
    return this.tools.filter((t) => hasRole(role, t.role) && (!via || !t.via || t.via.includes(via)));
  }

  get(name: string): AnyTool | undefined {
    return this.byName.get(name);
  }

  /** The SQL dialect the query tool speaks (the lakehouse's), for usage texts. */
  get sqlDialect(): "SQLite" | "Trino" {
    return this.ctx.lakehouse.dialect === "trino" ? "Trino" : "SQLite";
  }

  async call<N extends ToolName<T>>(name: N, rawInput: unknown, caller: Caller, options: CallOptions = {}): Promise<ToolOutput<T, N>> {
    const started = performance.now();
    const audit = (outcome: AuditOutcome, message: string | null, args: unknown) => {
      this.ctx.metrics?.toolCalls.inc({ tool: name, outcome });
      if (options.internal) return;
      this.ctx.ops.audit({
        at: this.ctx.clock(),
        userId: caller.userId,
        chatId: caller.chatId,
        via: caller.via,
        tool: name,
        args,
        outcome,
        message,
        durationMs: performance.now() - started,
      });
    };
    const tool = this.byName.get(name);
    if (!tool) {
      audit("invalid", "unknown tool", rawInput);
      throw new InputError(`unknown tool "${name}"`);
    }
    const role = this.roleOf(caller.userId);
    if (!hasRole(role, tool.role)) {
      const err = new PermissionError(name, tool.role);
      audit("denied", err.message, rawInput);
      throw err;
    }
    if (tool.via && !tool.via.includes(caller.via)) {
      const err = new InputError(`${name} is not available through ${caller.via}; use ${tool.via.join(", ")}`);
      audit("denied", err.message, rawInput);
      throw err;
    }
    const parsed = tool.input.safeParse(rawInput ?? {});
    if (!parsed.success) {
      const err = new InputError(describeIssue(parsed.error));
      audit("invalid", err.message, rawInput);
      throw err;
    }
    if (tool.destructive && options.internal) throw new InputError(`${name} changes the system: it cannot run as an internal read`);
    const args = this.runArgs(parsed.data, caller, role!);
    try {
      if (tool.destructive && !options.confirmed) {
        const preview = tool.preview ? await tool.preview(args) : null;
        audit("needs_confirmation", null, parsed.data);
        throw new ConfirmationRequired(name, parsed.data, preview);
      }
      const result = await tool.run(args);
      audit("ok", null, parsed.data);
      return result;
    } catch (err) {
      if (err instanceof ConfirmationRequired) throw err;
      audit(err instanceof InputError ? "invalid" : "error", errorMessage(err), parsed.data);
      if (!(err instanceof CarwatchError)) this.ctx.log.error({ err, tool: name }, "tool failed");
      throw err;
    }
  }

  /**
   * What the confirmation of this call shows (the tool's `preview`), for a
   * confirmation asked before the call reaches the registry: the agent's,
   * which LangChain pauses first. Checked and parsed like a call, not
   * audited (the call itself is, once confirmed); null when the tool has no
   * preview or the caller could not make the call.
   */
  async preview(name: string, rawInput: unknown, caller: Caller): Promise<string | null> {
    const tool = this.byName.get(name);
    const role = this.roleOf(caller.userId);
    if (!tool?.preview || !hasRole(role, tool.role) || (tool.via && !tool.via.includes(caller.via))) return null;
    const parsed = tool.input.safeParse(rawInput ?? {});
    if (!parsed.success) throw new InputError(describeIssue(parsed.error));
    return tool.preview(this.runArgs(parsed.data, caller, role!));
  }

  private runArgs(input: unknown, caller: Caller, role: Role): ToolRun<unknown> {
    return { input, ctx: this.ctx, caller: { ...caller, role }, available: () => this.allowedFor(caller.userId, caller.via).map((t) => t.name) };
  }
}

function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0]!;
  const where = issue.path.length > 0 ? `${issue.path.join(".")}: ` : "";
  return `${where}${issue.message}`;
}
