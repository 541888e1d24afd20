import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { startApp } from "../app.js";
import { loadConfig } from "../core/config.js";
import { silentLogger } from "../core/log.js";

const dirs: string[] = [];
const config = (env: Record<string, string> = {}) => {
  const dir = mkdtempSync(join(tmpdir(), "carwatch-console-app-"));
  dirs.push(dir);
  return loadConfig({ DATA_DIR: dir, HTTP_PORT: "0", CARWATCH_ROLES: "bot,http,enrich,alert,aggregate", LOG_LEVEL: "silent", ...env }, "/nonexistent/.env");
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Reads server-sent events until `until` matches one; returns them. */
async function readEvents(res: Response, until: (event: string, data: string) => boolean): Promise<{ event: string; data: string }[]> {
  const reader = res.body!.getReader();
  const seen: { event: string; data: string }[] = [];
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return seen;
    buf += new TextDecoder().decode(value);
    let at: number;
    while ((at = buf.indexOf("\n\n")) >= 0) {
      const block = buf.slice(0, at);
      buf = buf.slice(at + 2);
      const event = /^event: (.*)$/m.exec(block)?.[1] ?? "message";
      const data = /^data: (.*)$/m.exec(block)?.[1];
      if (data === undefined) continue;
      seen.push({ event, data });
      if (until(event, data)) {
        await reader.cancel();
        return seen;
      }
    }
  }
}

describe("the console in the app, without a Telegram token", () => {
  it("serves /console, /dashboards, /healthz and /metrics on one server; the page's events are live; stop() ends the streams", async () => {
    const app = await startApp(config(), silentLogger);
    try {
      expect(app.consoleUrl).toBe(`${app.url}/console`);
      expect((await fetch(`${app.url}/`, { redirect: "manual" })).headers.get("location")).toBe("/console");
      for (const path of ["/console", "/dashboards", "/dashboards/alerts", "/healthz", "/metrics"])
        expect((await fetch(`${app.url}${path}`)).status, path).toBe(200);
      expect((await fetch(`${app.url}/dashboards/nope`)).status).toBe(404);
      const list = (await (await fetch(`${app.url}/dashboards/api/list`)).json()) as { dashboards: { url: string }[] };
      expect(list.dashboards[0]!.url).toBe(`${app.url}/dashboards/alerts`);

      const events = await fetch(`${app.url}/console/events`);
      expect(events.headers.get("content-type")).toContain("text/event-stream");
      const reading = readEvents(events, (e, d) => e === "message" && d.includes('"from":"bot"') && d.includes("You are"));
      const sent = await fetch(`${app.url}/console/send`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ text: "/whoami" }),
      });
      expect(sent.status).toBe(202);
      const seen = await reading;
      expect(seen[0]!.event).toBe("snapshot");
      expect(seen.map((s) => s.event)).toContain("message");

      const board = await fetch(`${app.url}/dashboards/api/pipeline/events`);
      const panels = await readEvents(board, (e) => e === "panels");
      const data = JSON.parse(panels.at(-1)!.data) as { panels: { id: string; svg?: string; error?: string }[] };
      expect(data.panels.map((p) => p.id)).toEqual(["readings", "stage_rates", "stages"]);
      expect(data.panels.every((p) => !p.error)).toBe(true);

      // A page left open must not hold the shutdown.
      await fetch(`${app.url}/console/events`);
    } finally {
      const started = Date.now();
      await app.stop();
      expect(Date.now() - started).toBeLessThan(5000);
    }
  });

  it("refuses to start off loopback without CONSOLE_TOKEN, naming the variable", async () => {
    await expect(startApp(config({ HTTP_HOST: "0.0.0.0" }), silentLogger)).rejects.toThrow(
      /^CONSOLE_TOKEN: required when HTTP_HOST \(0\.0\.0\.0\) is not a loopback address/,
    );
    expect(() => config({ CONSOLE_TOKEN: "short" })).toThrow(/CONSOLE_TOKEN: at least 16 characters/);
  });
});
