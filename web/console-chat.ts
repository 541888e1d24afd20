import { randomBytes } from "node:crypto";
import { EventEmitter } from "node:events";
import type { InputFile } from "grammy";
import type { Message, MessageEntity, Update, UserFromGetMe } from "grammy/types";
import { HtmlParseError, parseTelegramHtml, type RichNode } from "./telegram-html.js";

/** An inline button as the page shows it. */
export interface ConsoleButton {
  text: string;
  data?: string;
  url?: string;
}

/** One message of the console chat, as the page renders it. */
export interface ConsoleMessage {
  id: number;
  from: "user" | "bot";
  date: number;
  nodes: RichNode[];
  buttons: ConsoleButton[][];
  photo?: { url: string; name: string };
  document?: { url: string; name: string; size: number };
  /** The message this one replies to (a resolved incident's notice to its opening one). */
  replyTo?: number;
  edited: boolean;
}

export interface StoredFile {
  id: string;
  name: string;
  mime: string;
  bytes: Buffer;
}

/** What the page hears, over server-sent events. */
export type ConsoleEvent =
  | { type: "message"; message: ConsoleMessage }
  | { type: "delete"; id: number }
  | { type: "keyboard"; keyboard: string[][] | null }
  | { type: "action"; action: string }
  | { type: "toast"; text: string; alert: boolean }
  | { type: "commands"; commands: { command: string; description: string }[] };

export interface Snapshot {
  messages: ConsoleMessage[];
  keyboard: string[][] | null;
  commands: { command: string; description: string }[];
  user: { id: number; name: string };
  bot: { username: string };
}

/** A Bot API error as Telegram words it; grammY turns it into a GrammyError. */
class ApiRefusal extends Error {
  constructor(readonly description: string) {
    super(description);
  }
}

type Payload = Record<string, unknown>;
const MESSAGE_LIMIT = 4096;
const CAPTION_LIMIT = 1024;

/**
 * The console's side of the Bot API: the chat's messages, reply keyboard and
 * files, kept in memory. `api` answers the bot's calls as Telegram would
 * (message ids, "message is not modified", "chat not found"...), and every
 * change is emitted for the page. The page's input becomes Updates.
 */
export class ConsoleChat extends EventEmitter<{ event: [ConsoleEvent] }> {
  readonly chatId: number;
  private readonly messages = new Map<number, ConsoleMessage & { raw: Message; markup?: unknown }>();
  private readonly files = new Map<string, StoredFile>();
  private keyboard: string[][] | null = null;
  private commands: { command: string; description: string }[] = [];
  private nextMessageId = 1;
  private nextUpdateId = 1;
  private readonly callbacks = new Set<string>();

  constructor(
    readonly user: { id: number; name: string },
    readonly botInfo: UserFromGetMe,
    private readonly limits = { messages: 300, files: 40 },
    private readonly clock: () => number = Date.now,
  ) {
    super();
    this.chatId = user.id;
  }

  snapshot(): Snapshot {
    return {
      messages: [...this.messages.values()].map(({ raw: _raw, markup: _m, ...m }) => m),
      keyboard: this.keyboard,
      commands: this.commands,
      user: this.user,
      bot: { username: this.botInfo.username },
    };
  }

  file(id: string): StoredFile | undefined {
    return this.files.get(id);
  }

  message(id: number): ConsoleMessage | undefined {
    const m = this.messages.get(id);
    if (!m) return undefined;
    const { raw: _raw, markup: _m, ...rest } = m;
    return rest;
  }

  private get chat() {
    return { id: this.chatId, type: "private" as const, first_name: this.user.name };
  }

  private get from() {
    return { id: this.user.id, is_bot: false, first_name: this.user.name };
  }

  private emitEvent(e: ConsoleEvent): void {
    this.emit("event", e);
  }

  private keep(m: ConsoleMessage & { raw: Message; markup?: unknown }): void {
    this.messages.set(m.id, m);
    while (this.messages.size > this.limits.messages) this.messages.delete(this.messages.keys().next().value!);
    this.emitEvent({ type: "message", message: this.message(m.id)! });
  }

  /** The operator typed `text`: the message is shown at once and returned as the Update the bot handles. */
  userMessage(text: string): Update {
    return this.fromUser(text, (entities) => ({ text, ...(entities ? { entities } : {}) }));
  }

