import { once } from "node:events";
import { type AddressInfo, connect } from "node:net";
import { serve } from "@hono/node-server";
import fc from "fast-check";
import { Hono } from "hono";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChatAgent } from "../agent/agent.js";
import { silentLogger } from "../core/log.js";
import { RuleTable } from "../state/rules.js";
import { ChartStore } from "../tools/chart-store.js";
import { NoticeFeed } from "../tools/feed.js";
import type { Registry } from "../tools/index.js";
import { CONSOLE_USER_ID } from "../tools/roles.js";
import { webAccess } from "../web/access.js";
import { type RunningConsole, startConsole } from "../web/console.js";
import type { ConsoleEvent, ConsoleMessage } from "../web/console-chat.js";
import { consoleRoutes } from "../web/console-routes.js";
import { parseTelegramHtml, plainText } from "../web/telegram-html.js";
import { saveArtifact } from "./support/artifacts.js";
import { type BotPipeline, botPipeline, generate, registryFor, startConsumers } from "./support/bot-pipeline.js";
import { ScriptedOpenAI } from "./support/openai-server.js";

let p: BotPipeline;
let registry: Registry;
let charts: ChartStore;
let con: RunningConsole;
let llm: ScriptedOpenAI;
const events: ConsoleEvent[] = [];

beforeAll(async () => {
  p = await botPipeline();
  charts = new ChartStore();
  registry = registryFor(p, { charts });
  llm = await new ScriptedOpenAI().start();
  const agent = new ChatAgent({
    registry,
    dialect: p.lakehouse.dialect,
    state: p.state,
    model: { apiKey: "k", baseURL: llm.baseURL, model: "m" },
    log: silentLogger,
  });
  const feed = new NoticeFeed({ transport: p.transport, ops: p.ops, rules: new RuleTable(p.state), roles: registry, log: silentLogger, clock: () => p.now });
  con = await startConsole({ registry, ops: p.ops, feed, log: silentLogger, agent, charts, clock: () => p.now });
  con.chat.on("event", (e) => events.push(e));
  await startConsumers(p);
});
afterAll(async () => {
  await con?.stop();
  await p?.close();
  await llm?.stop();
});

const messages = (on = con): ConsoleMessage[] => on.chat.snapshot().messages;
const last = (): ConsoleMessage => messages().at(-1)!;
const text = (m: ConsoleMessage | undefined) => plainText(m?.nodes ?? []);
const data = (m: ConsoleMessage | undefined) => (m?.buttons ?? []).flat().map((b) => b.data);

/** Says something and returns the bot's messages sent or edited meanwhile. */
async function say(t: string, on = con): Promise<ConsoleMessage[]> {
  const before = new Set(messages(on).map((m) => JSON.stringify(m)));
  await on.say(t);
  await on.idle();
  return messages(on).filter((m) => m.from === "bot" && !before.has(JSON.stringify(m)));
}
async function press(m: ConsoleMessage, d: string): Promise<ConsoleMessage[]> {
  const before = new Set(messages().map((x) => JSON.stringify(x)));
  const handling = con.press(m.id, d);
  expect(handling, `button ${d} on message ${m.id}`).not.toBeNull();
  await handling;
  await con.idle();
  return messages().filter((x) => x.from === "bot" && !before.has(JSON.stringify(x)));
}

