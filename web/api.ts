import { gunzipSync } from "node:zlib";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { CarwatchError, errorMessage, InputError } from "../core/errors.js";
import type { Logger } from "../core/log.js";
import { IntakeBusy, type ReadingSink } from "../domain/intake.js";
import { readingsOf } from "../domain/reading-bodies.js";
import type { ApiToken } from "../state/api-tokens-table.js";
import { type TokenBook, tokenUserId } from "../tools/api-tokens.js";
import { ConfirmationRequired, PermissionError } from "../tools/errors.js";
import type { Registry } from "../tools/index.js";
import { openApiDocument } from "./openapi.js";
import { type TokenEnv, tokenAuth } from "./token-auth.js";

export interface ApiLimits {
  /** Bytes of a request body as sent (compressed or not). */
  bodyBytes: number;
  /** Bytes of a gzip body once inflated. */
  inflatedBytes: number;
  /** Readings in one request. */
  readings: number;
}

export const API_LIMITS: ApiLimits = { bodyBytes: 1 << 20, inflatedBytes: 16 << 20, readings: 5000 };

type Env = TokenEnv;

/** A refusal with an HTTP status, answered as `{ "error": … }`. */
class HttpRefusal extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    message: string,
  ) {
    super(message);
  }
}

/** The readings of a request body: one JSON reading, a JSON array, or NDJSON (Content-Type: application/x-ndjson). */
function requestReadings(text: string, contentType: string, max: number): string[] {
  let values: string[];
  try {
    values = readingsOf(text, contentType.startsWith("application/x-ndjson") ? "ndjson" : "json");
  } catch (err) {
    throw new HttpRefusal(400, `the body is not JSON (${errorMessage(err)}); send one reading, an array, or NDJSON with Content-Type: application/x-ndjson`);
  }
  if (values.length > max) throw new HttpRefusal(413, `${values.length} readings in one request; at most ${max}`);
  return values;
}

/**
 * /api/v1: readings in (POST /readings), every registry tool as
 * POST /tools/{name}, and the OpenAPI document. Bearer tokens from the
 * TokenBook (401 without a valid one); the role checks are the registry's,
 * with `via: "api"`, and for readings the token's (ingest, operator, admin).
 */
