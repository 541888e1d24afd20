import { z } from "zod";
import { CarwatchError } from "../core/errors.js";

/** Where Superset is and whom carwatch logs in as (SUPERSET_URL, SUPERSET_USER, SUPERSET_PASSWORD). */
export interface SupersetConnection {
  url: string;
  user?: string;
  password?: string;
}

/** Superset refused a request or could not be reached. The message is safe to show: it never holds the password. */
export class SupersetError extends CarwatchError {
  readonly status: number | null;
  constructor(message: string, options: { retriable: boolean; status?: number; cause?: unknown }) {
    super("tool", message, options);
    this.name = "SupersetError";
    this.status = options.status ?? null;
  }
}

/**
 * Rison, the encoding of the `q` parameter of Superset's list endpoints, for
 * the plain values carwatch sends. Hand-written: npm's rison packages are
 * unmaintained, and this subset is a dozen lines.
 */
export function rison(v: unknown): string {
  if (v === null || v === undefined) return "!n";
  if (v === true) return "!t";
  if (v === false) return "!f";
  if (typeof v === "number") return String(v);
  if (typeof v === "string") return /^[a-z_][a-z0-9_.-]*$/i.test(v) ? v : `'${v.replace(/[!']/g, (c) => `!${c}`)}'`;
  if (Array.isArray(v)) return `!(${v.map(rison).join(",")})`;
  return `(${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `${rison(k)}:${rison(x)}`)
    .join(",")})`;
}

const LoginAnswer = z.object({ access_token: z.string().min(1) });
const CsrfAnswer = z.object({ result: z.string().min(1) });
const CreatedAnswer = z.object({ id: z.number().int() });
const PageAnswer = z.object({ count: z.number().int(), result: z.array(z.unknown()) });
/** Superset's error bodies: a message (a string, or fields → problems), or a list of errors. */
const ErrorAnswer = z.object({ message: z.unknown().optional(), errors: z.array(z.object({ message: z.string() })).optional() });

export interface ListFilter {
  col: string;
  opr: "eq";
  value: string | number;
}

const PAGE_SIZE = 100;

/**
 * Superset's REST API as the admin carwatch logs in as: a bearer token from
 * /api/v1/security/login and, for writes, the CSRF token with the session
 * cookie it belongs to (Superset checks both on every POST and PUT).
 * Refusals and unreachable servers become SupersetErrors: retriable when
 * trying later may help (down, timeout, 429, 5xx), not when it cannot (a
 * refused login, a 4xx).
 */
export class SupersetClient {
  private csrf: { token: string; cookie: string } | null = null;

  private constructor(
    readonly base: string,
    private readonly token: string,
    private readonly timeoutMs: number,
  ) {}

