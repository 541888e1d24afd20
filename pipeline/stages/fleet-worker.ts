/**
 * The fleet simulator on its own thread, so that simulating the cars (an
 * outside source in real life) does not take the pipeline's core: the stage
 * asks for batches, the worker answers with the readings' JSON.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type AnomalyRates, Fleet } from "../model/fleet.js";

const { carIds, rates, seed, start } = workerData as { carIds: number[]; rates: AnomalyRates; seed: number; start: number };
const fleet = new Fleet(carIds, rates, seed, start);

// Loading this thread's modules takes a moment: the stage starts its clock only once the fleet is here.
parentPort!.postMessage({ ready: true });
parentPort!.on("message", (req: { id: number; times: number[] }) => {
  const keys: string[] = new Array(req.times.length);
  const values: string[] = new Array(req.times.length);
  for (let i = 0; i < req.times.length; i++) {
    const out = fleet.next(req.times[i]!);
    keys[i] = String(out.car_id);
    values[i] = out.json;
  }
  parentPort!.postMessage({ id: req.id, keys, values });
});
