import { EventEmitter } from "node:events";
import { ROLES } from "../core/config.js";
import { errorMessage, InputError } from "../core/errors.js";
import { processName, runsIn, type StageState, type StageStatus, THIS_PROCESS } from "../domain/stage-status.js";
import type { StageRun } from "../state/store.js";
import { RateMeter } from "./rate-meter.js";
import { StageCounters, type StageDefinition, type StageDeps, type StageInput } from "./stage.js";
import { StageCluster } from "./stage-cluster.js";

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** A run this long resets the backoff. */
  healthyAfterMs: number;
}

interface Slot {
  def: StageDefinition;
  state: StageState;
  runId: number | null;
  params: unknown;
  startedAt: number | null;
  counters: StageCounters;
  outRate: RateMeter;
  abort: AbortController | null;
  running: Promise<void> | null;
  restarts: number;
  consecutiveFailures: number;
  lastError: string | null;
  restartTimer: NodeJS.Timeout | null;
  nextRestartAt: number | null;
  started: boolean;
}

/**
 * Runs the stages, replacing the old platform's Airflow control: start with
 * validated params, stop (draining the batch in hand), status, run history
 * in the state DB, and restart with backoff when a streaming stage crashes.
 * Emits "crash" (name, error), "state" (name, state). It runs stages of
 * this process only, the ones its roles allow; `cluster` sees and controls
 * the stages of every process sharing state.db.
 */
export class Supervisor extends EventEmitter {
  /** This process's CARWATCH_ROLES: a stage named after a role runs here only when they include it. */
  readonly roles: readonly string[];
  readonly cluster: StageCluster;
  private readonly slots = new Map<string, Slot>();
  /** Counters of finished runs, per stage, for process-lifetime totals. */
  private readonly finished = new Map<string, { in: number; out: number; errors: number; deadLetters: number }>();
  private readonly backoff: BackoffOptions;

  constructor(
    defs: readonly StageDefinition[],
    private readonly deps: StageDeps,
    backoff: Partial<BackoffOptions> = {},
    placement: { roles?: readonly string[] } = {},
  ) {
    super();
    this.backoff = { initialMs: 500, maxMs: 30_000, healthyAfterMs: 60_000, ...backoff };
    this.roles = placement.roles ?? ROLES;
    this.cluster = new StageCluster(this, deps.state, deps.log);
    for (const def of defs) {
      this.slots.set(def.name, {
        def,
        state: "idle",
        runId: null,
        params: null,
        startedAt: null,
        counters: new StageCounters(),
        outRate: new RateMeter(),
        abort: null,
        running: null,
        restarts: 0,
        consecutiveFailures: 0,
        lastError: null,
        restartTimer: null,
        nextRestartAt: null,
        started: false,
      });
    }
  }

  names(): string[] {
    return [...this.slots.keys()];
  }

  definition(name: string): StageDefinition {
    return this.slot(name).def;
  }

  /** Whether this process's roles let the stage run here. */
  runsHere(name: string): boolean {
    return runsIn(this.roles, name);
  }

  /** Why a stage does not run here, naming the roles. */
  refusal(name: string): string {
    return `${name} runs only in a process whose CARWATCH_ROLES include ${name}: this one (${processName(THIS_PROCESS)}) has ${this.roles.join(",")}`;
  }

  private slot(name: string): Slot {
    const s = this.slots.get(name);
    if (!s) throw new InputError(`unknown stage "${name}"; stages: ${this.names().join(", ")}`);
    return s;
  }

  /**
   * Validates params and starts the stage; refuses when it already runs or
   * this process's roles do not include it. Resolves once the stage takes
   * input (or has finished or crashed), so whatever is published next
   * reaches it.
   */
  async start(name: string, params: unknown = {}, trigger: "manual" | "start" = "manual"): Promise<StageStatus> {
    const s = this.slot(name);
    if (!this.runsHere(name)) throw new InputError(this.refusal(name));
    if (s.state === "running" || s.state === "restarting") throw new InputError(`stage ${name} is already ${s.state}`);
    const parsed = s.def.params.safeParse(params ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new InputError(`invalid params for ${name}: ${issue.path.join(".") || "params"}: ${issue.message}`);
    }
    s.consecutiveFailures = 0;
    s.restarts = 0;
    await this.launch(s, parsed.data, trigger);
    return this.status(name);
  }

