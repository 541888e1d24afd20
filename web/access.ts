import { timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { ConfigError } from "../core/errors.js";

export const TOKEN_COOKIE = "carwatch_console";

/** A host name or address that only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

export interface WebAccess {
  /** Required from every browser when set (HTTP_HOST is not a loopback address). */
  token: string | null;
}

/**
 * The console's access rule: on a loopback address it is the local operator's
 * (no token); anywhere else CONSOLE_TOKEN is required, and start-up stops
 * without one.
 */
export function webAccess(config: { HTTP_HOST: string; CONSOLE_TOKEN?: string }): WebAccess {
  if (isLoopback(config.HTTP_HOST)) return { token: config.CONSOLE_TOKEN ?? null };
  if (!config.CONSOLE_TOKEN) {
    throw new ConfigError("CONSOLE_TOKEN", `required when HTTP_HOST (${config.HTTP_HOST}) is not a loopback address: the console acts as an admin`);
  }
  return { token: config.CONSOLE_TOKEN };
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

const hostOf = (header: string | undefined) => (header ?? "").replace(/:\d+$/, "");

/**
 * Guards the console and the dashboards:
 * - with a token: a Bearer header or the cookie set when a page is opened with ?token=…;
 * - without one (loopback): only requests addressed to a loopback name, which
 *   stops DNS-rebinding pages from reaching the local console;
 * - always: a POST must be JSON from this origin, so another site open in the
 *   same browser cannot send the console commands (CSRF).
 */
export function guard(access: WebAccess): MiddlewareHandler {
  return async (c, next) => {
    const host = c.req.header("host") ?? new URL(c.req.url).host;
    if (access.token) {
      const bearer = c.req.header("authorization")?.replace(/^Bearer\s+/i, "");
      const given = bearer ?? getCookie(c, TOKEN_COOKIE) ?? "";
      const query = c.req.query("token");
      if (c.req.method === "GET" && query !== undefined && sameToken(query, access.token)) {
        setCookie(c, TOKEN_COOKIE, access.token, { httpOnly: true, sameSite: "Strict", path: "/" });
        const url = new URL(c.req.url);
        url.searchParams.delete("token");
        return c.redirect(`${url.pathname}${url.search}`, 303);
      }
      if (!sameToken(given, access.token)) {
        return c.text("carwatch: this console needs its token. Open the URL printed at start-up (…/console?token=CONSOLE_TOKEN).", 401);
      }
    } else if (!isLoopback(hostOf(host))) {
      return c.text("carwatch: the local console answers only to localhost / 127.0.0.1 (set CONSOLE_TOKEN to serve it elsewhere).", 403);
    }
    if (c.req.method !== "GET" && c.req.method !== "HEAD") {
      if (!(c.req.header("content-type") ?? "").startsWith("application/json")) return c.text("JSON only", 415);
      const origin = c.req.header("origin");
      if (origin && (origin === "null" || new URL(origin).host !== host)) return c.text("cross-origin request refused", 403);
    }
    await next();
    c.header("x-content-type-options", "nosniff");
    c.header("referrer-policy", "no-referrer");
    c.header("x-frame-options", "DENY");
  };
}

/** The pages' content security policy: own scripts and styles only, pictures from here or data: URLs. */
export const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
