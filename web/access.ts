import { timingSafeEqual } from "node:crypto";
import type { Context, MiddlewareHandler, Next } from "hono";
import { bodyLimit } from "hono/body-limit";
import { every } from "hono/combine";
import { getCookie, setCookie } from "hono/cookie";
import { csrf } from "hono/csrf";
import { HTTPException } from "hono/http-exception";
import { secureHeaders } from "hono/secure-headers";
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

/**
 * Whether an Origin header names this request's own host. Only a serialized
 * http(s) origin, exactly as browsers send it, can match: "null" (sandboxed
 * frames, file: pages), a path, user info or unparsable text never does. The
 * scheme is not compared, so the page still works behind a TLS proxy.
 */
function sameHost(origin: string, host: string): boolean {
  if (!URL.canParse(origin)) return false;
  const u = new URL(origin);
  return (u.protocol === "http:" || u.protocol === "https:") && u.origin === origin && u.host === host;
}

/** The console's own posts are small JSON (a file upload is at most 8 MiB of base64). */
const MAX_BODY_BYTES = 12 << 20;

/**
 * Guards the console and the dashboards:
 * - with a token: a Bearer header or the cookie set when a page is opened with ?token=…;
 * - without one (loopback): only requests addressed to a loopback name, which
 *   stops DNS-rebinding pages from reaching the local console;
 * - always: a POST must be JSON from this origin, so another site open in the
 *   same browser cannot send the console commands (CSRF): Hono's csrf refuses
 *   (403) a form, multipart or text/plain post that a browser sent from
 *   another origin, then jsonFromThisPage takes JSON only and checks its Origin;
 * - Hono's secureHeaders on every answer, and its bodyLimit on every body.
 */
export function guard(access: WebAccess): MiddlewareHandler {
  return every(
    secureHeaders({ xFrameOptions: "DENY" }),
    bodyLimit({ maxSize: MAX_BODY_BYTES, onError: (c) => c.text(`carwatch: the body is larger than ${MAX_BODY_BYTES} bytes`, 413) }),
    admit(access),
    formsFromThisOrigin,
    jsonFromThisPage,
  );
}

/** The token, or on loopback the Host; and the token visit that leaves it in a cookie. */
function admit(access: WebAccess): MiddlewareHandler {
  return async (c, next) => {
    // The server builds the URL from the Host header and answers 400 to one it cannot parse, so this is the Host, normalized.
    const url = new URL(c.req.url);
    if (access.token) {
      const bearer = c.req.header("authorization")?.replace(/^Bearer\s+/i, "");
      const given = bearer ?? getCookie(c, TOKEN_COOKIE) ?? "";
      const query = c.req.query("token");
      if (c.req.method === "GET" && query !== undefined && sameToken(query, access.token)) {
        setCookie(c, TOKEN_COOKIE, access.token, { httpOnly: true, sameSite: "Strict", path: "/" });
        url.searchParams.delete("token");
        return c.redirect(`${url.pathname}${url.search}`, 303);
      }
      if (!sameToken(given, access.token)) {
        return c.text("carwatch: this console needs its token. Open the URL printed at start-up (…/console?token=CONSOLE_TOKEN).", 401);
      }
    } else if (!isLoopback(url.hostname)) {
      return c.text("carwatch: the local console answers only to localhost / 127.0.0.1 (set CONSOLE_TOKEN to serve it elsewhere).", 403);
    }
    await next();
  };
}

// The scheme is not compared, as in sameHost.
const sameOrigin = csrf({ origin: (origin, c) => sameHost(origin, new URL(c.req.url).host) });

/** Hono's csrf, on what a browser sent (it always sends an Origin with a POST; without one it is curl or a script, so no CSRF). */
async function formsFromThisOrigin(c: Context, next: Next): Promise<Response | undefined> {
  if (c.req.header("origin") !== undefined) {
    try {
      await sameOrigin(c, async () => {});
    } catch (err) {
      // csrf throws its 403; answered here, so secureHeaders still marks it.
      if (err instanceof HTTPException) return err.getResponse();
      throw err;
    }
  }
  await next();
}

/**
 * Kept by hand: Hono's csrf checks only the content types a form can send (a
 * JSON post from another site needs a CORS preflight), and the console's posts are all JSON.
 */
async function jsonFromThisPage(c: Context, next: Next): Promise<Response | undefined> {
  if (c.req.method !== "GET" && c.req.method !== "HEAD") {
    if (!(c.req.header("content-type") ?? "").startsWith("application/json")) return c.text("JSON only", 415);
    const origin = c.req.header("origin");
    if (origin !== undefined && !sameHost(origin, new URL(c.req.url).host)) {
      return c.text("carwatch: cross-origin request refused: a POST must come from this console's own page.", 403);
    }
  }
  await next();
}

/** The pages' content security policy: own scripts and styles only, pictures from here or data: URLs. */
export const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
