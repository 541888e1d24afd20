import { z } from "zod";

export interface ObjectSchema {
  type: "object";
  properties: Record<string, unknown>;
  required?: string[];
  [k: string]: unknown;
}

/** Keys that cost prompt tokens and tell a model nothing it needs: the registry's zod schema checks them and says what is wrong. */
const DROPPED = new Set(["$schema", "pattern", "minLength", "maxLength", "minItems", "maxItems", "propertyNames", "exclusiveMinimum", "format"]);
const SAFE_BOUND = Number.MAX_SAFE_INTEGER;

function compact(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(compact);
  if (node === null || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (DROPPED.has(k)) continue;
    if ((k === "maximum" || k === "minimum") && Math.abs(Number(v)) >= SAFE_BOUND) continue;
    // zod's "any value" for records; an empty object says the same in fewer tokens.
    if (k === "additionalProperties" && typeof v === "object" && v !== null && Object.keys(v).length === 0) continue;
    out[k] = compact(v);
  }
  return out;
}

/**
 * A tool's parameters as the model sees them: the input side of its zod
 * schema as JSON Schema (transforms cannot be described), without the
 * constraints the registry checks anyway. OpenAI's function calling wants a
 * JSON object schema; anything else is a mistake in the tool.
 */
export function modelSchema(name: string, input: z.ZodType): ObjectSchema {
  const schema = compact(z.toJSONSchema(input, { io: "input", unrepresentable: "any" })) as Partial<ObjectSchema>;
  if (schema.type !== "object" || typeof schema.properties !== "object") throw new Error(`${name}'s parameters are not a JSON object schema`);
  return schema as ObjectSchema;
}

const spelling = (k: string) => k.toLowerCase().replace(/[_-]/g, "");

/** `args` with each key the schema spells otherwise ("maxrows", "max_rows") under the schema's own name ("maxRows"). */
export function withSchemaKeys(schema: ObjectSchema, args: unknown): unknown {
  if (args === null || typeof args !== "object" || Array.isArray(args)) return args;
  const names = Object.keys(schema.properties);
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [names.includes(k) ? k : (names.find((n) => spelling(n) === spelling(k)) ?? k), v]));
}

/** Why `args` does not fit `schema`'s argument names, or null: an argument the tool does not have is an error, never silently dropped. */
export function unknownArguments(name: string, schema: ObjectSchema, args: unknown): string | null {
  if (args === null || typeof args !== "object" || Array.isArray(args)) return `${name} takes an object of arguments`;
  const known = Object.keys(schema.properties);
  const extra = Object.keys(args).filter((k) => !known.includes(k));
  if (extra.length === 0) return null;
  const takes = known.length ? `its arguments are ${known.join(", ")}` : "it takes no arguments";
  return `${name} has no argument ${extra.map((k) => `"${k}"`).join(", ")}; ${takes}`;
}

/** Each tool's parameters by name, as modelSchema gives them. */
export function toolShapes(tools: readonly { name: string; input: z.ZodType }[]): Map<string, ObjectSchema> {
  return new Map(tools.map((t) => [t.name, modelSchema(t.name, t.input)]));
}
