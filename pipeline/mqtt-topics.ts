import { z } from "zod";

/**
 * MQTT topic filters as carwatch reads them: checked at start-up (MQTT_TOPICS),
 * matched against a message's topic, and the one `+` level that names a car.
 */

const SHARE = /^\$share\/([^/+#]+)\/(.+)$/;

/** The filter a shared subscription (`$share/<group>/<filter>`) applies to topics. */
const topicPart = (filter: string) => SHARE.exec(filter)?.[2] ?? filter;

/** What is wrong with a subscription filter, or null (MQTT 5 §4.7: `+` and `#` fill a whole level, `#` only last). */
export function filterProblem(filter: string): string | null {
  if (filter.startsWith("$share/") && !SHARE.test(filter)) return `"${filter}": a shared subscription is $share/<group>/<filter>`;
  const levels = topicPart(filter).split("/");
  for (const [i, level] of levels.entries()) {
    if (level === "#" && i < levels.length - 1) return `"${filter}": # must be the last level`;
    if ((level.includes("+") || level.includes("#")) && level.length > 1) return `"${filter}": + and # must fill a whole level`;
  }
  return null;
}

export const mqttTopicsSchema = z
  .string()
  .default("carwatch/+/readings")
  .transform((s) =>
    s
      .split(",")
      .map((t) => t.trim())
      .filter(Boolean),
  )
  .pipe(
    z
      .array(
        z.string().superRefine((f, ctx) => {
          const problem = filterProblem(f);
          if (problem) ctx.addIssue({ code: "custom", message: problem });
        }),
      )
      .min(1, "at least one topic filter, e.g. carwatch/+/readings"),
  );

export const mqttUrlSchema = z.string().refine((s) => {
  if (!URL.canParse(s)) return false;
  const u = new URL(s);
  return (u.protocol === "mqtt:" || u.protocol === "mqtts:") && u.hostname !== "" && u.username === "" && u.password === "";
}, "an mqtt:// or mqtts:// URL such as mqtt://broker:1883, without credentials (those go in MQTT_USERNAME and MQTT_PASSWORD, since the URL is logged)");

/** Whether `topic` matches `filter` (a `$`-topic never matches a filter starting with a wildcard). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = topicPart(filter).split("/");
  const t = topic.split("/");
  if (topic.startsWith("$") && (f[0] === "+" || f[0] === "#")) return false;
  for (const [i, level] of f.entries()) {
    if (level === "#") return true;
    if (i >= t.length || (level !== "+" && level !== t[i])) return false;
  }
  return f.length === t.length;
}

/**
 * The car a topic names: the level under the `+` of the first filter that
 * matches it and has exactly one `+` (with several, which one is the car
 * would be a guess), when that level is a positive integer.
 */
export function topicCar(filters: readonly string[], topic: string): number | null {
  for (const filter of filters) {
    const levels = topicPart(filter).split("/");
    const plus = levels.indexOf("+");
    if (plus < 0 || levels.lastIndexOf("+") !== plus || !topicMatches(filter, topic)) continue;
    const level = topic.split("/")[plus]!;
    if (!/^[1-9]\d{0,14}$/.test(level)) return null;
    return Number(level);
  }
  return null;
}
