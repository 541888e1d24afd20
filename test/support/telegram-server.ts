import { EventEmitter } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { Update } from "grammy/types";
import { BOT_INFO } from "./telegram-updates.js";

export interface RecordedCall {
  method: string;
  payload: Record<string, unknown>;
  /** The message this call created (sendMessage and friends). */
  messageId?: number;
}

const SENDS = new Set(["sendMessage", "sendDocument", "sendPhoto"]);

/**
 * A local stand-in for the Bot API on 127.0.0.1: the subset carwatch uses
 * (getMe, getUpdates with long polling, sendMessage, editMessageText,
 * answerCallbackQuery, sendChatAction, setMyCommands, sendDocument,
 * sendPhoto). Tests push updates as a user would and await the bot's calls.
 */
export class TelegramServer extends EventEmitter {
  readonly calls: RecordedCall[] = [];
  private readonly server: Server;
  private readonly queue: Update[] = [];
  private nextUpdateId = 1;
  private nextMessageId = 1;
  private pollers: (() => void)[] = [];
  url = "";

  constructor() {
    super();
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  async close(): Promise<void> {
    for (const p of this.pollers.splice(0)) p();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  /** Delivers an update (its update_id is assigned here) to the next getUpdates. */
  push(update: Omit<Update, "update_id">): void {
    this.queue.push({ ...update, update_id: this.nextUpdateId++ } as Update);
    for (const p of this.pollers.splice(0)) p();
  }

  /** Resolves with the first call from `from` on (an index into calls) that matches. */
  waitFor(match: (c: RecordedCall) => boolean, from = 0): Promise<RecordedCall> {
    const found = this.calls.slice(from).find(match);
    if (found) return Promise.resolve(found);
    return new Promise((resolve) => {
      const on = (c: RecordedCall) => {
        if (!match(c)) return;
        this.off("call", on);
        resolve(c);
      };
      this.on("call", on);
    });
  }

  private readonly holds: { match: (c: RecordedCall) => boolean; released: Promise<void> }[] = [];

  /**
   * Holds the answer to the next call that matches until `release()`: a
   * handler waiting on Telegram as long as the test wants. `reached` resolves
   * with the call once it arrived.
   */
  hold(match: (c: RecordedCall) => boolean): { reached: Promise<RecordedCall>; release(): void } {
    let release!: () => void;
    this.holds.push({ match, released: new Promise<void>((r) => (release = r)) });
    return { reached: this.waitFor(match, this.calls.length), release };
  }

  /** Files users "sent": getFile answers with their path, and /file/bot<token>/<path> serves them. */
  private readonly files = new Map<string, Buffer>();

  addFile(fileId: string, bytes: Buffer): void {
    this.files.set(fileId, bytes);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const file = /^\/file\/bot[^/]+\/(.+)$/.exec(req.url ?? "");
    if (file) {
      const bytes = this.files.get(decodeURIComponent(file[1]!));
      res.writeHead(bytes ? 200 : 404);
      res.end(bytes ?? "");
      return;
    }
    const method = /\/bot[^/]+\/(\w+)$/.exec(req.url ?? "")?.[1] ?? "";
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks).toString();
    const payload = (req.headers["content-type"] ?? "").includes("json") && body ? (JSON.parse(body) as Record<string, unknown>) : multipartFields(body);
    const reply = (result: unknown) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: true, result }));
    };
    if (method === "getUpdates") return this.getUpdates(payload, reply);
    const call: RecordedCall = { method, payload };
    let result: unknown = true;
    if (method === "getMe") result = BOT_INFO;
    else if (method === "getFile") {
      const id = String(payload.file_id);
      const bytes = this.files.get(id);
      if (!bytes) {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ ok: false, error_code: 400, description: "Bad Request: invalid file_id" }));
        return;
      }
      result = { file_id: id, file_unique_id: id, file_size: bytes.length, file_path: id };
    } else if (SENDS.has(method)) {
      call.messageId = this.nextMessageId++;
      const chatId = Number(payload.chat_id);
      result = {
        message_id: call.messageId,
        date: Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: chatId < 0 ? "supergroup" : "private" },
        text: payload.text,
      };
    } else if (method === "editMessageText") {
      result = { message_id: Number(payload.message_id), date: 0, chat: { id: Number(payload.chat_id), type: "private" }, text: payload.text };
    } else if (!["answerCallbackQuery", "sendChatAction", "setMyCommands", "setWebhook"].includes(method)) {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ ok: false, error_code: 404, description: `Not Found: method ${method} is not in this test server` }));
      return;
    }
    this.calls.push(call);
    this.emit("call", call);
    const held = this.holds.findIndex((h) => h.match(call));
    if (held >= 0) await this.holds.splice(held, 1)[0]!.released;
    reply(result);
  }

  /** How many getUpdates calls arrived (long polling). */
  polls = 0;

  private getUpdates(payload: Record<string, unknown>, reply: (r: unknown) => void): void {
    this.polls++;
    const offset = Number(payload.offset ?? 0);
    const pending = () => this.queue.filter((u) => u.update_id >= offset);
    // Confirmed updates (below the offset) are forgotten, as Telegram does.
    while (this.queue.length > 0 && this.queue[0]!.update_id < offset) this.queue.shift();
    if (pending().length > 0) return reply(pending());
    const timer = setTimeout(() => done(), Number(payload.timeout ?? 0) * 1000);
    const done = () => {
      clearTimeout(timer);
      this.pollers = this.pollers.filter((p) => p !== done);
      reply(pending());
    };
    this.pollers.push(done);
  }
}

/** The text fields of a multipart body (files are recorded by name only). */
function multipartFields(body: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const m of body.matchAll(/name="([^"]+)"(?:; filename="([^"]+)")?\r\n(?:[^\r\n]*\r\n)*?\r\n([\s\S]*?)\r\n--/g)) {
    out[m[1]!] = m[2] ? { filename: m[2] } : m[3];
  }
  return out;
}
