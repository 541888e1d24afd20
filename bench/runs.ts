import { ALERTS } from "../pipeline/transport/topics.js";
import type { Transport } from "../pipeline/transport/transport.js";
import type { TestPipeline } from "../test/support/pipeline.js";
import { cpuMeter } from "./cpu.js";

/** What the benches run on: a test pipeline and how to wait until every stage has caught up. */
export interface BenchPipeline {
  p: TestPipeline<Transport>;
  /** `tap`: the latency tap's consumer group must have caught up too. */
  drained(tap: boolean): Promise<void>;
  /** Seeds and starts the consuming stages; default: all of them in this process. */
  start?(): Promise<void>;
  /** The processes whose CPU time the run is charged, by name; default: this process. */
  processes?(): Record<string, number | undefined>;
  /** Resolves once every consumer group (`groups` included) has joined: the latency clock starts on a joined pipeline. */
  joined?(groups: readonly string[]): Promise<void>;
  /** Stops what `start` started elsewhere (worker processes); runs before the pipeline closes. */
  stop?(): Promise<void>;
}

const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/** The bench's own start, or seeding and every consuming stage in this process. */
async function startStages(bp: BenchPipeline): Promise<void> {
  if (bp.start) return bp.start();
  await bp.p.supervisor.start("seed");
  await bp.p.supervisor.waitFor("seed");
  for (const s of ["aggregate", "alert", "enrich"]) await bp.p.supervisor.start(s);
}

async function close(bp: BenchPipeline): Promise<void> {
  await bp.stop?.();
  await bp.p.close();
}

/**
 * The unthrottled pipeline over `n` simulated readings on a virtual clock,
 * until every stage has caught up; with the CPU seconds each process used
 * meanwhile.
 */
export async function endToEnd(bp: BenchPipeline, n: number, start: number) {
  const { p } = bp;
  await startStages(bp);
  const cpu = cpuMeter(bp.processes?.() ?? { carwatch: process.pid });
  const t0 = performance.now();
  await p.supervisor.start("generator", { rate: 0, clock: "virtual", startTime: start, virtualRate: 1000, maxEvents: n, seed: 1 });
  await p.supervisor.waitFor("generator");
  const produced = (performance.now() - t0) / 1000;
  await bp.drained(false);
  const seconds = (performance.now() - t0) / 1000;
  const cpuSeconds = cpu();
  const stages = Object.fromEntries(p.supervisor.list().map((s) => [s.name, s.counters]));
  const rows = {
    raw: p.count("telemetry.cars_raw"),
    enriched: p.count("telemetry.cars_enriched"),
    alerts: p.count("telemetry.alerts"),
    windows: p.count("telemetry.alert_windows"),
  };
  await close(bp);
  return { seconds, produced, rate: n / seconds, stages, rows, cpuSeconds };
}

/** Seconds at the start of a latency run reported apart: the first readings of a started pipeline (lanes meeting their cars, first statements and transactions, JIT). */
export const WARM_UP_SECONDS = 3;

/**
 * Event→alert latency (wall clock) at an offered rate, measured by an extra consumer group on alert-data:
 * over the run after its first WARM_UP_SECONDS (steady), and over those first seconds (warmUp).
 */
export async function latency(bp: BenchPipeline, rate: number, seconds: number) {
  const { p } = bp;
  await startStages(bp);
  const samples: { at: number; ms: number }[] = [];
  const tap = await p.transport.subscribe(ALERTS, "bench", (batch) => {
    const now = Date.now();
    for (const m of batch) if (m.value.kind === "alert") samples.push({ at: m.value.event.event_time, ms: now - m.value.event.event_time });
  });
  await bp.joined?.(["bench"]);
  const t0 = Date.now();
  await p.supervisor.start("generator", { rate, maxEvents: Math.round(rate * seconds), seed: 2 });
  await p.supervisor.waitFor("generator");
  await bp.drained(true);
  await tap.stop();
  await close(bp);
  const summary = (ms: number[]) => {
    ms.sort((a, b) => a - b);
    return { alerts: ms.length, p50: pct(ms, 0.5), p99: pct(ms, 0.99), max: ms[ms.length - 1] ?? Number.NaN };
  };
  const warm = t0 + WARM_UP_SECONDS * 1000;
  return {
    steadyFrom: warm,
    ...summary(samples.filter((s) => s.at >= warm).map((s) => s.ms)),
    warmUp: summary(samples.filter((s) => s.at < warm).map((s) => s.ms)),
    all: summary(samples.map((s) => s.ms)),
  };
}

/** A latency run in one line: steady state first, the warm-up beside it. */
export function describeLatency(lat: Awaited<ReturnType<typeof latency>>): string {
  const n = (x: number) => x.toLocaleString("en-US");
  const w = lat.warmUp;
  return `p50 ${lat.p50} ms, p99 ${lat.p99} ms, max ${lat.max} ms over ${n(lat.alerts)} alerts after the first ${WARM_UP_SECONDS} s (those: p50 ${w.p50}, p99 ${w.p99}, max ${w.max} ms over ${n(w.alerts)} alerts; whole run p99 ${lat.all.p99} ms)`;
}
