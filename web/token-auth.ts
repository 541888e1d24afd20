import { bearerAuth } from "hono/bearer-auth";
import type { ApiToken } from "../state/api-tokens-table.js";
import type { TokenBook } from "../tools/api-tokens.js";

/** What a route behind `tokenAuth` finds on its context: the caller's API token. */
export type TokenEnv = { Variables: { token: ApiToken } };

/** Hono's bearerAuth over the API tokens (looked up on every request, so a revocation holds at once), for /api/v1 and /mcp alike. */
export function tokenAuth(tokens: TokenBook, clock: () => number) {
  return bearerAuth<TokenEnv>({
    realm: "carwatch",
    noAuthenticationHeaderMessage: { error: "send Authorization: Bearer <token> (an API token: /tokens in chat, or CARWATCH_ADMIN_TOKEN)" },
    invalidAuthenticationHeaderMessage: { error: "the Authorization header must be: Bearer <token>" },
    invalidTokenMessage: { error: "unknown or revoked token" },
    verifyToken: (secret, c) => {
      const token = tokens.verify(secret, clock());
      if (token) c.set("token", token);
      return token !== null;
    },
  });
}
