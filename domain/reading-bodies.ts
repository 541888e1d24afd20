/**
 * How a body carries readings, wherever it comes from (an HTTP request, an
 * MQTT message): `json` is one reading or an array of them, `ndjson` one
 * reading per line, `either` is JSON when the whole body parses as JSON and
 * NDJSON otherwise (MQTT 3.1.1 has no content type to tell them apart).
 */
export type BodyFormat = "json" | "ndjson" | "either";

const lines = (text: string) => text.split("\n").filter((l) => l.trim() !== "");

/**
 * The readings of a body, each kept as its own text: the intake parses each
 * one once and dead-letters the bad ones individually. Throws the parser's
 * SyntaxError only for `json` that does not parse.
 */
export function readingsOf(text: string, format: BodyFormat): string[] {
  if (format === "ndjson") return lines(text);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (err) {
    if (format === "either") return lines(text);
    throw err;
  }
  return Array.isArray(body) ? body.map((r) => JSON.stringify(r)) : [text];
}
