/**
 * A loopback proxy in front of an OpenAI-compatible server that reads the
 * token usage of every chat completion (the response's `usage`, which
 * OpenAI and llama-server send, plus llama-server's `timings.cache_n`).
 * It counts every model call of a turn, routing steps included, whatever
 * the agent does with the messages, so the eval needs nothing from the agent.
 */
import { once } from "node:events";
import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";

export interface Usage {
  calls: number;
  /** Prompt tokens. */
  in: number;
  /** Completion tokens. */
  out: number;
  /** Prompt tokens the server took from its prompt cache (llama-server only). */
  cached: number;
}

interface CompletionBody {
  usage?: { prompt_tokens?: number; completion_tokens?: number };
  timings?: { cache_n?: number };
}

export interface UsageProxy {
  /** The base URL to give the agent instead of the server's. */
  baseURL: string;
  /** The usage since the last take. */
  take(): Usage;
  close(): Promise<void>;
}

const empty = (): Usage => ({ calls: 0, in: 0, out: 0, cached: 0 });

async function body(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

/** The completion objects of a JSON body or of an event stream (each `data:` line; usage comes in the last). */
function completions(text: string, contentType: string): CompletionBody[] {
  const parse = (s: string): CompletionBody[] => {
    try {
      return [JSON.parse(s) as CompletionBody];
    } catch {
      return [];
    }
  };
  if (!contentType.includes("text/event-stream")) return parse(text);
  return text.split("\n").flatMap((line) => (line.startsWith("data:") ? parse(line.slice(5).trim()) : []));
}

export async function startUsageProxy(upstreamBaseURL: string): Promise<UsageProxy> {
  const upstream = new URL(upstreamBaseURL);
  let usage = empty();
  const server = createServer((req, res) => {
    // A client that gives up (the agent's turn limit) aborts the upstream call too, so llama-server stops generating.
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    void (async () => {
      const headers = Object.fromEntries(
        Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === "string" && !["host", "content-length", "connection"].includes(e[0])),
      );
      const completion = req.url?.endsWith("/chat/completions") ?? false;
      // Counted when asked: a call the client abandoned is a call too (its tokens are never told).
      if (completion) usage.calls++;
      const payload = req.method === "GET" || req.method === "HEAD" ? undefined : new Uint8Array(await body(req));
      const answer = await fetch(new URL(req.url ?? "/", upstream.origin), { method: req.method, headers, body: payload, signal: abort.signal });
      const text = await answer.text();
      const type = answer.headers.get("content-type") ?? "";
      if (completion) {
        // A stream's chunks may each repeat the figures so far: the last one that has them counts.
        const parts = completions(text, type).reverse();
        const counted = parts.find((c) => c.usage)?.usage;
        usage.in += counted?.prompt_tokens ?? 0;
        usage.out += counted?.completion_tokens ?? 0;
        usage.cached += parts.find((c) => c.timings)?.timings?.cache_n ?? 0;
      }
      res.writeHead(answer.status, { "content-type": type || "application/json" });
      res.end(text);
    })().catch((err: Error) => {
      if (!res.headersSent) res.writeHead(502, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: `usage proxy: ${err.message}` } }));
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    baseURL: `http://127.0.0.1:${port}${upstream.pathname.replace(/\/$/, "")}`,
    take: () => {
      const u = usage;
      usage = empty();
      return u;
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, "close");
    },
  };
}
