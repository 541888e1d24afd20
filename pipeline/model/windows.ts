export const WINDOW_MS = 60_000;

export const windowStart = (t: number): number => t - (((t % WINDOW_MS) + WINDOW_MS) % WINDOW_MS);

/**
 * Event-time progress for tumbling 1-minute windows. The watermark trails the
 * newest event time seen by `watermarkMs`; a window closes once the watermark
 * reaches its end, and an event for a window already closed is late.
 */
export class WindowClock {
  private maxSeen = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly watermarkMs: number,
    /** Start of the first window not yet closed; null until the first event. */
    public nextStart: number | null,
  ) {}

  observe(minEventTime: number, maxEventTime: number): void {
    this.maxSeen = Math.max(this.maxSeen, maxEventTime);
    if (this.nextStart === null) this.nextStart = windowStart(minEventTime);
  }

  get watermark(): number {
    return this.maxSeen - this.watermarkMs;
  }

  /** The next window whose end the watermark has passed, if any. */
  closable(): number | null {
    if (this.nextStart === null) return null;
    return this.nextStart + WINDOW_MS <= this.watermark ? this.nextStart : null;
  }

  /** Marks windows up to and including `start` closed; the next one may be further on (empty windows are skipped). */
  closed(start: number, next: number): void {
    this.nextStart = Math.max(start + WINDOW_MS, next);
  }

  isLate(eventTime: number): boolean {
    return this.nextStart !== null && eventTime < this.nextStart;
  }
}