describe("the console is the same bot", () => {
  it("/start greets the local operator and shows the reply keyboard; the command list is registered", async () => {
    const [hello] = await say("/start");
    expect(text(hello)).toMatch(/^Hello, .+! Pick a menu below, or \/help\.$/);
    expect(con.chat.snapshot().keyboard).toEqual([
      ["📊 Stages", "🚨 Alerts"],
      ["🗄 Data", "🧰 Maintenance"],
      ["👤 Who am I", "❓ Help"],
    ]);
    expect(con.chat.snapshot().commands.map((c) => c.command)).toEqual(expect.arrayContaining(["stages", "chart", "dashboards", "query"]));
  });

  it("the local operator is an admin in a chat of its own", async () => {
    const [me] = await say("👤 Who am I");
    expect(text(me)).toContain(`You are ${CONSOLE_USER_ID}, role admin, in chat ${CONSOLE_USER_ID}.`);
    expect(me!.nodes).toContainEqual({ tag: "b", children: ["admin"] });
  });

  it("walks the stage menu with buttons, and stops a stage only after confirming", async () => {
    const [list] = await say("📊 Stages");
    expect(text(list)).toMatch(/^Stages\n/);
    expect(data(list)).toEqual(["stage:seed", "stage:generator", "stage:enrich", "stage:alert", "stage:aggregate"]);
    const [menu] = await press(list!, "stage:enrich");
    expect(menu!.id).toBe(list!.id);
    expect(menu!.edited).toBe(true);
    expect(text(menu)).toContain("enrich — running");
    expect(data(menu)).toEqual(["start:enrich", "stop:enrich", "status:enrich", "runs:enrich", "menu:stages"]);
    const [ask] = await press(menu!, "stop:enrich");
    expect(text(ask)).toBe("Stop enrich?\nThis button expires in 60 s.");
    expect(p.supervisor.status("enrich").state).toBe("running");
    const yes = data(ask).find((d) => d!.startsWith("yes:"))!;
    const done = await press(ask!, yes);
    expect(text(done.at(-1))).toBe("✅ Done: enrich is stopped.");
    expect(done.at(-1)!.buttons).toEqual([]);
    expect(p.supervisor.status("enrich").state).toBe("stopped");
    // Audited as the console's, not as Telegram's.
    expect(p.ops.recentAudit(2).map((e) => [e.via, e.tool, e.outcome])).toEqual([
      ["console", "stop_stage", "ok"],
      ["console", "stop_stage", "needs_confirmation"],
    ]);
    expect(con.press(ask!.id, yes)).toBeNull();
    const [started] = await say("/run enrich");
    expect(text(started)).toMatch(/^▶️ enrich is running \(run #\d+\)\.$/);
    // Pressing a menu button twice edits nothing the second time ("message is not modified", as on Telegram) and says nothing.
    const again = await press(menu!, "menu:stages");
    expect(again.map((m) => m.id)).toEqual([list!.id]);
    const toasts = events.filter((e) => e.type === "toast").map((e) => (e as { text: string }).text);
    expect(toasts).toContain("Working…");
  });

  it("runs a query: typing, a progress message edited into the result", async () => {
    events.length = 0;
    const out = await say("/query SELECT color_name FROM dims.car_colors ORDER BY color_id LIMIT 2");
    expect(events.some((e) => e.type === "action" && e.action === "typing")).toBe(true);
    expect(out).toHaveLength(1);
    expect(out[0]!.edited).toBe(true);
    expect(text(out[0])).toMatch(/^2 rows \(\d+ ms\)\ncolor_name\n─+\nBlack\nRed$/);
    expect(out[0]!.nodes.some((n) => typeof n !== "string" && n.tag === "pre")).toBe(true);
  });

  it("delivers digests to its own chat as windows close", async () => {
    const before = messages().length;
    await generate(p, 3000);
    await con.idle();
    const digests = messages()
      .slice(before)
      .filter((m) => text(m).startsWith("🕐"));
    expect(digests.length).toBeGreaterThanOrEqual(3);
    expect(text(digests[0])).toMatch(/readings, \d+ with alerts/);
    expect(p.ops.subscriptions().map((s) => s.chatId)).toContain(CONSOLE_USER_ID);
  });

  it("sends a long result as a document the page can download", async () => {
    const out = await say("/query SELECT event_id, car_id, speed FROM telemetry.cars_enriched");
    const doc = out.find((m) => m.document)!;
    expect(doc.document!.name).toBe("result.csv");
    const id = doc.document!.url.replace("files/", "");
    const file = con.chat.file(id)!;
    expect(file.mime).toBe("text/csv");
    expect(file.bytes.toString().split("\n")[0]).toBe("event_id,car_id,speed");
  });

  it("/chart sends a PNG with a caption; the buttons offer the other charts", async () => {
    const [photo] = await say("/chart rule");
    expect(photo!.photo).toBeDefined();
    expect(text(photo)).toMatch(/^Alerts per minute by rule, last 1h: [\d,]+ in all \(speeding [\d,]+, high_rpm [\d,]+, wrong_gear [\d,]+\)\.$/);
    const png = con.chat.file(photo!.photo!.url.replace("files/", ""))!;
    expect(png.bytes.subarray(0, 8).toString("hex")).toBe("89504e470d0a1a0a");
    expect(png.bytes.length).toBeGreaterThan(5000);
    saveArtifact("chart-alerts-by-rule.png", png.bytes);
    const [pick] = await say("/chart");
    expect(data(pick)).toEqual(["chart:alerts_by_rule", "chart:alerts_by_color", "chart:speed_distribution", "chart:readings"]);
    const [speed] = await press(pick!, "chart:speed_distribution");
    expect(speed!.photo).toBeDefined();
    saveArtifact("chart-speed-distribution.png", con.chat.file(speed!.photo!.url.replace("files/", ""))!.bytes);
    expect(text(speed)).toMatch(/^Speeds of [\d,]+ readings, last 1h: [\d,]+ over the 120 km\/h limit\.$/);
  });

  it("the agent can draw a chart: its tool result is a caption, the picture follows its answer", async () => {
    llm.clear();
    llm.answer({ calls: [{ name: "render_chart", args: { chart: "alerts_by_color", since: "1h" } }] }, { text: "Here are today's alerts by color." });
    const out = await say("show me alerts by color");
    expect(text(out[0])).toBe("Here are today's alerts by color.");
    expect(out[1]!.photo).toBeDefined();
    saveArtifact("chart-alerts-by-color.png", con.chat.file(out[1]!.photo!.url.replace("files/", ""))!.bytes);
    expect(text(out[1])).toMatch(/^Alerts by car color, last 1h: [\d,]+ in all/);
    const toolResult = llm.requests.at(-1)!.messages.find((m) => m.role === "tool")!;
    expect(String(toolResult.content)).toMatch(/"chartId":"[0-9a-f]{16}"/);
    expect(String(toolResult.content).length).toBeLessThan(400);
  });

  it("/dashboards lists the built-in dashboards", async () => {
    const [list] = await say("/dashboards");
    expect(text(list)).toContain("Fleet alerts");
    expect(text(list)).toContain("Pipeline");
  });
});

describe("flood limit", () => {
  it("answers every message over the limit with when to try again, and handles messages again once the window ends", async () => {
    // A console of its own, on a clock the test moves: 30 updates per 10 s, counted from the first.
    let now = p.now;
    const flooded = await startConsole({
      registry,
      ops: p.ops,
      feed: new NoticeFeed({ transport: p.transport, ops: p.ops, rules: new RuleTable(p.state), roles: registry, log: silentLogger }),
      log: silentLogger,
      clock: () => now,
      subscribe: false,
      instance: "flood-test",
    });
    const toasts: string[] = [];
    flooded.chat.on("event", (e) => void (e.type === "toast" && toasts.push(e.text)));
    try {
      const texts = async (t: string) => (await say(t, flooded)).map(text);
      const [stages] = await say("📊 Stages", flooded);
      for (let i = 2; i <= 30; i++) expect(await texts("/whoami"), `message ${i}`).toEqual([expect.stringContaining("role admin")]);
      now += 3_000;
      expect(await texts("/whoami")).toEqual(["⏳ Too many messages: this one was not handled. Try again in 7 s."]);
      now += 2_500;
      expect(await texts("/whoami")).toEqual(["⏳ Too many messages: this one was not handled. Try again in 5 s."]);
      expect(await texts("hello?")).toEqual(["⏳ Too many messages: this one was not handled. Try again in 5 s."]);
      await flooded.press(stages!.id, "stage:enrich");
      await flooded.idle();
      expect(toasts).toEqual(["Too many requests: try again in 5 s."]);
      now += 4_500;
      expect(await texts("/whoami")).toEqual([expect.stringContaining("role admin")]);
    } finally {
      await flooded.stop();
    }
  });
});

describe("Telegram's HTML, parsed safely", () => {
  it("keeps Telegram's tags and decodes entities into text", () => {
    expect(parseTelegramHtml('<b>x</b> &lt;script&gt; <a href="https://e.org/?a=1&amp;b=2">l</a><pre><code class="language-sql">S</code></pre>')).toEqual([
      { tag: "b", children: ["x"] },
      " <script> ",
      { tag: "a", href: "https://e.org/?a=1&b=2", children: ["l"] },
      { tag: "pre", children: ["S"] },
    ]);
  });

  it("drops unsafe link targets and refuses what Telegram refuses", () => {
    expect(parseTelegramHtml('<a href="javascript:alert(1)">x</a>')).toEqual([{ tag: "a", children: ["x"] }]);
    expect(() => parseTelegramHtml("<script>alert(1)</script>")).toThrow(/Unsupported start tag "script"/);
    expect(() => parseTelegramHtml("<b>open")).toThrow(/Can't find end tag/);
    expect(() => parseTelegramHtml("<b><i>x</b></i>")).toThrow(/Unmatched end tag/);
  });

  it("a bad message from the bot is refused like Telegram does, and the operator's own text stays text", async () => {
    await expect(con.bot.api.sendMessage(con.chat.chatId, "<img src=x onerror=alert(1)>", { parse_mode: "HTML" })).rejects.toThrow(/can't parse entities/);
    await expect(con.bot.api.sendMessage(12345, "hi")).rejects.toThrow(/chat not found/);
    con.chat.userMessage("<img src=x onerror=alert(1)>");
    expect(last().nodes).toEqual(["<img src=x onerror=alert(1)>"]);
  });
});

describe("HTTP access", () => {
  const app = (token?: string) => {
    const routes = consoleRoutes(con, webAccess({ HTTP_HOST: token ? "0.0.0.0" : "127.0.0.1", CONSOLE_TOKEN: token }));
    const h = new Hono();
    h.route("/", routes.app);
    return h;
  };
  const json = { "content-type": "application/json" };

  it("on loopback: open to localhost, closed to other host names (DNS rebinding) and to cross-site posts", async () => {
    const h = app();
    const page = await h.request("http://127.0.0.1:8080/console");
    expect(page.status).toBe(200);
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(await page.text()).not.toMatch(/<script>[^<]/);
    const script = await h.request("http://localhost:8080/console/app.js");
    expect(script.status).toBe(200);
    // Hono's secureHeaders: no framing, no sniffing, no referrer.
    expect([script.headers.get("x-frame-options"), script.headers.get("x-content-type-options"), script.headers.get("referrer-policy")]).toEqual([
      "DENY",
      "nosniff",
      "no-referrer",
    ]);
    // Hono's bodyLimit, before any handler reads the body.
    const huge = await h.request("http://127.0.0.1:8080/console/send", {
      method: "POST",
      body: "x".repeat((12 << 20) + 1),
      headers: { "content-type": "application/json" },
    });
    expect([huge.status, await huge.text()]).toEqual([413, `carwatch: the body is larger than ${12 << 20} bytes`]);
    expect((await h.request("http://evil.example:8080/console")).status).toBe(403);
    expect(
      (await h.request("http://127.0.0.1:8080/console/send", { method: "POST", body: '{"text":"/stop all"}', headers: { "content-type": "text/plain" } }))
        .status,
    ).toBe(415);
    expect(
      (
        await h.request("http://127.0.0.1:8080/console/send", {
          method: "POST",
          body: '{"text":"/whoami"}',
          headers: { ...json, origin: "http://evil.example" },
        })
      ).status,
    ).toBe(403);
    const ok = await h.request("http://127.0.0.1:8080/console/send", {
      method: "POST",
      body: '{"text":"/whoami"}',
      headers: { ...json, origin: "http://127.0.0.1:8080" },
    });
    expect(ok.status).toBe(202);
    await con.idle();
    expect(text(last())).toContain("role admin");
    expect(
      (await h.request("http://127.0.0.1:8080/console/press", { method: "POST", body: '{"messageId":1,"data":"stop:enrich"}', headers: json })).status,
    ).toBe(409);
  });

  it("off loopback: a token is required at start-up and on every request", async () => {
    expect(() => webAccess({ HTTP_HOST: "0.0.0.0" })).toThrow(/CONSOLE_TOKEN: required when HTTP_HOST \(0\.0\.0\.0\) is not a loopback address/);
    const token = "s3cret-token-0123456789";
    const h = app(token);
    expect((await h.request("http://10.0.0.5:8080/console")).status).toBe(401);
    expect((await h.request("http://10.0.0.5:8080/console/history", { headers: { authorization: "Bearer wrong-token-000000000" } })).status).toBe(401);
    expect((await h.request("http://10.0.0.5:8080/console/history", { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
    const visit = await h.request(`http://10.0.0.5:8080/console?token=${token}`);
    expect(visit.status).toBe(303);
    expect(visit.headers.get("location")).toBe("/console");
    const cookie = visit.headers.get("set-cookie")!;
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=Strict/i);
    expect((await h.request("http://10.0.0.5:8080/console", { headers: { cookie: cookie.split(";")[0]! } })).status).toBe(200);
  });

  const REFUSED = "carwatch: cross-origin request refused: a POST must come from this console's own page.";
  // A press of a button no message has: 409 once past the guard, and nothing is sent to the bot.
  const pressFrom = (h: Hono, origin: string, token?: string) =>
    h.request("http://127.0.0.1:8080/console/press", {
      method: "POST",
      body: '{"messageId":1,"data":"stop:enrich"}',
      headers: { ...json, origin, ...(token ? { authorization: `Bearer ${token}` } : {}) },
    });

  it("a malformed, opaque or foreign Origin on a POST is refused with 403, never a 500", async () => {
    for (const token of [undefined, "s3cret-token-0123456789"]) {
      const h = app(token);
      for (const origin of [
        "http://[",
        "::::",
        "null",
        "",
        "http://",
        "javascript:alert(1)",
        "HTTP://127.0.0.1:8080",
        "http://127.0.0.1:8080/console",
        "http://u@127.0.0.1:8080",
        "http://127.0.0.1:8081",
        "http://evil.example",
      ]) {
        const res = await pressFrom(h, origin, token);
        expect([origin, res.status, await res.text()]).toEqual([origin, 403, REFUSED]);
      }
      // The page's own origin; https too, as a TLS proxy in front serves the page over https.
      for (const origin of ["http://127.0.0.1:8080", "https://127.0.0.1:8080"]) expect((await pressFrom(h, origin, token)).status, origin).toBe(409);
      const anyOrigin = fc.oneof(
        fc.string(),
        fc.webUrl({ validSchemes: ["http", "https", "ftp", "ws"] }),
        fc.webUrl().map((u) => new URL(u).origin),
      );
      await fc.assert(
        fc.asyncProperty(anyOrigin, async (origin) => {
          const status = (await pressFrom(h, origin, token)).status;
          expect(status).toBe(["http://127.0.0.1:8080", "https://127.0.0.1:8080"].includes(origin.trim()) ? 409 : 403);
        }),
      );
    }
  });

  it("Hono's csrf refuses a form or text post from another site with 403; this page's own goes on to the JSON rule", async () => {
    for (const token of [undefined, "s3cret-token-0123456789"]) {
      const h = app(token);
      const post = (type: string, headers: Record<string, string>) =>
        h.request("http://127.0.0.1:8080/console/press", {
          method: "POST",
          body: type === "application/json" ? '{"messageId":1,"data":"stop:enrich"}' : "messageId=1&data=stop:enrich",
          headers: { "content-type": type, ...headers, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        });
      // secureHeaders marks the refusals too.
      const result = async (res: Response) => [res.status, await res.text(), res.headers.get("x-frame-options")];
      // What a page elsewhere can send without a CORS preflight: refused by csrf, before the JSON rule would answer 415.
      for (const type of ["application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain"]) {
        expect(await result(await post(type, { origin: "http://evil.example" })), type).toEqual([403, "Forbidden", "DENY"]);
        expect(await result(await post(type, { origin: "http://evil.example", "sec-fetch-site": "cross-site" })), type).toEqual([403, "Forbidden", "DENY"]);
      }
      // From this origin (http or https behind a TLS proxy) csrf lets it through: the JSON rule answers, and a JSON press reaches the route (409: no such button).
      for (const origin of ["http://127.0.0.1:8080", "https://127.0.0.1:8080"]) {
        expect(await result(await post("application/x-www-form-urlencoded", { origin })), origin).toEqual([415, "JSON only", "DENY"]);
        expect((await post("application/json", { origin, "sec-fetch-site": "same-origin" })).status, origin).toBe(409);
      }
    }
  });

  it("through the real server: a Host it cannot parse is a 400, a foreign one a 403, a bad Origin a 403", async () => {
    const h = app();
    const server = serve({ fetch: h.fetch, hostname: "127.0.0.1", port: 0 });
    await once(server, "listening");
    const port = (server.address() as AddressInfo).port;
    /** The status line and body of one request written as raw bytes (fetch would refuse these headers). */
    const raw = async (head: string, body = "") => {
      const socket = connect(port, "127.0.0.1");
      socket.end(`${head}\r\nConnection: close\r\n\r\n${body}`);
      const chunks: Buffer[] = [];
      for await (const c of socket) chunks.push(c as Buffer);
      const [status, ...rest] = Buffer.concat(chunks).toString().split("\r\n");
      return `${status} ${rest.at(-1)}`;
    };
    const press = '{"messageId":1,"data":"stop:enrich"}';
    const post = (origin: string) =>
      raw(
        `POST /console/press HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nOrigin: ${origin}\r\nContent-Type: application/json\r\nContent-Length: ${press.length}`,
        press,
      );
    try {
      for (const host of ["[", "::::", "127.0.0.1:abc", "0x7f.1"])
        expect(await raw(`GET /console HTTP/1.1\r\nHost: ${host}`), host).toMatch(/^HTTP\/1\.1 400 /);
      expect(await raw("GET /console HTTP/1.1\r\nHost: evil.example")).toMatch(/^HTTP\/1\.1 403 .*answers only to localhost/);
      expect(await raw(`GET /console HTTP/1.1\r\nHost: localhost:${port}`)).toMatch(/^HTTP\/1\.1 200 /);
      for (const origin of ["http://[", "::::", "null", `http://evil.example:${port}`])
        expect(await post(origin), origin).toBe(`HTTP/1.1 403 Forbidden ${REFUSED}`);
      expect(await post(`http://127.0.0.1:${port}`)).toMatch(/^HTTP\/1\.1 409 /);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it("a malformed ?token= or cookie is a 401; the token visit keeps the other parameters", async () => {
    const token = "s3cret-token-0123456789";
    const h = app(token);
    for (const q of ["%E0%A4%A", "%", `${token}%00`]) expect((await h.request(`http://10.0.0.5:8080/console?token=${q}`)).status, q).toBe(401);
    for (const cookie of ["carwatch_console=%E0%A4%A", 'carwatch_console="', "carwatch_console"])
      expect((await h.request("http://10.0.0.5:8080/console", { headers: { cookie } })).status, cookie).toBe(401);
    const visit = await h.request(`http://10.0.0.5:8080/console?x=%&token=${token}`);
    expect([visit.status, visit.headers.get("location")]).toEqual([303, "/console?x=%25"]);
  });
});
