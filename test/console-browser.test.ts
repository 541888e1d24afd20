import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type App, startApp } from "../app.js";
import { loadConfig } from "../core/config.js";
import { silentLogger } from "../core/log.js";
import type { MemoryTransport } from "../pipeline/transport/memory.js";
import { saveArtifact } from "./support/artifacts.js";
import { type Browser, ensureChromium, launchBrowser } from "./support/browser.js";

// Installs Debian's chromium when missing (as root); skips loudly where it cannot, but never under CI.
const chromium = ensureChromium();
if (!chromium.ok) console.warn(`\n⚠️  SKIPPING the browser tests: ${chromium.reason}\n`);

const dir = mkdtempSync(join(tmpdir(), "carwatch-browser-"));
let app: App;
let browser: Browser;
let page: Page;
const pageErrors: string[] = [];

/** Drives the generator on a virtual clock over the last minutes, so windows close (and digests go out) at once. */
async function drive(events: number, seed: number): Promise<void> {
  await app.supervisor.start("generator", {
    clock: "virtual",
    rate: 0,
    maxEvents: events,
    seed,
    startTime: Date.now() - 20 * 60_000 + seed * 60_000,
    virtualRate: 10,
    anomalies: { speeding: 0.02, highRpm: 0.01, wrongGear: 0.01, malformed: 0.01 },
  });
  await app.supervisor.waitFor("generator");
  await (app.deps.transport as MemoryTransport).whenIdle();
}

const shot = async (name: string) => saveArtifact(name, await page.screenshot({ fullPage: true }));
const bot = (p: Page) => p.locator(".msg.bot");

