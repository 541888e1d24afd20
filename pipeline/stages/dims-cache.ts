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
  private version = "";
  private checkedAt = 0;
  private readonly checkMs = 200;
  private readonly idleCheckMs = 2000;

  constructor(
    private readonly lakehouse: Lakehouse,
    private readonly minReloadMs = 5000,
  ) {}

  invalidate(): void {
    this.stale = true;
  }

  async load(): Promise<void> {
    // Retired cars are not in the join: their readings are refused as unknown.
    const rows = await this.lakehouse.select<{ car_id: number } & CarInfo>(
      `SELECT c.car_id, c.driver_id, m.brand_name, m.model_name, k.color_name
         FROM dims.cars c JOIN dims.car_models m ON m.model_id = c.model_id JOIN dims.car_colors k ON k.color_id = c.color_id
        WHERE c.retired_at IS NULL`,
    );
    this.version = await this.currentVersion();
    this.cars = new Map(
      rows.map((r) => [Number(r.car_id), { driver_id: Number(r.driver_id), brand_name: r.brand_name, model_name: r.model_name, color_name: r.color_name }]),
    );
    this.loadedAt = Date.now();
    this.stale = false;
  }

  get size(): number {
    return this.cars.size;
  }

  get(carId: number): CarInfo | undefined {
    return this.cars.get(carId);
  }

  /**
   * Reloads if invalidated, or when a lookup missed and the fleet changed
   * since the last load (another process imported a car a moment ago: its
   * readings are enriched at once). The change is checked with one small
   * query, at most every `checkMs` on a miss and every `idleCheckMs`
   * otherwise (a car retired by another process), and a reload happens at
   * least every `minReloadMs` on misses anyway.
   */
  async refreshIfNeeded(missed: boolean): Promise<void> {
    if (this.stale) return this.load();
    const now = Date.now();
    if (missed && now - this.loadedAt >= this.minReloadMs) return this.load();
    // A miss checks soon; without one (a car retired elsewhere is still found here) every few seconds.
    if (now - this.checkedAt < (missed ? this.checkMs : this.idleCheckMs)) return;
    this.checkedAt = now;
    if ((await this.currentVersion()) !== this.version) await this.load();
  }

  /** Changes whenever a car is added, changed or retired (each write sets updated_at). */
  private async currentVersion(): Promise<string> {
    const [v] = await this.lakehouse.select<{ n: number; t: unknown }>("SELECT count(*) AS n, max(updated_at) AS t FROM dims.cars");
    return `${v?.n}:${String(v?.t ?? "")}`;
  }
}
