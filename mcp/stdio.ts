// carwatch's tools over MCP on stdin/stdout (`npm run --silent mcp`), for an MCP client that starts it
// (Claude Desktop, an IDE, another agent's host). The caller is the API token in CARWATCH_MCP_TOKEN.
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import pino from "pino";
import { z } from "zod";
import { startApp } from "../app.js";
import { type Config, loadConfig } from "../core/config.js";
import { errorMessage } from "../core/errors.js";
import { createLogger } from "../core/log.js";
import { TokenBook, tokenUserId } from "../tools/api-tokens.js";
import { createMcpServer } from "./server.js";

function fail(message: string, code: number): never {
  process.stderr.write(`carwatch mcp: ${message}\n`);
  process.exit(code);
}

function configured(): { config: Config; secret: string } {
  const secret = z.string().trim().min(1).safeParse(process.env.CARWATCH_MCP_TOKEN);
  if (!secret.success) fail("set CARWATCH_MCP_TOKEN to an API token (viewer, operator or admin: /tokens in chat, or CARWATCH_ADMIN_TOKEN)", 2);
  try {
    return { config: loadConfig(), secret: secret.data };
  } catch (err) {
    return fail(`configuration error: ${errorMessage(err)}`, 2);
  }
}
const { config, secret } = configured();

// stdout carries the protocol: the log goes to stderr, which MCP clients keep as the server's log.
const log = createLogger(config.LOG_LEVEL, pino.destination(2));
// The same stores and registry as any carwatch process on this DATA_DIR, running nothing of its own: no stages
// (start_stage asks the process whose roles run it), no HTTP, chat, model, schedule or MQTT intake.
const app = await startApp({ ...config, CARWATCH_ROLES: [], TELEGRAM_BOT_TOKEN: undefined, OPENAI_API_KEY: undefined, MQTT_URL: undefined }, log).catch(
  (err: unknown) => fail(`start-up failed: ${errorMessage(err)}`, 1),
);

let stopping = false;
const stop = async (code: number, message?: string) => {
  if (stopping) return;
  stopping = true;
  if (message) process.stderr.write(`carwatch mcp: ${message}\n`);
  setTimeout(() => process.exit(1), 10_000).unref();
  await app.stop();
  process.exit(code);
};

const token = new TokenBook(app.deps.state, config.CARWATCH_ADMIN_TOKEN).verify(secret, Date.now());
if (!token) await stop(2, "CARWATCH_MCP_TOKEN is not a live API token (unknown or revoked)");
else if (token.role === "ingest") await stop(2, "CARWATCH_MCP_TOKEN is an ingest token, which may only send readings: use a viewer, operator or admin token");
else {
  const server = createMcpServer({ registry: app.registry, userId: tokenUserId(token.id) });
  // The client ends the session by closing stdin (or with a signal).
  process.stdin.once("end", () => void stop(0));
  process.once("SIGINT", () => void stop(0));
  process.once("SIGTERM", () => void stop(0));
  await server.connect(new StdioServerTransport());
  log.info({ token: token.name, role: token.role }, "carwatch MCP server on stdio");
}
