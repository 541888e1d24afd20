/**
 * npm run soak [-- --minutes 30]: carwatch as a user runs it (every role, the
 * demo rate and fleet, SQLite in a fresh temp dir, the console subscribed to
 * digests) plus a steady mix of hostile readings and hostile queries. One
 * line per minute (RSS, event-loop lag, windows, digests, dead letters,
 * hostile queries), then a summary against the targets: RSS flat within 10 %,
 * no missed window, no missed digest, event-loop lag p99 ≤ 50 ms. Exit code
 * 0 when every target was met, 1 otherwise.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { startApp } from "../app.js";
import { loadConfig } from "../core/config.js";
import { errorMessage, InputError } from "../core/errors.js";
import { createLogger } from "../core/log.js";
import { expectedGear } from "../pipeline/model/gear.js";
import { WINDOW_MS, windowStart } from "../pipeline/model/windows.js";
import { SENSORS } from "../pipeline/transport/topics.js";
import type { Caller } from "../tools/registry.js";
import { plainText } from "../web/telegram-html.js";

const { values: args } = parseArgs({ options: { minutes: { type: "string", default: "30" } } });
const MINUTES = Number(args.minutes);
// Minute 1 is warm-up (JIT, caches, the first partial window): RSS needs two steady minutes after it to compare.
if (!Number.isInteger(MINUTES) || MINUTES < 3) {
  console.error("soak: --minutes must be a whole number, at least 3");
  process.exit(2);
}
const LAG_P99_MS = 50;
const RSS_TOLERANCE = 0.1;
/** A window is due this long after its end: the watermark, plus a few seconds for the alert stage's next progress mark. */
const GRACE_MS = 5_000;
const VIEWER_ID = 4242;

const dir = mkdtempSync(join(tmpdir(), "carwatch-soak-"));
// An explicit environment, not process.env: no Telegram token, model key, Kafka or Trino can slip in; no .env is read.
const config = loadConfig({ DATA_DIR: dir, HTTP_PORT: "0", LOG_LEVEL: "warn", TELEGRAM_VIEWERS: String(VIEWER_ID) }, join(dir, "no.env"));
// carwatch's warnings go to stderr, counted, so they neither mix into the minute lines nor go unnoticed.
let logged = 0;
const log = createLogger(config.LOG_LEVEL, {
  write: (line: string) => {
    logged++;
    process.stderr.write(line);
  },
});

// A hard bound: whatever hangs, the run ends a few minutes after it should have (and leaves no temp dir).
const deadline = setTimeout(
  () => {
    console.error("soak: still running 3 minutes past its end; giving up");
    rmSync(dir, { recursive: true, force: true });
    process.exit(1);
  },
  (MINUTES + 3) * 60_000,
);
deadline.unref();
const stop = new AbortController();
process.once("SIGINT", () => stop.abort());
/** A load loop that throws (unless carwatch is stopping) ends the run early, with the summary of what ran. */
const giveUp = (what: string) => (err: unknown) => {
  if (stop.signal.aborted) return;
  console.error(`soak: ${what} failed: ${errorMessage(err)}`);
  stop.abort();
};

const app = await startApp(config, log);
const chat = app.console?.chat;
if (!chat) throw new Error("soak: no console (the bot and http roles must both run)");
const lakehouse = app.deps.lakehouse;
const t0 = Date.now();
const mb = (bytes: number) => bytes / 2 ** 20;
const ms = (ns: number) => ns / 1e6;
/** The delay monitor's timer period: its samples are whole intervals (an idle loop reads ~10.1 ms), so lag is a sample less this. */
const RESOLUTION_MS = 10;
const lag = (ns: number) => Math.max(0, ms(ns) - RESOLUTION_MS);

// --- digests, as the console chat shows them: the header names the window ("🕐 2026-11-28 10:41–10:42 UTC").
const digests = new Map<number, number>();
chat.on("event", (e) => {
  if (e.type !== "message" || e.message.from !== "bot" || e.message.edited) return;
  const m = /^🕐 (\d{4}-\d\d-\d\d \d\d:\d\d)–/.exec(plainText(e.message.nodes));
  if (m) {
    const start = Date.parse(`${m[1]!.replace(" ", "T")}:00Z`);
    digests.set(start, (digests.get(start) ?? 0) + 1);
  }
});
const digestCount = () => [...digests.values()].reduce((a, n) => a + n, 0);