  /**
   * The operator sent a file with a caption (e.g. /fleet import): kept like a
   * file the bot sent, shown at once, and returned as the Update Telegram
   * would send; getFile then finds it.
   */
  userDocument(name: string, mime: string, bytes: Buffer, caption: string): Update {
    const file: StoredFile = { id: randomBytes(12).toString("base64url"), name, mime, bytes };
    this.files.set(file.id, file);
    while (this.files.size > this.limits.files) this.files.delete(this.files.keys().next().value!);
    return this.fromUser(
      caption,
      (entities) => ({
        document: { file_id: file.id, file_unique_id: file.id, file_name: name, mime_type: mime, file_size: bytes.length },
        caption,
        ...(entities ? { caption_entities: entities } : {}),
      }),
      { url: `files/${file.id}`, name, size: bytes.length },
    );
  }

  /** A message from the operator whose text (or caption) is `shown`: kept, emitted, and returned as its Update. */
  private fromUser(shown: string, content: (entities: MessageEntity[] | null) => Partial<Message>, document?: ConsoleMessage["document"]): Update {
    const id = this.nextMessageId++;
    const date = Math.floor(this.clock() / 1000);
    const command = /^\/[A-Za-z0-9_]+(@[A-Za-z0-9_]+)?/.exec(shown);
    const entities = command ? [{ type: "bot_command" as const, offset: 0, length: command[0].length }] : null;
    const raw = { message_id: id, date, chat: this.chat, from: this.from, ...content(entities) } as Message;
    this.keep({ id, from: "user", date, nodes: [shown], buttons: [], ...(document ? { document } : {}), edited: false, raw });
    return { update_id: this.nextUpdateId++, message: raw as Update["message"] } as Update;
  }

  /** The operator pressed an inline button: the Update Telegram would send, or null when that message has no such button. */
  press(messageId: number, data: string): Update | null {
    const m = this.messages.get(messageId);
    if (m?.from !== "bot" || !m.buttons.flat().some((b) => b.data === data)) return null;
    const id = `${this.chatId}-${randomBytes(6).toString("hex")}`;
    this.callbacks.add(id);
    return {
      update_id: this.nextUpdateId++,
      callback_query: { id, from: this.from, chat_instance: `console-${this.chatId}`, data, message: m.raw },
    } as Update;
  }

  /** Handles one Bot API call from the bot (the grammY transformer's body). */
  async api(method: string, payload: Payload): Promise<{ ok: true; result: unknown } | { ok: false; error_code: number; description: string }> {
    try {
      return { ok: true, result: await this.call(method, payload) };
    } catch (err) {
      if (err instanceof ApiRefusal) return { ok: false, error_code: 400, description: err.description };
      throw err;
    }
  }

  private checkChat(payload: Payload): void {
    const chatId = payload.chat_id;
    if (chatId !== this.chatId && chatId !== String(this.chatId)) throw new ApiRefusal("Bad Request: chat not found");
  }

  private rich(text: string, parseMode: unknown, limit: number): RichNode[] {
    if ([...text].length > limit)
      throw new ApiRefusal(limit === CAPTION_LIMIT ? "Bad Request: message caption is too long" : "Bad Request: message is too long");
    if (parseMode === undefined) return [text];
    if (parseMode !== "HTML") throw new ApiRefusal(`Bad Request: unsupported parse_mode ${String(parseMode)} (the console speaks HTML)`);
    try {
      return parseTelegramHtml(text);
    } catch (err) {
      if (err instanceof HtmlParseError) throw new ApiRefusal(`Bad Request: can't parse entities: ${err.message}`);
      throw err;
    }
  }

  private buttonsOf(markup: unknown): ConsoleButton[][] {
    const rows = (markup as { inline_keyboard?: { text: string; callback_data?: string; url?: string }[][] } | undefined)?.inline_keyboard;
    return (rows ?? []).map((row) =>
      row.map((b) => ({ text: b.text, ...(b.callback_data ? { data: b.callback_data } : {}), ...(b.url ? { url: b.url } : {}) })),
    );
  }

  /** A reply keyboard, or its removal, applies to the chat; an inline keyboard to the message. */
  private applyReplyMarkup(markup: unknown): unknown {
    const m = markup as { keyboard?: ({ text: string } | string)[][]; remove_keyboard?: boolean; inline_keyboard?: unknown } | undefined;
    if (m?.keyboard) {
      this.keyboard = m.keyboard.map((row) => row.map((b) => (typeof b === "string" ? b : b.text)));
      this.emitEvent({ type: "keyboard", keyboard: this.keyboard });
    } else if (m?.remove_keyboard) {
      this.keyboard = null;
      this.emitEvent({ type: "keyboard", keyboard: null });
    }
    return m?.inline_keyboard ? m : undefined;
  }

