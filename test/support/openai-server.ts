import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ChatRequest {
  model: string;
  messages: { role: string; content: unknown; tool_calls?: { function: { name: string; arguments: string } }[]; tool_call_id?: string }[];
  tools?: { type: "function"; function: { name: string; description?: string; parameters?: unknown } }[];
  stream?: boolean;
  max_tokens?: number;
}

/** What the scripted model answers next: text, tool calls, or an HTTP error. */
export type Step = { text: string; id?: string } | { calls: { name: string; args: unknown }[] } | { status: number; body?: unknown } | { raw: string };
export type Script = Step | ((req: ChatRequest) => Step);

/**
 * A local server speaking the OpenAI chat-completions wire protocol (JSON
 * and SSE streaming, tool calls), answering from a script, so the real
 * @langchain/openai client runs unmodified against it.
 */
export class ScriptedOpenAI {
  readonly requests: ChatRequest[] = [];
  private script: Script[] = [];
  private server: Server | null = null;
  private n = 0;

  get baseURL(): string {
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}/v1`;
  }

  async start(): Promise<this> {
    this.server = createServer(async (req, res) => {
      if (req.method !== "POST" || !req.url?.endsWith("/chat/completions")) {
        res.writeHead(404).end();
        return;
      }
      const body = JSON.parse(await read(req)) as ChatRequest;
      this.requests.push(body);
      const next = this.script.shift();
      const step: Step =
        next === undefined ? { status: 500, body: { error: { message: "script exhausted" } } } : typeof next === "function" ? next(body) : next;
      if ("status" in step) {
        res
          .writeHead(step.status, { "content-type": "application/json" })
          .end(JSON.stringify(step.body ?? { error: { message: `HTTP ${step.status}`, type: "test" } }));
        return;
      }
      if ("raw" in step) {
        res.writeHead(200, { "content-type": "application/json" }).end(step.raw);
        return;
      }
      // A text step may name its response id: some servers repeat one id for every response.
      const id = ("text" in step && step.id) || `chatcmpl-${++this.n}`;
      if ("text" in step && step.id) this.n++;
      const message =
        "text" in step
          ? { role: "assistant", content: step.text }
          : {
              role: "assistant",
              content: null,
              tool_calls: step.calls.map((c, i) => ({
                id: `call_${this.n}_${i}`,
                type: "function",
                function: { name: c.name, arguments: JSON.stringify(c.args) },
              })),
            };
      const finish = "text" in step ? "stop" : "tool_calls";
      if (body.stream) {
        res.writeHead(200, { "content-type": "text/event-stream" });
        const delta =
          "text" in step
            ? { role: "assistant", content: step.text }
            : { role: "assistant", tool_calls: message.tool_calls!.map((t, index) => ({ index, ...t })) };
        res.write(
          `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 0, model: body.model, choices: [{ index: 0, delta, finish_reason: null }] })}\n\n`,
        );
        res.write(
          `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created: 0, model: body.model, choices: [{ index: 0, delta: {}, finish_reason: finish }] })}\n\n`,
        );
        res.end("data: [DONE]\n\n");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end(
        JSON.stringify({
          id,
          object: "chat.completion",
          created: 0,
          model: body.model,
          choices: [{ index: 0, message, finish_reason: finish }],
          usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
        }),
      );
    });
    await new Promise<void>((r) => this.server!.listen(0, "127.0.0.1", r));
    return this;
  }

  /** Queues the next answers. */
  answer(...steps: Script[]): this {
    this.script.push(...steps);
    return this;
  }

  /** Drops what is still queued (after a step the client may or may not have retried). */
  clear(): void {
    this.script.length = 0;
  }

  get remaining(): number {
    return this.script.length;
  }

  /** A message's text, whether the client sent a string or content blocks. */
  static text(content: unknown): string {
    if (typeof content === "string") return content;
    if (Array.isArray(content)) return content.map((b: { text?: string }) => b.text ?? "").join("");
    return JSON.stringify(content);
  }

  /** Names of the tools the model was offered in request `i`. */
  toolsOffered(i = this.requests.length - 1): string[] {
    return (this.requests[i]?.tools ?? []).map((t) => t.function.name).sort();
  }

  async stop(): Promise<void> {
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}

function read(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = "";
    req.setEncoding("utf8");
    req.on("data", (c: string) => (data += c));
    req.on("end", () => resolve(data));
    req.on("error", reject);
  });
}
