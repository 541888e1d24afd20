/**
 * Which tools a question needs: a deterministic router on the question's
 * words. A small model answers faster and picks better among five tools than
 * among fifty, and a routing step by the model itself would cost one more
 * model call per question (seconds on a small local model) and could be
 * wrong in ways no test can pin down. When no group matches, every tool is
 * offered, so nothing is ever out of reach.
 */

export interface ToolGroup {
  name: string;
  /** The tools of the group, by name; a tool whose name matches `namePattern` belongs too (tools added later). */
  tools: readonly string[];
  namePattern?: RegExp;
  /** Words of a question that need the group (matched case-insensitively, at word starts). */
  words: RegExp;
}

export const TOOL_GROUPS: readonly ToolGroup[] = [
  {
    name: "stages",
    tools: ["list_stages", "stage_status", "start_stage", "stop_stage", "stop_all", "recent_runs"],
    words:
      /\b(stages?|pipeline|start|stop|halt|pause|resume|restart|generat|enrich|aggregat|seed|running|runs?\b|status|process|pid|host|rate|throughput|queue|lag|backlog|everything|events? (per|a) second|dead.?letters?)/i,
  },
  {
    name: "data",
    tools: ["list_schemas", "list_tables", "describe_table", "count_rows", "query"],
    words:
      /\b(tables?|schemas?|columns?|rows?|count|how many|number of|sql|select|quer|readings?|average|avg|mean|max|min|highest|lowest|sum|total|speed|rpm|gear|dead.?letters?|payload|reason|stored|records?|per\b|each|brand|model|colou?r|kia|mazda|toyota|ford|bmw|honda)/i,
  },
  {
    name: "fleet",
    tools: ["list_cars", "get_car", "upsert_cars", "retire_car", "preview_fleet_import", "import_fleet"],
    words: /\b(fleet|drivers?|plates?|vehicles?|retire|import|called|named?\b|(list|all|our|which) (the )?cars\b)/i,
  },
  {
    name: "alerts",
    tools: ["alert_summary", "top_cars", "latest_incidents", "ack_incident", "silence", "list_silences"],
    words: /\b(alert|incident|speeding|high.?rpm|wrong.?gear|silenc|mute|quiet|ack|worst|top\b|most|notif)/i,
  },
  {
    name: "rules",
    tools: [],
    namePattern: /_rules?$/,
    words: /\b(rules\b|thresholds?|backtest|(create|add|new|change|update|edit|delete|remove|enable|disable|describe)\b.*\brule|tell me when|notify me when)/i,
  },
  {
    name: "charts",
    tools: ["alert_timeseries", "window_timeseries", "speed_distribution", "render_chart"],
    words: /\b(chart|graph|plot|draw|picture|image|timeseries|time series|trend|over time|per minute|distribution|histogram)/i,
  },
  { name: "dashboards", tools: ["list_dashboards", "publish_dashboards"], words: /\b(dashboards?|superset|grafana)/i },
  {
    name: "maintenance",
    tools: ["table_stats", "compact_table", "list_jobs", "run_job", "apply_retention"],
    words: /\b(compact|size|big|disk|bytes|storage|space|jobs?\b|schedul|cron|retention|maintenance|vacuum|optimi[sz]e|snapshots?|prune|clean)/i,
  },
  {
    name: "session",
    tools: ["whoami", "audit_log", "subscribe", "unsubscribe"],
    words: /\b(who am i|whoami|my role|roles?\b|permission|allowed|audit|subscri|unsubscri|digests?)/i,
  },
  { name: "tokens", tools: ["create_token", "list_tokens", "revoke_token"], words: /\b(tokens?|api keys?|revoke)/i },
];

/**
 * Tools that change something, offered only when the question asks for a
 * change in words (or names the tool, or the chat used it lately): "is the
 * enrich stage running?" routes to the stages group, but a small model must
 * not be handed stop_stage for it, nor silence for "what is silenced?".
 * Read-only tools need no words of their own.
 */
export const ACTION_WORDS: Readonly<Record<string, RegExp>> = {
  stop_stage: /\b(stop|halt|pause|kill|shut|end)\b/i,
  stop_all: /\b(stop|halt|pause|kill|shut)\b/i,
  start_stage: /\b(start|resume|restart|launch|run|begin|generate)\b/i,
  retire_car: /\b(retire|remove|delete|decommission)/i,
  upsert_cars: /\b(add|update|rename|register|set|change|create)\b/i,
  import_fleet: /\bimport/i,
  create_rule: /\b(create|add|new|tell me when|notify me when|alert me when)\b/i,
  update_rule: /\b(change|update|edit|set|raise|lower)\b/i,
  enable_rule: /\b(enable|turn on|activate)\b/i,
  disable_rule: /\b(disable|turn off|deactivate)\b/i,
  delete_rule: /\b(delete|remove|drop)\b/i,
  publish_dashboards: /\b(publish|create|update|refresh|set up|build)\b/i,
  compact_table: /\b(compact|optimi[sz]e|vacuum)/i,
  run_job: /\b(run|trigger|start|execute)\b/i,
  apply_retention: /\b(retention|prune|purge|clean)/i,
  ack_incident: /\b(ack|acknowledge)/i,
  silence: /\b(silence|mute|quiet|snooze)\b/i,
  subscribe: /\bsubscribe/i,
  unsubscribe: /\bunsubscribe/i,
  create_token: /\b(create|new|make|issue)\b/i,
  revoke_token: /\b(revoke|delete|remove)\b/i,
};

/** The group a tool belongs to, or null when none claims it (such a tool is offered with every question). */
export function groupOf(tool: string): ToolGroup | null {
  return TOOL_GROUPS.find((g) => g.tools.includes(tool)) ?? TOOL_GROUPS.find((g) => g.namePattern?.test(tool)) ?? null;
}

/**
 * The tools to offer for `question`, in `available`'s order: the groups its
 * words (or a tool's name) call for, plus the groups of tools the chat used
 * lately (`recent`), so a follow-up such as "and for the last day?" keeps
 * its tools; every available tool when nothing matches. A tool that changes
 * something also needs the question's words for it (ACTION_WORDS).
 */
export function routeTools(question: string, available: readonly string[], recent: readonly string[] = []): string[] {
  const text = question.replace(/_/g, " ");
  const wanted = new Set<ToolGroup | null>([null]);
  for (const g of TOOL_GROUPS) if (g.words.test(text)) wanted.add(g);
  const named = new Set(available.filter((t) => new RegExp(`\\b${t}\\b`, "i").test(question)));
  for (const t of named) wanted.add(groupOf(t));
  const asked = (t: string) => !ACTION_WORDS[t] || ACTION_WORDS[t].test(text) || named.has(t) || recent.includes(t);
  if (wanted.size === 1) return available.filter(asked);
  for (const t of recent) wanted.add(groupOf(t));
  return available.filter((t) => wanted.has(groupOf(t)) && asked(t));
}