// --- hostile readings: a few per second, each kind in turn, with the dead-letter reason it should get.
const cars = (await lakehouse.select<{ car_id: number }>("SELECT car_id FROM dims.cars ORDER BY car_id")).map((r) => Number(r.car_id));
const unknownCar = Math.max(...cars) + 1000;
const iso = (t: number) => new Date(t).toISOString();
/** A sane reading (50 km/h in the expected gear, no rule fires), so valid ones add nothing to the alerts. */
const reading = (over: Record<string, unknown> = {}) => ({
  event_id: randomUUID(),
  event_time: iso(Date.now()),
  car_id: cars[Math.floor(Math.random() * cars.length)]!,
  speed: 50,
  rpm: 2000,
  gear: expectedGear(50),
  ...over,
});
let lastValid = reading();
const HOSTILE: { kind: string; expect: string; make: () => Record<string, unknown> | string }[] = [
  // Accepted: the reading the duplicates below resend.
  { kind: "valid", expect: "accepted", make: () => (lastValid = reading()) },
  { kind: "malformed", expect: "malformed_json", make: () => JSON.stringify(reading()).slice(0, 40) },
  // Resent as it was: kept once, no dead letter (metrics count it as a duplicate).
  { kind: "duplicate", expect: "accepted once", make: () => lastValid },
  { kind: "missing field", expect: "missing_field", make: () => ({ ...reading(), speed: undefined }) },
  { kind: "out of range", expect: "out_of_range", make: () => reading({ speed: 9999 }) },
  { kind: "conflicting", expect: "conflicting_duplicate", make: () => ({ ...lastValid, speed: Number(lastValid.speed) + 1 }) },
  { kind: "unknown car", expect: "unknown_car", make: () => reading({ car_id: unknownCar }) },
  { kind: "a day ahead", expect: "event_time_future", make: () => reading({ event_time: iso(Date.now() + 86_400_000) }) },
  { kind: "year 9999", expect: "out_of_range", make: () => reading({ event_time: "9999-12-31T23:59:59.000Z" }) },
  { kind: "year 0000", expect: "out_of_range", make: () => reading({ event_time: "0000-01-01T00:00:00.000Z" }) },
  { kind: "past horizon", expect: "event_time_past", make: () => reading({ event_time: iso(Date.now() - (config.EVENT_MAX_AGE_DAYS + 1) * 86_400_000) }) },
  { kind: "100 KB string", expect: "invalid_value", make: () => reading({ speed: "x".repeat(100_000) }) },
];
const sentReadings = new Map<string, number>();
const readings = (async () => {
  for (let i = 0; !stop.signal.aborted; i++) {
    const h = HOSTILE[i % HOSTILE.length]!;
    const made = h.make();
    const value = typeof made === "string" ? made : JSON.stringify(made);
    await app.deps.transport.publish(SENSORS, [{ key: String(typeof made === "string" ? cars[0] : made.car_id), value }]);
    sentReadings.set(h.kind, (sentReadings.get(h.kind) ?? 0) + 1);
    await sleep(250);
  }
})().catch(giveUp("hostile readings"));

// --- hostile queries: one every 10 s, as a viewer through the registry, each kind in turn; none may succeed.
const viewer: Caller = { userId: VIEWER_ID, chatId: VIEWER_ID, via: "telegram" };
const QUERIES: { kind: string; sql: string }[] = [
  { kind: "endless CTE", sql: "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c" },
  { kind: "huge cell", sql: "SELECT printf('%.*c', 300000000, 'x')" },
  { kind: "write", sql: "DELETE FROM telemetry.cars_raw" },
  { kind: "pragma", sql: "SELECT * FROM pragma_database_list" },
];
/** Outcomes per query kind: succeeded (a failure), stopped (the 10 s limit), too large, refused, error (anything else). */
const outcomes = new Map<string, Map<string, number>>(QUERIES.map((q) => [q.kind, new Map()]));
const queries = (async () => {
  for (let i = 0; !stop.signal.aborted; i++) {
    const q = QUERIES[i % QUERIES.length]!;
    const next = sleep(10_000, undefined, { signal: stop.signal }).catch(() => undefined);
    let outcome: string;
    try {
      await app.registry.call("query", { sql: q.sql }, viewer);
      outcome = "succeeded";
    } catch (err) {
      const message = errorMessage(err);
      if (stop.signal.aborted) break; // refused because the lakehouse is closing: not an answer to count
      outcome = /ran longer than/.test(message)
        ? "stopped"
        : /result too large/.test(message)
          ? "too large"
          : err instanceof InputError
            ? "refused"
            : `error: ${message}`;
    }
    const counts = outcomes.get(q.kind)!;
    counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    await next;
  }
})().catch(giveUp("hostile queries"));
const queryTally = () => {
  let answered = 0;
  let refused = 0;
  for (const counts of outcomes.values()) for (const [o, n] of counts) o === "succeeded" ? (answered += n) : (refused += n);
  return { answered, refused };
};

