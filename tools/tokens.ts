import { z } from "zod";
import { InputError } from "../core/errors.js";
import { TOKEN_ROLES } from "../state/api-tokens-table.js";
import { defineTool, type ToolContext } from "./registry.js";

function tokensOf(ctx: ToolContext) {
  if (!ctx.tokens) throw new InputError("this process keeps no API tokens");
  return ctx.tokens;
}

export const createToken = defineTool({
  name: "create_token",
  description:
    "Creates an API bearer token with a role: ingest (may only send readings, optionally only for the listed car ids), viewer, operator or admin. " +
    "The secret is in this answer only; carwatch keeps just its hash. Admins only.",
  input: z.object({
    name: z.string().trim().min(1).max(64),
    role: z.enum(TOKEN_ROLES),
    carIds: z.array(z.number().int().positive()).min(1).max(10_000).optional().describe("ingest tokens: the only cars it may send readings of"),
  }),
  role: "admin",
  destructive: false,
  // The secret must never pass through the agent's model provider.
  via: ["telegram", "console", "api"],
  run: ({ input, ctx, caller }) => {
    if (input.carIds && input.role !== "ingest") throw new InputError("carIds limit ingest tokens only");
    return tokensOf(ctx).create({ name: input.name, role: input.role, carIds: input.carIds ?? null, createdBy: caller.userId }, ctx.clock());
  },
});

export const listTokens = defineTool({
  name: "list_tokens",
  description: "The API tokens: id, name, role, car limit, who made them, when, when last used, and whether revoked (never their secrets). Admins only.",
  input: z.object({}),
  role: "admin",
  destructive: false,
  run: ({ ctx }) => tokensOf(ctx).list(),
});

export const revokeToken = defineTool({
  name: "revoke_token",
  description: "Revokes an API token by id: it is refused at once, in every process. Destructive: asks for a confirmation. Admins only.",
  input: z.object({ id: z.coerce.number().int().positive() }),
  role: "admin",
  destructive: true,
  run: ({ input, ctx }) => {
    const tokens = tokensOf(ctx);
    const token = tokens.get(input.id);
    if (!token) throw new InputError(`no token ${input.id}`);
    if (!tokens.revoke(input.id, ctx.clock())) throw new InputError(`token ${input.id} (${token.name}) is already revoked`);
    return { ...token, revokedAt: ctx.clock() };
  },
});

export const TOKEN_TOOLS = [createToken, listTokens, revokeToken] as const;
