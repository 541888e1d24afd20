/**
 * A pipeline in a child process, for crash tests: `run` seeds and streams
 * until killed, printing "enriched N" as readings are processed; `recover`
 * starts the consumers only, lets the replay finish and prints "done".
 */
import { SENSORS } from "../../pipeline/transport/topics.js";
import { createPipeline } from "./pipeline.js";

const [dir, mode] = process.argv.slice(2);
const p = await createPipeline({ dir });
for (const s of ["aggregate", "alert", "enrich"]) await p.supervisor.start(s);
if (mode === "run") {
  let n = 0;
  // Tapping the input, not the output, so the parent's kill lands while batches are in flight.
  await p.transport.subscribe(SENSORS, "tap", async (batch) => {
    n += batch.length;
    // The alert stage falls behind (as after a crash loop), so the kill leaves accepted readings unprocessed.
    if (n === 20_000) await p.supervisor.stop("alert");
    process.stdout.write(`generated ${n}\n`);
  });
  await p.supervisor.start("seed");
  await p.supervisor.waitFor("seed");
  await p.supervisor.start("generator", { rate: 0, clock: "virtual", virtualRate: 500, startTime: Date.UTC(2026, 10, 28), seed: 7 });
} else {
  await p.transport.whenIdle();
  await p.close();
  process.stdout.write("done\n");
}
