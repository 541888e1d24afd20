import { mkdtempSync, rmSync } from "node:fs";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startCarwatch } from "./support/carwatch-process.js";
import { BOT_INFO } from "./support/telegram-updates.js";

/** Where TELEGRAM_API_ROOT points: `reached` resolves once the bot is talking to it (or at once, when nothing can be seen). */
interface DeadTelegram {
  url: string;
  reached: Promise<void>;
  close(): Promise<void>;
}

/** Accepts connections and never answers: the bot's getMe hangs. */
async function silentServer(): Promise<DeadTelegram> {
  const sockets = new Set<Socket>();
  let reachedNow!: () => void;
  const reached = new Promise<void>((r) => (reachedNow = r));
  const server = createServer((s) => {
    sockets.add(s);
    reachedNow();
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    reached,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/**
 * Answers getMe and refuses every long poll. The runner waits before each new
 * poll; the bot is stopped after the eighth refusal, when a wait that doubled
 * from 100 ms would be 12.8 s, longer than main.ts's 10 s guard.
 */
async function failingPolls(): Promise<DeadTelegram> {
  let polls = 0;
  let reachedNow!: () => void;
  const reached = new Promise<void>((r) => (reachedNow = r));
  const server = createHttpServer((req, res) => {
    res.writeHead(200, { "content-type": "application/json" });
    if (req.url?.endsWith("/getMe")) return void res.end(JSON.stringify({ ok: true, result: BOT_INFO }));
    if (req.url?.endsWith("/getUpdates") && ++polls === 8) reachedNow();
    res.end(JSON.stringify({ ok: false, error_code: 400, description: "Bad Request: refused by the test" }));
  });
  const port = await listen(server);
  return {
    url: `http://127.0.0.1:${port}`,
    reached,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A port nobody listens on: every call is refused, and auto-retry keeps trying. Refusals leave no trace here, so the up line has to do. */
async function closedPort(): Promise<DeadTelegram> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((r) => server.close(r));
  return { url: `http://127.0.0.1:${port}`, reached: Promise.resolve(), close: async () => {} };
}

function listen(server: Server | HttpServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("SIGINT and SIGTERM while Telegram is unreachable or failing", () => {
  for (const [name, deadTelegram] of [
    ["a Bot API that never answers", silentServer],
    ["a closed port", closedPort],
    ["a Bot API that refuses every long poll", failingPolls],
  ] as const) {
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      it(`${signal} with ${name}: stops cleanly and exits 0`, async () => {
        const telegram = await deadTelegram();
        cleanups.push(() => telegram.close());
        const dir = mkdtempSync(join(tmpdir(), "carwatch-shutdown-"));
        cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
        const { child } = await startCarwatch({ DATA_DIR: dir, TELEGRAM_BOT_TOKEN: "123456:TEST-token", TELEGRAM_API_ROOT: telegram.url });
        cleanups.push(() => {
          if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill("SIGKILL");
        });
        await telegram.reached;

        const started = performance.now();
        child.proc.kill(signal);
        const code = await child.exited;
        console.log(`${signal} with ${name}: exited ${code} after ${Math.round(performance.now() - started)} ms`);
        expect(code, child.lines.slice(-3).join("\n")).toBe(0);
        expect(child.lines.some((l) => l.includes('"msg":"stopped"'))).toBe(true);
      });
    }
  }
});
