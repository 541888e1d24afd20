/**
 * carwatch in a child process, configured from its environment as main.ts is,
 * for the MQTT crash test: prints "subscribed", then "acked N" whenever more
 * messages are acknowledged, until killed.
 */
import { startApp } from "../../app.js";
import { loadConfig } from "../../core/config.js";
import { silentLogger } from "../../core/log.js";

const app = await startApp(loadConfig(process.env, "/nonexistent/.env"), silentLogger);
await app.mqtt!.subscribed();
process.stdout.write("subscribed\n");
let last = 0;
// Output only: the parent waits on these lines to kill the process mid-stream.
setInterval(() => {
  const { acked } = app.mqtt!.status();
  if (acked !== last) process.stdout.write(`acked ${(last = acked)}\n`);
}, 5);