// --- the store, read directly (a test harness may): windows and dead letters.
const windowRows = async () =>
  (
    await lakehouse.select<{ window_start: unknown; alert_events: number }>(
      "SELECT window_start, alert_events FROM telemetry.alert_windows ORDER BY window_start",
    )
  ).map((r) => ({ start: lakehouse.toMillis(r.window_start), alerts: Number(r.alert_events) }));
const deadLetters = async () =>
  (await lakehouse.select<{ reason: string; n: number }>("SELECT reason, count(*) AS n FROM telemetry.dead_letters GROUP BY reason ORDER BY reason")).map(
    (r) => `${r.reason}=${Number(r.n)}`,
  );

// --- one line a minute; event-loop delay per minute (reset each minute) and over the whole run (a second
// monitor: an event-loop histogram cannot be merged into another).
const loop = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
const whole = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
loop.enable();
whole.enable();
const minutes: { rss: number; p99: number; max: number }[] = [];
let prevWindows = 0;
let prevDigests = 0;
const failures: string[] = [];
try {
  console.log(`carwatch soak: ${MINUTES} minutes, ${config.GENERATOR_RATE} readings/s, ${cars.length} cars, data in ${dir}, console ${app.consoleUrl}`);
  try {
    for (let k = 1; k <= MINUTES; k++) {
      await sleep(t0 + k * 60_000 - Date.now(), undefined, { signal: stop.signal });
      const rss = mb(process.memoryUsage().rss);
      const m = { rss, p99: lag(loop.percentile(99)), max: lag(loop.max) };
      loop.reset();
      minutes.push(m);
      const windows = (await windowRows()).length;
      const delivered = digestCount();
      const q = queryTally();
      console.log(
        `min ${String(k).padStart(3)}  rss ${rss.toFixed(1)} MiB  lag p99 ${m.p99.toFixed(1)} max ${m.max.toFixed(1)} ms  ` +
          `windows ${windows} (+${windows - prevWindows})  digests ${delivered} (+${delivered - prevDigests})  ` +
          `dead letters ${(await deadLetters()).join(" ") || "none"}  queries answered ${q.answered} refused ${q.refused}`,
      );
      prevWindows = windows;
      prevDigests = delivered;
    }
  } catch (err) {
    if (!stop.signal.aborted) throw err;
    console.log(`interrupted after ${minutes.length} minutes`);
  }
  stop.abort();
  const tEnd = Date.now();
  loop.disable();
  whole.disable();

  // --- the summary.
  const check = (ok: boolean, line: string) => {
    console.log(`${ok ? "  ok  " : "  FAIL"}  ${line}`);
    if (!ok) failures.push(line);
  };
  const at = (t: number) => iso(t).slice(11, 16);
  console.log("\nsummary");

  // RSS: the last minute against the first steady one (minute 2; minute 1 is warm-up).
  if (minutes.length >= 3) {
    const first = minutes[1]!.rss;
    const last = minutes.at(-1)!.rss;
    const change = (last - first) / first;
    check(
      Math.abs(change) <= RSS_TOLERANCE,
      `RSS flat within 10 %: minute ${minutes.length} ${last.toFixed(1)} MiB vs minute 2 ${first.toFixed(1)} MiB (${(change * 100).toFixed(1)} %; minute 1 skipped as warm-up)`,
    );
  } else check(false, `RSS flat within 10 %: not measured, only ${minutes.length} minutes ran`);

  // Windows: every minute from the first reading's to the last one the watermark has passed, exactly one row.
  const rows = await windowRows();
  const [firstEvent] = await lakehouse.select<{ t: unknown }>("SELECT min(event_time) AS t FROM telemetry.cars_enriched");
  const firstWindow = firstEvent?.t != null ? windowStart(lakehouse.toMillis(firstEvent.t)) : windowStart(t0);
  const dueBy = tEnd - config.WATERMARK_SECONDS * 1000 - GRACE_MS;
  const expected: number[] = [];
  for (let s = firstWindow; s + WINDOW_MS <= dueBy; s += WINDOW_MS) expected.push(s);
  const perStart = new Map<number, number>();
  for (const r of rows) perStart.set(r.start, (perStart.get(r.start) ?? 0) + 1);
  const wrong = expected.filter((s) => perStart.get(s) !== 1);
  check(
    expected.length > 0 && wrong.length === 0,
    `no missed window: ${rows.length} rows, ${expected.length} expected (${at(firstWindow)}–${at(firstWindow + expected.length * WINDOW_MS)} UTC: ` +
      `${((tEnd - firstWindow) / 60_000).toFixed(1)} wall minutes since the first reading's minute, less ${config.WATERMARK_SECONDS} s watermark + ${GRACE_MS / 1000} s grace)` +
      (wrong.length ? `; wrong: ${wrong.map((s) => `${at(s)}×${perStart.get(s) ?? 0}`).join(", ")}` : ""),
  );

  // Digests: each closed window with alerts, one digest (the console's subscription leaves quiet windows out). Let the last ones arrive.
  const withAlerts = rows.filter((r) => r.alerts > 0).map((r) => r.start);
  for (let i = 0; i < 20 && withAlerts.some((s) => !digests.has(s)); i++) {
    await app.console!.idle();
    await sleep(250);
  }
  const missed = withAlerts.filter((s) => digests.get(s) !== 1);
  const strays = [...digests.keys()].filter((s) => !perStart.has(s));
  check(
    withAlerts.length > 0 && missed.length === 0 && strays.length === 0,
    `no missed digest: ${digestCount()} digests for ${withAlerts.length} closed windows with alerts (${rows.length - withAlerts.length} quiet, none expected)` +
      (missed.length ? `; wrong: ${missed.map((s) => `${at(s)}×${digests.get(s) ?? 0}`).join(", ")}` : "") +
      (strays.length ? `; for no window: ${strays.map(at).join(", ")}` : ""),
  );

  // Event-loop lag: p99 over the whole run and in the worst minute.
  const worst = minutes.reduce((a, m, i) => (m.p99 > a.p99 ? { p99: m.p99, minute: i + 1 } : a), { p99: 0, minute: 0 });
  const wholeP99 = lag(whole.percentile(99));
  check(
    wholeP99 <= LAG_P99_MS && worst.p99 <= LAG_P99_MS,
    `event-loop lag p99 ≤ ${LAG_P99_MS} ms: whole run ${wholeP99.toFixed(1)} ms (max ${lag(whole.max).toFixed(1)} ms), worst minute ${worst.minute} ${worst.p99.toFixed(1)} ms`,
  );

  // Hostile queries: refused or stopped, never answered.
  const q = queryTally();
  check(
    q.answered === 0,
    `no hostile query answered: ${[...outcomes].map(([kind, c]) => `${kind}: ${[...c].map(([o, n]) => `${o} ${n}`).join(", ") || "not run"}`).join("; ")}`,
  );

  console.log(`  info  hostile readings sent: ${HOSTILE.map((h) => `${h.kind} ${sentReadings.get(h.kind) ?? 0} (→ ${h.expect})`).join(", ")}`);
  console.log(`  info  dead letters (the simulator's malformed readings included): ${(await deadLetters()).join(" ") || "none"}`);
  console.log(
    `  info  duplicates counted: ${(await app.metrics.duplicates.get()).values[0]?.value ?? 0}; carwatch log lines at warn or above: ${logged} (on stderr)`,
  );
} finally {
  // Whatever happened, carwatch is stopped and the temp dir removed.
  stop.abort();
  await app.stop();
  await Promise.all([readings, queries]);
  rmSync(dir, { recursive: true, force: true });
}
console.log(failures.length === 0 ? "\nall targets met" : `\n${failures.length} target(s) not met`);
process.exitCode = failures.length === 0 ? 0 : 1;
// Nothing of carwatch's should outlive app.stop(): if the process does not end by itself, say what holds it.
setTimeout(() => {
  console.error(`soak: the process did not exit after app.stop(); still open: ${process.getActiveResourcesInfo().join(", ")}`);
  process.exit(1);
}, 15_000).unref();
