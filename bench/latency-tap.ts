import { ALERTS } from "../pipeline/transport/topics.js";
import type { Transport } from "../pipeline/transport/transport.js";

const pct = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

/** Measures event→alert latency (wall clock) with an extra consumer group on alert-data. */
export async function latencyTap(transport: Transport) {
  const samples: number[] = [];
  const tap = await transport.subscribe(ALERTS, "bench", (batch) => {
    const now = Date.now();
    for (const m of batch) if (m.value.kind === "alert") samples.push(now - m.value.event.event_time);
  });
  return {
    async stop() {
      await tap.stop();
      samples.sort((a, b) => a - b);
      return { alerts: samples.length, p50: pct(samples, 0.5), p99: pct(samples, 0.99), max: samples[samples.length - 1] ?? Number.NaN };
    },
  };
}
