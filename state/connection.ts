/**
 * The key of a StateStore's better-sqlite3 connection. Only state/'s table
 * accessors use it (dependency-cruiser's state-owns-its-database): every
 * other module reads and writes the state database through them, so its SQL
 * and schema live in one place.
 */
export const connection: unique symbol = Symbol("the state database's connection");
