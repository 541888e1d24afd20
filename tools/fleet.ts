import { parse } from "csv-parse/sync";
import { z } from "zod";
import { errorMessage, InputError } from "../core/errors.js";
import { defineTool, type ToolContext } from "./registry.js";

/** One car of the operator's fleet, as imported (CSV columns or JSON fields). */
export const fleetRowSchema = z.object({
  car_id: z.coerce.number().int().positive(),
  brand: z.string().trim().min(1).max(64),
  model: z.string().trim().min(1).max(64),
  color: z.string().trim().min(1).max(64),
  driver_id: z.coerce.number().int().nonnegative(),
  name: z.string().trim().max(128).optional(),
  plate: z.string().trim().max(32).optional(),
});
export type FleetRow = z.output<typeof fleetRowSchema>;

export interface RowError {
  /** 1-based: the CSV line (the header is line 1) or the JSON array's item. */
  line: number;
  reason: string;
}

const MAX_ROWS = 100_000;

/** Parses a fleet file; every bad row is named by its line, the good ones are kept. A car listed twice keeps its last row. */
export function parseFleet(content: string, format: "csv" | "json"): { rows: FleetRow[]; errors: RowError[] } {
  let records: { line: number; value: unknown }[];
  try {
    if (format === "json") {
      const body = JSON.parse(content) as unknown;
      if (!Array.isArray(body)) throw new Error("a JSON fleet is an array of cars");
      records = body.map((value, i) => ({ line: i + 1, value }));
    } else {
      const parsed = parse(content, {
        columns: (h: string[]) => h.map((c) => c.trim().toLowerCase()),
        skip_empty_lines: true,
        trim: true,
        info: true,
        bom: true,
        relax_column_count: true,
      }) as {
        record: Record<string, string>;
        info: { lines: number };
      }[];
      records = parsed.map(({ record, info }) => ({ line: info.lines, value: Object.fromEntries(Object.entries(record).filter(([, v]) => v !== "")) }));
    }
  } catch (err) {
    throw new InputError(`the fleet file does not parse as ${format}: ${errorMessage(err)}`);
  }
  if (records.length > MAX_ROWS) throw new InputError(`${records.length} rows; at most ${MAX_ROWS} per import`);
  const byCar = new Map<number, FleetRow>();
  const errors: RowError[] = [];
  for (const { line, value } of records) {
    const r = fleetRowSchema.safeParse(value);
    if (r.success) byCar.set(r.data.car_id, r.data);
    else {
      const issue = r.error.issues[0]!;
      errors.push({ line, reason: `${issue.path.join(".") || "row"}: ${issue.message}` });
    }
  }
  return { rows: [...byCar.values()], errors };
}

export interface FleetPlan {
  rows: number;
  newCars: number;
  changedCars: number;
  unchangedCars: number;
  newModels: string[];
  newColors: string[];
  errors: RowError[];
}

type Dims = {
  models: { model_id: number; brand_name: string; model_name: string }[];
  colors: { color_id: number; color_name: string }[];
  cars: Map<number, { driver_id: number; model_id: number; color_id: number; name: string | null; plate: string | null; retired_at: unknown }>;
};

