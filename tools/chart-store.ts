import { randomBytes } from "node:crypto";

export interface StoredChart {
  id: string;
  png: Buffer;
  caption: string;
  /** The chat it was rendered for (null: no chat, e.g. a dashboard). */
  chatId: number | null;
  createdAt: number;
  delivered: boolean;
}

/**
 * Rendered charts, kept briefly in memory. `render_chart` returns an id, never
 * the picture, so the LLM agent's tool result stays a short text; the bot
 * takes the PNG from here and sends it (at once for /chart, at the end of the
 * turn for the agent).
 */
export class ChartStore {
  private readonly charts = new Map<string, StoredChart>();

  constructor(
    private readonly limit = 50,
    private readonly ttlMs = 10 * 60_000,
    private readonly clock: () => number = Date.now,
  ) {}

  put(png: Buffer, caption: string, chatId: number | null): StoredChart {
    const now = this.clock();
    for (const [id, c] of this.charts) if (c.createdAt + this.ttlMs < now) this.charts.delete(id);
    const chart: StoredChart = { id: randomBytes(8).toString("hex"), png, caption, chatId, createdAt: now, delivered: false };
    this.charts.set(chart.id, chart);
    while (this.charts.size > this.limit) this.charts.delete(this.charts.keys().next().value!);
    return chart;
  }

  get(id: string): StoredChart | undefined {
    return this.charts.get(id);
  }

  /** The chart, marked delivered; undefined when unknown or expired. */
  take(id: string): StoredChart | undefined {
    const c = this.charts.get(id);
    if (c) c.delivered = true;
    return c;
  }

  /** Charts rendered for a chat and not yet sent there (the agent's), oldest first, marked delivered. */
  takeUndelivered(chatId: number): StoredChart[] {
    const out = [...this.charts.values()].filter((c) => c.chatId === chatId && !c.delivered);
    for (const c of out) c.delivered = true;
    return out;
  }
}
