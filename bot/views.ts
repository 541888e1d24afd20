import type { MaintenanceReport, TableStats } from "../domain/catalog.js";
import type { AlertWindow, RuleHit, ScoredEvent } from "../domain/events.js";
import type { StageStatus } from "../domain/stage-status.js";
import type { JobRun } from "../state/job-runs.js";
import type { AuditEntry, Severity, Silence, Subscription } from "../state/ops-state.js";
import type { StageRun } from "../state/store.js";
import type { Tools } from "../tools/index.js";
import type { ToolOutput } from "../tools/registry.js";
import { ago, esc, html, preTable, when } from "./format.js";

/** Chat formatting of tool results: HTML, every dynamic value escaped. Tools return data; this turns it into messages. */
type Out<N extends string> = ToolOutput<Tools, N>;

const STATE_ICON: Record<StageStatus["state"], string> = {
  idle: "⚪",
  running: "🟢",
  restarting: "🟠",
  succeeded: "✅",
  failed: "🔴",
  stopped: "⏹",
};

export function stagesView(stages: readonly StageStatus[], title = "Stages"): string {
  // No icons inside <pre>: an emoji is two columns wide on a phone and would break the alignment.
  const rows = stages.map((s) => [
    s.name,
    s.stale ? "stale" : s.state,
    s.ratePerSec,
    s.queueDepth,
    s.counters.errors,
    s.pid === null ? "–" : `${s.host}:${s.pid}`,
  ]);
  return `<b>${esc(title)}</b>\n${preTable(["stage", "state", "ev/s", "lag", "err", "where"], rows)}`;
}

export function stageView(s: StageStatus, now: number): string {
  const lines = [
    html`${STATE_ICON[s.state]} <b>${s.name}</b> — ${s.state}`,
    html`<i>${s.description}</i>`,
    s.pid === null ? "runs in no process yet" : html`on ${s.host}, pid ${s.pid}${s.stale ? `, stale: last heartbeat ${when(s.seenAt)}` : ""}`,
    html`run #${s.runId ?? "–"}, started ${s.startedAt ? `${ago(s.startedAt, now)} ago` : "never"}`,
    html`in ${s.counters.in}, out ${s.counters.out}, errors ${s.counters.errors}, dead letters ${s.counters.deadLetters}`,
    html`rate ${s.ratePerSec}/s in, ${s.outPerSec}/s out, queue ${s.queueDepth}, restarts ${s.restarts}`,
    html`last event ${when(s.lastEventTime)}`,
  ];
  if (s.lastError) lines.push(html`last error: <code>${s.lastError}</code>`);
  if (s.nextRestartAt) lines.push(html`restarting at ${when(s.nextRestartAt)}`);
  return lines.join("\n");
}

export function runsView(runs: readonly StageRun[], stage?: string): string {
  if (runs.length === 0) return html`No runs${stage ? ` of ${stage}` : ""} yet.`;
  const rows = runs.map((r) => [r.runId, r.stage, r.state, when(r.startedAt).slice(5, 16), r.in, r.errors]);
  return html`<b>Recent runs${stage ? ` of ${stage}` : ""}</b>\n` + preTable(["#", "stage", "state", "started", "in", "err"], rows);
}

export function queryView(r: Out<"query">): string {
  const head = r.rows.length === 0 ? "No rows." : `${r.rows.length} row${r.rows.length === 1 ? "" : "s"}`;
  const cut = r.truncated ? html` — <b>truncated</b> at ${r.maxRows}; add a LIMIT or narrow the WHERE` : "";
  const body = r.rows.length === 0 ? "" : `\n${preTable(r.columns, r.rows)}`;
  return `${esc(head)}${cut} <i>(${Math.round(r.elapsedMs)} ms)</i>${body}`;
}

