import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { StateStore } from "../state/store.js";
import { TokenBook, tokenUserId } from "./api-tokens.js";
import { RoleBook } from "./roles.js";

const dir = mkdtempSync(join(tmpdir(), "carwatch-tokens-"));
const stores: StateStore[] = [];
const open = () => {
  const s = new StateStore(join(dir, "state.db"));
  stores.push(s);
  return s;
};
afterEach(() => {
  for (const s of stores.splice(0)) s.close();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("TokenBook", () => {
  it("keeps only a hash, and a token revoked by one process is refused by another at once", () => {
    const here = new TokenBook(open());
    const there = new TokenBook(open());
    const { token, secret } = here.create({ name: "unit 7", role: "ingest", carIds: [7], createdBy: 1 }, 1000);
    expect(secret).toMatch(/^cw_[A-Za-z0-9_-]{43}$/);
    // The file and its write-ahead log, as any reader of the disk sees them: the hash is there, the secret nowhere.
    const onDisk = ["state.db", "state.db-wal"]
      .map((f) => join(dir, f))
      .filter(existsSync)
      .map((f) => readFileSync(f).toString("latin1"))
      .join("");
    expect(onDisk).toContain(createHash("sha256").update(secret).digest("hex"));
    expect(onDisk).not.toContain(secret.slice(3));
    expect(there.verify(secret, 2000)).toMatchObject({ id: token.id, role: "ingest", carIds: [7] });
    expect(here.revoke(token.id, 3000)).toBe(true);
    expect(here.revoke(token.id, 3001)).toBe(false);
    expect(there.verify(secret, 4000)).toBeNull();
    expect(there.list()[0]).toMatchObject({ revokedAt: 3000, lastUsedAt: 2000 });
  });

  it("gives tokens their roles in the registry's role book; ingest and revoked tokens have none", () => {
    const book = new TokenBook(open(), "a-long-environment-admin-token");
    const roles = RoleBook.fromConfig({ TELEGRAM_ADMINS: [], TELEGRAM_OPERATORS: [], TELEGRAM_VIEWERS: [] }, book);
    const op = book.create({ name: "ops", role: "operator", carIds: null, createdBy: 1 }, 0).token;
    const ingest = book.create({ name: "fleet", role: "ingest", carIds: null, createdBy: 1 }, 0).token;
    expect(book.verify("a-long-environment-admin-token", 0)).toMatchObject({ id: 0, role: "admin" });
    expect(roles.roleOf(tokenUserId(0))).toBe("admin");
    expect(roles.roleOf(tokenUserId(op.id))).toBe("operator");
    expect(roles.roleOf(tokenUserId(ingest.id))).toBeNull();
    book.revoke(op.id, 1);
    expect(roles.roleOf(tokenUserId(op.id))).toBeNull();
    expect(roles.roleOf(tokenUserId(999))).toBeNull();
  });
});
