import { z } from "zod";
import { CAR_COLORS, CAR_MODELS, DEFAULT_FLEET_SEED, seedCars } from "../model/dims.js";
import { defineStage } from "../stage.js";

export const seedStage = defineStage({
  name: "seed",
  kind: "batch",
  description:
    "Creates the dimension tables' rows: 7 models, 7 colors and the demo fleet's cars (idempotent); once the operator's own fleet is imported it adds no invented car.",
  params: z.object({
    cars: z.number().int().positive().max(100_000).optional().describe("fleet size; default FLEET_SIZE"),
    seed: z.number().int().default(DEFAULT_FLEET_SEED).describe("random seed of the fleet"),
  }),
  async run({ params, deps, counters, log }) {
    const [own] = await deps.lakehouse.select<{ n: number }>("SELECT count(*) AS n FROM dims.cars WHERE origin = 'fleet'");
    const imported = Number(own?.n ?? 0) > 0;
    const now = Date.now();
    const cars = imported ? [] : seedCars(params.cars ?? deps.settings.fleetSize, params.seed).map((c) => ({ ...c, origin: "demo", updated_at: now }));
    await deps.lakehouse.write([
      { table: "car_models", rows: [...CAR_MODELS] },
      { table: "car_colors", rows: [...CAR_COLORS] },
      { table: "cars", rows: cars },
    ]);
    counters.out = CAR_MODELS.length + CAR_COLORS.length + cars.length;
    deps.events.emit("dims-changed");
    log.info(
      { models: CAR_MODELS.length, colors: CAR_COLORS.length, cars: cars.length, imported },
      imported ? "dimensions seeded; the imported fleet is kept" : "dimensions seeded",
    );
  },
});
