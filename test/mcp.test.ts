import { spawn } from "node:child_process";
import { once } from "node:events";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { type CallToolResult, ElicitRequestSchema, type ElicitResult } from "@modelcontextprotocol/sdk/types.js";
import { afterEach, describe, expect, it } from "vitest";
import { z } from "zod";
import { objectSchemaOf } from "../mcp/input-schema.js";
import { TokenBook, tokenUserId } from "../tools/api-tokens.js";
import { TOOLS } from "../tools/index.js";
import { CONSOLE_USER_ID, hasRole, type Role } from "../tools/roles.js";
import { appForTests } from "./support/app.js";

const ADMIN = "admin-token-for-the-mcp-tests";
const t = appForTests({ CARWATCH_ROLES: "http,enrich,alert,aggregate", CARWATCH_ADMIN_TOKEN: ADMIN });
const STDIO_ENTRY = join(import.meta.dirname, "../mcp/stdio.ts");

const tokens = () => new TokenBook(t.app.deps.state, ADMIN);
const newToken = (role: "ingest" | Role) => tokens().create({ name: `mcp ${role} ${Math.random()}`, role, carIds: null, createdBy: 1 }, Date.now());
const sqlCount = async (sql: string) => Number((await t.app.deps.lakehouse.select<{ n: number }>(sql))[0]!.n);
/** The audit rows of one token's user, oldest first, read without adding one. */
const auditOf = async (userId: number) =>
  (
    (await t.app.registry.call("audit_log", { limit: 100, userId }, { userId: CONSOLE_USER_ID, chatId: null, via: "console" }, { internal: true })) as {
      via: string;
      tool: string;
      outcome: string;
    }[]
  )
    .map((a) => [a.via, a.tool, a.outcome])
    .reverse();
/** The names a role is offered over MCP, from the tools' own definitions. */
const namesFor = (role: Role) => TOOLS.filter((tool) => hasRole(role, tool.role) && (!tool.via || tool.via.includes("mcp"))).map((tool) => tool.name);

const open: Client[] = [];
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});

type Answer = ElicitResult["action"];
/** An SDK client over Streamable HTTP; with `answer`, it declares elicitation and answers every request so, recording the messages. */
async function httpClient(secret: string, answer?: Answer) {
  const asked: string[] = [];
  const client = new Client({ name: "mcp-test", version: "1" }, { capabilities: answer ? { elicitation: { form: {} } } : {} });
  if (answer) {
    client.setRequestHandler(ElicitRequestSchema, (request) => {
      asked.push(request.params.message);
      return { action: answer };
    });
  }
  await client.connect(new StreamableHTTPClientTransport(new URL(`${t.app.url}/mcp`), { requestInit: { headers: { authorization: `Bearer ${secret}` } } }));
  open.push(client);
  return { client, asked };
}

const call = async (client: Client, name: string, args: Record<string, unknown> = {}) => (await client.callTool({ name, arguments: args })) as CallToolResult;
const textOf = (r: CallToolResult) => (r.content[0] as { text: string }).text;
const initialize = (authorization?: string) =>
  fetch(`${t.app.url}/mcp`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...(authorization ? { authorization } : {}) },
    body: JSON.stringify({
      jsonrpc: "2.0",
      id: 1,
      method: "initialize",
      params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "curl", version: "1" } },
    }),
  });

describe("input schemas", () => {
  it("are JSON object schemas for every tool, a union of objects merged into one", () => {
    for (const tool of TOOLS) expect(objectSchemaOf(tool.input), tool.name).toMatchObject({ type: "object", properties: expect.any(Object) });
    // A union of objects (no tool has one today; silence became one object for the agent) is merged into one object.
    const union = objectSchemaOf(
      z.union([
        z.object({ incidentId: z.string(), for: z.string().optional() }),
        z.object({ target: z.literal("car"), value: z.number(), for: z.string().optional() }),
        z.object({ target: z.literal("rule"), value: z.string(), for: z.string().optional() }),
      ]),
    );
    expect(Object.keys(union.properties)).toEqual(["incidentId", "for", "target", "value"]);
    expect(union.required).toBeUndefined();
    expect(union.properties.target).toEqual({
      anyOf: [
        { type: "string", const: "car" },
        { type: "string", const: "rule" },
      ],
    });
    expect(union.description).toBe("One of: {incidentId, for?} or {target, value, for?} or {target, value, for?}.");
  });
});

