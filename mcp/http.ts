import { randomUUID } from "node:crypto";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import { tokenUserId } from "../tools/api-tokens.js";
import type { Registry } from "../tools/index.js";
import { createMcpServer } from "./server.js";

/** A session no request used for this long is closed (clients often never send DELETE). */
const IDLE_MS = 30 * 60_000;
/** A request's body: as large as a fleet file (import_fleet's content), the largest input a tool takes. */
const MAX_BODY_BYTES = 8 << 20;
/** Sessions one process keeps at most; past it a new one is refused until some close or idle out. */
const MAX_SESSIONS = 500;

interface Session {
  server: Server;
  transport: WebStandardStreamableHTTPServerTransport;
  tokenId: number;
  usedAt: number;
}

const jsonRpcError = (status: number, message: string) => Response.json({ jsonrpc: "2.0", error: { code: -32000, message }, id: null }, { status });

/**
 * MCP's Streamable HTTP transport (the SDK's Web-standard one) with
 * sessions: a tool call may ask the user to confirm (elicitation) and take
 * the answer in a later POST, so a session's server and transport stay in
 * this process's memory between requests. A session belongs to the token
 * that opened it: another token naming its id gets the same 404 as an
 * unknown id. Every request is authenticated again before it gets here
 * (web/mcp.ts), so a revoked token loses its sessions at once.
 */
export class McpSessions {
  private readonly sessions = new Map<string, Session>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly registry: Registry,
    private readonly clock: () => number = Date.now,
  ) {
    this.sweeper = setInterval(() => this.closeIdle(), 60_000);
    this.sweeper.unref();
  }

  /** The number of open sessions. */
  get size(): number {
    return this.sessions.size;
  }

  async handle(request: Request, tokenId: number): Promise<Response> {
    const id = request.headers.get("mcp-session-id");
    if (id !== null) {
      const session = this.sessions.get(id);
      if (!session || session.tokenId !== tokenId) return jsonRpcError(404, "no such session: initialize a new one");
      session.usedAt = this.clock();
      return session.transport.handleRequest(request);
    }
    if (this.sessions.size >= MAX_SESSIONS) return jsonRpcError(503, `${MAX_SESSIONS} MCP sessions are open; end one (DELETE /mcp) or try again later`);
    const server = createMcpServer({ registry: this.registry, userId: tokenUserId(tokenId), clock: this.clock });
    const transport: WebStandardStreamableHTTPServerTransport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: randomUUID,
      maxRequestBodySize: MAX_BODY_BYTES,
      onsessioninitialized: (sid) => void this.sessions.set(sid, { server, transport, tokenId, usedAt: this.clock() }),
    });
    transport.onclose = () => void (transport.sessionId && this.sessions.delete(transport.sessionId));
    await server.connect(transport);
    const response = await transport.handleRequest(request);
    // Anything but an initialize request opens no session (the transport answered it 400): nothing to keep.
    if (transport.sessionId === undefined) await server.close();
    return response;
  }

  /** Ends every session (the HTTP server is stopping): their open streams end with them. */
  close(): void {
    clearInterval(this.sweeper);
    for (const s of [...this.sessions.values()]) void s.server.close();
  }

  private closeIdle(): void {
    const before = this.clock() - IDLE_MS;
    for (const s of [...this.sessions.values()]) if (s.usedAt < before) void s.server.close();
  }
}