async function readDims(ctx: ToolContext): Promise<Dims> {
  const lh = ctx.lakehouse;
  const cars = await lh.select<{
    car_id: number;
    driver_id: number;
    model_id: number;
    color_id: number;
    name: string | null;
    plate: string | null;
    retired_at: unknown;
  }>("SELECT car_id, driver_id, model_id, color_id, name, plate, retired_at FROM dims.cars");
  return {
    models: await lh.select("SELECT model_id, brand_name, model_name FROM dims.car_models"),
    colors: await lh.select("SELECT color_id, color_name FROM dims.car_colors"),
    cars: new Map(cars.map((c) => [Number(c.car_id), { ...c, driver_id: Number(c.driver_id), model_id: Number(c.model_id), color_id: Number(c.color_id) }])),
  };
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** What an import would change, and the dimension rows that make it so (models and colors created as needed). */
function plan(dims: Dims, rows: readonly FleetRow[], now: number) {
  const models = [...dims.models];
  const colors = [...dims.colors];
  const newModels: typeof models = [];
  const newColors: typeof colors = [];
  const modelId = (brand: string, model: string) => {
    let m = models.find((x) => same(x.brand_name, brand) && same(x.model_name, model));
    if (!m) {
      m = { model_id: Math.max(0, ...models.map((x) => Number(x.model_id))) + 1, brand_name: brand, model_name: model };
      models.push(m);
      newModels.push(m);
    }
    return Number(m.model_id);
  };
  const colorId = (name: string) => {
    let c = colors.find((x) => same(x.color_name, name));
    if (!c) {
      c = { color_id: Math.max(0, ...colors.map((x) => Number(x.color_id))) + 1, color_name: name };
      colors.push(c);
      newColors.push(c);
    }
    return Number(c.color_id);
  };
  let newCars = 0;
  let changedCars = 0;
  const cars = [];
  for (const r of rows) {
    const row = {
      car_id: r.car_id,
      driver_id: r.driver_id,
      model_id: modelId(r.brand, r.model),
      color_id: colorId(r.color),
      name: r.name ?? null,
      plate: r.plate ?? null,
    };
    const old = dims.cars.get(r.car_id);
    if (!old) newCars++;
    else if (
      old.driver_id === row.driver_id &&
      old.model_id === row.model_id &&
      old.color_id === row.color_id &&
      old.name === row.name &&
      old.plate === row.plate &&
      old.retired_at == null
    )
      continue;
    else changedCars++;
    cars.push({ ...row, origin: "fleet", retired_at: null, updated_at: now });
  }
  return { newModels, newColors, cars, newCars, changedCars, unchangedCars: rows.length - newCars - changedCars };
}

/** Writes the planned rows and tells this process's enrich stage at once (others notice the change within seconds). */
async function apply(ctx: ToolContext, p: ReturnType<typeof plan>): Promise<void> {
  await ctx.lakehouse.write([
    { table: "car_models", rows: p.newModels },
    { table: "car_colors", rows: p.newColors },
    { table: "cars", rows: p.cars },
  ]);
  ctx.events?.emit("dims-changed");
}

const fileInput = z.object({
  format: z.enum(["csv", "json"]).default("csv"),
  content: z
    .string()
    .min(1)
    .max(8 << 20)
    .describe("CSV with a header row car_id,brand,model,color,driver_id[,name,plate], or a JSON array of such objects"),
});

function summary(rows: readonly FleetRow[], errors: RowError[], p: ReturnType<typeof plan>): FleetPlan {
  return {
    rows: rows.length,
    newCars: p.newCars,
    changedCars: p.changedCars,
    unchangedCars: p.unchangedCars,
    newModels: p.newModels.map((m) => `${m.brand_name} ${m.model_name}`),
    newColors: p.newColors.map((c) => c.color_name),
    errors: errors.slice(0, 50),
  };
}

export const previewFleetImport = defineTool({
  name: "preview_fleet_import",
  description:
    "Reads a fleet file (CSV or JSON rows car_id, brand, model, color, driver_id, optional name and plate) and says what importing it would change: new, changed and unchanged cars, new models and colors, and each bad row with its line number. Changes nothing.",
  input: fileInput,
  role: "operator",
  destructive: false,
  run: async ({ input, ctx }): Promise<FleetPlan> => {
    const { rows, errors } = parseFleet(input.content, input.format);
    return summary(rows, errors, plan(await readDims(ctx), rows, ctx.clock()));
  },
});

export const importFleet = defineTool({
  name: "import_fleet",
  description:
    "Imports the operator's fleet from a CSV or JSON file (see preview_fleet_import, which should come first): cars are added or updated, models and colors created as needed, " +
    "and enrichment uses them within seconds, without a restart. A file with bad rows applies nothing unless applyGoodRows is true. Destructive: asks for a confirmation.",
  input: fileInput.extend({ applyGoodRows: z.boolean().default(false).describe("apply the good rows of a file that also has bad ones") }),
  role: "operator",
  destructive: true,
  run: async ({ input, ctx }): Promise<FleetPlan> => {
    const { rows, errors } = parseFleet(input.content, input.format);
    if (errors.length > 0 && !input.applyGoodRows) {
      throw new InputError(
        `${errors.length} rows have errors (first: line ${errors[0]!.line}, ${errors[0]!.reason}); nothing was applied. Fix them, or apply the ${rows.length} good rows (applyGoodRows).`,
      );
    }
    const p = plan(await readDims(ctx), rows, ctx.clock());
    await apply(ctx, p);
    return summary(rows, errors, p);
  },
});

export const upsertCars = defineTool({
  name: "upsert_cars",
  description:
    "Adds or updates cars of the fleet (each: car_id, brand, model, color, driver_id, optional name and plate); models and colors are created as needed; a retired car listed here is active again.",
  input: z.object({ cars: z.array(fleetRowSchema).min(1).max(1000) }),
  role: "operator",
  destructive: false,
  run: async ({ input, ctx }): Promise<FleetPlan> => {
    const p = plan(await readDims(ctx), input.cars, ctx.clock());
    await apply(ctx, p);
    return summary(input.cars, [], p);
  },
});

export const retireCar = defineTool({
  name: "retire_car",
  description: "Retires a car: its readings are refused (dead letters, unknown_car) from now on; its history stays. Destructive: asks for a confirmation.",
  input: z.object({ carId: z.coerce.number().int().positive() }),
  role: "operator",
  destructive: true,
  run: async ({ input, ctx }) => {
    const [car] = await ctx.lakehouse.select<Record<string, unknown>>("SELECT * FROM dims.cars WHERE car_id = ?", [input.carId]);
    if (!car) throw new InputError(`no car ${input.carId} in the fleet`);
    if (car.retired_at != null) throw new InputError(`car ${input.carId} is already retired`);
    const now = ctx.clock();
    await ctx.lakehouse.write([{ table: "cars", rows: [{ ...car, retired_at: now, updated_at: now }] }]);
    ctx.events?.emit("dims-changed");
    return { carId: input.carId, retiredAt: now };
  },
});

/** A car as list_cars and get_car show it. */
export interface CarView {
  car_id: number;
  name: string | null;
  plate: string | null;
  brand: string;
  model: string;
  color: string;
  driver_id: number;
  origin: string | null;
  retired_at: unknown;
  updated_at: unknown;
}

const carsQuery = `SELECT c.car_id, c.name, c.plate, m.brand_name AS brand, m.model_name AS model, k.color_name AS color, c.driver_id, c.origin, c.retired_at, c.updated_at
  FROM dims.cars c JOIN dims.car_models m ON m.model_id = c.model_id JOIN dims.car_colors k ON k.color_id = c.color_id`;

export const listCars = defineTool({
  name: "list_cars",
  description: "The fleet's cars with brand, model, color, driver, name, plate and whether retired; active ones by default.",
  input: z.object({ status: z.enum(["active", "retired", "all"]).default("active"), limit: z.coerce.number().int().min(1).max(10_000).default(100) }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => {
    const where = input.status === "active" ? "WHERE c.retired_at IS NULL" : input.status === "retired" ? "WHERE c.retired_at IS NOT NULL" : "";
    return ctx.lakehouse.select<CarView & Record<string, unknown>>(`${carsQuery} ${where} ORDER BY c.car_id LIMIT ${input.limit}`);
  },
});

export const getCar = defineTool({
  name: "get_car",
  description: "One car of the fleet: brand, model, color, driver, name, plate, origin (demo or fleet), retired or not.",
  input: z.object({ carId: z.coerce.number().int().positive() }),
  role: "viewer",
  destructive: false,
  run: async ({ input, ctx }) => {
    const [car] = await ctx.lakehouse.select<CarView & Record<string, unknown>>(`${carsQuery} WHERE c.car_id = ?`, [input.carId]);
    if (!car) throw new InputError(`no car ${input.carId} in the fleet`);
    return car;
  },
});

export const FLEET_TOOLS = [listCars, getCar, upsertCars, retireCar, previewFleetImport, importFleet] as const;
