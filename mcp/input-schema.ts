import { z } from "zod";

type JsonSchema = { [key: string]: unknown; type?: unknown; properties?: Record<string, JsonSchema>; required?: string[]; anyOf?: JsonSchema[] };

/** A tool's input as MCP lists it: a JSON object schema (the input side of the tool's zod schema). */
export interface ObjectSchema {
  [key: string]: unknown;
  type: "object";
  properties: Record<string, object>;
  required?: string[];
}

/**
 * The tool's input as one JSON object schema. MCP requires `type: "object"`
 * at the top, and some clients' models refuse a top-level `anyOf` (Anthropic's
 * API does), so a union of objects (`silence`) becomes one object with every
 * branch's arguments, each required only where all branches require it; the
 * branches are named in the description and the registry still parses the
 * union itself. Anything else is a tool that cannot be called with named
 * arguments, a programming error.
 */
export function objectSchemaOf(input: z.ZodType): ObjectSchema {
  const { $schema: _, ...schema } = z.toJSONSchema(input, { io: "input", unrepresentable: "any" }) as JsonSchema;
  if (schema.type === "object") return { ...schema, type: "object", properties: schema.properties ?? {} };
  const branches = schema.anyOf;
  if (!branches?.every((b) => b.type === "object")) throw new Error(`a tool's input must be an object or a union of objects: ${JSON.stringify(schema)}`);
  const options = new Map<string, Map<string, JsonSchema>>();
  for (const b of branches) {
    for (const [name, s] of Object.entries(b.properties ?? {})) {
      if (!options.has(name)) options.set(name, new Map());
      options.get(name)!.set(JSON.stringify(s), s);
    }
  }
  const properties = Object.fromEntries(
    [...options].map(([name, distinct]) => [name, distinct.size === 1 ? [...distinct.values()][0]! : { anyOf: [...distinct.values()] }]),
  );
  const required = Object.keys(properties).filter((name) => branches.every((b) => b.required?.includes(name)));
  const forms = branches.map((b) =>
    Object.keys(b.properties ?? {})
      .map((name) => (b.required?.includes(name) ? name : `${name}?`))
      .join(", "),
  );
  return {
    type: "object",
    description: `One of: ${forms.map((f) => `{${f}}`).join(" or ")}.`,
    properties,
    ...(required.length > 0 ? { required } : {}),
  };
}