  /** As Telegram: replying to a message that is gone is refused, unless the sender allowed sending without the reply. */
  private replyTarget(params: unknown): { id: number; raw: Message["reply_to_message"] } | null {
    const r = params as { message_id?: unknown; allow_sending_without_reply?: unknown } | undefined;
    if (r?.message_id === undefined) return null;
    const m = this.messages.get(Number(r.message_id));
    // Telegram nests one level only: the replied-to message comes without its own reply.
    if (m) return { id: m.id, raw: { ...m.raw, reply_to_message: undefined } as Message["reply_to_message"] };
    if (r.allow_sending_without_reply === true) return null;
    throw new ApiRefusal("Bad Request: message to be replied not found");
  }

  private botMessage(fields: Omit<ConsoleMessage, "id" | "from" | "date" | "edited">, raw: Partial<Message>, markup: unknown): Message {
    const id = this.nextMessageId++;
    const date = Math.floor(this.clock() / 1000);
    const message = {
      message_id: id,
      date,
      chat: this.chat,
      from: { id: this.botInfo.id, is_bot: true, first_name: this.botInfo.first_name, username: this.botInfo.username },
      ...raw,
      ...(markup ? { reply_markup: markup } : {}),
    } as Message;
    this.keep({ id, from: "bot", date, edited: false, ...fields, raw: message, markup });
    return message;
  }

  private async storeFile(input: unknown, fallbackName: string, mime: string): Promise<StoredFile> {
    if (typeof input === "string") {
      const known = this.files.get(input);
      if (known) return known;
      throw new ApiRefusal("Bad Request: wrong file identifier/HTTP URL specified");
    }
    const file = input as InputFile;
    if (typeof file?.toRaw !== "function") throw new ApiRefusal("Bad Request: there is no file in the request");
    const raw = await file.toRaw();
    const chunks: Uint8Array[] = [];
    if (raw instanceof Uint8Array) chunks.push(raw);
    else for await (const c of raw as AsyncIterable<Uint8Array>) chunks.push(c);
    const stored: StoredFile = { id: randomBytes(12).toString("base64url"), name: file.filename ?? fallbackName, mime, bytes: Buffer.concat(chunks) };
    this.files.set(stored.id, stored);
    while (this.files.size > this.limits.files) this.files.delete(this.files.keys().next().value!);
    return stored;
  }