export function queryCsv(r: Out<"query">): string {
  const q = (v: unknown) => {
    const s = v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return `${[r.columns.map(q).join(","), ...r.rows.map((row) => row.map(q).join(","))].join("\n")}\n`;
}

export function describeView(d: Out<"describe_table">): string {
  return (
    html`<b>${d.table}</b> — ${d.doc}\n` +
    preTable(
      ["column", "type", "meaning"],
      d.columns.map((c) => [c.name, c.type, c.doc ?? ""]),
    )
  );
}

export function summaryView(s: Out<"alert_summary">, now: number): string {
  if (s.total === 0) return html`No alerts in the last ${ago(s.from, now)}.`;
  const rows = s.groups.map((g) => [g.key, g.alerts, g.incidents, g.cars, g.peak]);
  return html`<b>${s.total} alerts</b> in the last ${ago(s.from, now)}, by ${s.by}\n` + preTable([s.by, "alerts", "inc", "cars", "peak"], rows);
}

export function topCarsView(t: Out<"top_cars">, now: number): string {
  if (t.cars.length === 0) return html`No alerts in the last ${ago(t.from, now)}.`;
  const rows = t.cars.map((c) => [c.carId, `${c.model} ${c.color}`, c.alerts, c.incidents, c.maxSpeed]);
  return html`<b>Top cars</b>, last ${ago(t.from, now)}\n` + preTable(["car", "model", "alerts", "inc", "km/h"], rows);
}

const SEVERITY_ICON: Record<Severity, string> = { low: "🟡", medium: "🟠", high: "🔴" };

export function incidentsView(list: Out<"latest_incidents">): string {
  if (list.length === 0) return "No incidents yet.";
  const lines = list.map(
    (i) =>
      html`${SEVERITY_ICON[i.severity]} <code>${i.incidentId}</code> car ${i.carId} ${i.rule} peak ${Math.round(i.peak)} ×${i.events} ${when(i.startedAt).slice(11)}` +
      (i.ackedBy !== null ? " ✔️" : "") +
      (i.silenced ? " 🔕" : ""),
  );
  return `<b>Latest incidents</b>\n${lines.join("\n")}`;
}

export function subscriptionView(s: Subscription | null): string {
  if (!s) return "This chat is not subscribed. /subscribe to get minute digests.";
  const parts = [
    s.digests ? `minute digests${s.includeEmpty ? " (quiet minutes too)" : ""}` : "no digests",
    s.incidentsMin ? `new incidents of ${s.incidentsMin} severity and above` : "no incident notifications",
  ];
  return html`Subscribed${s.threadId ? " (this topic)" : ""}: ${parts.join("; ")}.`;
}

export function silenceView(s: Silence): string {
  return html`🔕 ${s.kind} ${s.value} silenced until ${when(s.until)} UTC.`;
}

export function auditView(entries: readonly AuditEntry[]): string {
  if (entries.length === 0) return "The audit log is empty.";
  const rows = entries.map((e) => [when(e.at).slice(11), e.userId, e.tool, e.outcome, JSON.stringify(e.args)]);
  return `<b>Audit log</b>\n${preTable(["time", "user", "tool", "outcome", "args"], rows)}`;
}

/** One closed window, as the digest chats get it. */
export function digestView(w: AlertWindow): string {
  const head = html`<b>🕐 ${when(w.window_start).slice(0, 16)}–${when(w.window_end).slice(11, 16)} UTC</b>`;
  if (w.alert_events === 0) return `${head}\n${html`${w.events} readings, no alerts.`}`;
  const rules = Object.entries(w.rule_counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const colors = Object.entries(w.color_counts)
    .filter(([, v]) => v > 0)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const top = w.top_cars
    .slice(0, 5)
    .map((c) => `#${c.car_id} (${c.alerts})`)
    .join(", ");
  return [
    head,
    html`${w.events} readings, <b>${w.alert_events} with alerts</b>, ${w.new_incidents} new incidents, ${w.distinct_cars} cars`,
    html`rules: ${rules}`,
    html`colors: ${colors || "–"}`,
    html`max speed ${w.max_speed ?? "–"} km/h, gear ${w.max_gear ?? "–"}, rpm ${w.max_rpm ?? "–"}`,
    html`top cars: ${top || "–"}`,
    w.late_events > 0 ? html`late alerts: ${w.late_events}` : "",
  ]
    .filter(Boolean)
    .join("\n");
}

/** What fired, in the rule kind's own terms. */
function firingText(hit: RuleHit, e: ScoredEvent): string {
  const v = +hit.value.toFixed(2);
  switch (hit.kind ?? (hit.rule === "wrong_gear" ? "wrong_gear" : "threshold")) {
    case "wrong_gear":
      return `gear ${e.gear}, expected ${hit.threshold}`;
    case "harsh_acceleration":
      return `speed rose ${v} km/h per second (limit ${hit.threshold})`;
    case "harsh_braking":
      return `speed fell ${v} km/h per second (limit ${hit.threshold})`;
    case "stuck_sensor":
      return `the same value for ${v} readings while moving`;
    case "silence":
      return `silent for ${v} minutes after moving`;
    case "baseline":
      return `rpm ${v} standard deviations from this car's normal (limit ${hit.threshold})`;
    default:
      return `${v} over ${hit.threshold}`;
  }
}

export function newIncidentView(e: ScoredEvent, hit: RuleHit, sev: Severity): string {
  return [
    html`${SEVERITY_ICON[sev]} <b>New incident</b> <code>${hit.incident_id}</code>: ${hit.rule}`,
    html`car ${e.car_id} (${e.brand_name} ${e.model_name}, ${e.color_name}), driver ${e.driver_id}`,
    html`${firingText(hit, e)} at ${Math.round(e.speed)} km/h, ${e.rpm} rpm`,
    html`${when(e.event_time)} UTC`,
  ].join("\n");
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

export function tableStatsView(t: TableStats): string {
  const iceberg = t.files === undefined ? "" : html`, ${t.files} files, ${t.snapshots ?? 0} snapshots, ${t.manifests ?? 0} manifests`;
  return html`<b>${t.table}</b>: ${t.rows} rows, ${mib(t.bytes)}` + iceberg;
}

export function maintenanceView(r: MaintenanceReport): string {
  return (
    html`🧹 <b>${r.table}</b> compacted in ${Math.round(r.elapsedMs)} ms: ${mib(r.before.bytes)} → ${mib(r.after.bytes)}, ${r.after.rows} rows.\n` +
    html`<i>${r.steps.join("; ")}</i>`
  );
}

export function jobRunView(r: JobRun): string {
  const icon = r.outcome === "succeeded" ? "✅" : r.outcome === "failed" ? "🔴" : "⏭";
  return (
    html`${icon} <b>${r.job}</b> (${r.trigger}) ${r.outcome}` + (r.details ? `\n<pre>${esc(JSON.stringify(r.details, null, 1)).slice(0, 1500)}</pre>` : "")
  );
}

export function jobsView(jobs: Out<"list_jobs">, now: number): string {
  const rows = jobs.map((j) => [
    j.name,
    j.schedule,
    j.nextRun ? ago(now, j.nextRun) : "-",
    j.last ? `${j.last.outcome} ${ago(j.last.startedAt, now)}` : "never",
  ]);
  return html`<b>Maintenance jobs</b> (${jobs[0]?.timezone ?? "UTC"})\n` + preTable(["job", "schedule", "next in", "last"], rows);
}
