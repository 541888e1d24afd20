import { Composer } from "grammy";
import type { ApiToken } from "../state/api-tokens-table.js";
import type { CarwatchContext } from "./context.js";
import { html, preTable, when } from "./format.js";
import { callTool, replyHtml } from "./reply.js";

const USAGE = "Usage: /tokens — list; /tokens new NAME ingest|viewer|operator|admin [car ids…]; /tokens revoke ID";

export function tokensView(tokens: readonly ApiToken[]): string {
  if (tokens.length === 0) return `No API tokens yet.\n${USAGE}`;
  const rows = tokens.map((t) => [t.id, t.name, t.role, t.carIds ? t.carIds.join(",") : "any", t.revokedAt === null ? when(t.lastUsedAt) : "revoked"]);
  return `<b>API tokens</b>\n${preTable(["id", "name", "role", "cars", "last used"], rows)}`;
}

/** /tokens: an admin's API tokens from chat; a new secret is shown once, revoking asks first. */
export const tokens = new Composer<CarwatchContext>();
tokens.command("tokens", async (ctx) => {
  const [verb, ...rest] = typeof ctx.match === "string" ? ctx.match.trim().split(/\s+/).filter(Boolean) : [];
  if (!verb) {
    const list = await callTool(ctx, "list_tokens", {});
    if (list) await replyHtml(ctx, tokensView(list));
    return;
  }
  if (verb === "new") {
    const [name, role, ...cars] = rest;
    if (!name || !role) return void (await ctx.reply(USAGE));
    const carIds = cars.length > 0 ? cars.map(Number) : undefined;
    const made = await callTool(ctx, "create_token", { name, role, carIds });
    if (made) {
      await replyHtml(
        ctx,
        html`Token <b>${made.token.name}</b> (#${made.token.id}, ${made.token.role}) — shown this once, carwatch keeps only its hash:\n<code>${made.secret}</code>\nSend it as <code>Authorization: Bearer …</code>.`,
      );
    }
    return;
  }
  if (verb === "revoke" && rest[0]) {
    await callTool(ctx, "revoke_token", { id: rest[0] }, { prompt: html`Revoke API token #${rest[0]}? It stops working at once.` });
    return;
  }
  await ctx.reply(USAGE);
});
