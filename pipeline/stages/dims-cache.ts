import type { Lakehouse } from "../stores/lakehouse.js";

export interface CarInfo {
  driver_id: number;
  brand_name: string;
  model_name: string;
  color_name: string;
}

/**
 * The dimensions, in memory, for the enrich join. Reloaded when this process
 * changed them and, at most every `minReloadMs`, when a car is missing (it
 * may have been added by another process).
 */
export class DimsCache {
  private cars = new Map<number, CarInfo>();
  private loadedAt = 0;
  private stale = true;

  constructor(
    private readonly lakehouse: Lakehouse,
    private readonly minReloadMs = 5000,
  ) {}

  invalidate(): void {
    this.stale = true;
  }

  async load(): Promise<void> {
    const rows = await this.lakehouse.select<{ car_id: number } & CarInfo>(
      `SELECT c.car_id, c.driver_id, m.brand_name, m.model_name, k.color_name
         FROM dims.cars c JOIN dims.car_models m ON m.model_id = c.model_id JOIN dims.car_colors k ON k.color_id = c.color_id`,
    );
    this.cars = new Map(rows.map((r) => [Number(r.car_id), { driver_id: Number(r.driver_id), brand_name: r.brand_name, model_name: r.model_name, color_name: r.color_name }]));
    this.loadedAt = Date.now();
    this.stale = false;
  }

  get size(): number {
    return this.cars.size;
  }

  get(carId: number): CarInfo | undefined {
    return this.cars.get(carId);
  }

  /** Reloads if invalidated, or if a lookup missed and the last load is old enough. */
  async refreshIfNeeded(missed: boolean): Promise<void> {
    if (this.stale || (missed && Date.now() - this.loadedAt >= this.minReloadMs)) await this.load();
  }
}