describe("MCP over Streamable HTTP at /mcp", () => {
  it("refuses a missing or unknown token with 401 and an ingest token with 403", async () => {
    const none = await initialize();
    expect([none.status, none.headers.get("www-authenticate")]).toEqual([401, 'Bearer realm="carwatch"']);
    const wrong = await initialize("Bearer cw_not-a-token");
    expect([wrong.status, await wrong.json()]).toEqual([401, { error: "unknown or revoked token" }]);
    const ingest = await initialize(`Bearer ${newToken("ingest").secret}`);
    expect([ingest.status, await ingest.json()]).toEqual([403, { error: "an ingest token may only send readings: use a viewer, operator or admin token" }]);
    await expect(httpClient("cw_not-a-token")).rejects.toMatchObject({ code: 401 });
  });

  it("lists the tools of the token's role, with object input schemas and destructive hints", async () => {
    const viewer = await httpClient(newToken("viewer").secret);
    const viewerTools = (await viewer.client.listTools()).tools;
    expect(viewerTools.map((tool) => tool.name)).toEqual(namesFor("viewer"));
    expect(viewerTools.map((tool) => tool.name)).not.toContain("stop_all");
    expect(viewerTools.map((tool) => tool.name)).not.toContain("audit_log");
    expect(viewerTools.find((tool) => tool.name === "count_rows")).toMatchObject({
      inputSchema: { type: "object", properties: { table: { type: "string" } }, required: ["table"] },
      annotations: { destructiveHint: false },
    });
    const admin = (await (await httpClient(ADMIN)).client.listTools()).tools;
    // Everything but create_token, whose secret must not pass through a model.
    expect(admin.map((tool) => tool.name)).toEqual(TOOLS.map((tool) => tool.name).filter((name) => name !== "create_token"));
    expect(admin.map((tool) => tool.name)).toEqual(namesFor("admin"));
    const revoke = admin.find((tool) => tool.name === "revoke_token")!;
    expect([revoke.annotations?.destructiveHint, Object.keys(revoke.inputSchema.properties ?? {})]).toEqual([true, ["id", "confirm"]]);
    // A client that can ask its user is never asked for a code.
    const asking = (await (await httpClient(ADMIN, "accept")).client.listTools()).tools;
    expect(Object.keys(asking.find((tool) => tool.name === "revoke_token")!.inputSchema.properties ?? {})).toEqual(["id"]);
  });

  it("runs a read tool with exact data, refuses an unknown argument, and audits as mcp", async () => {
    const { token, secret } = newToken("viewer");
    const { client } = await httpClient(secret);
    const cars = await sqlCount("SELECT count(*) AS n FROM dims.cars");
    expect(cars).toBeGreaterThan(0);
    const counted = await call(client, "count_rows", { table: "dims.cars" });
    expect(counted.isError).toBeUndefined();
    expect(JSON.parse(textOf(counted))).toEqual({ table: "dims.cars", rows: cars });
    expect(counted.structuredContent).toEqual({ table: "dims.cars", rows: cars });
    const queried = await call(client, "query", { sql: "SELECT count(*) AS n FROM dims.cars" });
    expect((queried.structuredContent as { rows: unknown[] }).rows).toEqual([[cars]]);
    const unknown = await call(client, "count_rows", { table: "dims.cars", limit: 5 });
    expect([unknown.isError, textOf(unknown)]).toEqual([true, 'unknown argument "limit": count_rows takes table']);
    const invalid = await call(client, "count_rows", { table: "nope.nope" });
    expect(invalid.isError).toBe(true);
    const denied = await call(client, "stop_all");
    expect([denied.isError, textOf(denied)]).toEqual([true, "stop_all needs the operator role"]);
    expect(await auditOf(tokenUserId(token.id))).toEqual([
      ["mcp", "count_rows", "ok"],
      ["mcp", "query", "ok"],
      ["mcp", "count_rows", "invalid"],
      ["mcp", "stop_all", "denied"],
    ]);
  });

  it("without elicitation refuses a destructive call with a one-time code for that call, and runs it with the code", async () => {
    const victim = newToken("viewer");
    const { client } = await httpClient(ADMIN);
    const first = await call(client, "revoke_token", { id: victim.token.id });
    expect(first.isError).toBe(true);
    const code = /"confirm": "([\w-]+)"/.exec(textOf(first))![1]!;
    expect(textOf(first)).toBe(
      "Not run: revoke_token changes the running system and needs the user's confirmation, and this client cannot ask for one (no MCP elicitation). " +
        `Show the user exactly this call — revoke_token {"id":${victim.token.id}} — and only if they approve it, call revoke_token again with the same arguments plus "confirm": "${code}" ` +
        "(valid 5 minutes, for this call only).",
    );
    const guessed = await call(client, "revoke_token", { id: victim.token.id, confirm: true });
    expect([guessed.isError, textOf(guessed)]).toEqual([true, expect.stringContaining("The confirmation code did not match this call or has expired.")]);
    const code2 = /"confirm": "([\w-]+)"/.exec(textOf(guessed))![1]!;
    const other = await call(client, "revoke_token", { id: victim.token.id + 1000, confirm: code2 });
    expect(other.isError).toBe(true);
    expect(tokens().get(victim.token.id)!.revokedAt).toBeNull();
    const third = await call(client, "revoke_token", { id: victim.token.id });
    const code3 = /"confirm": "([\w-]+)"/.exec(textOf(third))![1]!;
    const done = await call(client, "revoke_token", { confirm: code3, id: victim.token.id });
    expect([done.isError, (done.structuredContent as { id: number }).id]).toEqual([undefined, victim.token.id]);
    expect(tokens().get(victim.token.id)!.revokedAt).not.toBeNull();
    const reused = await call(client, "revoke_token", { id: victim.token.id, confirm: code3 });
    expect(textOf(reused)).toContain("The confirmation code did not match this call or has expired.");
    expect((await auditOf(tokenUserId(0))).filter(([, tool]) => tool === "revoke_token")).toEqual([
      ["mcp", "revoke_token", "needs_confirmation"],
      ["mcp", "revoke_token", "needs_confirmation"],
      ["mcp", "revoke_token", "needs_confirmation"],
      ["mcp", "revoke_token", "needs_confirmation"],
      ["mcp", "revoke_token", "ok"],
      ["mcp", "revoke_token", "needs_confirmation"],
    ]);
  });

  it("asks the user by elicitation: runs the call when accepted, not when declined; a revoked token loses its session", async () => {
    const victim = newToken("viewer");
    const session = await httpClient(victim.secret);
    const declining = await httpClient(ADMIN, "decline");
    const declined = await call(declining.client, "revoke_token", { id: victim.token.id });
    expect([declined.isError, textOf(declined)]).toEqual([true, `Not run: the user declined revoke_token {"id":${victim.token.id}}`]);
    expect(declining.asked).toEqual([`carwatch: revoke_token changes the running system. Run revoke_token {"id":${victim.token.id}}?`]);
    expect(tokens().get(victim.token.id)!.revokedAt).toBeNull();
    const withCode = await call(declining.client, "revoke_token", { id: victim.token.id, confirm: "anything" });
    expect(textOf(withCode)).toBe('unknown argument "confirm": revoke_token takes id');
    expect((await call(session.client, "whoami")).isError).toBeUndefined();
    const accepting = await httpClient(ADMIN, "accept");
    const accepted = await call(accepting.client, "revoke_token", { id: victim.token.id });
    expect([accepted.isError, accepting.asked.length]).toEqual([undefined, 1]);
    expect(tokens().get(victim.token.id)!.revokedAt).not.toBeNull();
    await expect(call(session.client, "whoami")).rejects.toMatchObject({ code: 401 });
  });
});

