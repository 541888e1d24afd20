import { setTimeout as delay } from "node:timers/promises";
import { CarwatchError, errorMessage, InputError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import {
  idleStatus,
  type Member,
  type Peer,
  type ProcessRef,
  processName,
  runsIn,
  type StageStatus,
  stageStatusSchema,
  THIS_PROCESS,
} from "../domain/stage-status.js";
import { type Answer, type CommandAction, StageBoard } from "../state/stage-board.js";
import { isAlive, type StateStore } from "../state/store.js";
import type { Supervisor } from "./supervisor.js";

/** Missed heartbeats after which a process counts as stale. */
const STALE_AFTER_HEARTBEATS = 3;
/** How often a process looks for requests left for it (at most its heartbeat). */
const COMMAND_POLL_MS = 250;
/** How often a requester looks for its answer. */
const ANSWER_POLL_MS = 50;
/** A stop drains the batch in hand, which may take a while (a slow store commit). */
const ANSWER_TIMEOUT_MS = 60_000;
/** A process silent this long, of another host, is forgotten; one of this host is forgotten once it is gone. */
const FORGET_AFTER_MS = 86_400_000;

/** Another process of the deployment, as last published. */
/** Which process a caller means: a pid, and the host when pids could repeat across hosts. */
export interface Target {
  pid: number;
  host?: string;
}

const active = (s: { state: string } | undefined) => s?.state === "running" || s?.state === "restarting";

/**
 * The stages of every process sharing state.db. Each process publishes its
 * own stages' status with a heartbeat (`join`) and serves the start and stop
 * requests other processes leave for it; `list`, `start`, `stop` and
 * `stopAll` act on the whole deployment, routing to the process that runs a
 * stage (or can: its CARWATCH_ROLES include it).
 */
export class StageCluster {
  readonly self: ProcessRef = THIS_PROCESS;
  private readonly board: StageBoard;
  private readonly startedAt: number;
  private heartbeatMs: number | null = null;
  private timers: NodeJS.Timeout[] = [];
  private serving: Promise<void> | null = null;

  constructor(
    private readonly supervisor: Supervisor,
    state: StateStore,
    private readonly log: Logger,
  ) {
    this.board = new StageBoard(state);
    this.startedAt = Date.now();
  }

  /** Starts publishing this process's stages every `heartbeatMs` and serving requests left for it. */
  join(heartbeatMs: number): void {
    this.heartbeatMs = heartbeatMs;
    // A process of this host that is gone left its rows behind: this one may be its replacement.
    for (const m of this.board.members()) if (m.host === this.self.host && m.pid !== this.self.pid && !isAlive(m.pid)) this.board.forget(m);
    this.publish();
    // Not unref'd: a member stays up, as a server does, until it leaves (a worker has no listening socket to keep it).
    this.timers = [setInterval(() => this.beat(), heartbeatMs), setInterval(() => void this.serve(), Math.min(COMMAND_POLL_MS, heartbeatMs))];
    this.log.info({ ...this.self, roles: this.supervisor.roles, heartbeatMs }, "publishing stage status to state.db");
  }

  /** Stops publishing and serving and removes this process from the board (it left: not stale). */
  async leave(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    await this.serving;
    if (this.heartbeatMs !== null) this.board.forget(this.self);
    this.heartbeatMs = null;
  }

  /** The other processes, with whether each missed its heartbeats. */
  peers(now = Date.now()): Peer[] {
    return this.board
      .members()
      .filter((m) => !this.isSelf(m))
      .map((m) => ({ ...m, stale: now - m.heartbeatAt > STALE_AFTER_HEARTBEATS * m.heartbeatMs }));
  }

  /**
   * Every stage of every process: one row per process where it ran
   * (running, stopped, failed…), or a single idle row where it never ran —
   * this process's when it may run here, else one with no host or pid.
   */
  list(): StageStatus[] {
    const peers = this.peers();
    return this.supervisor.names().flatMap((name) => {
      const local = this.supervisor.runsHere(name) ? this.supervisor.status(name) : null;
      const remote = peers.flatMap((p) =>
        p.stages.filter((s) => s.name === name).map((s): StageStatus => ({ ...s, host: p.host, pid: p.pid, seenAt: p.heartbeatAt, stale: p.stale })),
      );
      const ran = [local, ...remote].filter((s): s is StageStatus => s !== null && s.state !== "idle");
      return ran.length > 0 ? ran : [local ?? this.nowhere(name)];
    });
  }

  /** One stage's status: in the given process, else the first row `list` shows for it. */
  status(name: string, at?: Target): StageStatus {
    this.supervisor.definition(name);
    const rows = this.list().filter((s) => s.name === name && (!at || matches(s, at)));
    if (!rows[0]) throw new InputError(`no process ${describeTarget(at!)} publishes ${name}; list_stages shows where it runs`);
    return rows[0];
  }

  /**
   * Starts a stage where it may run: here, when this process's roles allow
   * it; else in the one live process whose roles do and that does not run
   * it yet. Refuses (naming the processes) when that is none or several.
   */
  async start(name: string, params: unknown = {}, at?: Target): Promise<StageStatus> {
    this.supervisor.definition(name);
    if (at) return this.isSelf(at) ? this.supervisor.start(name, params) : this.askFor(this.livePeer(at), "start", name, params);
    if (this.supervisor.runsHere(name)) return this.supervisor.start(name, params);
    const able = this.peers().filter((p) => runsIn(p.roles, name));
    const live = able.filter((p) => !p.stale);
    const free = live.filter((p) => !active(p.stages.find((s) => s.name === name)));
    if (free.length === 1) return this.askFor(free[0]!, "start", name, params);
    if (free.length > 1) throw new InputError(`${name} can start in ${names(free)}: say which, with its pid`);
    if (live.length > 0) throw new InputError(`stage ${name} is already running in ${names(live)}`);
    const stale = able.length > 0 ? `; ${names(able)} missed ${able.length === 1 ? "its" : "their"} heartbeats` : "";
    throw new InputError(`${this.supervisor.refusal(name)}, and no live process has it${stale}`);
  }

  /** Stops a stage in the process that runs it (the given one, or the only one); refuses when several do. */
  async stop(name: string, at?: Target): Promise<StageStatus> {
    this.supervisor.definition(name);
    if (at && this.isSelf(at)) return this.supervisor.stop(name);
    const running = this.list().filter((s) => s.name === name && active(s) && (!at || matches(s, at)));
    const live = running.filter((s) => !s.stale);
    if (live.length > 1) throw new InputError(`${name} runs in ${names(live)}: say which, with its pid (or stop all)`);
    const [only] = live;
    if (only) return this.isSelf(only) ? this.supervisor.stop(name) : this.askFor(this.livePeer({ pid: only.pid!, host: only.host! }), "stop", name, {});
    if (running[0]) throw new InputError(`${name} last ran in ${names(running)}, which missed its heartbeats: it cannot be stopped from here`);
    if (at) throw new InputError(`stage ${name} is not running in ${describeTarget(at)}`);
    if (this.supervisor.runsHere(name)) return this.supervisor.stop(name);
    const where = this.list().filter((s) => s.name === name && s.pid !== null);
    throw new InputError(`stage ${name} is not running${where.length ? ` (${where.map((s) => `${s.state} in ${processName(s)}`).join(", ")})` : " anywhere"}`);
  }

  /** Stops every running stage in every live process, each process sources first; returns the stopped stages. */
  async stopAll(): Promise<StageStatus[]> {
    const stopped = await this.supervisor.stopAll();
    for (const p of this.peers().filter((p) => !p.stale && p.stages.some(active))) {
      stopped.push(...stageStatusSchema.array().parse(await this.ask(p, "stop_all", null, {})));
    }
    return stopped;
  }

  private nowhere(name: string): StageStatus {
    return idleStatus(this.supervisor.definition(name));
  }

  private isSelf(p: { host?: string | null; pid: number | null }): boolean {
    return p.pid === this.self.pid && (p.host === undefined || p.host === this.self.host);
  }

  private livePeer(at: Target): Peer {
    const found = this.peers().filter((p) => matches(p, at));
    if (found.length > 1) throw new InputError(`pid ${at.pid} runs on several hosts (${names(found)}): name the host too`);
    const [p] = found;
    if (!p) throw new InputError(`no carwatch process ${describeTarget(at)} publishes its stages here`);
    if (p.stale) throw new InputError(`${processName(p)} missed its heartbeats: it cannot be reached`);
    return p;
  }

  private async askFor(p: Member, action: "start" | "stop", stage: string, params: unknown): Promise<StageStatus> {
    return stageStatusSchema.parse(await this.ask(p, action, stage, params));
  }

  /** Leaves a request for another process and waits for its answer (it polls state.db for requests, as this one polls for answers). */
  private async ask(p: Member, action: CommandAction, stage: string | null, params: unknown): Promise<unknown> {
    const asked = Date.now();
    const id = this.board.request(p, action, stage, params, asked);
    const what = `${action}${stage ? ` ${stage}` : ""} in ${processName(p)}`;
    for (;;) {
      await delay(ANSWER_POLL_MS);
      const c = this.board.collect(id);
      if (c.state === "answered") return unpack(c.answer, p);
      const waited = Date.now() - asked;
      if (c.state === "gone") throw new CarwatchError("stage", `${what}: the process left before it answered`, { retriable: true });
      // A live process heartbeats while it serves an earlier request, so only a stale one is given up on before it takes this one.
      if (c.state === "pending" && !this.peers().some((m) => matches(m, p) && !m.stale) && this.board.withdraw(id)) {
        throw new CarwatchError("stage", `${what}: the process missed its heartbeats before it took the request`, { retriable: true });
      }
      if (waited > ANSWER_TIMEOUT_MS) {
        throw new CarwatchError("stage", `${what}: no answer within ${ANSWER_TIMEOUT_MS / 1000} s; list_stages shows where it stands`, { retriable: true });
      }
    }
  }

  private beat(): void {
    try {
      this.publish();
      this.board.sweep(Date.now() - FORGET_AFTER_MS);
    } catch (err) {
      this.log.warn({ err }, "publishing stage status failed");
    }
  }

  private publish(): void {
    const m: Member = { ...this.self, roles: [...this.supervisor.roles], startedAt: this.startedAt, heartbeatAt: Date.now(), heartbeatMs: this.heartbeatMs! };
    const mine = this.supervisor.names().filter((n) => this.supervisor.runsHere(n));
    this.board.publish(
      m,
      mine.map((n) => {
        const { host: _h, pid: _p, seenAt: _s, stale: _st, ...published } = this.supervisor.status(n);
        return published;
      }),
    );
  }

  /** Runs the requests left for this process, one at a time, and answers each (publishing first, so a list after the answer is current). */
  private serve(): Promise<void> {
    if (this.serving || this.heartbeatMs === null) return this.serving ?? Promise.resolve();
    this.serving = (async () => {
      for (const c of this.board.take(this.self)) {
        const answer: Answer = await this.execute(c.action, c.stage, c.params).then(
          (result) => ({ ok: true as const, result }),
          (err: unknown) => ({
            ok: false as const,
            message: errorMessage(err),
            origin: err instanceof CarwatchError ? err.origin : "stage",
            retriable: err instanceof CarwatchError && err.retriable,
          }),
        );
        this.publish();
        this.board.answer(c.id, answer);
      }
    })()
      .catch((err: unknown) => this.log.warn({ err }, "serving stage requests failed"))
      .finally(() => {
        this.serving = null;
      });
    return this.serving;
  }

  private async execute(action: CommandAction, stage: string | null, params: unknown): Promise<StageStatus | StageStatus[]> {
    if (action === "stop_all") return this.supervisor.stopAll();
    if (stage === null) throw new InputError(`${action} needs a stage`);
    return action === "start" ? this.supervisor.start(stage, params) : this.supervisor.stop(stage);
  }
}

function unpack(a: Answer, p: ProcessRef): unknown {
  if (a.ok) return a.result;
  const message = `${processName(p)}: ${a.message}`;
  throw a.origin === "input" ? new InputError(message) : new CarwatchError(a.origin, message, { retriable: a.retriable });
}

function matches(p: { host: string | null; pid: number | null }, at: Target): boolean {
  return p.pid === at.pid && (at.host === undefined || p.host === at.host);
}

function describeTarget(at: Target): string {
  return at.host ? processName({ host: at.host, pid: at.pid }) : `pid ${at.pid}`;
}

function names(ps: readonly { host: string | null; pid: number | null }[]): string {
  return ps.map(processName).join(", ");
}