  private async call(method: string, p: Payload): Promise<unknown> {
    switch (method) {
      case "getMe":
        return this.botInfo;
      case "getFile": {
        const f = this.files.get(String(p.file_id));
        if (!f) throw new ApiRefusal("Bad Request: invalid file_id");
        // The path is the id: the console's bot downloads from this store (web/console.ts), not over HTTP.
        return { file_id: f.id, file_unique_id: f.id, file_size: f.bytes.length, file_path: f.id };
      }
      case "setMyCommands":
        this.commands = ((p.commands as { command: string; description: string }[]) ?? []).map((c) => ({ command: c.command, description: c.description }));
        this.emitEvent({ type: "commands", commands: this.commands });
        return true;
      case "getMyCommands":
        return this.commands;
      case "deleteMyCommands":
        this.commands = [];
        this.emitEvent({ type: "commands", commands: [] });
        return true;
      case "setChatMenuButton":
      case "setMyDescription":
      case "setMyShortDescription":
        return true;
      case "getChat":
        this.checkChat(p);
        return this.chat;
      case "sendChatAction":
        this.checkChat(p);
        this.emitEvent({ type: "action", action: String(p.action) });
        return true;
      case "answerCallbackQuery": {
        const id = String(p.callback_query_id);
        if (!this.callbacks.delete(id)) throw new ApiRefusal("Bad Request: query is too old and response timeout expired or query ID is invalid");
        if (typeof p.text === "string" && p.text) this.emitEvent({ type: "toast", text: p.text, alert: p.show_alert === true });
        return true;
      }
      case "sendMessage": {
        this.checkChat(p);
        const text = String(p.text ?? "");
        if (!text.trim()) throw new ApiRefusal("Bad Request: message text is empty");
        const nodes = this.rich(text, p.parse_mode, MESSAGE_LIMIT);
        const markup = this.applyReplyMarkup(p.reply_markup);
        const reply = this.replyTarget(p.reply_parameters);
        return this.botMessage(
          { nodes, buttons: this.buttonsOf(markup), ...(reply ? { replyTo: reply.id } : {}) },
          { text: plain(nodes), ...(reply ? { reply_to_message: reply.raw } : {}) },
          markup,
        );
      }
      case "sendPhoto":
      case "sendDocument": {
        this.checkChat(p);
        const photo = method === "sendPhoto";
        const f = await this.storeFile(
          photo ? p.photo : p.document,
          photo ? "photo.png" : "file",
          photo ? "image/png" : mimeOf(String((p.document as InputFile)?.filename ?? "")),
        );
        const caption = typeof p.caption === "string" ? p.caption : "";
        const nodes = caption ? this.rich(caption, p.parse_mode, CAPTION_LIMIT) : [];
        const markup = this.applyReplyMarkup(p.reply_markup);
        const url = `files/${f.id}`;
        const media = photo
          ? { photo: [{ file_id: f.id, file_unique_id: f.id, width: 0, height: 0, file_size: f.bytes.length }] }
          : { document: { file_id: f.id, file_unique_id: f.id, file_name: f.name, mime_type: f.mime, file_size: f.bytes.length } };
        return this.botMessage(
          { nodes, buttons: this.buttonsOf(markup), ...(photo ? { photo: { url, name: f.name } } : { document: { url, name: f.name, size: f.bytes.length } }) },
          { ...media, ...(caption ? { caption: plain(nodes) } : {}) },
          markup,
        );
      }
      case "editMessageText":
      case "editMessageCaption":
      case "editMessageReplyMarkup": {
        if (p.inline_message_id !== undefined) throw new ApiRefusal("Bad Request: inline messages are not supported by the console");
        this.checkChat(p);
        const m = this.messages.get(Number(p.message_id));
        if (m?.from !== "bot") throw new ApiRefusal("Bad Request: message to edit not found");
        // As in Telegram: an edit without reply_markup removes the inline keyboard.
        const markup = (p.reply_markup as { inline_keyboard?: unknown } | undefined)?.inline_keyboard ? p.reply_markup : undefined;
        let nodes = m.nodes;
        if (method === "editMessageText") {
          if (m.photo || m.document) throw new ApiRefusal("Bad Request: there is no text in the message to edit");
          const text = String(p.text ?? "");
          if (!text.trim()) throw new ApiRefusal("Bad Request: message text is empty");
          nodes = this.rich(text, p.parse_mode, MESSAGE_LIMIT);
        } else if (method === "editMessageCaption") {
          nodes = typeof p.caption === "string" && p.caption ? this.rich(p.caption, p.parse_mode, CAPTION_LIMIT) : [];
        }
        const buttons = this.buttonsOf(markup);
        if (JSON.stringify(nodes) === JSON.stringify(m.nodes) && JSON.stringify(buttons) === JSON.stringify(m.buttons)) {
          throw new ApiRefusal(
            "Bad Request: message is not modified: specified new message content and reply markup are exactly the same as a current content and reply markup of the message",
          );
        }
        const raw = {
          ...m.raw,
          edit_date: Math.floor(this.clock() / 1000),
          ...(m.photo || m.document ? { caption: plain(nodes) } : { text: plain(nodes) }),
        } as Message;
        if (markup) (raw as { reply_markup?: unknown }).reply_markup = markup;
        else delete (raw as { reply_markup?: unknown }).reply_markup;
        this.keep({ ...m, nodes, buttons, edited: true, raw, markup });
        return raw;
      }
      case "deleteMessage": {
        this.checkChat(p);
        const id = Number(p.message_id);
        if (!this.messages.delete(id)) throw new ApiRefusal("Bad Request: message to delete not found");
        this.emitEvent({ type: "delete", id });
        return true;
      }
      default:
        throw new ApiRefusal(`Bad Request: method ${method} is not available in the local console`);
    }
  }
}

function plain(nodes: readonly RichNode[]): string {
  return nodes.map((n) => (typeof n === "string" ? n : plain(n.children))).join("");
}

function mimeOf(name: string): string {
  if (name.endsWith(".csv")) return "text/csv";
  if (name.endsWith(".png")) return "image/png";
  if (name.endsWith(".json")) return "application/json";
  if (name.endsWith(".txt")) return "text/plain";
  return "application/octet-stream";
}