describe("MCP over stdio (mcp/stdio.ts)", () => {
  const env = (secret: string, level = "silent") => ({ ...getDefaultEnvironment(), DATA_DIR: t.dir, LOG_LEVEL: level, CARWATCH_MCP_TOKEN: secret });

  it("serves the token's tools on the same stores, audited as mcp", async () => {
    const { token, secret } = newToken("operator");
    const client = new Client({ name: "mcp-test", version: "1" });
    // Anything on stdout that is not the protocol (a log line) would reach the client as an error.
    const errors: string[] = [];
    client.onerror = (err) => errors.push(err.message);
    await client.connect(
      new StdioClientTransport({ command: process.execPath, args: ["--import", "tsx", STDIO_ENTRY], env: env(secret, "info"), stderr: "pipe" }),
    );
    open.push(client);
    expect((await client.listTools()).tools.map((tool) => tool.name)).toEqual(namesFor("operator"));
    const counted = await call(client, "count_rows", { table: "dims.cars" });
    expect(counted.structuredContent).toEqual({ table: "dims.cars", rows: await sqlCount("SELECT count(*) AS n FROM dims.cars") });
    const stop = await call(client, "stop_all");
    expect([stop.isError, textOf(stop)]).toEqual([true, expect.stringMatching(/^Not run: stop_all changes the running system/)]);
    expect(t.app.supervisor.status("enrich").state).toBe("running");
    expect(await auditOf(tokenUserId(token.id))).toEqual([
      ["mcp", "count_rows", "ok"],
      ["mcp", "stop_all", "needs_confirmation"],
    ]);
    expect(errors).toEqual([]);
  });

  it("refuses to start without a live token, or with an ingest token", async () => {
    const run = async (secret: string) => {
      const child = spawn(process.execPath, ["--import", "tsx", STDIO_ENTRY], { env: env(secret), stdio: ["pipe", "pipe", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (d) => (stderr += d));
      const [code] = await once(child, "exit");
      return [code, stderr];
    };
    expect(await run("")).toEqual([
      2,
      "carwatch mcp: set CARWATCH_MCP_TOKEN to an API token (viewer, operator or admin: /tokens in chat, or CARWATCH_ADMIN_TOKEN)\n",
    ]);
    expect(await run("cw_not-a-token")).toEqual([2, "carwatch mcp: CARWATCH_MCP_TOKEN is not a live API token (unknown or revoked)\n"]);
    expect(await run(newToken("ingest").secret)).toEqual([
      2,
      "carwatch mcp: CARWATCH_MCP_TOKEN is an ingest token, which may only send readings: use a viewer, operator or admin token\n",
    ]);
  });
});
