/**
 * Import boundaries, checked by `npm run lint`. The one door: chat, console,
 * agent and HTTP reach stores, stages and the transport only through the
 * tool registry (tools/) and the few seams app.ts hands them.
 */
module.exports = {
  forbidden: [
    {
      name: "front-ends-use-tools",
      comment: "bot/, web/ and agent/ never reach the transport, the stages or a store's engine: they go through tools/.",
      severity: "error",
      from: { path: "^(bot|web|agent)/", pathNot: "\\.test\\.ts$" },
      to: { path: "^pipeline/(transport|stages|stores/(sqlite|trino|query))/" },
    },
    {
      name: "pipeline-below-front-ends",
      comment: "The pipeline knows nothing of the chat, the console, the agent or the tools.",
      severity: "error",
      from: { path: "^pipeline/" },
      to: { path: "^(bot|web|agent|tools)/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^(node_modules|dist|data)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
  },
};
