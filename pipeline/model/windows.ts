export const WINDOW_MS = 60_000;

export const windowStart = (t: number): number => t - (((t % WINDOW_MS) + WINDOW_MS) % WINDOW_MS);

/**
 * Event-time progress for tumbling 1-minute windows. The watermark trails the
 * newest event time seen by `watermarkMs`; a window closes once the watermark
 * reaches its end, and an event for a window already closed is late.
 *
 * Progress comes from several sources (the partitions of the alert stage's
 * input, each processed in order by one consumer at a time): the newest event
 * time is taken per source and the watermark follows the slowest one, so a
 * window does not close while a partition (or the process that owns it) is
 * behind. A source silent for `idleMs` of wall time (a partition without
 * traffic) stops holding the watermark back until it reports again.
 *
 * Progress never runs ahead of the wall clock: an event time is counted at
 * most as `now`, so one reading from a car whose clock is wrong (within the
 * intake's future bound) cannot close the window every other car is still
 * filling. Replays of past data are unaffected.
 */
export class WindowClock {
  private maxSeen = Number.NEGATIVE_INFINITY;
  private readonly sources = new Map<number, { max: number; heardAt: number }>();
  private expected = 1;
  private readonly since: number;

  constructor(
    private readonly watermarkMs: number,
    /** Start of the first window not yet closed; null until the first event. */
    public nextStart: number | null,
    private readonly idleMs = Number.POSITIVE_INFINITY,
    now = Date.now(),
  ) {
    this.since = now;
  }

  observe(minEventTime: number, latestEventTime: number, source = 0, sources = 1, now = Date.now()): void {
    const maxEventTime = Math.min(latestEventTime, now);
    this.maxSeen = Math.max(this.maxSeen, maxEventTime);
    this.expected = sources;
    const s = this.sources.get(source);
    if (s) {
      s.max = Math.max(s.max, maxEventTime);
      s.heardAt = now;
    } else this.sources.set(source, { max: maxEventTime, heardAt: now });
    if (this.nextStart === null) this.nextStart = windowStart(Math.min(minEventTime, now));
  }

  /** The slowest non-idle source's newest event time, minus the allowed lateness. */
  watermark(now = Date.now()): number {
    let min = Number.POSITIVE_INFINITY;
    for (let i = 0; i < this.expected; i++) {
      const s = this.sources.get(i);
      if (now - (s?.heardAt ?? this.since) > this.idleMs) continue;
      min = Math.min(min, s?.max ?? Number.NEGATIVE_INFINITY);
    }
    // Every source idle: nothing new arrives, the newest time seen stands.
    return (min === Number.POSITIVE_INFINITY ? this.maxSeen : min) - this.watermarkMs;
  }

  /** The next window whose end the watermark has passed, if any. */
  closable(now = Date.now()): number | null {
    if (this.nextStart === null) return null;
    return this.nextStart + WINDOW_MS <= this.watermark(now) ? this.nextStart : null;
  }

  /** Marks windows up to and including `start` closed; the next one may be further on (empty windows are skipped). */
  closed(start: number, next: number): void {
    this.nextStart = Math.max(start + WINDOW_MS, next);
  }

  isLate(eventTime: number): boolean {
    return this.nextStart !== null && eventTime < this.nextStart;
  }
}
