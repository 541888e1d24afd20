/**
 * Import boundaries, checked by `npm run lint`. The one door: chat, console,
 * agent, HTTP and MCP reach stores, stages and the transport only through the
 * tool registry (tools/) and the few seams app.ts hands them.
 */
module.exports = {
  forbidden: [
    {
      name: "front-ends-use-tools",
      comment: "bot/, web/, agent/ and mcp/ import nothing from pipeline/: they go through tools/, and share the domain's types (domain/).",
      severity: "error",
      from: { path: "^(bot|web|agent|mcp)/", pathNot: "\\.test\\.ts$" },
      to: { path: "^pipeline/" },
    },
    {
      name: "domain-stands-alone",
      comment: "The shared types and schemas depend on no module that uses them.",
      severity: "error",
      from: { path: "^domain/" },
      to: { path: "^(pipeline|tools|bot|web|agent|mcp|scheduler|state)/" },
    },
    {
      name: "no-circular",
      comment: "A cycle of imports that run makes a module load half-initialised, depending on who imports first (a type-only edge breaks the cycle at run time).",
      severity: "error",
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: ["type-only"] } },
    },
    {
      name: "pipeline-below-front-ends",
      comment: "The pipeline knows nothing of the chat, the console, the agent or the tools.",
      severity: "error",
      from: { path: "^pipeline/" },
      to: { path: "^(bot|web|agent|mcp|tools)/" },
    },
    {
      name: "state-owns-its-database",
      comment:
        "The state database is state/'s: its accessors hold the SQL, and only they reach the connection (state/connection.ts). Outside state/, better-sqlite3 is the lakehouse engine's (pipeline/stores/, with its query processes) and the SQL guard's tests', which run guarded SQL on a SQLite of their own; the integration tests (test/) may read the state database to check an answer against it.",
      severity: "error",
      from: { pathNot: "^(state|pipeline/stores|test)/|^tools/sql-guard(\\.property)?\\.test\\.ts$" },
      to: { path: "^node_modules/(@types/)?better-sqlite3/|^state/connection\\.ts$" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    // better-sqlite3 stays in the graph, for state-owns-its-database.
    exclude: { path: "^(node_modules/(?!(@types/)?better-sqlite3/)|dist/|data/)" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
