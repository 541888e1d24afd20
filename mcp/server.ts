import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { CallToolRequestSchema, type CallToolResult, ListToolsRequestSchema, type Tool } from "@modelcontextprotocol/sdk/types.js";
import type { z } from "zod";
import { CarwatchError, errorMessage } from "../core/errors.js";
import { ConfirmationRequired } from "../tools/errors.js";
import type { Registry } from "../tools/index.js";
import type { Caller } from "../tools/registry.js";
import { CODE_VALID_MINUTES, ConfirmationCodes } from "./confirmation-codes.js";
import { type ObjectSchema, objectSchemaOf } from "./input-schema.js";

/** How long a confirmation may wait for the user's answer. */
const ELICITATION_TIMEOUT_MS = 5 * 60_000;

const INSTRUCTIONS =
  "carwatch runs a vehicle-telemetry anomaly-detection pipeline: these tools read its tables, alerts and stages and operate them. " +
  "Tools marked destructive run only once the user confirmed the exact call.";

type ToolName = Parameters<Registry["call"]>[0];

const schemas = new WeakMap<z.ZodType, ObjectSchema>();
const schemaOf = ({ input }: { input: z.ZodType }) => schemas.get(input) ?? schemas.set(input, objectSchemaOf(input)).get(input)!;

const CONFIRM_ARGUMENT = {
  type: "string",
  description: "The confirmation code from this tool's refusal. Send it only after the user approved this exact call; never invent one.",
};

const text = (value: unknown): CallToolResult => ({
  content: [{ type: "text", text: JSON.stringify(value ?? null) }],
  ...(value !== null && typeof value === "object" && !Array.isArray(value) ? { structuredContent: value as Record<string, unknown> } : {}),
});
const refusal = (message: string): CallToolResult => ({ content: [{ type: "text", text: message }], isError: true });

/**
 * carwatch's tools as one MCP server for one API token's user (a session
 * over HTTP, or the stdio process). It uses the SDK's low-level Server, not
 * McpServer: the registry lists the role's tools at every request and parses
 * every input once, where McpServer would fix the list per instance and
 * parse each input with zod a second time.
 *
 * Destructive tools: the registry refuses them unconfirmed (audited
 * needs_confirmation), and only the user's answer makes a call confirmed — an
 * elicitation accepted, when the client declared that capability; otherwise
 * a one-time code the refusal hands out, for the model to send back once the
 * user approved the call it was shown.
 */
export function createMcpServer(o: { registry: Registry; userId: number; clock?: () => number }): Server {
  const caller: Caller = { userId: o.userId, chatId: null, via: "mcp" };
  const codes = new ConfirmationCodes(o.clock ?? Date.now);
  const server = new Server({ name: "carwatch", version: "0.1.0" }, { capabilities: { tools: {} }, instructions: INSTRUCTIONS });
  const asksUser = () => server.getClientCapabilities()?.elicitation?.form !== undefined;

  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: o.registry.allowedFor(o.userId, "mcp").map((t): Tool => {
      const schema = schemaOf(t);
      return {
        name: t.name,
        description: t.description,
        inputSchema: t.destructive && !asksUser() ? { ...schema, properties: { ...schema.properties, confirm: CONFIRM_ARGUMENT } } : schema,
        annotations: { destructiveHint: t.destructive },
      };
    }),
  }));

  server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
    const { name, arguments: args = {} } = request.params;
    const tool = o.registry.get(name);
    // Only a destructive tool, for a client that cannot ask its user, takes a confirmation code.
    const takesCode = tool?.destructive === true && !asksUser();
    const { confirm, ...rest } = args;
    const input = takesCode ? rest : args;
    if (tool) {
      const takes = Object.keys(schemaOf(tool).properties);
      const unknown = Object.keys(input).filter((k) => !takes.includes(k));
      if (unknown.length > 0)
        return refusal(`unknown argument ${unknown.map((k) => `"${k}"`).join(", ")}: ${name} takes ${takes.join(", ") || "no arguments"}`);
    }
    const confirmed = takesCode && typeof confirm === "string" && codes.take(confirm, name, input);
    try {
      return text(await o.registry.call(name as ToolName, input, caller, { confirmed }));
    } catch (err) {
      if (!(err instanceof ConfirmationRequired)) return refused(err);
    }
    const call = `${name} ${JSON.stringify(input)}`;
    if (!asksUser()) {
      const code = codes.issue(name, input);
      return refusal(
        `Not run: ${name} changes the running system and needs the user's confirmation, and this client cannot ask for one (no MCP elicitation). ` +
          `${confirm === undefined ? "" : "The confirmation code did not match this call or has expired. "}` +
          `Show the user exactly this call — ${call} — and only if they approve it, call ${name} again with the same arguments plus "confirm": "${code}" ` +
          `(valid ${CODE_VALID_MINUTES} minutes, for this call only).`,
      );
    }
    let answer: string;
    try {
      const r = await server.elicitInput(
        { mode: "form", message: `carwatch: ${name} changes the running system. Run ${call}?`, requestedSchema: { type: "object", properties: {} } },
        { relatedRequestId: extra.requestId, signal: extra.signal, timeout: ELICITATION_TIMEOUT_MS },
      );
      answer = r.action;
    } catch (err) {
      return refusal(`Not run: ${name} needs the user's confirmation, which did not come (${errorMessage(err)})`);
    }
    if (answer !== "accept") return refusal(`Not run: the user ${answer === "decline" ? "declined" : "dismissed"} ${call}`);
    try {
      return text(await o.registry.call(name as ToolName, input, caller, { confirmed: true }));
    } catch (err) {
      return refused(err);
    }
  });
  return server;
}

/** A refusal or failure as the model reads it: carwatch's own errors are safe to show; anything else the registry has logged. */
function refused(err: unknown): CallToolResult {
  if (!(err instanceof CarwatchError)) return refusal("internal error; it has been logged");
  return refusal(err.retriable ? `${err.message} (try again shortly)` : err.message);
}
