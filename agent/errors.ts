import { CarwatchError } from "../core/errors.js";

/** The model could not answer; `message` is one sentence fit for the user. */
export class LlmError extends CarwatchError {
  constructor(message: string, retriable: boolean, cause: unknown) {
    super("llm", message, { retriable, cause });
    this.name = "LlmError";
  }
}

/** Turns whatever the OpenAI client or LangChain threw into one clear sentence. */
export function toLlmError(err: unknown): LlmError {
  if (err instanceof LlmError) return err;
  // A middleware (the dynamic system prompt's, among others) wraps the model client's error; LangChain brands
  // the wrapper (MiddlewareError.isInstance checks the same, but importing it would load LangChain here).
  if ((err as { "~brand"?: string } | null)?.["~brand"] === "MiddlewareError" && (err as Error).cause) return toLlmError((err as Error).cause);
  const e = err as { status?: number; name?: string; message?: string; code?: string; lc_error_code?: string };
  const status = typeof e?.status === "number" ? e.status : undefined;
  const text = `${e?.name ?? ""} ${e?.message ?? ""}`;
  if (status === 401 || status === 403) return new LlmError("The model refused carwatch's API key (check OPENAI_API_KEY).", false, err);
  if (status === 429) return new LlmError("The model is rate-limited right now; try again in a minute.", true, err);
  if (status !== undefined && status >= 500) return new LlmError(`The model's server failed (HTTP ${status}); try again shortly.`, true, err);
  if (/abort|timeout|timed out/i.test(text)) return new LlmError("The model took too long to answer, so I stopped.", true, err);
  if (e?.lc_error_code === "GRAPH_RECURSION_LIMIT" || /recursion limit|model call limit/i.test(text)) {
    return new LlmError("That took more steps than I allow for one question; try asking something narrower.", false, err);
  }
  if (/ECONNREFUSED|ENOTFOUND|fetch failed|Connection error/i.test(text)) return new LlmError("The model's server cannot be reached.", true, err);
  if (status !== undefined) return new LlmError(`The model answered with an error (HTTP ${status}).`, false, err);
  return new LlmError("The model's answer could not be understood.", false, err);
}
