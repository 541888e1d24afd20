/**
 * npm run eval:agent: 30 requests against whatever model is configured
 * (OPENAI_API_KEY, OPENAI_BASE_URL, OPENAI_MODEL), each on a fresh embedded
 * pipeline with data, scored twice: the tools the agent called or proposed,
 * and the answer against the truth read by SQL when the question is asked.
 * Per case: seconds and tokens in/out (from the server's usage). For use
 * with a real model; not part of CI (test/agent-local.test.ts is).
 *
 * `-- --local [--model qwen2.5-coder-0.5b]` starts the local llama-server
 * (scripts/llm/llm.sh, default qwen2.5-coder-1.5b) and runs against it;
 * `--only id,id` runs some cases; `--json FILE` writes the results;
 * `--turn-seconds N` overrides the agent's turn limit (a slower machine).
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { loadConfig } from "../core/config.js";
import { LOCAL_MODELS, type LocalLlm, type LocalModel, startLocalLlm } from "../test/support/llm.js";
import { CASES } from "./cases.js";
import { type CaseResult, runCase } from "./run-case.js";
import { startUsageProxy } from "./usage-proxy.js";

const config = loadConfig();
const { values: args } = parseArgs({
  options: { local: { type: "boolean" }, model: { type: "string" }, only: { type: "string" }, json: { type: "string" }, "turn-seconds": { type: "string" } },
});
const turnSeconds = args["turn-seconds"] === undefined ? undefined : Number(args["turn-seconds"]);
const cases = args.only ? CASES.filter((c) => args.only!.split(",").includes(c.id)) : CASES;
let local: LocalLlm | undefined;
if (args.local) {
  const model = (args.model ?? LOCAL_MODELS[0]) as LocalModel;
  if (!LOCAL_MODELS.includes(model)) {
    console.error(`eval:agent --local --model takes one of ${LOCAL_MODELS.join(", ")}`);
    process.exit(2);
  }
  local = await startLocalLlm(model);
  // llama-server runs in its own session: an interrupted eval stops it rather than leaving it behind.
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.once(signal, () => void local!.stop().finally(() => process.exit(130)));
  // llama-server ignores the key, but the OpenAI client wants one.
  Object.assign(config, { OPENAI_API_KEY: "local", OPENAI_BASE_URL: local.baseURL, OPENAI_MODEL: local.model });
}
if (!config.OPENAI_API_KEY) {
  console.error("eval:agent needs a model: set OPENAI_API_KEY (and OPENAI_BASE_URL, OPENAI_MODEL for a local server).");
  process.exit(2);
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const mark = (ok: boolean) => (ok ? "✓" : "✗");
const short = (s: string, n = 160) => (s.length > n ? `${s.slice(0, n)}…` : s).replace(/\s+/g, " ");

const proxy = await startUsageProxy(config.OPENAI_BASE_URL ?? "https://api.openai.com/v1");
const results: CaseResult[] = [];
const started = Date.now();
try {
  console.log(`agent eval: ${cases.length} requests, model ${config.OPENAI_MODEL}${config.OPENAI_BASE_URL ? ` at ${config.OPENAI_BASE_URL}` : ""}\n`);
  if (local) {
    // The first question pays the whole prompt (minutes on 2 cores); the server's prompt cache serves the rest.
    const w = await runCase(cases[0]!, { apiKey: "local", baseURL: proxy.baseURL, model: local.model }, { usage: proxy, limits: { turnTimeoutMs: 900_000 } });
    console.log(`warm-up (not scored): ${w.seconds.toFixed(1)} s, ${w.usage!.in}/${w.usage!.out} tokens\n`);
  }
  console.log("tool answer     s   in/out tokens (calls)  case");
  for (const c of cases) {
    const r = await runCase(
      c,
      { apiKey: config.OPENAI_API_KEY, baseURL: proxy.baseURL, model: config.OPENAI_MODEL },
      {
        usage: proxy,
        limits: turnSeconds ? { turnTimeoutMs: turnSeconds * 1000 } : undefined,
      },
    );
    results.push(r);
    const u = r.usage!;
    const reply = r.reply.kind === "confirm" ? `confirm ${JSON.stringify(r.reply.actions)}` : `${r.reply.kind}: ${r.reply.text}`;
    console.log(
      `  ${mark(r.toolRight)}    ${mark(r.answerRight)}   ${r.seconds.toFixed(1).padStart(5)} ${`${u.in}/${u.out}`.padStart(12)} (${u.calls})  ${r.id}: ${c.ask}`,
    );
    console.log(`                used ${r.used.join(", ") || "no tool"}; ${short(reply)}${r.why ? `\n                wrong: ${short(r.why)}` : ""}`);
  }
  const sum = (f: (r: CaseResult) => number) => results.reduce((a, r) => a + f(r), 0);
  const n = results.length;
  console.log(`\nright tool:   ${sum((r) => +r.toolRight)}/${n}`);
  console.log(`right answer: ${sum((r) => +r.answerRight)}/${n}`);
  console.log(
    `seconds: median ${median(results.map((r) => r.seconds)).toFixed(1)}, max ${Math.max(...results.map((r) => r.seconds)).toFixed(1)}, total ${sum((r) => r.seconds).toFixed(0)}`,
  );
  console.log(
    `tokens: in ${sum((r) => r.usage!.in)} (median ${median(results.map((r) => r.usage!.in))} per case, ${sum((r) => r.usage!.cached)} from the prompt cache), ` +
      `out ${sum((r) => r.usage!.out)}, model calls ${sum((r) => r.usage!.calls)}`,
  );
  console.log(`wall time: ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (args.json) writeFileSync(args.json, JSON.stringify({ model: config.OPENAI_MODEL, results }, null, 2));
} finally {
  await proxy.close();
  await local?.stop();
}
