import { z } from "zod";
import { DEAD_LETTER_REASONS, sensorEventSchema } from "../domain/events.js";
import type { Registry } from "../tools/index.js";
import type { ApiLimits } from "./api.js";

const error = { type: "object", properties: { error: { type: "string" } }, required: ["error"] } as const;
const refusal = (description: string) => ({ description, content: { "application/json": { schema: error } } });

// The one reading schema, as senders write it (event_time as ISO 8601 text).
const reading = z.toJSONSchema(sensorEventSchema, { io: "input", unrepresentable: "any" });

/**
 * The API's OpenAPI 3.1 document: the ingestion endpoint and every tool of
 * the registry, their request bodies generated from the tools' zod schemas
 * (the input side, as callers send it), so a client can be generated.
 */
export function openApiDocument(registry: Registry, limits: ApiLimits) {
  const paths: Record<string, unknown> = {
    "/api/v1/readings": {
      post: {
        summary: "Send readings: one JSON reading, a JSON array, or NDJSON; Content-Encoding: gzip accepted",
        description: `At most ${limits.readings} readings and ${limits.bodyBytes} bytes per request. A reading counts as accepted once it can no longer be lost; a resent event_id is a duplicate; rejected readings are also in telemetry.dead_letters. Tokens: ingest, operator or admin.`,
        requestBody: {
          content: {
            "application/json": { schema: { oneOf: [reading, { type: "array", items: reading }] } },
            "application/x-ndjson": { schema: { type: "string", description: "one JSON reading per line" } },
          },
        },
        responses: {
          "200": {
            description: "What became of each reading",
            content: {
              "application/json": {
                schema: {
                  type: "object",
                  properties: {
                    accepted: { type: "integer" },
                    duplicates: { type: "integer" },
                    rejected: {
                      type: "array",
                      items: {
                        type: "object",
                        properties: { index: { type: "integer" }, reason: { enum: [...DEAD_LETTER_REASONS] }, detail: { type: "string" } },
                      },
                    },
                  },
                },
              },
            },
          },
          "400": refusal("not JSON, or a gzip body that does not inflate"),
          "401": refusal("missing or unknown token"),
          "403": refusal("a viewer token"),
          "413": refusal("body or reading count over the limits"),
          "503": refusal("the pipeline is behind: retry after the Retry-After header's seconds"),
        },
      },
    },
  };
  for (const t of registry.tools) {
    const input = z.toJSONSchema(t.input, { io: "input", unrepresentable: "any" }) as { properties?: Record<string, unknown> };
    const body = t.destructive
      ? { ...input, properties: { ...input.properties, confirm: { type: "boolean", description: "must be true: this tool changes the running system" } } }
      : input;
    paths[`/api/v1/tools/${t.name}`] = {
      post: {
        operationId: t.name,
        summary: t.description,
        description: `Needs the ${t.role} role${t.destructive ? '; destructive: runs only with "confirm": true' : ""}.`,
        requestBody: { content: { "application/json": { schema: body } } },
        responses: {
          "200": { description: "The tool's result", content: { "application/json": { schema: { type: "object", properties: { result: {} } } } } },
          "400": refusal("the input does not fit the schema"),
          "401": refusal("missing or unknown token"),
          "403": refusal("the token's role does not allow this tool"),
          ...(t.destructive ? { "409": refusal('destructive: send "confirm": true') } : {}),
        },
      },
    };
  }
  return {
    openapi: "3.1.0",
    info: { title: "carwatch API", version: "1" },
    components: { securitySchemes: { bearer: { type: "http", scheme: "bearer" } } },
    security: [{ bearer: [] }],
    paths,
  };
}
