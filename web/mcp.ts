import { Hono } from "hono";
import { McpSessions } from "../mcp/http.js";
import type { TokenBook } from "../tools/api-tokens.js";
import type { Registry } from "../tools/index.js";
import { type TokenEnv, tokenAuth } from "./token-auth.js";

type Env = TokenEnv;

/**
 * Mounts /mcp (MCP's Streamable HTTP transport) on the HTTP server, with the
 * API's bearer tokens: 401 without a live one, 403 for an ingest token, which
 * calls no tool. No CORS: a page on another origin cannot send the
 * Authorization header (its preflight goes unanswered), and the token, which
 * no page holds, is what a DNS-rebinding page would lack. Returns what ends
 * the sessions' open streams, for shutdown.
 */
export function mountMcp(http: Hono, o: { registry: Registry; tokens: TokenBook; clock?: () => number }): () => void {
  const clock = o.clock ?? Date.now;
  const sessions = new McpSessions(o.registry, clock);
  const app = new Hono<Env>();
  app.use("/mcp", tokenAuth(o.tokens, clock));
  app.all("/mcp", (c) => {
    const token = c.get("token");
    if (token.role === "ingest") return c.json({ error: "an ingest token may only send readings: use a viewer, operator or admin token" }, 403);
    return sessions.handle(c.req.raw, token.id);
  });
  http.route("/", app);
  return () => sessions.close();
}
