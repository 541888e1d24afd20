import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium } from "playwright-core";

/** Debian's chromium (apt-get install chromium): never a browser Playwright downloads. */
export const CHROMIUM = "/usr/bin/chromium";

/**
 * The flags every browser test uses. Without the background-networking ones
 * chromium keeps calling out to Google's services, which on a closed network
 * only floods it with failing requests.
 */
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/**
 * Makes sure chromium is there: installs Debian's package when missing and
 * running as root (with an emoji font, so screenshots show the bot's menus).
 * Returns why not when it cannot; with CI set, that is an error, never a skip.
 */
export function ensureChromium(): { ok: true } | { ok: false; reason: string } {
  if (existsSync(CHROMIUM)) return { ok: true };
  const root = process.getuid?.() === 0;
  if (root) {
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    spawnSync("apt-get", ["update"], { stdio: "inherit", env, timeout: 300_000 });
    spawnSync("apt-get", ["install", "-y", "--no-install-recommends", "chromium", "fonts-noto-color-emoji"], { stdio: "inherit", env, timeout: 600_000 });
    if (existsSync(CHROMIUM)) return { ok: true };
  }
  const reason = root ? "apt-get install chromium failed" : `${CHROMIUM} is missing and this is not root (run: sudo apt-get install -y chromium)`;
  if (process.env.CI) throw new Error(`browser tests need Debian's chromium: ${reason}`);
  return { ok: false, reason };
}

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** Chromium with a fresh profile directory, removed on close. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), "carwatch-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    timeout: 60_000,
  });
  return {
    context,
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