describe.skipIf(!chromium.ok)("in a browser (Debian's chromium through playwright-core)", () => {
  beforeAll(async () => {
    const config = loadConfig(
      { DATA_DIR: dir, HTTP_PORT: "0", CARWATCH_ROLES: "bot,http,generator,enrich,alert,aggregate", WATERMARK_SECONDS: "0", LOG_LEVEL: "silent" },
      "/nonexistent/.env",
    );
    app = await startApp(config, silentLogger);
    // The generator role lets drive() run it on a virtual clock; its wall-clock run from start-up is not wanted here.
    await app.supervisor.stop("generator");
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on("pageerror", (e) => pageErrors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") pageErrors.push(m.text());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("opens the console and /start shows the reply keyboard", async () => {
    await page.goto(app.consoleUrl!);
    await page.locator("body[data-ready='1']").waitFor();
    await expect.poll(() => page.locator("#status").textContent()).toBe("live");
    await page.locator("#input").fill("/start");
    await page.locator("#input").press("Enter");
    await bot(page).filter({ hasText: "Pick a menu below" }).waitFor();
    await expect
      .poll(() => page.locator("#keyboard button").allTextContents())
      .toEqual(["📊 Stages", "🚨 Alerts", "🗄 Data", "🧰 Maintenance", "👤 Who am I", "❓ Help"]);
    await page.locator("#keyboard button", { hasText: "Who am I" }).click();
    await bot(page).filter({ hasText: "role admin" }).waitFor();
    expect(await bot(page).last().locator("b").first().textContent()).toBe("admin");
  });

  it("walks the stage menu with clicks and stops a stage after confirming", async () => {
    await page.locator("#keyboard button", { hasText: "Stages" }).click();
    const listed = bot(page)
      .filter({ hasText: "Stages" })
      .filter({ has: page.locator("pre") })
      .last();
    await listed.waitFor();
    // The menu is one message, edited in place as buttons are pressed.
    const menu = page.locator(`.msg[data-id="${await listed.getAttribute("data-id")}"]`);
    await menu.locator("button", { hasText: "aggregate" }).click();
    await menu.filter({ hasText: "aggregate — running" }).waitFor();
    expect(await menu.locator("button").allTextContents()).toEqual(["▶️ Start", "⏹ Stop", "ℹ️ Status", "🕘 Recent runs", "⬅️ Stages"]);
    await menu.locator("button", { hasText: "Recent runs" }).click();
    await bot(page).filter({ hasText: "Recent runs of aggregate" }).waitFor();
    await menu.locator("button", { hasText: "Stop" }).click();
    const ask = bot(page).filter({ hasText: "Stop aggregate?" }).last();
    await ask.locator("button", { hasText: "Cancel" }).click();
    await bot(page).filter({ hasText: "Cancelled; nothing was done." }).waitFor();
    await page.locator("#toast").filter({ hasText: "Cancelled." }).waitFor();
    expect(app.supervisor.status("aggregate").state).toBe("running");
    await menu.locator("button", { hasText: "Stages" }).click();
    await menu.filter({ has: page.locator("button", { hasText: "generator" }) }).waitFor();
    await shot("console-stages.png");
  });

  it("runs a query and renders its table", async () => {
    await page.locator("#input").fill("/query SELECT color_id, color_name FROM dims.car_colors ORDER BY color_id");
    await page.locator("#send").click();
    const result = bot(page).filter({ hasText: "7 rows" }).last();
    await result.waitFor();
    expect(await result.locator("i").first().textContent()).toMatch(/^\(\d+ ms\)$/);
    expect(await result.locator("pre").textContent()).toContain("Gray");
    expect(await result.locator(".meta").textContent()).toMatch(/^edited /);
  });

  it("a digest arrives as windows close, and /chart shows a picture", async () => {
    await drive(3000, 1);
    const digest = bot(page).filter({ hasText: "🕐" }).first();
    await digest.waitFor({ timeout: 30_000 });
    expect(await digest.textContent()).toMatch(/readings, \d+ with alerts/);
    await page.locator("#input").fill("/chart rule");
    await page.locator("#input").press("Enter");
    const photo = page.locator(".msg.bot img.photo").last();
    await photo.waitFor();
    await expect.poll(() => photo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBeGreaterThan(600);
    expect(await bot(page).last().textContent()).toMatch(/Alerts per minute by rule, last 1h: [\d,]+ in all/);
    await page.locator(".msg.bot").last().scrollIntoViewIfNeeded();
    await shot("console.png");
  });

  it("opens the dashboards and sees charts with data, refreshing live", async () => {
    await page.goto(app.consoleUrl!.replace("/console", "/dashboards"));
    await page.locator("a.card", { hasText: "Fleet alerts" }).click();
    await page.waitForURL(/\/dashboards\/alerts$/);
    await page.locator("body[data-ready='1']").waitFor();
    const charts = page.locator("section.card img.chart");
    await expect.poll(() => charts.count()).toBe(2);
    for (const img of await charts.all()) await expect.poll(() => img.evaluate((i: HTMLImageElement) => i.complete && i.naturalWidth)).toBeGreaterThan(300);
    expect(await page.locator("[data-panel='top_cars'] tr").count()).toBeGreaterThan(1);
    expect(await page.locator("[data-panel='incidents'] tr").count()).toBeGreaterThan(1);
    expect(await page.locator("[data-panel='alerts_by_rule'] .note").textContent()).toMatch(/^[1-9][\d,]* alerts in the last hour$/);
    await shot("dashboard-alerts.png");
    const updates = Number(await page.locator("body").getAttribute("data-updates"));
    await expect.poll(async () => Number(await page.locator("body").getAttribute("data-updates")), { timeout: 15_000 }).toBeGreaterThan(updates);
    await page.goto(app.consoleUrl!.replace("/console", "/dashboards/pipeline"));
    await page.locator("[data-panel='stages'] td", { hasText: "enrich" }).waitFor();
    await expect.poll(() => page.locator("[data-panel='readings'] img.chart").evaluate((i: HTMLImageElement) => i.naturalWidth)).toBeGreaterThan(300);
    expect(await page.locator("[data-panel='readings'] .note").textContent()).toMatch(/^[\d,]+ readings in [\d,]+ closed windows$/);
    await shot("dashboard-pipeline.png");
  });

  it("the pages ran without script errors or CSP violations", () => {
    expect(pageErrors).toEqual([]);
  });
});
