/**
 * npm run eval:agent: about 30 requests against whatever model is configured
 * (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL), each on a fresh embedded
 * pipeline with data, scored by the tools the agent called or proposed.
 * For use with a real model; not part of CI.
 *
 * `-- --local [--model qwen2.5-coder-0.5b]` starts the local llama-server
 * (scripts/llm/llm.sh, default qwen2.5-coder-1.5b) and runs against it.
 */
import { parseArgs } from "node:util";
import { ChatAgent } from "../agent/agent.js";
import { loadConfig } from "../core/config.js";
import { silentLogger } from "../core/log.js";
import { ADMIN, botPipeline, generate, startConsumers } from "../test/support/bot-pipeline.js";
import { LOCAL_MODELS, type LocalLlm, type LocalModel, startLocalLlm } from "../test/support/llm.js";
import { CASES } from "./cases.js";

const config = loadConfig();
const { values: args } = parseArgs({ options: { local: { type: "boolean" }, model: { type: "string" } } });
let local: LocalLlm | undefined;
if (args.local) {
  const model = (args.model ?? LOCAL_MODELS[0]) as LocalModel;
  if (!LOCAL_MODELS.includes(model)) {
    console.error(`eval:agent --local --model takes one of ${LOCAL_MODELS.join(", ")}`);
    process.exit(2);
  }
  local = await startLocalLlm(model);
  // llama-server ignores the key, but the OpenAI client wants one.
  Object.assign(config, { OPENAI_API_KEY: "local", OPENAI_BASE_URL: local.baseURL, OPENAI_MODEL: local.model });
}
if (!config.OPENAI_API_KEY) {
  console.error("eval:agent needs a model: set OPENAI_API_KEY (and OPENAI_BASE_URL, OPENAI_MODEL for a local server).");
  process.exit(2);
}

let passed = 0;
const started = Date.now();
try {
  console.log(`agent eval: ${CASES.length} requests, model ${config.OPENAI_MODEL}${config.OPENAI_BASE_URL ? ` at ${config.OPENAI_BASE_URL}` : ""}\n`);
  for (const [i, c] of CASES.entries()) {
    const p = await botPipeline();
    try {
      await startConsumers(p);
      await generate(p, 2000);
      const agent = new ChatAgent({
        registry: p.registry,
        dialect: p.lakehouse.dialect,
        state: p.state,
        model: { apiKey: config.OPENAI_API_KEY, baseURL: config.OPENAI_BASE_URL, model: config.OPENAI_MODEL },
        log: silentLogger,
        clock: () => p.now,
      });
      const caller = { userId: ADMIN, chatId: ADMIN, via: "console" as const };
      const reply = await agent.ask(caller, c.ask);
      const called = p.ops
        .recentAudit(100)
        .filter((a) => a.via === "agent")
        .map((a) => a.tool);
      const proposed = reply.kind === "confirm" ? reply.actions.map((a) => a.tool) : [];
      const used = new Set([...called, ...proposed]);
      const ok = c.expect.every((t) => used.has(t)) && !(c.never ?? []).some((t) => used.has(t));
      if (ok) passed++;
      const detail = reply.kind === "error" ? `error: ${reply.text}` : `used ${[...used].join(", ") || "no tool"}`;
      console.log(`${ok ? "✓" : "✗"} ${String(i + 1).padStart(2)}. ${c.ask}\n      expected ${c.expect.join(", ")}; ${detail}`);
    } finally {
      await p.close();
    }
  }
  console.log(`\naccuracy: ${passed}/${CASES.length} = ${((100 * passed) / CASES.length).toFixed(0)}%`);
  console.log(`time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
} finally {
  await local?.stop();
}