export function apiRoutes(o: {
  registry: Registry;
  tokens: TokenBook;
  intake: ReadingSink | null;
  log: Logger;
  limits?: ApiLimits;
  clock?: () => number;
}): Hono<Env> {
  const limits = o.limits ?? API_LIMITS;
  const clock = o.clock ?? Date.now;
  const app = new Hono<Env>();
  app.get("/api/v1/openapi.json", (c) => c.json(openApiDocument(o.registry, limits)));
  app.use("/api/v1/*", tokenAuth(o.tokens, clock));
  app.onError((err, c) => {
    if (err instanceof HttpRefusal) return c.json({ error: err.message }, err.status);
    if (err instanceof IntakeBusy) return c.json({ error: err.message }, 503, { "retry-after": String(err.retryAfterSeconds) });
    if (err instanceof PermissionError) return c.json({ error: err.message }, 403);
    if (err instanceof ConfirmationRequired)
      return c.json(
        { error: `${err.message}: send the same body with "confirm": true`, input: err.input, ...(err.preview ? { preview: err.preview } : {}) },
        409,
      );
    if (err instanceof InputError) return c.json({ error: err.message }, 400);
    if (err instanceof CarwatchError && err.retriable) return c.json({ error: err.message }, 503, { "retry-after": "1" });
    if (err instanceof HTTPException) return err.getResponse(); // bearerAuth's 401 (with WWW-Authenticate) and 400
    o.log.error({ err }, "API request failed");
    return c.json({ error: errorMessage(err) }, 500);
  });

  app.post(
    "/api/v1/readings",
    bodyLimit({ maxSize: limits.bodyBytes, onError: (c) => c.json({ error: `the body is larger than ${limits.bodyBytes} bytes` }, 413) }),
    async (c) => {
      const token = c.get("token");
      if (token.role === "viewer") throw new HttpRefusal(403, "a viewer token may not send readings (ingest, operator or admin)");
      if (!o.intake) throw new HttpRefusal(503, "this process does not take readings (CARWATCH_ROLES has no enrich, and no Kafka to send them to)");
      let bytes = Buffer.from(await c.req.arrayBuffer());
      const encoding = (c.req.header("content-encoding") ?? "identity").toLowerCase();
      if (encoding === "gzip") {
        try {
          bytes = gunzipSync(bytes, { maxOutputLength: limits.inflatedBytes });
        } catch (err) {
          const tooBig = (err as { code?: string }).code === "ERR_BUFFER_TOO_LARGE";
          throw tooBig
            ? new HttpRefusal(413, `the body inflates to more than ${limits.inflatedBytes} bytes`)
            : new HttpRefusal(400, `the gzip body does not inflate: ${errorMessage(err)}`);
        }
      } else if (encoding !== "identity") throw new HttpRefusal(415, `Content-Encoding ${encoding} is not supported; gzip is`);
      const values = requestReadings(bytes.toString("utf8"), c.req.header("content-type") ?? "application/json", limits.readings);
      return c.json(await o.intake.accept(values, token.carIds ? new Set(token.carIds) : undefined));
    },
  );

  app.post("/api/v1/tools/:name", async (c) => {
    const name = c.req.param("name");
    if (!o.registry.get(name)) throw new HttpRefusal(404, `no tool "${name}"; GET /api/v1/openapi.json lists them`);
    const body = (await c.req.json().catch(() => {
      throw new HttpRefusal(400, 'the body must be a JSON object: the tool\'s input, plus "confirm": true for a destructive tool');
    })) as unknown;
    if (typeof body !== "object" || body === null || Array.isArray(body)) throw new HttpRefusal(400, "the body must be a JSON object");
    const { confirm, ...input } = body as Record<string, unknown>;
    const caller = { userId: tokenUserId(c.get("token").id), chatId: null, via: "api" as const };
    const result = await o.registry.call(name as Parameters<Registry["call"]>[0], input, caller, { confirmed: confirm === true });
    return c.json({ result });
  });
  // The fleet: PUT replaces nothing, it adds and updates cars (import_fleet, confirmed by the PUT itself);
  // a file with bad rows answers 422 with them, applying nothing, unless ?apply=good-rows.
  const apiCaller = (c: { get(k: "token"): ApiToken }) => ({ userId: tokenUserId(c.get("token").id), chatId: null, via: "api" as const });
  app.put(
    "/api/v1/fleet",
    bodyLimit({ maxSize: 8 << 20, onError: (c) => c.json({ error: `the fleet file is larger than ${8 << 20} bytes` }, 413) }),
    async (c) => {
      const format = (c.req.header("content-type") ?? "").startsWith("application/json") ? "json" : "csv";
      const content = await c.req.text();
      const applyGoodRows = c.req.query("apply") === "good-rows";
      const preview = await o.registry.call("preview_fleet_import", { format, content }, apiCaller(c));
      if (preview.errors.length > 0 && !applyGoodRows) {
        return c.json(
          {
            error: `${preview.errors.length} rows have errors; nothing was applied (send again with ?apply=good-rows to apply the ${preview.rows} good rows)`,
            preview,
          },
          422,
        );
      }
      return c.json({ result: await o.registry.call("import_fleet", { format, content, applyGoodRows }, apiCaller(c), { confirmed: true }) });
    },
  );
  app.get("/api/v1/fleet", async (c) =>
    c.json({ result: await o.registry.call("list_cars", { status: c.req.query("status") ?? "active", limit: c.req.query("limit") ?? 10_000 }, apiCaller(c)) }),
  );
  return app;
}
