const WINDOW_MS = 10_000;
const SAMPLE_EVERY_MS = 250;

/**
 * A rate from a counter's readings (events out: stages add to the count
 * directly): the increase since the oldest reading in the last 10 s, or the
 * newest one before them, so reads a heartbeat apart still give a rate.
 */
export class RateMeter {
  private samples: { t: number; n: number }[] = [];

  rate(value: number, now = Date.now()): number {
    const last = this.samples[this.samples.length - 1];
    if (!last || now - last.t >= SAMPLE_EVERY_MS) this.samples.push({ t: now, n: value });
    while (this.samples.length > 1 && now - this.samples[1]!.t > WINDOW_MS) this.samples.shift();
    const base = this.samples[0]!;
    return ((value - base.n) * 1000) / Math.max(1000, now - base.t);
  }
}