  private launch(s: Slot, params: unknown, trigger: "manual" | "start" | "restart"): Promise<void> {
    const name = s.def.name;
    s.params = params;
    this.retire(s);
    s.counters = new StageCounters();
    s.outRate = new RateMeter();
    s.abort = new AbortController();
    s.startedAt = Date.now();
    s.runId = this.deps.state.startRun(name, params, trigger, s.startedAt);
    s.nextRestartAt = null;
    this.setState(s, "running");
    const firstStart = !s.started;
    s.started = true;
    const log = this.deps.log.child({ stage: name, run: s.runId });
    const flush = setInterval(() => this.deps.state.updateRun(s.runId!, s.counters.snapshot()), 5000);
    flush.unref();
    let ready!: () => void;
    const isReady = new Promise<void>((r) => (ready = r));
    if (!this.inputOf(s)) ready();
    const run = (async () => s.def.run({ params, deps: this.deps, counters: s.counters, log, signal: s.abort!.signal, firstStart, ready }))();
    s.running = run.then(
      () => {
        clearInterval(flush);
        const stopped = s.abort!.signal.aborted;
        this.deps.state.endRun(s.runId!, stopped ? "stopped" : "succeeded", s.counters.snapshot());
        this.setState(s, stopped ? "stopped" : "succeeded");
      },
      (err: unknown) => {
        clearInterval(flush);
        const msg = errorMessage(err);
        s.counters.errors++;
        s.lastError = msg;
        this.deps.state.endRun(s.runId!, "failed", s.counters.snapshot(), msg);
        log.error({ err }, "stage crashed");
        this.emit("crash", name, err);
        if (s.def.kind === "streaming" && !s.abort!.signal.aborted) this.scheduleRestart(s);
        else this.setState(s, "failed");
      },
    );
    return Promise.race([isReady, s.running]);
  }

  private scheduleRestart(s: Slot): void {
    const ranFor = Date.now() - (s.startedAt ?? 0);
    s.consecutiveFailures = ranFor >= this.backoff.healthyAfterMs ? 1 : s.consecutiveFailures + 1;
    const delay = Math.min(this.backoff.maxMs, this.backoff.initialMs * 2 ** (s.consecutiveFailures - 1));
    s.nextRestartAt = Date.now() + delay;
    this.setState(s, "restarting");
    s.restartTimer = setTimeout(() => {
      s.restartTimer = null;
      s.restarts++;
      void this.launch(s, s.params, "restart");
    }, delay);
  }

  private setState(s: Slot, state: StageState): void {
    s.state = state;
    this.emit("state", s.def.name, state);
  }

  /** Stops the stage after the batch in hand; a pending restart is cancelled. */
  async stop(name: string): Promise<StageStatus> {
    const s = this.slot(name);
    if (s.restartTimer) {
      clearTimeout(s.restartTimer);
      s.restartTimer = null;
      s.nextRestartAt = null;
      this.setState(s, "stopped");
    } else if (s.state === "running") {
      s.abort!.abort();
      await s.running;
    } else {
      throw new InputError(`stage ${name} is not running (${s.state})`);
    }
    return this.status(name);
  }

  /** Stops every running stage, sources first so downstream stages see the last batches. */
  async stopAll(): Promise<StageStatus[]> {
    const stopped: StageStatus[] = [];
    for (const s of this.slots.values()) {
      if (s.state === "running" || s.state === "restarting") stopped.push(await this.stop(s.def.name));
    }
    return stopped;
  }

  /** Resolves when a running stage finishes by itself (batch stages, bounded generators). */
  async waitFor(name: string): Promise<StageStatus> {
    const s = this.slot(name);
    await s.running;
    return this.status(name);
  }

  private inputOf(s: Slot): StageInput | undefined {
    const input = s.def.input;
    return typeof input === "function" ? input(this.deps) : input;
  }

  status(name: string): StageStatus {
    const s = this.slot(name);
    const input = this.inputOf(s);
    const now = Date.now();
    return {
      name,
      kind: s.def.kind,
      description: s.def.description,
      state: s.state,
      runId: s.runId,
      params: s.params,
      startedAt: s.startedAt,
      counters: s.counters.snapshot(),
      ratePerSec: Math.round(s.counters.rate(now) * 10) / 10,
      outPerSec: Math.round(s.outRate.rate(s.counters.out, now) * 10) / 10,
      queueDepth: input ? this.deps.transport.lag(input.topic, input.group) : 0,
      lastEventTime: s.counters.lastEventTime,
      restarts: s.restarts,
      lastError: s.lastError,
      nextRestartAt: s.nextRestartAt,
      ...THIS_PROCESS,
      seenAt: now,
      stale: false,
    };
  }

  /** Adds the current run's counters to the stage's finished totals before they are replaced. */
  private retire(s: Slot): void {
    const t = this.finished.get(s.def.name) ?? { in: 0, out: 0, errors: 0, deadLetters: 0 };
    const c = s.counters.snapshot();
    this.finished.set(s.def.name, { in: t.in + c.in, out: t.out + c.out, errors: t.errors + c.errors, deadLetters: t.deadLetters + c.deadLetters });
  }

  /** Process-lifetime totals per stage, across runs (for metrics). */
  totals(): Record<string, { in: number; out: number; errors: number; deadLetters: number }> {
    const out: Record<string, { in: number; out: number; errors: number; deadLetters: number }> = {};
    for (const s of this.slots.values()) {
      const t = this.finished.get(s.def.name) ?? { in: 0, out: 0, errors: 0, deadLetters: 0 };
      const c = s.counters.snapshot();
      out[s.def.name] = { in: t.in + c.in, out: t.out + c.out, errors: t.errors + c.errors, deadLetters: t.deadLetters + c.deadLetters };
    }
    return out;
  }

  /** This process's stages (`cluster.list()`: every process's). */
  list(): StageStatus[] {
    return this.names().map((n) => this.status(n));
  }

  history(name?: string, limit = 10): StageRun[] {
    if (name) this.slot(name);
    return this.deps.state.recentRuns(name, limit);
  }
}
