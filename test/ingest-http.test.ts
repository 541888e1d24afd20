import { randomUUID } from "node:crypto";
import { request } from "node:http";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { silentLogger } from "../core/log.js";
import { ReadingIntake } from "../pipeline/intake.js";
import type { MemoryTransport } from "../pipeline/transport/memory.js";
import { TokenBook } from "../tools/api-tokens.js";
import { apiRoutes } from "../web/api.js";
import { appForTests } from "./support/app.js";

const ADMIN = "admin-token-for-the-ingest-tests";
const t = appForTests({ CARWATCH_ROLES: "http,enrich,alert,aggregate", CARWATCH_ADMIN_TOKEN: ADMIN });

const idle = () => (t.app.deps.transport as MemoryTransport).whenIdle();
const count = async (table: string) => Number((await t.app.deps.lakehouse.select<{ n: number }>(`SELECT count(*) AS n FROM ${table}`))[0]!.n);
const reading = (o: Record<string, unknown> = {}) => ({
  event_id: randomUUID(),
  event_time: new Date(Date.now() - 5_000).toISOString(),
  car_id: 1,
  speed: 50,
  rpm: 2381,
  gear: 3,
  ...o,
});
const post = (path: string, token: string | null, body: BodyInit, headers: Record<string, string> = {}) =>
  fetch(`${t.app.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
    body,
  });
const tool = async (token: string, name: string, input: Record<string, unknown> = {}) => {
  const r = await post(`/api/v1/tools/${name}`, token, JSON.stringify(input));
  return { status: r.status, body: (await r.json()) as { result?: unknown; error?: string } };
};
const created = async (role: string, carIds?: number[]) =>
  (await tool(ADMIN, "create_token", { name: `${role} test`, role, ...(carIds ? { carIds } : {}) })).body.result as { token: { id: number }; secret: string };
const newToken = async (role: string, carIds?: number[]) => (await created(role, carIds)).secret;
/**
 * A POST through node:http, whose client still reads the answer when the server refuses a body before it
 * has all of it (fetch gives up on the closed socket): as curl would.
 */
const rawPost = (token: string, body: Buffer, headers: Record<string, string> = {}) =>
  new Promise<{ status: number; body: unknown }>((resolve, reject) => {
    const u = new URL(`${t.app.url}/api/v1/readings`);
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: u.pathname,
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json", ...headers },
      },
      (res) => {
        let text = "";
        res.on("data", (d) => (text += d));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
      },
    );
    req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
    req.end(body);
  });

describe("POST /api/v1/readings", () => {
  it("refuses a missing or unknown token with 401 and a viewer's with 403", async () => {
    const none = await post("/api/v1/readings", null, JSON.stringify(reading()));
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toBe('Bearer realm="carwatch"');
    const wrong = await post("/api/v1/readings", "cw_not-a-token", JSON.stringify(reading()));
    expect([wrong.status, await wrong.json()]).toEqual([401, { error: "unknown or revoked token" }]);
    const viewer = await newToken("viewer");
    const r = await post("/api/v1/readings", viewer, JSON.stringify(reading()));
    expect(r.status).toBe(403);
    expect(await r.json()).toEqual({ error: "a viewer token may not send readings (ingest, operator or admin)" });
  });

  it("stores NDJSON with exact counts in every table, names each rejection, and answers a resend with duplicates", async () => {
    const ingest = await newToken("ingest");
    const [raw0, enr0, dead0] = [await count("telemetry.cars_raw"), await count("telemetry.cars_enriched"), await count("telemetry.dead_letters")];
    const good = Array.from({ length: 5 }, (_, i) => reading({ car_id: i + 1 }));
    const lines = [
      ...good.map((g) => JSON.stringify(g)),
      "{not json",
      JSON.stringify(reading({ car_id: 4242 })),
      JSON.stringify(reading({ event_time: new Date(Date.now() + 86_400_000).toISOString() })),
      JSON.stringify(reading({ speed: 999 })),
      JSON.stringify({ ...good[0], speed: 51 }),
    ];
    const body = `${lines.join("\n")}\n`;
    const first = await post("/api/v1/readings", ingest, body, { "content-type": "application/x-ndjson" });
    expect(first.status).toBe(200);
    const answer = (await first.json()) as { accepted: number; duplicates: number; rejected: { index: number; reason: string }[] };
    expect({ ...answer, rejected: answer.rejected.map(({ index, reason }) => ({ index, reason })) }).toEqual({
      accepted: 5,
      duplicates: 0,
      rejected: [
        { index: 5, reason: "malformed_json" },
        { index: 6, reason: "unknown_car" },
        { index: 7, reason: "event_time_future" },
        { index: 8, reason: "out_of_range" },
        { index: 9, reason: "conflicting_duplicate" },
      ],
    });
    await idle();
    expect(await count("telemetry.cars_raw")).toBe(raw0 + 5);
    expect(await count("telemetry.cars_enriched")).toBe(enr0 + 5);
    expect(await count("telemetry.dead_letters")).toBe(dead0 + 5);
    // The client timed out and sends the batch again: nothing is stored twice.
    const again = await post("/api/v1/readings", ingest, gzipSync(body), { "content-type": "application/x-ndjson", "content-encoding": "gzip" });
    expect(((await again.json()) as { accepted: number; duplicates: number }).accepted).toBe(0);
    await idle();
    expect(await count("telemetry.cars_raw")).toBe(raw0 + 5);
    expect(await count("telemetry.cars_enriched")).toBe(enr0 + 5);
  });

  it("takes one JSON reading or an array, gzip too, and keeps an ingest token to its cars", async () => {
    const one = await newToken("ingest", [2]);
    expect(await (await post("/api/v1/readings", one, JSON.stringify(reading({ car_id: 2 })))).json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const r = await post("/api/v1/readings", one, gzipSync(JSON.stringify([reading({ car_id: 2 }), reading({ car_id: 3 })])), { "content-encoding": "gzip" });
    expect(await r.json()).toEqual({
      accepted: 1,
      duplicates: 0,
      rejected: [{ index: 1, reason: "car_not_allowed", detail: "this token may not send readings of car 3" }],
    });
  });

  it("answers 413 past the body, inflated and count limits, and 400 to a body that is not JSON", async () => {
    const ingest = await newToken("ingest");
    expect(await rawPost(ingest, Buffer.alloc((1 << 20) + 1, 32))).toEqual({ status: 413, body: { error: "the body is larger than 1048576 bytes" } });
    const bomb = await post("/api/v1/readings", ingest, gzipSync(Buffer.alloc(64 << 20, 32)), { "content-encoding": "gzip" });
    expect(bomb.status).toBe(413);
    expect(await bomb.json()).toEqual({ error: "the body inflates to more than 16777216 bytes" });
    const many = await post("/api/v1/readings", ingest, "{}\n".repeat(5001), { "content-type": "application/x-ndjson" });
    expect(many.status).toBe(413);
    expect(await many.json()).toEqual({ error: "5001 readings in one request; at most 5000" });
    expect((await post("/api/v1/readings", ingest, "{broken")).status).toBe(400);
  });

  it("answers 503 with Retry-After when the pipeline is behind, keeping nothing in memory", async () => {
    const tokens = new TokenBook(t.app.deps.state, ADMIN);
    const busy = apiRoutes({ registry: t.app.registry, tokens, intake: new ReadingIntake(t.app.deps, { concurrent: 16, maxBacklog: -1 }), log: silentLogger });
    const r = await busy.request("/api/v1/readings", { method: "POST", headers: { authorization: `Bearer ${ADMIN}` }, body: JSON.stringify(reading()) });
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("2");
    expect(await r.json()).toEqual({ error: "the pipeline is 0 readings behind; try again shortly" });
  });
});

describe("POST /api/v1/tools/{name}", () => {
  it("runs a tool as the token's role through the registry, confirms destructive ones, and refuses revoked tokens at once", async () => {
    const { token, secret: viewer } = await created("viewer");
    expect((await tool(viewer, "whoami")).body.result).toMatchObject({ role: "viewer", chatId: null });
    expect(await tool(viewer, "list_tokens")).toEqual({ status: 403, body: { error: "list_tokens needs the admin role" } });
    const ingest = await newToken("ingest");
    expect((await tool(ingest, "whoami")).status).toBe(403);
    expect((await tool(ADMIN, "no_such_tool")).status).toBe(404);
    expect(await tool(ADMIN, "count_rows", { table: "nope.nope" })).toMatchObject({ status: 400 });
    const unconfirmed = await tool(ADMIN, "revoke_token", { id: token.id });
    expect(unconfirmed.status).toBe(409);
    expect((await tool(viewer, "whoami")).status).toBe(200);
    expect((await tool(ADMIN, "revoke_token", { id: token.id, confirm: true })).status).toBe(200);
    expect(await tool(viewer, "whoami")).toEqual({ status: 401, body: { error: "unknown or revoked token" } });
    const audit = (await tool(ADMIN, "audit_log", { limit: 4 })).body.result as { via: string; tool: string; outcome: string }[];
    expect(audit.map((a) => [a.via, a.tool, a.outcome])).toEqual([
      ["api", "revoke_token", "ok"],
      ["api", "whoami", "ok"],
      ["api", "revoke_token", "needs_confirmation"],
      ["api", "count_rows", "invalid"],
    ]);
  });

  it("describes every tool and the readings endpoint in /api/v1/openapi.json", async () => {
    const doc = (await (await fetch(`${t.app.url}/api/v1/openapi.json`)).json()) as {
      paths: Record<string, { post: { operationId?: string; requestBody: { content: Record<string, { schema: { properties?: Record<string, unknown> } }> } } }>;
    };
    expect(Object.keys(doc.paths)).toEqual(["/api/v1/readings", ...t.app.registry.tools.map((tool) => `/api/v1/tools/${tool.name}`)]);
    expect(Object.keys(doc.paths["/api/v1/tools/query"]!.post.requestBody.content["application/json"]!.schema.properties!)).toEqual(["sql", "maxRows"]);
    expect(doc.paths["/api/v1/tools/revoke_token"]!.post.requestBody.content["application/json"]!.schema.properties).toHaveProperty("confirm");
  });
});