  static async login(c: SupersetConnection, timeoutMs = 5000): Promise<SupersetClient> {
    const base = c.url.replace(/\/+$/, "");
    const user = c.user ?? "";
    const res = await send(
      base,
      `${base}/api/v1/security/login`,
      timeoutMs,
      {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ username: user, password: c.password ?? "", provider: "db", refresh: false }),
      },
      true,
    );
    if (res.status === 401) {
      throw new SupersetError(`Superset at ${base} refused the login of user "${user}": check SUPERSET_USER and SUPERSET_PASSWORD`, {
        retriable: false,
        status: 401,
      });
    }
    const { access_token } = await answer(base, "the login", res, LoginAnswer);
    return new SupersetClient(base, access_token, timeoutMs);
  }

  async get<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    return answer(this.base, `GET ${path}`, await this.request("GET", path), schema);
  }

  /** Every row of a list endpoint (e.g. "dashboard"), page by page, matching all filters. */
  async list<S extends z.ZodType>(resource: string, item: S, filters: ListFilter[] = []): Promise<z.output<S>[]> {
    const rows: z.output<S>[] = [];
    for (let page = 0; ; page++) {
      const q = rison({ filters, page, page_size: PAGE_SIZE });
      const body = await this.get(`/api/v1/${resource}/?q=${encodeURIComponent(q)}`, PageAnswer);
      const parsed = z.array(item).safeParse(body.result);
      if (!parsed.success) throw unexpected(this.base, `the ${resource} list`, parsed.error);
      rows.push(...parsed.data);
      if (body.result.length < PAGE_SIZE || rows.length >= body.count) return rows;
    }
  }

  /** POST /api/v1/<resource>/; the new object's id. */
  async create(resource: string, body: unknown): Promise<number> {
    const path = `/api/v1/${resource}/`;
    return (await answer(this.base, `POST ${path}`, await this.request("POST", path, body), CreatedAnswer)).id;
  }

  /** PUT /api/v1/<path> (an object, or an action such as a dataset's refresh); the answer is checked, not read. */
  async update(path: string, body?: unknown): Promise<void> {
    const p = `/api/v1/${path}`;
    await answer(this.base, `PUT ${p}`, await this.request("PUT", p, body), z.unknown());
  }

  private async request(method: "GET" | "POST" | "PUT", path: string, body?: unknown): Promise<Response> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}`, accept: "application/json" };
    if (method !== "GET") {
      const csrf = await this.csrfToken();
      Object.assign(headers, { "content-type": "application/json", "x-csrftoken": csrf.token, cookie: csrf.cookie, referer: `${this.base}/` });
    }
    return send(this.base, `${this.base}${path}`, this.timeoutMs, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  }

  private async csrfToken(): Promise<{ token: string; cookie: string }> {
    if (this.csrf) return this.csrf;
    const path = "/api/v1/security/csrf_token/";
    const res = await send(this.base, `${this.base}${path}`, this.timeoutMs, { headers: { authorization: `Bearer ${this.token}` } });
    const cookie = res.headers
      .getSetCookie()
      .map((c) => c.split(";")[0])
      .join("; ");
    const { result } = await answer(this.base, `GET ${path}`, res, CsrfAnswer);
    this.csrf = { token: result, cookie };
    return this.csrf;
  }
}

/**
 * fetch, with a network failure or a timeout as a retriable SupersetError.
 * A reset connection is tried once more when sending twice is harmless (GET,
 * PUT, the login; never a create): Superset's gunicorn closes idle
 * connections after 2 s, and a request sent on a pooled one just as it
 * closes is reset before Superset reads it.
 */
async function send(base: string, url: string, timeoutMs: number, init: RequestInit, resendable = init.method !== "POST"): Promise<Response> {
  const tries = resendable ? 2 : 1;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      if (err instanceof DOMException && err.name === "TimeoutError") {
        throw new SupersetError(`Superset at ${base} did not answer within ${timeoutMs / 1000} s`, { retriable: true, cause: err });
      }
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === "ECONNRESET" && attempt < tries) continue;
      throw new SupersetError(`Superset at ${base} is unreachable${code ? ` (${code})` : ""}`, { retriable: true, cause: err });
    }
  }
}

/** The parsed body of a successful answer; a refusal as a SupersetError carrying Superset's own message. */
async function answer<S extends z.ZodType>(base: string, what: string, res: Response, schema: S): Promise<z.output<S>> {
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  if (!res.ok) {
    const e = ErrorAnswer.safeParse(json);
    const said = e.success ? (e.data.errors?.map((x) => x.message).join("; ") ?? e.data.message) : undefined;
    const detail = said === undefined ? "" : `: ${typeof said === "string" ? said : JSON.stringify(said)}`;
    throw new SupersetError(`Superset at ${base} refused ${what} (HTTP ${res.status}${detail})`, {
      retriable: res.status === 429 || res.status >= 500,
      status: res.status,
    });
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) throw unexpected(base, what, parsed.error);
  return parsed.data;
}

function unexpected(base: string, what: string, cause: z.ZodError): SupersetError {
  return new SupersetError(`Superset at ${base} answered ${what} with an unexpected body: ${z.prettifyError(cause)}`, { retriable: false, cause });
}
