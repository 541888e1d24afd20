import type { BatchHandler, Envelope, OutMessage, SubscribeOptions, Subscription, Topic, Transport } from "./transport.js";

interface Group {
  /** Offset of the next message to hand out. */
  offset: number;
  wake: (() => void) | null;
  active: boolean;
  busy: boolean;
}

class TopicLog {
  /** Offset of messages[0]. */
  base = 0;
  messages: Envelope<unknown>[] = [];
  groups = new Map<string, Group>();
  waitingPublishers: (() => void)[] = [];
  get end(): number {
    return this.base + this.messages.length;
  }
  maxLag(): number {
    let lag = 0;
    for (const g of this.groups.values()) lag = Math.max(lag, this.end - g.offset);
    return lag;
  }
  /** Drops what every group has consumed. */
  trim(): void {
    let min = this.end;
    for (const g of this.groups.values()) min = Math.min(min, g.offset);
    if (this.groups.size === 0) min = this.end;
    const drop = min - this.base;
    // Splicing a long array per batch is O(n); trimming in chunks keeps it amortised.
    if (drop > 4096 || drop === this.messages.length) {
      this.messages = this.messages.slice(drop);
      this.base = min;
    }
  }
}

/**
 * The embedded transport: an in-process log per topic with consumer groups
 * and offsets, like a Kafka topic with one partition. Publishers wait while
 * any group lags by more than `capacity` messages. Messages published while
 * no group exists are dropped, as nobody could read them.
 */
export class MemoryTransport implements Transport {
  readonly kind = "memory" as const;
  private readonly topics = new Map<string, TopicLog>();
  private seq = 0;
  private readonly runId = Date.now().toString(36);
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly capacity = 20_000) {}

  private topic(name: string): TopicLog {
    let t = this.topics.get(name);
    if (!t) this.topics.set(name, (t = new TopicLog()));
    return t;
  }

  async publish<T>(topic: Topic<T>, messages: readonly OutMessage<T>[]): Promise<void> {
    if (messages.length === 0) return;
    const t = this.topic(topic.name);
    if (t.groups.size === 0) return;
    while (t.maxLag() >= this.capacity) await new Promise<void>((r) => t.waitingPublishers.push(r));
    for (const m of messages) t.messages.push({ id: `${this.runId}-${++this.seq}`, key: m.key, value: m.value });
    // Consumers wake on the next turn of the event loop, not inside the publisher's microtasks: the publisher
    // (an HTTP request that stored readings) finishes and answers before a stage's batch runs.
    for (const g of t.groups.values()) if (g.wake) setImmediate(g.wake);
  }

  async subscribe<T>(topic: Topic<T>, group: string, handler: BatchHandler<T>, options: SubscribeOptions = {}): Promise<Subscription> {
    const t = this.topic(topic.name);
    let g = t.groups.get(group);
    if (!g) t.groups.set(group, (g = { offset: t.end, wake: null, active: false, busy: false }));
    if (g.active) throw new Error(`group ${group} already consumes ${topic.name}`);
    g.active = true;
    const grp = g;
    const maxBatch = options.maxBatch ?? 1000;
    let stopping = false;

    const loop = async () => {
      try {
        while (!stopping) {
          if (grp.offset >= t.end) {
            this.checkIdle();
            await new Promise<void>((r) => (grp.wake = r));
            grp.wake = null;
            continue;
          }
          const from = grp.offset - t.base;
          const batch = t.messages.slice(from, from + maxBatch) as Envelope<T>[];
          grp.busy = true;
          try {
            await handler(batch, this);
          } finally {
            grp.busy = false;
          }
          grp.offset += batch.length;
          t.trim();
          if (t.maxLag() < this.capacity) for (const w of t.waitingPublishers.splice(0)) w();
        }
      } finally {
        grp.active = false;
        this.checkIdle();
      }
    };
    const done = loop();
    return {
      done,
      stop: async () => {
        stopping = true;
        grp.wake?.();
        await done.catch(() => undefined);
      },
    };
  }

  /** True when no active group has anything waiting or in hand. */
  isIdle(): boolean {
    for (const t of this.topics.values()) for (const g of t.groups.values()) if (g.active && (g.busy || g.offset < t.end)) return false;
    return true;
  }

  /** Resolves once every active consumer has caught up: for tests and benchmarks, instead of sleeping. */
  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private checkIdle(): void {
    if (this.idleWaiters.length > 0 && this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  lag(topic: Topic<unknown>, group: string): number {
    const t = this.topics.get(topic.name);
    const g = t?.groups.get(group);
    return t && g ? t.end - g.offset : 0;
  }

  async close(): Promise<void> {
    for (const t of this.topics.values()) for (const g of t.groups.values()) g.wake?.();
  }
}
