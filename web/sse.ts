import type { Context } from "hono";
import { streamSSE } from "hono/streaming";

export type Send = (event: string, data: unknown) => Promise<void>;

/**
 * Server-sent event streams that can all be ended at once (on shutdown, so the
 * HTTP server can close), with a heartbeat so proxies keep them open.
 */
export class SseHub {
  private readonly closers = new Set<() => void>();

  constructor(private readonly heartbeatMs = 15_000) {}

  get open(): number {
    return this.closers.size;
  }

  /** Streams to one client: `run` sends, and may return a cleanup; the stream ends when the client leaves or closeAll is called. */
  // biome-ignore lint/suspicious/noConfusingVoidType: `run` may be an async function that returns nothing
  stream(c: Context, run: (send: Send, closed: Promise<void>) => Promise<(() => void) | void>): Response {
    return streamSSE(c, async (s) => {
      let done!: () => void;
      const closed = new Promise<void>((r) => (done = r));
      this.closers.add(done);
      s.onAbort(() => done());
      const send: Send = async (event, data) => {
        if (s.aborted || s.closed) return;
        await s.writeSSE({ event, data: JSON.stringify(data) }).catch(() => done());
      };
      const heartbeat = setInterval(() => void s.write(": ping\n\n").catch(() => done()), this.heartbeatMs);
      let cleanup: Awaited<ReturnType<typeof run>> | undefined;
      try {
        cleanup = await run(send, closed);
        await closed;
      } finally {
        clearInterval(heartbeat);
        cleanup?.();
        this.closers.delete(done);
      }
    });
  }

  closeAll(): void {
    for (const close of [...this.closers]) close();
  }
}
