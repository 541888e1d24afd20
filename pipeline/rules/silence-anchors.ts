import type { EnrichedEvent } from "../../domain/events.js";
import type { Rule } from "../../domain/rule-spec.js";
import type { RuleFiring } from "./firing.js";

/**
 * The readings a silence fires on. A silence fires on no reading of its own
 * but on the car's last one before the gap (the firing's event_id), which is
 * not the car's newest when the reading that ended the gap came in the same
 * batch: so each reading followed by a gap longer than the shortest silence
 * rule is kept until its silence fired or can no longer fire. Live (the
 * alert stage) and replay (a backtest) take the same reading.
 */
export class SilenceAnchors {
  private readonly last = new Map<number, EnrichedEvent>();
  private readonly anchors = new Map<string, EnrichedEvent>();
  private minMs = Number.POSITIVE_INFINITY;
  private maxMs = 0;

  /** The enabled silence rules' durations (call again when the rules change). */
  setRules(rules: readonly Rule[]): void {
    const ms = rules.flatMap((r) => (r.enabled && r.condition.kind === "silence" ? [r.condition.minutes * 60_000] : []));
    this.minMs = ms.length > 0 ? Math.min(...ms) : Number.POSITIVE_INFINITY;
    this.maxMs = ms.length > 0 ? Math.max(...ms) : 0;
  }

  /** Each reading, in the order the engine gets them. */
  see(e: EnrichedEvent): void {
    if (this.minMs === Number.POSITIVE_INFINITY) return;
    const prev = this.last.get(e.car_id);
    if (prev && e.event_time - prev.event_time > this.minMs) this.anchors.set(prev.event_id, prev);
    if (!prev || e.event_time > prev.event_time) this.last.set(e.car_id, e);
  }

  /** The reading a silence firing names, as of its own time. */
  readingOf(f: RuleFiring): EnrichedEvent | undefined {
    const e = this.anchors.get(f.event_id) ?? (this.last.get(f.car_id)?.event_id === f.event_id ? this.last.get(f.car_id) : undefined);
    return e && { ...e, event_time: f.event_time };
  }

  /** After a watermark's firings: anchors whose longest silence is past can fire no more. */
  prune(watermark: number): void {
    for (const [id, e] of this.anchors) if (e.event_time + this.maxMs < watermark) this.anchors.delete(id);
  }
}
