import type { Update, UserFromGetMe } from "grammy/types";

export const BOT_INFO: UserFromGetMe = {
  id: 4242,
  is_bot: true,
  first_name: "carwatch",
  username: "carwatch_test_bot",
  can_join_groups: true,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
  has_topics_enabled: false,
  allows_users_to_create_topics: false,
  can_manage_bots: false,
  supports_join_request_queries: false,
};

let nextId = 1;

/** A user's message as Telegram delivers it; commands get their bot_command entity. */
export function textUpdate(
  userId: number,
  text: string,
  chat: { id: number; type: "private" | "group" | "supergroup" } = { id: userId, type: "private" },
): Update {
  const id = nextId++;
  const command = /^\/\S+/.exec(text);
  return {
    update_id: id,
    message: {
      message_id: id,
      date: Math.floor(Date.now() / 1000),
      chat: chat.type === "private" ? { id: chat.id, type: "private", first_name: `user${userId}` } : { id: chat.id, type: chat.type, title: "ops" },
      from: { id: userId, is_bot: false, first_name: `user${userId}` },
      text,
      ...(command ? { entities: [{ type: "bot_command" as const, offset: 0, length: command[0].length }] } : {}),
    },
  } as Update;
}

/** A file sent with a caption (the caption may be a command, as Telegram marks it). */
export function documentUpdate(userId: number, fileId: string, fileName: string, caption: string, size: number): Update {
  const id = nextId++;
  const command = /^\/\S+/.exec(caption);
  return {
    update_id: id,
    message: {
      message_id: id,
      date: Math.floor(Date.now() / 1000),
      chat: { id: userId, type: "private", first_name: `user${userId}` },
      from: { id: userId, is_bot: false, first_name: `user${userId}` },
      document: { file_id: fileId, file_unique_id: fileId, file_name: fileName, mime_type: "text/csv", file_size: size },
      caption,
      ...(command ? { caption_entities: [{ type: "bot_command" as const, offset: 0, length: command[0].length }] } : {}),
    },
  } as Update;
}

/** A press of an inline button carrying `data` on message `messageId`. */
export function callbackUpdate(userId: number, data: string, messageId = 1, chatId = userId): Update {
  const id = nextId++;
  return {
    update_id: id,
    callback_query: {
      id: `cb${id}`,
      from: { id: userId, is_bot: false, first_name: `user${userId}` },
      chat_instance: "ci",
      data,
      message: {
        message_id: messageId,
        date: Math.floor(Date.now() / 1000),
        chat: { id: chatId, type: "private", first_name: `user${userId}` },
        from: { id: BOT_INFO.id, is_bot: true, first_name: "carwatch" },
        text: "menu",
      },
    },
  } as Update;
}
