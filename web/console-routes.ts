import { readFileSync } from "node:fs";
import { Hono } from "hono";
import { z } from "zod";
import { CSP, guard, type WebAccess } from "./access.js";
import type { RunningConsole } from "./console.js";
import type { ConsoleEvent } from "./console-chat.js";
import { SseHub } from "./sse.js";

const asset = (name: string) => readFileSync(new URL(`./assets/${name}`, import.meta.url), "utf8");

/** The page, its script and style: static files, so the CSP can forbid inline script. */
export const ASSETS = {
  html: (name: string) => asset(`${name}.html`),
  js: (name: string) => asset(`${name}.js`),
  css: (name: string) => asset(`${name}.css`),
};

const sendSchema = z.object({ text: z.string().trim().min(1).max(4096) });
// A file as the page reads it (base64), with its caption: at most 8 MiB of file.
const uploadSchema = z.object({
  name: z.string().trim().min(1).max(255),
  mime: z.string().max(128).default("application/octet-stream"),
  caption: z.string().trim().max(1024).default(""),
  content: z.base64().max(Math.ceil((8 << 20) / 3) * 4),
});
const pressSchema = z.object({ messageId: z.number().int().positive(), data: z.string().min(1).max(64) });

export interface ConsoleRoutes {
  app: Hono;
  /** Ends the open event streams (before the HTTP server closes). */
  close(): void;
}

/**
 * /console: the chat page, its live events (SSE: a snapshot, then each
 * change), the operator's input (turned into Telegram updates), button
 * presses and the files the bot sent.
 */
export function consoleRoutes(running: RunningConsole, access: WebAccess): ConsoleRoutes {
  const app = new Hono();
  const hub = new SseHub();
  const page = ASSETS.html("console");
  const js = ASSETS.js("common") + ASSETS.js("console");
  const css = ASSETS.css("common") + ASSETS.css("console");
  app.use("/console", guard(access));
  app.use("/console/*", guard(access));
  app.get("/console", (c) => c.html(page, 200, { "content-security-policy": CSP, "cache-control": "no-store" }));
  app.get("/console/app.js", (c) => c.body(js, 200, { "content-type": "text/javascript; charset=utf-8" }));
  app.get("/console/app.css", (c) => c.body(css, 200, { "content-type": "text/css; charset=utf-8" }));
  app.get("/console/events", (c) =>
    hub.stream(c, async (send) => {
      await send("snapshot", running.chat.snapshot());
      const listener = (e: ConsoleEvent) => void send(e.type, e);
      running.chat.on("event", listener);
      return () => running.chat.off("event", listener);
    }),
  );
  app.get("/console/history", (c) => c.json(running.chat.snapshot()));
  app.post("/console/send", async (c) => {
    const body = sendSchema.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ ok: false, error: "text: 1 to 4096 characters" }, 400);
    // Answered at once: the bot's replies arrive over the event stream (an agent's turn can take a while).
    void running.say(body.data.text);
    return c.json({ ok: true }, 202);
  });
  app.post("/console/upload", async (c) => {
    const body = uploadSchema.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ ok: false, error: "a file: name, caption and base64 content, at most 8 MiB" }, 400);
    void running.upload(body.data.name, body.data.mime, Buffer.from(body.data.content, "base64"), body.data.caption);
    return c.json({ ok: true }, 202);
  });
  app.post("/console/press", async (c) => {
    const body = pressSchema.safeParse(await c.req.json().catch(() => null));
    if (!body.success) return c.json({ ok: false, error: "messageId and data required" }, 400);
    const handling = running.press(body.data.messageId, body.data.data);
    if (!handling) return c.json({ ok: false, error: "that message has no such button (any more)" }, 409);
    return c.json({ ok: true }, 202);
  });
  app.get("/console/files/:id", (c) => {
    const f = running.chat.file(c.req.param("id"));
    if (!f) return c.text("no such file (the console keeps the last 40)", 404);
    const inline = f.mime.startsWith("image/");
    const name = f.name.replace(/[^\w.-]+/g, "_");
    return c.body(new Uint8Array(f.bytes), 200, {
      "content-type": f.mime,
      "content-disposition": `${inline ? "inline" : "attachment"}; filename="${name}"`,
      "cache-control": "private, max-age=3600",
    });
  });
  return { app, close: () => hub.closeAll() };
}
