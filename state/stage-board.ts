import type Database from "better-sqlite3";
import { z } from "zod";
import type { ErrorOrigin } from "../core/errors.js";
import { type Member, type MemberStatus, type ProcessRef, type PublishedStatus, publishedStatusSchema } from "../domain/stage-status.js";
import { connection } from "./connection.js";
import type { StateStore } from "./store.js";

export type CommandAction = "start" | "stop" | "stop_all";

export interface Command {
  id: number;
  action: CommandAction;
  stage: string | null;
  params: unknown;
}

const ORIGINS = ["config", "input", "permission", "store", "transport", "stage", "tool", "telegram", "llm"] as const satisfies readonly ErrorOrigin[];
const answerSchema = z.discriminatedUnion("ok", [
  z.object({ ok: z.literal(true), result: z.unknown() }),
  z.object({ ok: z.literal(false), message: z.string(), origin: z.enum(ORIGINS), retriable: z.boolean() }),
]);
export type Answer = z.output<typeof answerSchema>;

const json = z.string().transform((s) => JSON.parse(s) as unknown);
const memberRow = z.object({
  host: z.string(),
  pid: z.number(),
  roles: json.pipe(z.array(z.string())),
  started_at: z.number(),
  heartbeat_at: z.number(),
  heartbeat_ms: z.number(),
});
const statusRow = z.object({ host: z.string(), pid: z.number(), status: json.pipe(publishedStatusSchema) });
const commandRow = z.object({ id: z.number(), action: z.enum(["start", "stop", "stop_all"]), stage: z.string().nullable(), params: json });
const collectRow = z.object({ state: z.enum(["pending", "taken", "answered"]), answer: z.string().nullable() });

/**
 * The processes of one deployment share state.db: each one's heartbeat and
 * roles, its stages' last published status, and the start/stop requests
 * one process leaves for another.
 */
export class StageBoard {
  readonly #db: Database.Database;

  constructor(state: StateStore) {
    this.#db = state[connection];
  }

  /** A heartbeat: the process's row and its stages' statuses, replaced in one transaction. */
  publish(m: Member, stages: readonly PublishedStatus[]): void {
    this.#db.transaction(() => {
      this.#db
        .prepare(
          `INSERT INTO stage_processes (host, pid, roles, started_at, heartbeat_at, heartbeat_ms) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (host, pid) DO UPDATE SET roles = excluded.roles, heartbeat_at = excluded.heartbeat_at, heartbeat_ms = excluded.heartbeat_ms`,
        )
        .run(m.host, m.pid, JSON.stringify(m.roles), m.startedAt, m.heartbeatAt, m.heartbeatMs);
      this.#db.prepare(`DELETE FROM stage_status WHERE host = ? AND pid = ?`).run(m.host, m.pid);
      const insert = this.#db.prepare(`INSERT INTO stage_status (host, pid, stage, status) VALUES (?, ?, ?, ?)`);
      for (const s of stages) insert.run(m.host, m.pid, s.name, JSON.stringify(s));
    })();
  }

  /** Every process that published, with its stages, oldest first. */
  members(): MemberStatus[] {
    const stages = new Map<string, PublishedStatus[]>();
    for (const raw of this.#db.prepare(`SELECT host, pid, status FROM stage_status ORDER BY rowid`).all()) {
      const r = statusRow.parse(raw);
      const key = `${r.host}\0${r.pid}`;
      stages.set(key, [...(stages.get(key) ?? []), r.status]);
    }
    return this.#db
      .prepare(`SELECT * FROM stage_processes ORDER BY started_at, host, pid`)
      .all()
      .map((raw) => {
        const r = memberRow.parse(raw);
        return {
          host: r.host,
          pid: r.pid,
          roles: r.roles,
          startedAt: r.started_at,
          heartbeatAt: r.heartbeat_at,
          heartbeatMs: r.heartbeat_ms,
          stages: stages.get(`${r.host}\0${r.pid}`) ?? [],
        };
      });
  }

  /** Removes a process (it left, or it is gone for good) with its statuses and the requests left for it. */
  forget(p: ProcessRef): void {
    this.#db.transaction(() => {
      for (const t of ["stage_processes", "stage_status", "stage_commands"]) this.#db.prepare(`DELETE FROM ${t} WHERE host = ? AND pid = ?`).run(p.host, p.pid);
    })();
  }

  /** Forgets processes silent since `before`, and requests older than that nobody collected. */
  sweep(before: number): void {
    for (const raw of this.#db.prepare(`SELECT host, pid FROM stage_processes WHERE heartbeat_at < ?`).all(before)) {
      this.forget(z.object({ host: z.string(), pid: z.number() }).parse(raw));
    }
    this.#db.prepare(`DELETE FROM stage_commands WHERE requested_at < ?`).run(before);
  }

  request(to: ProcessRef, action: CommandAction, stage: string | null, params: unknown, now: number): number {
    const info = this.#db
      .prepare(`INSERT INTO stage_commands (host, pid, action, stage, params, state, requested_at) VALUES (?, ?, ?, ?, ?, 'pending', ?)`)
      .run(to.host, to.pid, action, stage, JSON.stringify(params ?? {}), now);
    return Number(info.lastInsertRowid);
  }

  /** The requests waiting for this process, claimed: another poll will not hand them out again. */
  take(self: ProcessRef): Command[] {
    return this.#db
      .prepare(`UPDATE stage_commands SET state = 'taken' WHERE host = ? AND pid = ? AND state = 'pending' RETURNING id, action, stage, params`)
      .all(self.host, self.pid)
      .map((raw) => commandRow.parse(raw))
      .sort((a, b) => a.id - b.id);
  }

  answer(id: number, answer: Answer): void {
    this.#db.prepare(`UPDATE stage_commands SET state = 'answered', answer = ? WHERE id = ?`).run(JSON.stringify(answer), id);
  }

  /** The request's answer, once given (the row is removed then); else whether it was taken yet. */
  collect(id: number): { state: "pending" | "taken" | "gone" } | { state: "answered"; answer: Answer } {
    const raw = this.#db.prepare(`SELECT state, answer FROM stage_commands WHERE id = ?`).get(id);
    if (raw === undefined) return { state: "gone" };
    const r = collectRow.parse(raw);
    if (r.state !== "answered") return { state: r.state };
    this.#db.prepare(`DELETE FROM stage_commands WHERE id = ?`).run(id);
    return { state: "answered", answer: answerSchema.parse(JSON.parse(r.answer ?? "null")) };
  }

  /** Withdraws a request nobody took yet; false when it was taken meanwhile. */
  withdraw(id: number): boolean {
    return this.#db.prepare(`DELETE FROM stage_commands WHERE id = ? AND state = 'pending'`).run(id).changes === 1;
  }
}
